//! Properties the throughput estimator keeps across the whole catalogue:
//! slower hardware never serves faster, longer contexts never fit more,
//! sparse models never step slower than their dense equivalent, and every
//! configuration that fits gives finite, positive answers.

use std::sync::LazyLock;

use breakeven::Error;
use breakeven::catalog::{Catalog, Gpu, Model, Precision};
use breakeven::estimator::{
    self, Calibration, Estimate, Layout, Query, Replica, Targets, Tuning, Workload, memory,
};
use proptest::prelude::*;
use proptest::sample::Index;

static CATALOG: LazyLock<Catalog> =
    LazyLock::new(|| Catalog::embedded().expect("built-in catalogue loads"));

fn models() -> Vec<&'static Model> {
    CATALOG.models().collect()
}

fn gpus() -> Vec<&'static Gpu> {
    CATALOG.gpus().collect()
}

/// Weight precisions a GPU runs: those it has units for, and weight-only
/// INT4 everywhere.
fn precisions(gpu: &Gpu) -> Vec<Precision> {
    let mut all: Vec<Precision> = gpu.dense_tflops.keys().copied().collect();
    if !all.contains(&Precision::Int4) {
        all.push(Precision::Int4);
    }
    all
}

/// FP8 KV cache with 8- and 4-bit float weights, BF16 otherwise (the
/// service's default).
fn kv_for(weights: Precision) -> Precision {
    match weights {
        Precision::Fp8 | Precision::Fp4 => Precision::Fp8,
        _ => Precision::Bf16,
    }
}

fn calibration(tuning: Tuning) -> Calibration {
    Calibration {
        name: "property".into(),
        tuning,
        expected_error: 0.2,
        points: 0,
    }
}

/// A catalogue configuration drawn at random.
#[derive(Debug, Clone)]
struct Config {
    model: &'static Model,
    gpu: &'static Gpu,
    weights: Precision,
}

fn config() -> impl Strategy<Value = Config> {
    (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(m, g, p)| {
        let model = models()[m.index(models().len())];
        let gpu = gpus()[g.index(gpus().len())];
        let options = precisions(gpu);
        let weights = options[p.index(options.len())];
        Config {
            model,
            gpu,
            weights,
        }
    })
}

fn query(c: &Config, tensor_parallel: u32, workload: Workload) -> Query {
    Query {
        model: c.model.id.clone(),
        gpu: c.gpu.id.clone(),
        weight_precision: c.weights,
        kv_precision: kv_for(c.weights),
        tensor_parallel,
        layout: None,
        workload,
        targets: Targets::default(),
    }
}

fn estimate(q: &Query, tuning: Tuning) -> Result<Estimate, Error> {
    estimator::estimate(&CATALOG, q, &calibration(tuning))
}

/// Two distinct scales in the range calibration may fit, smaller first.
fn scales() -> impl Strategy<Value = (f64, f64)> {
    (0.2f64..3.0, 0.2f64..3.0)
        .prop_filter("distinct", |(a, b)| a != b)
        .prop_map(|(a, b)| (a.min(b), a.max(b)))
}

fn workload() -> impl Strategy<Value = Workload> {
    (1u32..=8192, 1u32..=2048, 0u32..=1024).prop_map(|(input, output, concurrency)| Workload {
        input_tokens: input,
        output_tokens: output,
        concurrency,
    })
}

/// Output tokens per second per GPU at two tunings, or `None` when the
/// configuration does not fit (at either: fit does not depend on tuning).
fn throughput_pair(q: &Query, low: Tuning, high: Tuning) -> Option<(f64, f64)> {
    match (estimate(q, low), estimate(q, high)) {
        (Ok(a), Ok(b)) => Some((
            a.output_tokens_per_second_per_gpu,
            b.output_tokens_per_second_per_gpu,
        )),
        (Err(_), Err(_)) => None,
        (a, b) => panic!("fit depends on tuning for {q:?}: {a:?} vs {b:?}"),
    }
}

