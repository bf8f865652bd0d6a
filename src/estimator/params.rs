//! Constants of the throughput model that are not properties of one GPU.
//!
//! Each says where it comes from. Per-GPU fractions of peak live in the
//! hardware files (`[efficiency]`), and a calibration can rescale them.

/// Share of device memory the serving engine may use for weights, KV cache
/// and activations. vLLM's `gpu_memory_utilization` defaults to 0.90; the
/// rest covers the CUDA context, NCCL buffers and fragmentation.
pub const MEMORY_UTILIZATION: f64 = 0.90;

/// Share of the usable memory, beyond weights, kept for activations and
/// sampling buffers rather than KV cache. Assumption: vLLM's profiling run
/// typically reserves a few GB on an 80 GB GPU for a 8k-token batch.
pub const ACTIVATION_RESERVE: f64 = 0.04;

/// Fixed latency of one tensor-parallel all-reduce, seconds. Assumption
/// between NVIDIA's custom all-reduce kernels (~5–10 µs on NVLink) and NCCL
/// ring all-reduce of small messages (~20–30 µs); fitted by calibration.
pub const ALLREDUCE_LATENCY_S: f64 = 15e-6;

/// All-reduces per transformer layer under tensor parallelism: one after
/// attention, one after the feed-forward block (Megatron-LM partitioning).
pub const ALLREDUCES_PER_LAYER: f64 = 2.0;

/// Bytes per activation value exchanged by all-reduce (BF16).
pub const ACTIVATION_BYTES: f64 = 2.0;

/// Storage overhead of the scales of 4-bit group quantisation: one 16-bit
/// scale per 128 weights adds 2/128 bytes to 0.5 bytes per weight (AWQ and
/// GPTQ default group size 128).
pub const INT4_SCALE_OVERHEAD: f64 = 2.0 / 128.0 / 0.5;

/// Bandwidth reached by weight-only 4-bit kernels relative to BF16 ones, for
/// the dequantisation work they add. Assumption: Marlin kernels stay close
/// to ideal at small batch (Frantar et al. 2024), gpt-fast's simpler kernels
/// reach about half; 0.85 sits nearer to production kernels.
pub const WEIGHT_ONLY_INT4_BANDWIDTH: f64 = 0.85;

/// Achievable compute of routed-expert GEMMs relative to dense ones: each
/// expert sees only its share of the batch, so its matrix products are
/// smaller and grouped-GEMM kernels run further from peak. Assumption,
/// matched to the Mixtral rows of TensorRT-LLM v0.9's performance table
/// (large-batch FP8 Mixtral throughput falls well short of what dense-equivalent
/// FLOPs predict); calibration rescales it with the rest.
pub const MOE_EXPERT_COMPUTE_EFFICIENCY: f64 = 0.7;
