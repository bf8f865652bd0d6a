//! Time per step of one model replica, kernel by kernel: the linear layers
//! take the longer of their weight reads over achievable bandwidth and their
//! FLOPs over achievable compute (routed experts at the rate their grouped
//! GEMMs reach); attention takes the longer of its KV-cache reads and its
//! FLOPs; the two run one after the other, and the all-reduces or
//! all-to-alls of the layout come between them.
//!
//! A [`Replica`] is built once per (model, GPU, precisions, layout);
//! its step functions then cost a few dozen floating-point operations, which
//! is what lets sweeps and Monte Carlo paths call them freely.

use super::layout::Layout;
use super::memory::{self, kv_layer_tokens};
use super::params::{
    ACTIVATION_BYTES, ALLREDUCE_LATENCY_S, ALLREDUCES_PER_LAYER, ALLTOALLS_PER_MOE_LAYER,
    FP4_GROUPED_GEMM_SHARE, GEMM_TILE_COLUMNS, GROUPED_GEMM_TILE_TOKENS, INT8_WEIGHT_BANDWIDTH,
    MIN_GROUPED_GEMM_TILE_TOKENS, MIXED_INPUT_FP4_SHARE, MOE_EXPERT_COMPUTE_EFFICIENCY,
    MOE_EXPERT_WIDTH_EXPONENT, MOE_REFERENCE_EXPERT_WIDTH, PCIE_COLLECTIVE_EFFICIENCY,
    PREFILL_COMPUTE_GAIN, STEP_TOKENS, WEIGHT_ONLY_INT4_BANDWIDTH,
};
use crate::catalog::{Attention, Gpu, Model, Precision};

/// Multipliers a calibration fits on top of the per-GPU efficiencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// Scales each GPU's achievable fraction of memory bandwidth.
    pub bandwidth_scale: f64,
    /// Scales each GPU's achievable fraction of peak FLOPs.
    pub compute_scale: f64,
    /// Fixed latency of one all-reduce, seconds.
    pub allreduce_latency_s: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            bandwidth_scale: 1.0,
            compute_scale: 1.0,
            allreduce_latency_s: ALLREDUCE_LATENCY_S,
        }
    }
}

/// Where the time of a step goes, seconds. Each kernel is bound by one
/// resource, memory traffic or arithmetic, and its time is counted there.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepTime {
    /// Kernels bound by moving weights or KV cache through memory.
    pub memory_s: f64,
    /// Kernels bound by arithmetic.
    pub compute_s: f64,
    /// All-reduces (tensor parallelism) or all-to-alls (expert
    /// parallelism).
    pub interconnect_s: f64,
}

impl StepTime {
    /// A kernel that reads `memory_s` worth of bytes and does `compute_s`
    /// worth of arithmetic: within it the two overlap, so it takes the
    /// longer, bound by that resource.
    pub fn kernel(memory_s: f64, compute_s: f64) -> Self {
        if memory_s > compute_s {
            Self {
                memory_s,
                ..Self::default()
            }
        } else {
            Self {
                compute_s,
                ..Self::default()
            }
        }
    }

    /// Kernels, all-reduces and all-to-alls run one after another.
    pub fn total(&self) -> f64 {
        self.memory_s + self.compute_s + self.interconnect_s
    }
}

impl std::ops::Add for StepTime {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            memory_s: self.memory_s + other.memory_s,
            compute_s: self.compute_s + other.compute_s,
            interconnect_s: self.interconnect_s + other.interconnect_s,
        }
    }
}

