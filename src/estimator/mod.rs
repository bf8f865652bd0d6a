//! The throughput estimator: how many tokens per second one GPU serves for
//! a model, a precision and a workload, under latency targets.
//!
//! First principles, fast enough to call inside sweeps: memory decides how
//! many sequences fit ([`memory`]); each decode step takes the longer of its
//! bytes over achievable bandwidth and its FLOPs over achievable compute,
//! plus tensor-parallel all-reduces ([`roofline`]); continuous batching
//! shares the GPU between prefills and decode steps (below). The fractions
//! of peak come from the hardware files and can be refitted to measurements
//! ([`calibrate`]). Pure functions: no I/O, no gRPC.

pub mod accuracy;
pub mod calibrate;
pub mod layout;
pub mod memory;
pub mod params;
pub mod roofline;

pub use calibrate::{Calibration, MeasuredPoint, Metric};
pub use layout::Layout;
pub use roofline::{Replica, StepTime, Tuning};

use crate::catalog::{Catalog, Gpu, Model, Precision};
use crate::error::{Error, Result};
#[cfg(test)]
use roofline::compute_precision;

/// Most concurrent sequences a request may ask for.
pub const MAX_CONCURRENCY: u32 = 1_000_000;

/// What to estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub model: String,
    pub gpu: String,
    pub weight_precision: Precision,
    pub kv_precision: Precision,
    /// Tensor-parallel degree (GPUs per replica); 0 picks the smallest
    /// that fits.
    pub tensor_parallel: u32,
    /// How the replica spreads the model over its GPUs; `None` picks the
    /// layout with the highest throughput within the targets.
    pub layout: Option<Layout>,
    pub workload: Workload,
    pub targets: Targets,
}

/// The shape of the traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    /// Prompt tokens per request.
    pub input_tokens: u32,
    /// Generated tokens per request.
    pub output_tokens: u32,
    /// Sequences in flight per replica; 0 picks the concurrency with the
    /// highest throughput within the targets.
    pub concurrency: u32,
}

/// Latency limits; `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Targets {
    /// Time to first token, seconds.
    pub ttft_s: Option<f64>,
    /// Time per output token after the first, seconds.
    pub tpot_s: Option<f64>,
}

/// The resource that limits throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    MemoryBandwidth,
    Compute,
    Interconnect,
    /// The KV cache holds no more sequences.
    MemoryCapacity,
}

/// How memory divides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryUse {
    /// All weights, GB.
    pub weights_gb: f64,
    /// Weights on each GPU, GB.
    pub weights_gb_per_gpu: f64,
    /// Memory the engine may use on each GPU, GB.
    pub usable_gb_per_gpu: f64,
    /// KV cache one token adds across all layers, bytes (whole model).
    pub kv_bytes_per_token: f64,
    /// Tokens of KV cache one replica holds.
    pub kv_capacity_tokens: f64,
    /// Sequences of this workload that fit at once (at their mean length).
    pub max_concurrent_sequences: u32,
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub memory: MemoryUse,
    pub tensor_parallel: u32,
    /// The layout of the replica over its GPUs.
    pub layout: Layout,
    /// Sequences in flight per replica at the reported point.
    pub concurrency: u32,
    pub ttft_s: f64,
    pub tpot_s: f64,
    /// Prompt tokens per second while prefilling, per replica.
    pub prefill_tokens_per_s: f64,
    /// Generated tokens per second across the batch during decode, per
    /// replica.
    pub decode_tokens_per_s: f64,
    pub output_tokens_per_second_per_gpu: f64,
    /// Prompt and generated tokens per second per GPU.
    pub total_tokens_per_second_per_gpu: f64,
    /// Generated tokens per second one user sees (1 / TPOT).
    pub tokens_per_second_per_user: f64,
    pub requests_per_second_per_replica: f64,
    pub bound: Bound,
    /// Whether the latency targets hold at this point.
    pub meets_targets: bool,
    /// On-demand rental of the replica's GPUs per generated million tokens.
    pub cost_per_million_output_tokens_usd: f64,
    /// The same per million prompt and generated tokens.
    pub cost_per_million_total_tokens_usd: f64,
    /// Expected relative error of the throughput, e.g. 0.18 for ±18%.
    pub expected_error: f64,
    /// Name of the calibration behind the efficiencies.
    pub calibration: String,
}

