//! Time per step of one model replica: bytes over achievable bandwidth,
//! FLOPs over achievable compute, and the tensor-parallel all-reduces.
//!
//! A [`Replica`] is built once per (model, GPU, precisions, parallelism);
//! its step functions then cost a few dozen floating-point operations, which
//! is what lets sweeps and Monte Carlo paths call them freely.

use super::memory::{self, kv_layer_tokens};
use super::params::{
    ACTIVATION_BYTES, ALLREDUCE_LATENCY_S, ALLREDUCES_PER_LAYER, MOE_EXPERT_COMPUTE_EFFICIENCY,
    WEIGHT_ONLY_INT4_BANDWIDTH,
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

/// Where the time of a step goes, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepTime {
    /// Moving weights and KV cache through memory.
    pub memory_s: f64,
    /// Arithmetic.
    pub compute_s: f64,
    /// Tensor-parallel all-reduces.
    pub interconnect_s: f64,
}

impl StepTime {
    /// Memory and compute overlap; all-reduces sit between layers and add.
    pub fn total(&self) -> f64 {
        self.memory_s.max(self.compute_s) + self.interconnect_s
    }
}

/// One replica of a model served on `tp` GPUs, with everything that does
/// not depend on the batch precomputed.
#[derive(Debug, Clone)]
pub struct Replica {
    pub tp: u32,
    /// Weights per GPU that every step reads (attention, dense layers,
    /// shared experts, embeddings), bytes.
    always_read_bytes_per_gpu: f64,
    /// Routed-expert weights per GPU, bytes (0 for dense models).
    routed_bytes_per_gpu: f64,
    experts: f64,
    experts_per_token: f64,
    /// KV bytes per layer-token on one GPU.
    kv_bytes_per_layer_token_per_gpu: f64,
    /// FLOPs per token in the linear layers, per GPU.
    linear_flops_per_token_per_gpu: f64,
    /// Attention FLOPs per token per layer-token of context, per GPU.
    attention_flops_per_context_per_gpu: f64,
    /// Achievable bytes/s of one GPU.
    bandwidth: f64,
    /// Achievable FLOP/s of one GPU at the weights' compute precision.
    linear_flops: f64,
    /// Achievable FLOP/s of one GPU for attention (BF16).
    attention_flops: f64,
    /// All-reduce cost per token per step, seconds; and per step.
    allreduce_s_per_token: f64,
    allreduce_s_per_step: f64,
    pub model_layers: f64,
    pub kv_capacity_layer_tokens: f64,
    pub fit: memory::Fit,
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

impl Replica {
    /// Builds a replica; the caller has checked that the GPU supports the
    /// compute precision and that `tp` is a valid degree.
    pub fn new(
        model: &Model,
        gpu: &Gpu,
        weights: Precision,
        kv: Precision,
        tp: u32,
        tuning: &Tuning,
    ) -> Self {
        let tpf = f64::from(tp);
        let wbytes = memory::bytes_per_weight(weights);
        let (routed_params, experts, experts_per_token) = match model.moe {
            Some(moe) => (
                moe.routed_expert_params_b * 1e9,
                f64::from(moe.experts),
                f64::from(moe.experts_per_token),
            ),
            None => (0.0, 1.0, 1.0),
        };
        let always_params = model.total_params_b * 1e9 - routed_params;
        let bandwidth_fraction = (gpu.efficiency.memory_bandwidth * tuning.bandwidth_scale)
            .min(1.0)
            * if weights == Precision::Int4 {
                WEIGHT_ONLY_INT4_BANDWIDTH
            } else {
                1.0
            };
        let compute_fraction = (gpu.efficiency.compute * tuning.compute_scale).min(1.0);
        let peak = |p: Precision| gpu.dense_tflops.get(&p).copied().unwrap_or(0.0) * 1e12;
        let bf16 = peak(Precision::Bf16);
        let linear_peak = peak(compute_precision(weights)).max(bf16);

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

        let allreduce_bytes_per_token = f64::from(model.hidden_size) * ACTIVATION_BYTES;
        let link = gpu.interconnect_gb_s * 1e9 / 2.0; // one direction
        let allreduces = ALLREDUCES_PER_LAYER * f64::from(model.layers);
        let (allreduce_s_per_token, allreduce_s_per_step) = if tp > 1 {
            let ring = 2.0 * (tpf - 1.0) / tpf;
            (
                allreduces * ring * allreduce_bytes_per_token / link,
                allreduces * tuning.allreduce_latency_s,
            )
        } else {
            (0.0, 0.0)
        };

        let fit = memory::fit(model, gpu, weights, tp);
        let kv_bytes_per_layer_token_per_gpu =
            memory::kv_bytes_per_token_per_layer_per_gpu(model, kv, tp);
        Self {
            tp,
            always_read_bytes_per_gpu: always_params * wbytes / tpf,
            routed_bytes_per_gpu: routed_params * wbytes / tpf,
            experts,
            experts_per_token,
            kv_bytes_per_layer_token_per_gpu,
            // Expert FLOPs count double-weighted for the lower efficiency
            // of grouped GEMMs, so one division by `linear_flops` holds.
            linear_flops_per_token_per_gpu: 2.0
                * (always_params
                    + routed_params * experts_per_token / experts / MOE_EXPERT_COMPUTE_EFFICIENCY)
                / tpf,
            attention_flops_per_context_per_gpu: 4.0 * attention_width / tpf,
            bandwidth: gpu.memory_bandwidth_tb_s * 1e12 * bandwidth_fraction,
            linear_flops: linear_peak * compute_fraction,
            attention_flops: bf16 * compute_fraction,
            allreduce_s_per_token,
            allreduce_s_per_step,
            model_layers: f64::from(model.layers),
            kv_capacity_layer_tokens: fit.kv_bytes_per_gpu.max(0.0)
                / kv_bytes_per_layer_token_per_gpu,
            fit,
        }
    }