/// One replica of a model served on `tp` GPUs in a [`Layout`], with
/// everything that does not depend on the batch precomputed. Per-GPU
/// figures are per token of the whole replica's step, averaged over its
/// GPUs: under data-parallel attention a GPU serves 1/tp of the sequences.
#[derive(Debug, Clone)]
pub struct Replica {
    /// GPUs of the replica.
    pub tp: u32,
    pub layout: Layout,
    /// Weights per GPU that every step reads (attention, dense layers,
    /// shared experts, embeddings), bytes.
    always_read_bytes_per_gpu: f64,
    /// Routed-expert weights per GPU, bytes (0 for dense models).
    routed_bytes_per_gpu: f64,
    experts: f64,
    experts_per_token: f64,
    /// ln(1 − k/E): the log-probability that one token leaves an expert
    /// untouched.
    ln_untouched: f64,
    /// KV bytes per layer-token on one GPU.
    kv_bytes_per_layer_token_per_gpu: f64,
    /// FLOPs per token in the linear layers other than routed experts, per
    /// GPU.
    linear_flops_per_token_per_gpu: f64,
    /// FLOPs per token in the routed experts, per GPU.
    expert_flops_per_token_per_gpu: f64,
    /// Rate of expert GEMMs relative to dense ones before tile padding of
    /// the token count: the grouped-kernel fraction times the padding of a
    /// narrow tensor-parallel slice.
    expert_efficiency: f64,
    /// Attention FLOPs per token per layer-token of context, per GPU.
    attention_flops_per_context_per_gpu: f64,
    /// Achievable bytes/s of one GPU reading the KV cache.
    bandwidth: f64,
    /// Achievable bytes/s of one GPU reading weights: lower for integer
    /// weights, whose kernels dequantise them.
    weight_bandwidth: f64,
    /// Achievable FLOP/s of one GPU at the weights' compute precision, in
    /// decode steps and in prefill.
    linear_flops: f64,
    prefill_linear_flops: f64,
    /// Achievable FLOP/s of one GPU for attention (BF16), in decode steps
    /// and in prefill.
    attention_flops: f64,
    prefill_attention_flops: f64,
    /// Interconnect cost per token per step, seconds; and per step.
    interconnect_s_per_token: f64,
    interconnect_s_per_step: f64,
    pub model_layers: f64,
    pub kv_capacity_layer_tokens: f64,
    pub fit: memory::Fit,
}

/// Rate of a model's grouped expert GEMMs relative to dense GEMMs at large
/// token counts: [`MOE_EXPERT_COMPUTE_EFFICIENCY`] for experts as wide as
/// Mixtral's, falling with the square root of a narrower expert's width
/// (many small GEMMs fill the GPU less well), and by
/// [`FP4_GROUPED_GEMM_SHARE`] for 4-bit floating-point experts.
pub fn grouped_gemm_efficiency(model: &Model, gpu: &Gpu, weights: Precision) -> f64 {
    let width = (f64::from(model.intermediate_size) / MOE_REFERENCE_EXPERT_WIDTH).min(1.0);
    let fp4 = if compute_precision_on(weights, gpu) == Precision::Fp4 {
        FP4_GROUPED_GEMM_SHARE
    } else {
        1.0
    };
    MOE_EXPERT_COMPUTE_EFFICIENCY * width.powf(MOE_EXPERT_WIDTH_EXPONENT) * fp4
}

/// The precision arithmetic runs in for weights stored at `weights`: 4-bit
/// integer weights are dequantised to BF16 (W4A16); other formats run on
/// the GPU's own units for them.
pub fn compute_precision(weights: Precision) -> Precision {
    match weights {
        Precision::Int4 => Precision::Bf16,
        other => other,
    }
}

/// [`compute_precision`] on a given GPU: 4-bit floating-point weights on a
/// GPU with FP8 but no FP4 units (Hopper, MI300) are converted to FP8 in
/// the kernel and multiplied on the FP8 units (W4A8), at
/// [`MIXED_INPUT_FP4_SHARE`] of their rate.
pub fn compute_precision_on(weights: Precision, gpu: &Gpu) -> Precision {
    let has = |p| gpu.dense_tflops.contains_key(&p);
    match weights {
        Precision::Fp4 if !has(Precision::Fp4) && has(Precision::Fp8) => Precision::Fp8,
        other => compute_precision(other),
    }
}