/// A model on a GPU at given precisions and parallelism, ready to evaluate
/// at any concurrency.
pub struct Setup<'a> {
    pub model: &'a Model,
    pub gpu: &'a Gpu,
    pub replica: Replica,
    pub input: f64,
    pub output: f64,
    /// Mean layer-tokens of context per sequence over its life.
    mean_layer_tokens: f64,
    /// The replica's work to prefill one prompt inside a busy batch, and the
    /// prompt's latency alone: neither depends on the concurrency.
    prefill: StepTime,
    prefill_alone_s: f64,
    pub max_concurrency: u32,
    kv: Precision,
    calibration: &'a Calibration,
}

/// Checks the query against the catalogue and builds the replica, choosing
/// the parallelism and layout when asked to: the smallest GPU count at
/// which some layout fits, and at it the layout with the highest
/// throughput within the targets.
pub fn setup<'a>(
    catalog: &'a Catalog,
    query: &Query,
    calibration: &'a Calibration,
) -> Result<Setup<'a>> {
    let model = catalog.model(&query.model)?;
    let gpu = catalog.gpu(&query.gpu)?;
    validate(query, model, gpu)?;
    let w = query.workload;
    let (input, output) = (f64::from(w.input_tokens), f64::from(w.output_tokens));
    let mean_context = input + output / 2.0;
    let mean_layer_tokens = memory::kv_layer_tokens(model, mean_context);
    // One sequence must fit at its longest.
    let one_sequence = memory::kv_layer_tokens(model, input + output);
    let finish = |replica: Replica| {
        let max_concurrency = (replica.kv_capacity_layer_tokens / mean_layer_tokens)
            .floor()
            .clamp(1.0, f64::from(MAX_CONCURRENCY)) as u32;
        Setup {
            model,
            gpu,
            prefill: replica.prefill_work(model, input),
            prefill_alone_s: replica.prefill_alone(model, input).total(),
            replica,
            input,
            output,
            mean_layer_tokens,
            max_concurrency,
            kv: query.kv_precision,
            calibration,
        }
    };
    let layouts: Vec<Layout> = match query.layout {
        Some(layout) => vec![layout],
        None => Layout::ALL.to_vec(),
    };
    // Experts spread whole never lose to the same experts split: the same
    // weights, KV and all-reduces per GPU, in wider GEMMs. So where both
    // apply, only the first is tried.
    let dominated = |layout: Layout, tp: u32| {
        query.layout.is_none()
            && layout == Layout::Tensor
            && Layout::TensorExpert.applies(model, tp)
    };
    let gpu_counts: Vec<u32> = match query.tensor_parallel {
        0 => memory::tp_candidates(model, gpu).collect(),
        tp => vec![tp],
    };
    for &tp in &gpu_counts {
        let fitting = layouts
            .iter()
            .filter(|&&layout| layout.applies(model, tp) && !dominated(layout, tp))
            .map(|&layout| {
                Replica::new(
                    model,
                    gpu,
                    query.weight_precision,
                    query.kv_precision,
                    tp,
                    layout,
                    &calibration.tuning,
                )
            })
            .filter(|r| r.kv_capacity_layer_tokens >= one_sequence)
            .map(finish);
        // The best layout at this count; ties keep the simpler one.
        let mut best: Option<(f64, Setup)> = None;
        for candidate in fitting {
            let rate = match query.workload.concurrency {
                0 => candidate.best(&query.targets),
                c => candidate.at(c, &query.targets),
            }
            .output_tokens_per_second_per_gpu;
            if best.as_ref().is_none_or(|(top, _)| rate > *top) {
                best = Some((rate, candidate));
            }
        }
        if let Some((_, chosen)) = best {
            return Ok(chosen);
        }
    }
    let largest = gpu_counts.last().copied().unwrap_or(1);
    Err(does_not_fit(model, gpu, query, largest, one_sequence))
}

