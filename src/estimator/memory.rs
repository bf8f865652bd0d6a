//! Memory: weight bytes, KV cache per token, what fits on how many GPUs.

use super::layout::Layout;
use super::params::{ACTIVATION_RESERVE, INT4_SCALE_OVERHEAD, MEMORY_UTILIZATION};
use crate::catalog::{Attention, Gpu, Model, Precision};

/// Bytes per weight at a precision, scales included.
pub fn bytes_per_weight(precision: Precision) -> f64 {
    match precision {
        Precision::Int4 | Precision::Fp4 => precision.bytes() * (1.0 + INT4_SCALE_OVERHEAD),
        other => other.bytes(),
    }
}

/// Bytes of all weights of `model` at `precision`.
pub fn weight_bytes(model: &Model, precision: Precision) -> f64 {
    model.total_params_b * 1e9 * bytes_per_weight(precision)
}

/// KV-cache bytes one token adds in one layer, for the whole model (not
/// split across GPUs): keys and values of every KV head, or the compressed
/// latent and rotary key of multi-head latent attention.
pub fn kv_bytes_per_token_per_layer(model: &Model, kv: Precision) -> f64 {
    match (model.attention, model.mla) {
        (Attention::Mla, Some(mla)) => {
            f64::from(mla.kv_lora_rank + mla.qk_rope_head_dim) * kv.bytes()
        }
        _ => 2.0 * f64::from(model.kv_heads) * f64::from(model.head_dim) * kv.bytes(),
    }
}

/// KV bytes per token on one GPU of a tensor-parallel group. KV heads are
/// split across GPUs, but never below one head per GPU (heads are then
/// replicated); an MLA latent is replicated on every GPU.
pub fn kv_bytes_per_token_per_layer_per_gpu(model: &Model, kv: Precision, tp: u32) -> f64 {
    let whole = kv_bytes_per_token_per_layer(model, kv);
    match model.attention {
        Attention::Mla => whole,
        _ => {
            let heads_per_gpu = (f64::from(model.kv_heads) / f64::from(tp)).ceil().max(1.0);
            whole * heads_per_gpu / f64::from(model.kv_heads)
        }
    }
}

/// Layers that attend over the whole context and over a sliding window.
pub fn layer_split(model: &Model) -> (f64, f64, f64) {
    match model.sliding_window {
        Some(w) => (
            f64::from(model.layers - w.layers.min(model.layers)),
            f64::from(w.layers.min(model.layers)),
            f64::from(w.tokens),
        ),
        None => (f64::from(model.layers), 0.0, f64::INFINITY),
    }
}

/// Layer-tokens of KV held by a sequence of `context` tokens (sliding-window
/// layers keep at most their window).
pub fn kv_layer_tokens(model: &Model, context: f64) -> f64 {
    let (full, windowed, window) = layer_split(model);
    full * context + windowed * context.min(window)
}

/// Parameters every token uses (attention, dense layers, shared experts,
/// embeddings) and parameters in routed experts.
pub fn param_split(model: &Model) -> (f64, f64) {
    let routed = model
        .moe
        .map_or(0.0, |moe| moe.routed_expert_params_b * 1e9);
    (model.total_params_b * 1e9 - routed, routed)
}

/// Memory available on one GPU after weights, or the shortfall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Usable bytes per GPU (after the engine's headroom).
    pub usable_bytes_per_gpu: f64,
    /// Weight bytes per GPU.
    pub weight_bytes_per_gpu: f64,
    /// Bytes per GPU left for the KV cache; negative when it does not fit.
    pub kv_bytes_per_gpu: f64,
}

/// How memory divides on each GPU of a `tp`-way group.
pub fn fit(model: &Model, gpu: &Gpu, weights: Precision, tp: u32) -> Fit {
    let usable = gpu.memory_gb * 1e9 * MEMORY_UTILIZATION;
    let per_gpu = weight_bytes(model, weights) / f64::from(tp);
    Fit {
        usable_bytes_per_gpu: usable,
        weight_bytes_per_gpu: per_gpu,
        kv_bytes_per_gpu: usable * (1.0 - ACTIVATION_RESERVE) - per_gpu,
    }
}