impl Replica {
    /// Builds a replica; the caller has checked that the GPU supports the
    /// compute precision, that `tp` is a valid degree and that the layout
    /// applies to the model.
    pub fn new(
        model: &Model,
        gpu: &Gpu,
        weights: Precision,
        kv: Precision,
        tp: u32,
        layout: Layout,
        tuning: &Tuning,
    ) -> Self {
        let tpf = f64::from(tp);
        let wbytes = memory::bytes_per_weight(weights);
        let (always_params, routed_params) = memory::param_split(model);
        let (experts, experts_per_token, moe_layers) = match model.moe {
            Some(moe) => (
                f64::from(moe.experts),
                f64::from(moe.experts_per_token),
                f64::from(moe.moe_layers),
            ),
            None => (1.0, 1.0, 0.0),
        };
        let bandwidth_fraction =
            (gpu.efficiency.memory_bandwidth * tuning.bandwidth_scale).min(1.0);
        let dequantise = match weights {
            Precision::Int4 => WEIGHT_ONLY_INT4_BANDWIDTH,
            Precision::Int8 => INT8_WEIGHT_BANDWIDTH,
            _ => 1.0,
        };
        let compute_fraction = (gpu.efficiency.compute * tuning.compute_scale).min(1.0);
        let prefill_fraction = (compute_fraction * PREFILL_COMPUTE_GAIN).min(1.0);
        let peak = |p: Precision| gpu.dense_tflops.get(&p).copied().unwrap_or(0.0) * 1e12;
        let bf16 = peak(Precision::Bf16);
        let compute = compute_precision_on(weights, gpu);
        let mixed_input = if compute == compute_precision(weights) {
            1.0
        } else {
            MIXED_INPUT_FP4_SHARE
        };
        let linear_peak = (peak(compute) * mixed_input).max(bf16);

        // Attention score and value products: 2 FLOPs per multiply-add, two
        // products, over every query head's width (or the MLA latent).
        let attention_width = match (model.attention, model.mla) {
            (Attention::Mla, Some(mla)) => {
                f64::from(model.attention_heads)
                    * f64::from(2 * mla.kv_lora_rank + mla.qk_rope_head_dim)
                    / 2.0
            }
            _ => f64::from(model.attention_heads) * f64::from(model.head_dim),
        };

        // Grouped expert GEMMs run below dense ones: more so for narrow
        // experts and 4-bit ones, and a tensor-parallel slice of an expert
        // pads up to whole tiles.
        let expert_efficiency = grouped_gemm_efficiency(model, gpu, weights)
            * if layout.spreads_experts() || model.moe.is_none() {
                1.0
            } else {
                let slice = f64::from(model.intermediate_size) / tpf;
                slice / ((slice / GEMM_TILE_COLUMNS).ceil() * GEMM_TILE_COLUMNS)
            };

        let activation_bytes_per_token = f64::from(model.hidden_size) * ACTIVATION_BYTES;
        // One direction of the link; collectives over PCIe reach less of it.
        let link = gpu.interconnect_gb_s * 1e9 / 2.0
            * if gpu.interconnect.starts_with("PCIe") {
                PCIE_COLLECTIVE_EFFICIENCY
            } else {
                1.0
            };
        let (interconnect_s_per_token, interconnect_s_per_step) = if tp <= 1 {
            (0.0, 0.0)
        } else if layout.splits_attention() {
            let allreduces = ALLREDUCES_PER_LAYER * f64::from(model.layers);
            let ring = 2.0 * (tpf - 1.0) / tpf;
            (
                allreduces * ring * activation_bytes_per_token / link,
                allreduces * tuning.allreduce_latency_s,
            )
        } else {
            // Each GPU sends its tokens to the k experts they route to, a
            // share (tp − 1)/tp of them on other GPUs, and takes the results
            // back; a GPU carries 1/tp of the step's tokens.
            let alltoalls = ALLTOALLS_PER_MOE_LAYER * moe_layers;
            (
                alltoalls * experts_per_token * activation_bytes_per_token * (tpf - 1.0)
                    / (tpf * tpf)
                    / link,
                alltoalls * tuning.allreduce_latency_s,
            )
        };

        let fit = memory::fit_layout(model, gpu, weights, tp, layout);
        let kv_bytes_per_layer_token_per_gpu = if layout.splits_attention() {
            memory::kv_bytes_per_token_per_layer_per_gpu(model, kv, tp)
        } else {
            // Each GPU keeps whole caches of its own 1/tp of the sequences.
            memory::kv_bytes_per_token_per_layer(model, kv) / tpf
        };
        let always_copies = if layout.splits_attention() { tpf } else { 1.0 };
        Self {
            tp,
            layout,
            always_read_bytes_per_gpu: always_params * wbytes / always_copies,
            routed_bytes_per_gpu: routed_params * wbytes / tpf,
            experts,
            experts_per_token,
            ln_untouched: (-experts_per_token / experts).ln_1p(),
            kv_bytes_per_layer_token_per_gpu,
            linear_flops_per_token_per_gpu: 2.0 * always_params / tpf,
            expert_flops_per_token_per_gpu: 2.0 * routed_params * experts_per_token / experts / tpf,
            expert_efficiency,
            attention_flops_per_context_per_gpu: 4.0 * attention_width / tpf,
            bandwidth: gpu.memory_bandwidth_tb_s * 1e12 * bandwidth_fraction,
            weight_bandwidth: gpu.memory_bandwidth_tb_s * 1e12 * bandwidth_fraction * dequantise,
            linear_flops: linear_peak * compute_fraction,
            prefill_linear_flops: linear_peak * prefill_fraction,
            attention_flops: bf16 * compute_fraction,
            prefill_attention_flops: bf16 * prefill_fraction,
            interconnect_s_per_token,
            interconnect_s_per_step,
            model_layers: f64::from(model.layers),
            kv_capacity_layer_tokens: fit.kv_bytes_per_gpu.max(0.0)
                / kv_bytes_per_layer_token_per_gpu,
            fit,
        }
    }