fn validate(query: &Query, model: &Model, gpu: &Gpu) -> Result<()> {
    let mut violations = Vec::new();
    let mut fail =
        |field: &str, why: String| violations.push(crate::error::FieldViolation::new(field, why));
    let compute = roofline::compute_precision_on(query.weight_precision, gpu);
    if !gpu.dense_tflops.contains_key(&compute) {
        let supported: Vec<_> = gpu.dense_tflops.keys().map(|p| p.name()).collect();
        fail(
            "weight_precision",
            format!(
                "{} has no {} units (it supports {}, weight-only int4, and fp4 weights where \
                 it has fp8 units)",
                gpu.id,
                query.weight_precision,
                supported.join(", ")
            ),
        );
    }
    if let Some(layout) = query.layout {
        let gpus = if query.tensor_parallel == 0 {
            gpu.gpus_per_node
        } else {
            query.tensor_parallel
        };
        if !layout.applies(model, gpus) {
            fail(
                "layout",
                match model.moe {
                    None => format!(
                        "{layout} spreads experts, and {} is a dense model: use tp",
                        model.id
                    ),
                    Some(moe) => format!(
                        "{layout} spreads {}'s {} experts whole, which needs more than one GPU \
                         and a GPU count that divides them (got {gpus})",
                        model.id, moe.experts
                    ),
                },
            );
        }
    }
    if query.tensor_parallel != 0 && !memory::tp_allowed(model, gpu, query.tensor_parallel) {
        fail(
            "tensor_parallel",
            format!(
                "{} is not a degree up to {} GPUs per node that divides {}'s {} attention heads",
                query.tensor_parallel, gpu.gpus_per_node, model.id, model.attention_heads
            ),
        );
    }
    let w = query.workload;
    if w.input_tokens == 0 {
        fail("workload.input_tokens", "must be positive".into());
    }
    if w.output_tokens == 0 {
        fail("workload.output_tokens", "must be positive".into());
    }
    let context = u64::from(w.input_tokens) + u64::from(w.output_tokens);
    if context > u64::from(model.max_context) {
        fail(
            "workload.input_tokens",
            format!(
                "input plus output tokens ({context}) exceed {}'s context of {}",
                model.id, model.max_context
            ),
        );
    }
    if w.concurrency > MAX_CONCURRENCY {
        fail(
            "workload.concurrency",
            format!("must be at most {MAX_CONCURRENCY}, got {}", w.concurrency),
        );
    }
    for (field, value) in [
        ("targets.ttft_seconds", query.targets.ttft_s),
        ("targets.tpot_seconds", query.targets.tpot_s),
    ] {
        if let Some(v) = value
            && !(v.is_finite() && v > 0.0 && v <= 3600.0)
        {
            fail(
                field,
                format!("must be a positive number of seconds up to 3600, got {v}"),
            );
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(violations))
    }
}

fn does_not_fit(model: &Model, gpu: &Gpu, query: &Query, tp: u32, one_sequence: f64) -> Error {
    let r = Replica::new(
        model,
        gpu,
        query.weight_precision,
        query.kv_precision,
        tp,
        query.layout.unwrap_or(Layout::Tensor),
        &Tuning::default(),
    );
    let kv_needed = one_sequence * r.kv_bytes_per_layer_token_per_gpu();
    let short_per_gpu = kv_needed - r.fit.kv_bytes_per_gpu;
    let short_gb = short_per_gpu * f64::from(tp) / 1e9;
    Error::FailedPrecondition(format!(
        "{} in {} does not fit on {}x {}: {:.1} GB short ({:.1} GB of weights per GPU, {:.1} GB usable per GPU)",
        model.id,
        query.weight_precision,
        tp,
        gpu.id,
        short_gb.max(0.1),
        r.fit.weight_bytes_per_gpu / 1e9,
        r.fit.usable_bytes_per_gpu / 1e9,
    ))
}