fn no_faster(slow: f64, fast: f64) -> bool {
    slow <= fast * (1.0 + 1e-9)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn throughput_never_rises_when_memory_bandwidth_falls(
        c in config(),
        w in workload(),
        (s1, s2) in scales(),
    ) {
        let q = query(&c, 0, w);
        let slow = Tuning { bandwidth_scale: s1, ..Tuning::default() };
        let fast = Tuning { bandwidth_scale: s2, ..Tuning::default() };
        if let Some((slow, fast)) = throughput_pair(&q, slow, fast) {
            prop_assert!(no_faster(slow, fast), "{slow} > {fast} for {q:?}");
        }
    }

    #[test]
    fn throughput_never_rises_when_compute_falls(
        c in config(),
        w in workload(),
        (s1, s2) in scales(),
    ) {
        let q = query(&c, 0, w);
        let slow = Tuning { compute_scale: s1, ..Tuning::default() };
        let fast = Tuning { compute_scale: s2, ..Tuning::default() };
        if let Some((slow, fast)) = throughput_pair(&q, slow, fast) {
            prop_assert!(no_faster(slow, fast), "{slow} > {fast} for {q:?}");
        }
    }

    #[test]
    fn longer_prompts_never_fit_more_sequences(
        c in config(),
        tp in any::<Index>(),
        (short, long) in (1u32..=16_384, 1u32..=16_384)
            .prop_filter("distinct", |(a, b)| a != b)
            .prop_map(|(a, b)| (a.min(b), a.max(b))),
        output in 1u32..=1024,
    ) {
        let candidates: Vec<u32> = memory::tp_candidates(c.model, c.gpu).collect();
        prop_assume!(!candidates.is_empty());
        let at = |tp, input, layout| {
            let w = Workload { input_tokens: input, output_tokens: output, concurrency: 0 };
            estimate(&Query { layout, ..query(&c, tp, w) }, Tuning::default())
        };
        // At a fixed parallelism and layout, capacity only shrinks as
        // prompts grow. (Left to choose, the estimator may take another
        // layout for a longer prompt, one that holds more sequences.)
        let tp = candidates[tp.index(candidates.len())];
        let fixed = Some(Layout::Tensor);
        if let Ok(long) = at(tp, long, fixed) {
            let short = at(tp, short, fixed);
            prop_assert!(short.is_ok(), "fits {long:?} tokens but not {short:?}");
            let short = short.unwrap();
            prop_assert!(
                short.memory.max_concurrent_sequences >= long.memory.max_concurrent_sequences,
                "{} sequences of {short:?} tokens, {} of {long:?}",
                short.memory.max_concurrent_sequences,
                long.memory.max_concurrent_sequences
            );
        }
        // Choosing the parallelism and layout: what fits long fits short.
        if at(0, long, None).is_ok() {
            prop_assert!(at(0, short, None).is_ok());
        }
    }

    #[test]
    fn a_larger_batch_never_runs_fewer_sequences_than_a_smaller_one(
        c in config(),
        w in workload(),
        (c1, c2) in (1u32..=4096, 1u32..=4096).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ) {
        let at = |concurrency| estimate(&query(&c, 0, Workload { concurrency, ..w }), Tuning::default());
        if let (Ok(small), Ok(large)) = (at(c1), at(c2)) {
            prop_assert!(small.concurrency <= large.concurrency);
            prop_assert!(large.concurrency <= large.memory.max_concurrent_sequences);
            prop_assert_eq!(small.concurrency, c1.min(small.memory.max_concurrent_sequences));
        }
    }

    #[test]
    fn a_mixture_of_experts_never_steps_slower_than_its_dense_equivalent(
        m in any::<Index>(),
        g in any::<Index>(),
        tp in any::<Index>(),
        batch in 1u32..=4096,
        context in 1u32..=32_768,
    ) {
        let moe: Vec<&Model> = models().into_iter().filter(|m| m.moe.is_some()).collect();
        prop_assume!(!moe.is_empty());
        let sparse = moe[m.index(moe.len())];
        let gpu = gpus()[g.index(gpus().len())];
        let dense = Model {
            moe: None,
            active_params_b: sparse.total_params_b,
            ..sparse.clone()
        };
        let candidates: Vec<u32> = memory::tp_candidates(sparse, gpu).collect();
        prop_assume!(!candidates.is_empty());
        let tp = candidates[tp.index(candidates.len())];
        let replica = |model: &Model| {
            Replica::new(
                model,
                gpu,
                Precision::Bf16,
                Precision::Bf16,
                tp,
                Layout::Tensor,
                &Tuning::default(),
            )
        };
        let layer_tokens = memory::kv_layer_tokens(sparse, f64::from(context));
        let batch = f64::from(batch);
        let sparse_step = replica(sparse).decode_step(batch, layer_tokens).total();
        let dense_step = replica(&dense).decode_step(batch, layer_tokens).total();
        prop_assert!(
            dense_step.is_finite() && sparse_step <= dense_step * (1.0 + 1e-12),
            "{}: {sparse_step} s sparse vs {dense_step} s dense at batch {batch}",
            sparse.id
        );
    }

    /// In every layout a mixture-of-experts model may take, a step never
    /// gets shorter when memory bandwidth, compute or the GPU-to-GPU links
    /// get slower: throughput follows the hardware down.
    #[test]
    fn every_layout_slows_when_bandwidth_compute_or_links_fall(
        m in any::<Index>(),
        g in any::<Index>(),
        tp in any::<Index>(),
        layout in any::<Index>(),
        which in 0usize..3,
        (s1, s2) in scales(),
        batch in 1u32..=4096,
        context in 1u32..=32_768,
        prefill in 1u32..=16_384,
    ) {
        let moe: Vec<&Model> = models().into_iter().filter(|m| m.moe.is_some()).collect();
        let model = moe[m.index(moe.len())];
        let gpu = gpus()[g.index(gpus().len())];
        let candidates: Vec<u32> = memory::tp_candidates(model, gpu).collect();
        prop_assume!(!candidates.is_empty());
        let tp = candidates[tp.index(candidates.len())];
        let layouts: Vec<Layout> = Layout::ALL.into_iter().filter(|l| l.applies(model, tp)).collect();
        let layout = layouts[layout.index(layouts.len())];
        let step = |scale: f64| {
            let mut tuning = Tuning::default();
            let mut gpu = gpu.clone();
            match which {
                0 => tuning.bandwidth_scale = scale,
                1 => tuning.compute_scale = scale,
                _ => gpu.interconnect_gb_s *= scale,
            }
            let r = Replica::new(model, &gpu, Precision::Bf16, Precision::Bf16, tp, layout, &tuning);
            let layer_tokens = memory::kv_layer_tokens(model, f64::from(context));
            (
                r.decode_step(f64::from(batch), layer_tokens).total(),
                r.prefill_work(model, f64::from(prefill)).total(),
            )
        };
        let (slow, fast) = (step(s1), step(s2));
        prop_assert!(
            slow.0 >= fast.0 * (1.0 - 1e-12) && slow.1 >= fast.1 * (1.0 - 1e-12),
            "{} {layout} on {tp}x {}: {slow:?} at scale {s1} vs {fast:?} at {s2}",
            model.id,
            gpu.id
        );
    }
}