    /// Share of routed-expert weights a step over `tokens` tokens reads:
    /// each token picks k of E experts, so an expert is untouched with
    /// probability (1 − k/E)^tokens, and E·(1 − (1 − k/E)^B) experts are
    /// read per layer.
    pub fn routed_share(&self, tokens: f64) -> f64 {
        if self.routed_bytes_per_gpu == 0.0 {
            return 0.0;
        }
        -(tokens * self.ln_untouched).exp_m1()
    }

    /// KV bytes per layer-token on one GPU.
    pub fn kv_bytes_per_layer_token_per_gpu(&self) -> f64 {
        self.kv_bytes_per_layer_token_per_gpu
    }

    /// Distinct routed experts a step over `tokens` tokens reads per layer.
    pub fn experts_touched(&self, tokens: f64) -> f64 {
        self.experts * self.routed_share(tokens)
    }

    /// Seconds of linear-layer arithmetic of a decode step over `tokens`
    /// tokens ([`Self::linear_s_touching`]).
    #[cfg(test)]
    pub(super) fn linear_s(&self, tokens: f64) -> f64 {
        self.linear_s_in_step(tokens, tokens, self.linear_flops)
    }

    /// Seconds of linear-layer arithmetic for `tokens` of a step of
    /// `step_tokens` tokens in all, whose experts the step's tokens share,
    /// at `flops` per second for dense GEMMs.
    fn linear_s_in_step(&self, tokens: f64, step_tokens: f64, flops: f64) -> f64 {
        self.linear_s_touching(
            tokens,
            step_tokens,
            self.experts_touched(step_tokens),
            flops,
        )
    }

    /// [`Self::linear_s_in_step`] given the experts the step touches: the
    /// dense part at the GPU's rate, the routed experts at the rate of
    /// grouped GEMMs. Each touched expert sees m = tokens·k / touched
    /// tokens, padded to whole tiles: at least one tile, and half a tile
    /// more on average beyond it, so the rows computed are
    /// max(T, m + T/2). One token per expert thus costs a whole tile of
    /// arithmetic, about as long as reading the expert's weights.
    fn linear_s_touching(&self, tokens: f64, step_tokens: f64, touched: f64, flops: f64) -> f64 {
        let dense = tokens * self.linear_flops_per_token_per_gpu / flops;
        if self.expert_flops_per_token_per_gpu == 0.0 || touched <= 0.0 {
            return dense;
        }
        let per_expert = step_tokens * self.experts_per_token / touched;
        let tile = per_expert.clamp(MIN_GROUPED_GEMM_TILE_TOKENS, GROUPED_GEMM_TILE_TOKENS);
        let rows = MIN_GROUPED_GEMM_TILE_TOKENS.max(per_expert + tile / 2.0);
        let padding = per_expert / rows;
        let grouped = tokens * self.expert_flops_per_token_per_gpu
            / (flops * self.expert_efficiency * padding);
        // Never longer than running every expert on every token as one
        // dense GEMM, which an engine could always do instead.
        let all_experts = tokens * self.expert_flops_per_token_per_gpu * self.experts
            / self.experts_per_token
            / flops;
        dense + grouped.min(all_experts)
    }