/// Whether a time to first token and a time per output token meet the
/// targets.
fn meets(targets: &Targets, ttft: f64, tpot: f64) -> bool {
    targets.ttft_s.is_none_or(|t| ttft <= t) && targets.tpot_s.is_none_or(|t| tpot <= t)
}

impl Setup<'_> {
    /// The decode step at `c` sequences in flight (between 1 and the most
    /// that fit), and the TTFT and TPOT users see: a user waits for their
    /// prompt and one step, then sees one token per C/(X·O) = d + C·p/O
    /// seconds as prefills of newcomers interleave with decode steps.
    fn latencies(&self, c: f64) -> (StepTime, f64, f64) {
        let decode = self.replica.decode_step(c, self.mean_layer_tokens);
        let d = decode.total();
        let tpot = c * self.prefill.total() / self.output + d;
        let ttft = self.prefill_alone_s + d;
        (decode, ttft, tpot)
    }

    /// Steady state of continuous batching with `concurrency` sequences in
    /// flight. Each request costs the replica the work of its prefill `p`
    /// plus its share of decode steps, O·d/C, so requests complete at
    /// X = 1 / (p + O·d/C); a user sees one token per C/(X·O) = d + C·p/O
    /// seconds, as prefills of newcomers interleave with decode steps.
    pub fn at(&self, concurrency: u32, targets: &Targets) -> Estimate {
        let c = f64::from(concurrency.clamp(1, self.max_concurrency));
        let r = &self.replica;
        let tp = f64::from(r.tp);
        let (decode, ttft, tpot) = self.latencies(c);
        let d = decode.total();
        let prefill = self.prefill;
        let p = prefill.total();
        let per_request = p + self.output * d / c;
        let x = 1.0 / per_request;
        let meets_targets = meets(targets, ttft, tpot);

        // Which resource the replica spends most time waiting on.
        let share = self.output / c;
        let mem = prefill.memory_s + share * decode.memory_s;
        let comp = prefill.compute_s + share * decode.compute_s;
        let net = prefill.interconnect_s + share * decode.interconnect_s;
        let at_capacity = concurrency >= self.max_concurrency;
        let bound = if at_capacity && meets_targets {
            Bound::MemoryCapacity
        } else if net > mem && net > comp {
            Bound::Interconnect
        } else if comp > mem {
            Bound::Compute
        } else {
            Bound::MemoryBandwidth
        };

        let output_per_s = x * self.output;
        let total_per_s = x * (self.input + self.output);
        // Hardware only owned has no rental rate: its cost per token is 0 here.
        let hourly = self
            .gpu
            .rental_on_demand_per_gpu_hour
            .as_ref()
            .map_or(0.0, |f| f.usd)
            * tp;
        let layers = r.model_layers;
        Estimate {
            memory: MemoryUse {
                weights_gb: r.fit.weight_bytes_per_gpu * tp / 1e9,
                weights_gb_per_gpu: r.fit.weight_bytes_per_gpu / 1e9,
                usable_gb_per_gpu: r.fit.usable_bytes_per_gpu / 1e9,
                kv_bytes_per_token: layers
                    * memory::kv_bytes_per_token_per_layer(self.model, self.kv),
                kv_capacity_tokens: r.kv_capacity_layer_tokens / layers,
                max_concurrent_sequences: self.max_concurrency,
            },
            tensor_parallel: r.tp,
            layout: r.layout,
            concurrency: c as u32,
            ttft_s: ttft,
            tpot_s: tpot,
            prefill_tokens_per_s: self.input / p,
            decode_tokens_per_s: c / d,
            output_tokens_per_second_per_gpu: output_per_s / tp,
            total_tokens_per_second_per_gpu: total_per_s / tp,
            tokens_per_second_per_user: 1.0 / tpot,
            requests_per_second_per_replica: x,
            bound,
            meets_targets,
            cost_per_million_output_tokens_usd: hourly / (output_per_s * 3600.0) * 1e6,
            cost_per_million_total_tokens_usd: hourly / (total_per_s * 3600.0) * 1e6,
            expected_error: self.calibration.expected_error,
            calibration: self.calibration.name.clone(),
        }
    }

    /// The highest-throughput point within the targets: throughput grows
    /// with concurrency while TTFT and TPOT only grow, so it is the largest
    /// concurrency that still meets them (binary search).
    pub fn best(&self, targets: &Targets) -> Estimate {
        // The search needs only the latencies, not a whole estimate.
        let meets_at = |concurrency: u32| {
            let (_, ttft, tpot) = self.latencies(f64::from(concurrency));
            meets(targets, ttft, tpot)
        };
        if meets_at(self.max_concurrency) {
            return self.at(self.max_concurrency, targets);
        }
        let (mut lo, mut hi) = (1u32, self.max_concurrency);
        if !meets_at(lo) {
            return self.at(lo, targets);
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if meets_at(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.at(lo, targets)
    }
}

/// Estimates throughput for a query.
pub fn estimate(catalog: &Catalog, query: &Query, calibration: &Calibration) -> Result<Estimate> {
    let setup = setup(catalog, query, calibration)?;
    Ok(match query.workload.concurrency {
        0 => setup.best(&query.targets),
        c => setup.at(c, &query.targets),
    })
}

/// The throughput–interactivity curve: one point per concurrency from 1 up
/// to what memory holds (doubling), and the best point within the targets.
pub fn sweep(
    catalog: &Catalog,
    query: &Query,
    calibration: &Calibration,
) -> Result<(Vec<Estimate>, Estimate)> {
    let setup = setup(catalog, query, calibration)?;
    let mut points = Vec::new();
    let mut c = 1u32;
    while c < setup.max_concurrency {
        points.push(setup.at(c, &query.targets));
        c = c.saturating_mul(2);
    }
    points.push(setup.at(setup.max_concurrency, &query.targets));
    Ok((points, setup.best(&query.targets)))
}

/// One model's place on a scaling curve.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingPoint {
    pub model: String,
    pub total_params_b: f64,
    pub active_params_b: f64,
    /// The best estimate, or why the model does not fit.
    pub estimate: std::result::Result<Estimate, String>,
}