/// How memory divides on each GPU of a replica of `gpus` GPUs in `layout`:
/// under data-parallel attention every GPU holds the attention and dense
/// weights whole and 1/gpus of the routed experts.
pub fn fit_layout(model: &Model, gpu: &Gpu, weights: Precision, gpus: u32, layout: Layout) -> Fit {
    let mut fit = fit(model, gpu, weights, gpus);
    if !layout.splits_attention() {
        let (always, routed) = param_split(model);
        let per_gpu = (always + routed / f64::from(gpus)) * bytes_per_weight(weights);
        fit.kv_bytes_per_gpu += fit.weight_bytes_per_gpu - per_gpu;
        fit.weight_bytes_per_gpu = per_gpu;
    }
    fit
}

/// Tensor-parallel degrees the estimator tries when none is given: powers
/// of two up to the GPUs of one node that divide the attention heads.
pub fn tp_candidates(model: &Model, gpu: &Gpu) -> impl Iterator<Item = u32> {
    let heads = model.attention_heads;
    let max = gpu.gpus_per_node;
    [1u32, 2, 4, 8, 16, 32, 64]
        .into_iter()
        .filter(move |&tp| tp <= max && heads.is_multiple_of(tp))
}

/// Whether a model can be split `tp` ways on a GPU: any degree up to the
/// GPUs of one node (the interconnect's reach) that divides the attention
/// heads, so 3 or 6 where the heads allow it, not only powers of two.
pub fn tp_allowed(model: &Model, gpu: &Gpu, tp: u32) -> bool {
    tp >= 1 && tp <= gpu.gpus_per_node && model.attention_heads.is_multiple_of(tp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn llama_70b_kv_cache_matches_the_hand_count() {
        let catalog = Catalog::embedded().unwrap();
        let model = catalog.model("llama-3.1-70b").unwrap();
        // 2 (K and V) × 8 KV heads × 128 dims × 2 bytes, per layer; 80 layers.
        let per_token = kv_bytes_per_token_per_layer(model, Precision::Bf16) * 80.0;
        assert_eq!(per_token, 327_680.0);
        // TP8 splits the 8 KV heads one per GPU; TP16 cannot split further.
        assert_eq!(
            kv_bytes_per_token_per_layer_per_gpu(model, Precision::Bf16, 8) * 80.0,
            40_960.0
        );
    }

    #[test]
    fn mla_caches_the_latent_not_the_heads() {
        let catalog = Catalog::embedded().unwrap();
        let v3 = catalog.model("deepseek-v3").unwrap();
        // (512 latent + 64 rotary) × 1 byte in FP8 per layer, replicated.
        assert_eq!(kv_bytes_per_token_per_layer(v3, Precision::Fp8), 576.0);
        assert_eq!(
            kv_bytes_per_token_per_layer_per_gpu(v3, Precision::Fp8, 8),
            576.0
        );
    }

    #[test]
    fn weights_scale_with_precision() {
        let catalog = Catalog::embedded().unwrap();
        let model = catalog.model("llama-3.1-70b").unwrap();
        let bf16 = weight_bytes(model, Precision::Bf16);
        assert_eq!(bf16 / weight_bytes(model, Precision::Fp8), 2.0);
        assert!(weight_bytes(model, Precision::Int4) > bf16 / 4.0);
        let h100 = catalog.gpu("h100-sxm").unwrap();
        assert!(fit(model, h100, Precision::Bf16, 2).kv_bytes_per_gpu < 0.0);
        assert!(fit(model, h100, Precision::Bf16, 4).kv_bytes_per_gpu > 0.0);
    }
}