    /// One decode step: `batch` sequences each add a token, attending over
    /// `layer_tokens` layer-tokens of context on average. The linear layers
    /// and attention are separate kernels: a large batch can make the first
    /// compute-bound while the second stays bound by its KV-cache reads,
    /// and the step takes both times, not the longer.
    pub fn decode_step(&self, batch: f64, layer_tokens: f64) -> StepTime {
        let share = self.routed_share(batch);
        let weights = self.always_read_bytes_per_gpu + self.routed_bytes_per_gpu * share;
        let kv = batch * layer_tokens * self.kv_bytes_per_layer_token_per_gpu;
        let attention =
            batch * layer_tokens * self.attention_flops_per_context_per_gpu / self.attention_flops;
        let linear_s =
            self.linear_s_touching(batch, batch, self.experts * share, self.linear_flops);
        let linear = StepTime::kernel(weights / self.weight_bandwidth, linear_s);
        let attention = StepTime::kernel(kv / self.bandwidth, attention);
        linear
            + attention
            + StepTime {
                interconnect_s: self.interconnect_s_per_step
                    + batch * self.interconnect_s_per_token,
                ..StepTime::default()
            }
    }

    /// The work of prefilling one prompt of `input` tokens inside a busy
    /// batch: compute-bound, with the causal attention term that grows with
    /// the square of the prompt. Weight reads are shared with the batch, and
    /// so are the expert GEMMs of the engine step the prompt is part of.
    pub fn prefill_work(&self, model: &Model, input: f64) -> StepTime {
        // Causal attention: token i attends to i earlier tokens.
        let attended = kv_layer_tokens(model, input) * input / 2.0;
        let attention =
            attended * self.attention_flops_per_context_per_gpu / self.prefill_attention_flops;
        StepTime {
            memory_s: 0.0,
            compute_s: self.linear_s_in_step(
                input,
                input.max(STEP_TOKENS),
                self.prefill_linear_flops,
            ) + attention,
            interconnect_s: input * self.interconnect_s_per_token,
        }
    }