/// Every catalogue model on one GPU type at one precision, ordered by size.
pub fn scaling_curve(
    catalog: &Catalog,
    gpu: &str,
    weights: Precision,
    kv: Precision,
    workload: Workload,
    targets: Targets,
    calibration: &Calibration,
) -> Result<Vec<ScalingPoint>> {
    catalog.gpu(gpu)?;
    let mut models: Vec<&Model> = catalog.models().collect();
    models.sort_by(|a, b| {
        a.total_params_b
            .total_cmp(&b.total_params_b)
            .then(a.id.cmp(&b.id))
    });
    let mut points = Vec::new();
    for model in models {
        let query = Query {
            model: model.id.clone(),
            gpu: gpu.to_string(),
            weight_precision: weights,
            kv_precision: kv,
            tensor_parallel: 0,
            layout: None,
            workload: Workload {
                concurrency: 0,
                ..workload
            },
            targets,
        };
        let estimate = match estimate(catalog, &query, calibration) {
            Ok(e) => Ok(e),
            Err(Error::FailedPrecondition(why)) => Err(why),
            Err(Error::InvalidArgument(v))
                if v.iter().all(|v| v.field == "workload.input_tokens") =>
            {
                Err(v[0].description.clone())
            }
            Err(other) => return Err(other),
        };
        points.push(ScalingPoint {
            model: model.id.clone(),
            total_params_b: model.total_params_b,
            active_params_b: model.active_params_b,
            estimate,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded().unwrap()
    }

    fn defaults() -> Calibration {
        Calibration {
            name: "default".into(),
            tuning: Tuning::default(),
            expected_error: 0.15,
            points: 0,
        }
    }

    fn query(
        model: &str,
        gpu: &str,
        weights: Precision,
        input: u32,
        output: u32,
        concurrency: u32,
    ) -> Query {
        Query {
            model: model.into(),
            gpu: gpu.into(),
            weight_precision: weights,
            kv_precision: Precision::Bf16,
            tensor_parallel: 0,
            layout: None,
            workload: Workload {
                input_tokens: input,
                output_tokens: output,
                concurrency,
            },
            targets: Targets::default(),
        }
    }

    #[test]
    fn batch_one_decode_reads_the_weights_once_per_token() {
        let catalog = catalog();
        let q = query("llama-3.1-8b", "h100-sxm", Precision::Bf16, 8, 8, 1);
        let calibration = defaults();
        let setup = setup(&catalog, &q, &calibration).unwrap();
        let model = catalog.model("llama-3.1-8b").unwrap();
        let gpu = catalog.gpu("h100-sxm").unwrap();
        let step = setup.replica.decode_step(1.0, 0.0);
        let expected = model.total_params_b * 1e9 * 2.0
            / (gpu.memory_bandwidth_tb_s * 1e12 * gpu.efficiency.memory_bandwidth);
        assert!(
            (step.memory_s / expected - 1.0).abs() < 1e-9,
            "{} vs {expected}",
            step.memory_s
        );
        assert!(step.memory_s > step.compute_s);
        assert_eq!(step.interconnect_s, 0.0);
    }

    #[test]
    fn the_smallest_parallelism_that_fits_is_chosen() {
        let catalog = catalog();
        let calibration = defaults();
        let tp = |model: &str, gpu: &str, precision| {
            estimate(
                &catalog,
                &query(model, gpu, precision, 1000, 200, 0),
                &calibration,
            )
            .unwrap()
            .tensor_parallel
        };
        assert_eq!(tp("llama-3.1-8b", "h100-sxm", Precision::Bf16), 1);
        // 141 GB of BF16 weights leave too little of 2 × 72 GB usable.
        assert_eq!(tp("llama-3.1-70b", "h100-sxm", Precision::Bf16), 4);
        assert_eq!(tp("llama-3.1-70b", "h100-sxm", Precision::Fp8), 2);
        assert_eq!(tp("llama-3.1-70b", "h200", Precision::Fp8), 1);
        assert_eq!(tp("llama-3.1-405b", "h100-sxm", Precision::Fp8), 8);
    }

    #[test]
    fn a_model_too_big_for_a_node_says_how_many_gb_short() {
        let catalog = catalog();
        let q = query("llama-3.1-405b", "l4", Precision::Bf16, 1000, 200, 0);
        let err = estimate(&catalog, &q, &defaults()).unwrap_err();
        let Error::FailedPrecondition(message) = err else {
            panic!("{err:?}")
        };
        // 405B × 2 bytes ≈ 811 GB against 8 × 24 GB × 0.9 × 0.96 ≈ 166 GB.
        let short: f64 = message
            .split(" GB short")
            .next()
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((600.0..700.0).contains(&short), "{message}");
    }

    #[test]
    fn invalid_queries_name_each_field() {
        let catalog = catalog();
        let mut q = query("llama-3.1-8b", "a100-80gb", Precision::Fp8, 0, 0, 2_000_000);
        q.tensor_parallel = 3;
        q.targets.tpot_s = Some(f64::NAN);
        let Err(Error::InvalidArgument(violations)) = estimate(&catalog, &q, &defaults()) else {
            panic!("expected invalid argument");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "weight_precision",
                "tensor_parallel",
                "workload.input_tokens",
                "workload.output_tokens",
                "workload.concurrency",
                "targets.tpot_seconds"
            ]
        );
        let long = query("llama-2-70b", "h100-sxm", Precision::Fp8, 4000, 200, 0);
        assert!(
            estimate(&catalog, &long, &defaults()).is_err(),
            "Llama 2 has a 4096-token context"
        );
    }

    #[test]
    fn tighter_latency_targets_lower_concurrency_and_throughput() {
        let catalog = catalog();
        let calibration = defaults();
        let mut q = query("llama-3.1-70b", "h100-sxm", Precision::Fp8, 1000, 300, 0);
        let free = estimate(&catalog, &q, &calibration).unwrap();
        q.targets.tpot_s = Some(free.tpot_s / 3.0);
        let tight = estimate(&catalog, &q, &calibration).unwrap();
        assert!(tight.meets_targets);
        assert!(tight.tpot_s <= free.tpot_s / 3.0);
        assert!(tight.concurrency < free.concurrency);
        assert!(tight.output_tokens_per_second_per_gpu < free.output_tokens_per_second_per_gpu);
        assert_eq!(free.bound, Bound::MemoryCapacity);
    }

    #[test]
    fn unreachable_targets_are_reported_not_hidden() {
        let catalog = catalog();
        let mut q = query("llama-3.1-70b", "l40s", Precision::Fp8, 1000, 300, 0);
        q.targets.tpot_s = Some(0.001);
        let e = estimate(&catalog, &q, &defaults()).unwrap();
        assert!(!e.meets_targets);
        assert_eq!(e.concurrency, 1);
    }

    #[test]
    fn cost_per_million_tokens_follows_from_rental_and_rate() {
        let catalog = catalog();
        let q = query("llama-3.1-8b", "h100-sxm", Precision::Bf16, 1000, 300, 32);
        let e = estimate(&catalog, &q, &defaults()).unwrap();
        let hourly = catalog
            .gpu("h100-sxm")
            .unwrap()
            .rental_on_demand_per_gpu_hour
            .as_ref()
            .unwrap()
            .usd;
        let expected = hourly / (e.output_tokens_per_second_per_gpu * 3600.0) * 1e6;
        assert!((e.cost_per_million_output_tokens_usd / expected - 1.0).abs() < 1e-9);
        assert_eq!(e.expected_error, 0.15);
    }

    #[test]
    fn sweeps_trade_interactivity_for_throughput() {
        let catalog = catalog();
        let q = query("llama-3.1-8b", "h100-sxm", Precision::Fp8, 500, 500, 0);
        let (points, best) = sweep(&catalog, &q, &defaults()).unwrap();
        assert!(points.len() > 3);
        for pair in points.windows(2) {
            assert!(pair[1].concurrency > pair[0].concurrency);
            // Once the linear layers are compute-bound and attention is
            // bound by its KV reads, both grow with the batch and the rate
            // stays flat, up to rounding.
            assert!(
                pair[1].output_tokens_per_second_per_gpu
                    >= pair[0].output_tokens_per_second_per_gpu * (1.0 - 1e-12)
            );
            assert!(pair[1].tokens_per_second_per_user <= pair[0].tokens_per_second_per_user);
        }
        assert_eq!(best.concurrency, points.last().unwrap().concurrency);
    }

    #[test]
    fn scaling_curves_cover_the_catalogue_by_size() {
        let catalog = catalog();
        let workload = Workload {
            input_tokens: 1000,
            output_tokens: 200,
            concurrency: 0,
        };
        let points = scaling_curve(
            &catalog,
            "h100-sxm",
            Precision::Fp8,
            Precision::Fp8,
            workload,
            Targets::default(),
            &defaults(),
        )
        .unwrap();
        assert_eq!(points.len(), catalog.models().count());
        assert!(
            points
                .windows(2)
                .all(|p| p[0].total_params_b <= p[1].total_params_b)
        );
        assert!(points.iter().filter(|p| p.estimate.is_ok()).count() >= 10);
        let small = points.first().unwrap().estimate.as_ref().unwrap();
        let large = points
            .iter()
            .rev()
            .find_map(|p| p.estimate.as_ref().ok())
            .unwrap();
        assert!(
            small.cost_per_million_output_tokens_usd < large.cost_per_million_output_tokens_usd
        );
    }

    /// A dense model is tensor parallel; DeepSeek on B200s with long
    /// contexts is served with data-parallel attention, whose unreplicated
    /// MLA cache holds far more sequences; a named layout is honoured.
    #[test]
    fn the_layout_with_the_highest_throughput_is_chosen_or_the_one_named() {
        let catalog = catalog();
        let calibration = defaults();
        let mut dense = query("llama-3.1-70b", "h100-sxm", Precision::Fp8, 1000, 1000, 0);
        dense.kv_precision = Precision::Fp8;
        assert_eq!(
            estimate(&catalog, &dense, &calibration).unwrap().layout,
            Layout::Tensor
        );

        let mut deepseek = query("deepseek-v3", "b200", Precision::Fp4, 8192, 1024, 0);
        deepseek.kv_precision = Precision::Fp8;
        deepseek.tensor_parallel = 8;
        let auto = estimate(&catalog, &deepseek, &calibration).unwrap();
        assert_eq!(auto.layout, Layout::DataExpert);
        let mut named = deepseek.clone();
        named.layout = Some(Layout::Tensor);
        let tp = estimate(&catalog, &named, &calibration).unwrap();
        assert_eq!(tp.layout, Layout::Tensor);
        assert!(
            auto.output_tokens_per_second_per_gpu > tp.output_tokens_per_second_per_gpu,
            "{} vs {}",
            auto.output_tokens_per_second_per_gpu,
            tp.output_tokens_per_second_per_gpu
        );
        assert!(auto.memory.max_concurrent_sequences > 4 * tp.memory.max_concurrent_sequences);
    }

    #[test]
    fn a_layout_that_does_not_apply_names_the_field() {
        let catalog = catalog();
        let mut q = query("llama-3.1-70b", "h100-sxm", Precision::Fp8, 1000, 200, 0);
        q.layout = Some(Layout::DataExpert);
        let Err(Error::InvalidArgument(v)) = estimate(&catalog, &q, &defaults()) else {
            panic!("a dense model took an expert layout");
        };
        assert_eq!(v[0].field, "layout", "{v:?}");
        assert!(v[0].description.contains("dense"), "{v:?}");
        // 256 experts do not spread over 3 GPUs... nor experts over one.
        let mut q = query("deepseek-v3", "b200", Precision::Fp4, 1000, 200, 0);
        q.layout = Some(Layout::TensorExpert);
        q.tensor_parallel = 1;
        assert!(matches!(
            estimate(&catalog, &q, &defaults()),
            Err(Error::InvalidArgument(_))
        ));
    }

    /// A layout that applies but leaves no room for one sequence is a
    /// failed precondition saying how far it is short.
    #[test]
    fn a_layout_that_does_not_fit_is_a_failed_precondition() {
        let catalog = catalog();
        let mut q = query("deepseek-v3", "h100-sxm", Precision::Fp8, 1000, 200, 0);
        q.tensor_parallel = 8;
        q.layout = Some(Layout::DataExpert);
        match estimate(&catalog, &q, &defaults()) {
            Err(Error::FailedPrecondition(m)) => assert!(m.contains("short"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    /// W4A16: weights read at 4 bits plus their scales, arithmetic in BF16
    /// (dequantised), the weight reads at the kernels' lower bandwidth.
    #[test]
    fn weight_only_int4_reads_a_quarter_of_bf16_bytes_and_computes_in_bf16() {
        let catalog = catalog();
        let calibration = defaults();
        let bytes = memory::bytes_per_weight(Precision::Int4);
        assert!((bytes - 0.5 * (1.0 + 2.0 / 128.0 / 0.5)).abs() < 1e-12);
        assert_eq!(compute_precision(Precision::Int4), Precision::Bf16);
        let step = |weights| {
            let q = query("llama-3.1-8b", "a100-80gb", weights, 8, 8, 1);
            setup(&catalog, &q, &calibration)
                .unwrap()
                .replica
                .decode_step(1.0, 0.0)
                .memory_s
        };
        let ratio = step(Precision::Int4) / step(Precision::Bf16);
        let expected = bytes / 2.0 / params::WEIGHT_ONLY_INT4_BANDWIDTH;
        assert!((ratio - expected).abs() < 1e-9, "{ratio} vs {expected}");
    }
}