#[test]
fn every_catalogue_pair_that_fits_gives_finite_positive_answers() {
    let workload = Workload {
        input_tokens: 1000,
        output_tokens: 300,
        concurrency: 0,
    };
    let mut fitted = 0;
    for model in models() {
        for gpu in gpus() {
            for weights in precisions(gpu) {
                let c = Config {
                    model,
                    gpu,
                    weights,
                };
                let q = query(&c, 0, workload);
                match estimate(&q, Tuning::default()) {
                    Ok(e) => {
                        fitted += 1;
                        for (name, value) in [
                            ("output tokens/s/GPU", e.output_tokens_per_second_per_gpu),
                            ("total tokens/s/GPU", e.total_tokens_per_second_per_gpu),
                            ("ttft", e.ttft_s),
                            ("tpot", e.tpot_s),
                            ("cost per M output", e.cost_per_million_output_tokens_usd),
                            ("cost per M total", e.cost_per_million_total_tokens_usd),
                        ] {
                            assert!(
                                value.is_finite() && value > 0.0,
                                "{} on {} in {weights}: {name} = {value}",
                                model.id,
                                gpu.id
                            );
                        }
                        assert!(e.concurrency >= 1);
                    }
                    Err(Error::FailedPrecondition(_)) => {}
                    Err(Error::InvalidArgument(v))
                        if v.iter().all(|v| v.field == "workload.input_tokens") => {}
                    Err(other) => panic!("{} on {} in {weights}: {other}", model.id, gpu.id),
                }
            }
        }
    }
    assert!(fitted >= 50, "only {fitted} configurations fit");
}