    /// Latency of prefilling one prompt on its own: its compute, or reading
    /// the weights it touches, whichever is longer. Under data-parallel
    /// attention one GPU does the prompt's attention and dense layers alone.
    pub fn prefill_alone(&self, model: &Model, input: f64) -> StepTime {
        let work = self.prefill_work(model, input);
        let mut compute_s = work.compute_s;
        if !self.layout.splits_attention() {
            compute_s += (f64::from(self.tp) - 1.0)
                * (input * self.linear_flops_per_token_per_gpu / self.prefill_linear_flops
                    + kv_layer_tokens(model, input) * input / 2.0
                        * self.attention_flops_per_context_per_gpu
                        / self.prefill_attention_flops);
        }
        let weights =
            self.always_read_bytes_per_gpu + self.routed_bytes_per_gpu * self.routed_share(input);
        StepTime {
            interconnect_s: work.interconnect_s + self.interconnect_s_per_step,
            ..StepTime::kernel(weights / self.weight_bandwidth, compute_s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn replica(model: &str, gpu: &str, weights: Precision, tp: u32, layout: Layout) -> Replica {
        let catalog = Catalog::embedded().unwrap();
        Replica::new(
            catalog.model(model).unwrap(),
            catalog.gpu(gpu).unwrap(),
            weights,
            Precision::Fp8,
            tp,
            layout,
            &Tuning::default(),
        )
    }

    /// E·(1 − (1 − k/E)^B): one token reads its k experts, a large batch
    /// reads all E.
    #[test]
    fn experts_touched_runs_from_k_to_e() {
        let r = replica("deepseek-v3", "h200", Precision::Fp8, 8, Layout::DataExpert);
        assert!((r.experts_touched(1.0) - 8.0).abs() < 1e-9);
        assert!((r.experts_touched(10_000.0) - 256.0).abs() < 1e-9);
        let two = r.experts_touched(2.0);
        assert!((two - 256.0 * (1.0 - (1.0 - 8.0 / 256.0_f64).powi(2))).abs() < 1e-9);
        assert!(two > 8.0 && two < 16.0);
        let dense = replica("llama-3.1-70b", "h200", Precision::Fp8, 2, Layout::Tensor);
        assert_eq!(dense.routed_share(64.0), 0.0);
    }

    /// Few tokens per expert leave most of each tile empty; a large batch
    /// runs experts near the grouped-kernel rate.
    #[test]
    fn expert_gemms_lose_rate_at_small_token_counts() {
        let r = replica("deepseek-v3", "h200", Precision::Fp8, 8, Layout::DataExpert);
        let per_token = |tokens: f64| r.linear_s(tokens) / tokens;
        assert!(per_token(8.0) > 5.0 * per_token(100_000.0));
        assert!(per_token(1_000.0) > per_token(100_000.0));
    }

    /// Data-parallel attention copies attention weights onto every GPU but
    /// no longer replicates the MLA latent: DeepSeek holds more sequences.
    #[test]
    fn data_parallel_attention_trades_weights_for_kv_room() {
        let tp = replica("deepseek-v3", "b200", Precision::Fp4, 8, Layout::Tensor);
        let dp = replica("deepseek-v3", "b200", Precision::Fp4, 8, Layout::DataExpert);
        assert!(dp.fit.weight_bytes_per_gpu > tp.fit.weight_bytes_per_gpu);
        assert!(dp.kv_capacity_layer_tokens > 4.0 * tp.kv_capacity_layer_tokens);
        // All-to-alls only under expert parallelism with DP attention.
        assert!(dp.interconnect_s_per_token > 0.0);
        let one = replica("deepseek-v3", "b200", Precision::Fp4, 1, Layout::Tensor);
        assert_eq!(one.interconnect_s_per_token, 0.0);
    }

    /// Linear layers and attention are separate kernels: at a large batch
    /// over a long context the first is compute-bound and the second is
    /// bound by its KV reads, and the step takes both.
    #[test]
    fn decode_steps_add_the_linear_and_attention_kernels() {
        let r = replica("llama-3.1-70b", "h200", Precision::Fp8, 1, Layout::Tensor);
        let (batch, layer_tokens) = (512.0, 80.0 * 4096.0);
        let step = r.decode_step(batch, layer_tokens);
        let linear = r.linear_s(batch);
        let kv = batch * layer_tokens * r.kv_bytes_per_layer_token_per_gpu() / r.bandwidth;
        assert!(linear > r.always_read_bytes_per_gpu / r.weight_bandwidth);
        assert_eq!(step.compute_s, linear);
        assert_eq!(step.memory_s, kv);
        assert!((step.total() - (linear + kv)).abs() < 1e-15);
        // The old single roofline, max(bytes, FLOPs), would hide one of them.
        assert!(step.total() > linear.max(kv) * 1.2);
    }

    /// Prefill's GEMMs run at PREFILL_COMPUTE_GAIN times the rate of a
    /// decode step's.
    #[test]
    fn prefill_runs_nearer_peak_than_decode() {
        let r = replica(
            "llama-3.1-8b",
            "h100-sxm",
            Precision::Fp8,
            1,
            Layout::Tensor,
        );
        let gpu = Catalog::embedded().unwrap();
        let gpu = gpu.gpu("h100-sxm").unwrap();
        assert!(gpu.efficiency.compute * PREFILL_COMPUTE_GAIN < 1.0);
        assert!((r.prefill_linear_flops / r.linear_flops - PREFILL_COMPUTE_GAIN).abs() < 1e-12);
        assert!(
            (r.prefill_attention_flops / r.attention_flops - PREFILL_COMPUTE_GAIN).abs() < 1e-12
        );
    }

    /// FP4 weights on Hopper: converted to FP8 in the kernel (W4A8) at a
    /// share of the FP8 rate, read at 4 bits; on Blackwell, FP4 units.
    #[test]
    fn fp4_weights_run_on_fp8_units_where_there_are_no_fp4_units() {
        let catalog = Catalog::embedded().unwrap();
        let h200 = catalog.gpu("h200").unwrap();
        let b200 = catalog.gpu("b200").unwrap();
        let a100 = catalog.gpu("a100-80gb").unwrap();
        assert_eq!(compute_precision_on(Precision::Fp4, h200), Precision::Fp8);
        assert_eq!(compute_precision_on(Precision::Fp4, b200), Precision::Fp4);
        // No FP8 units either: left to the caller to refuse.
        assert_eq!(compute_precision_on(Precision::Fp4, a100), Precision::Fp4);
        assert_eq!(compute_precision_on(Precision::Int4, h200), Precision::Bf16);
        let fp4 = replica("gpt-oss-20b", "h200", Precision::Fp4, 1, Layout::Tensor);
        let fp8 = replica("gpt-oss-20b", "h200", Precision::Fp8, 1, Layout::Tensor);
        assert!((fp4.linear_flops / fp8.linear_flops - MIXED_INPUT_FP4_SHARE).abs() < 1e-12);
        assert_eq!(fp4.expert_efficiency, fp8.expert_efficiency);
        assert!(fp4.always_read_bytes_per_gpu < 0.6 * fp8.always_read_bytes_per_gpu);
    }

    /// Integer weights are read at their kernels' lower bandwidth; the KV
    /// cache is not.
    #[test]
    fn dequantising_slows_weight_reads_only() {
        let bf16 = replica(
            "llama-3.1-8b",
            "a100-80gb",
            Precision::Bf16,
            1,
            Layout::Tensor,
        );
        let int4 = replica(
            "llama-3.1-8b",
            "a100-80gb",
            Precision::Int4,
            1,
            Layout::Tensor,
        );
        let int8 = replica(
            "llama-3.1-8b",
            "a100-80gb",
            Precision::Int8,
            1,
            Layout::Tensor,
        );
        assert_eq!(int4.bandwidth, bf16.bandwidth);
        assert_eq!(int8.bandwidth, bf16.bandwidth);
        assert!(
            (int4.weight_bandwidth / bf16.bandwidth - WEIGHT_ONLY_INT4_BANDWIDTH).abs() < 1e-12
        );
        assert!((int8.weight_bandwidth / bf16.bandwidth - INT8_WEIGHT_BANDWIDTH).abs() < 1e-12);
    }

    /// All-reduces over PCIe reach PCIE_COLLECTIVE_EFFICIENCY of the link;
    /// over NVLink, all of it.
    #[test]
    fn collectives_over_pcie_reach_a_share_of_the_link() {
        let per_token = |gpu: &str| {
            let r = replica("llama-3.1-70b", gpu, Precision::Fp8, 4, Layout::Tensor);
            let catalog = Catalog::embedded().unwrap();
            let g = catalog.gpu(gpu).unwrap();
            r.interconnect_s_per_token * g.interconnect_gb_s
        };
        let ratio = per_token("h100-sxm") / per_token("l40s");
        assert!(
            (ratio - PCIE_COLLECTIVE_EFFICIENCY).abs() < 1e-12,
            "{ratio}"
        );
    }

    /// A tensor-parallel slice of a narrow expert wastes part of its tile.
    #[test]
    fn narrow_tensor_parallel_expert_slices_pad_to_whole_tiles() {
        // Qwen3-30B-A3B: 768-wide experts, 96 columns per GPU at TP8.
        let tp = replica(
            "qwen3-30b-a3b",
            "h100-sxm",
            Precision::Fp8,
            8,
            Layout::Tensor,
        );
        let ep = replica(
            "qwen3-30b-a3b",
            "h100-sxm",
            Precision::Fp8,
            8,
            Layout::TensorExpert,
        );
        assert!((tp.expert_efficiency / ep.expert_efficiency - 0.75).abs() < 1e-12);
    }
}