    /// Share of routed-expert weights a step over `tokens` tokens reads:
    /// each token picks k of E experts, so an expert is untouched with
    /// probability (1 − k/E)^tokens.
    fn routed_share(&self, tokens: f64) -> f64 {
        if self.routed_bytes_per_gpu == 0.0 {
            return 0.0;
        }
        1.0 - (1.0 - self.experts_per_token / self.experts).powf(tokens)
    }

    /// One decode step: `batch` sequences each add a token, attending over
    /// `layer_tokens` layer-tokens of context on average.
    pub fn decode_step(&self, batch: f64, layer_tokens: f64) -> StepTime {
        let weights =
            self.always_read_bytes_per_gpu + self.routed_bytes_per_gpu * self.routed_share(batch);
        let kv = batch * layer_tokens * self.kv_bytes_per_layer_token_per_gpu;
        let linear = batch * self.linear_flops_per_token_per_gpu / self.linear_flops;
        let attention =
            batch * layer_tokens * self.attention_flops_per_context_per_gpu / self.attention_flops;
        StepTime {
            memory_s: (weights + kv) / self.bandwidth,
            compute_s: linear + attention,
            interconnect_s: self.allreduce_s_per_step + batch * self.allreduce_s_per_token,
        }
    }

    /// The work of prefilling one prompt of `input` tokens inside a busy
    /// batch: compute-bound, with the causal attention term that grows with
    /// the square of the prompt. Weight reads are shared with the batch.
    pub fn prefill_work(&self, model: &Model, input: f64) -> StepTime {
        let linear = input * self.linear_flops_per_token_per_gpu / self.linear_flops;
        // Causal attention: token i attends to i earlier tokens.
        let attended = kv_layer_tokens(model, input) * input / 2.0;
        let attention = attended * self.attention_flops_per_context_per_gpu / self.attention_flops;
        StepTime {
            memory_s: 0.0,
            compute_s: linear + attention,
            interconnect_s: input * self.allreduce_s_per_token,
        }
    }

    /// Latency of prefilling one prompt on its own: its compute, or reading
    /// the weights it touches, whichever is longer.
    pub fn prefill_alone(&self, model: &Model, input: f64) -> StepTime {
        let mut step = self.prefill_work(model, input);
        let weights =
            self.always_read_bytes_per_gpu + self.routed_bytes_per_gpu * self.routed_share(input);
        step.memory_s = weights / self.bandwidth;
        step.interconnect_s += self.allreduce_s_per_step;
        step
    }
}
