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

/// Bandwidth reached by 8-bit integer weight kernels relative to BF16
/// ones at small batch, for the scales they apply. Calibrated on the only
/// INT8 measurements in benchmarks/: gpt-fast's batch-1 decode on A100
/// reports 1,069 (Llama 2 7B), 1,323 (Llama 2 70B) and 1,254 GB/s
/// (Llama 3.1 70B) achieved with INT8 weights against 1,397 GB/s with BF16
/// (pytorch-labs/gpt-fast README @32971d31): 0.77, 0.95 and 0.90 of it,
/// 0.87 on average. Like the 4-bit factor it slows weight reads only: the
/// KV cache is read by the attention kernels, which dequantise nothing.
pub const INT8_WEIGHT_BANDWIDTH: f64 = 0.87;

/// Rate of GEMMs with 4-bit floating-point weights on a GPU that has 8-bit
/// but no 4-bit units (Hopper), relative to FP8 GEMMs. Every E2M1 value is
/// exact in E4M3, so such kernels convert the weights in registers and run
/// FP8 matrix instructions (W4A8: TensorRT-LLM's W4A8_MXFP4_FP8 mode; its
/// performance overview heads the Hopper column of gpt-oss, whose experts
/// ship in MXFP4, "FP8"). The conversion and the scales take issue slots
/// in the main loop. Calibrated: 0.7 on the six gpt-oss rows on H100 and
/// H200 in benchmarks/measured_throughput_2026.csv; from 0.6 to 0.75 the
/// median error of the whole table moves by less than 0.2 points.
pub const MIXED_INPUT_FP4_SHARE: f64 = 0.7;

/// How much faster than the GPU's `compute` fraction prefill runs. The
/// per-GPU fractions are anchored on whole serving runs (MLPerf Offline,
/// TensorRT-LLM's tables) whose time mixes prefill with decode steps; a
/// prefill step's GEMMs have thousands of token rows (up to
/// [`STEP_TOKENS`]) and run nearer peak than decode steps, whose GEMMs
/// have one row per sequence and which carry sampling, scheduling and
/// small-kernel costs. At 1.3, H100 and H200 prefill at 0.52 of dense FP8
/// peak, below the 0.6–0.7 that large FP8 GEMMs reach on their own.
/// Calibrated on benchmarks/ (2026-12-04): with prefill at the decode-step
/// rate, the prompt-heavy rows (2,048 in / 128 out, 8,192 / 1,024,
/// 5,000 / 500) were predicted 15–55% short. Of 1.3, 1.4 and 1.5, 1.3 is
/// the one at which the MLPerf submitters' rows stay as close as before
/// (7.6% against 8.0%; 10.2% and 13.0% at 1.4 and 1.5), though the whole
/// table's median would fall further at 1.4 (11.0%). The fraction is capped
/// at 1.
pub const PREFILL_COMPUTE_GAIN: f64 = 1.3;

/// Share of a PCIe link's one-way rate that all-reduces and all-to-alls
/// reach. Without NVLink or Infinity Fabric, collectives cross PCIe
/// switches or the host's root complex, shared by pairs of GPUs, and
/// NCCL's bus bandwidth there stays well below the link rate. Assumption,
/// calibrated: 0.6 on the tensor-parallel L40S rows of
/// benchmarks/measured_throughput.csv (TensorRT-LLM v0.9, TP2 and TP4),
/// which were up to 54% optimistic at the full link rate, and more with
/// prefill at its own rate ([`PREFILL_COMPUTE_GAIN`]).
pub const PCIE_COLLECTIVE_EFFICIENCY: f64 = 0.6;

/// Achievable compute of routed-expert GEMMs relative to dense ones, for
/// experts as wide as Mixtral's (14,336): each expert sees only its share of
/// the batch, so its matrix products are smaller and grouped-GEMM kernels
/// run further from peak. Assumption, matched to the Mixtral rows of
/// TensorRT-LLM v0.9's performance table (large-batch FP8 Mixtral
/// throughput falls well short of what dense-equivalent FLOPs predict);
/// calibration rescales it with the rest.
pub const MOE_EXPERT_COMPUTE_EFFICIENCY: f64 = 0.7;

/// The expert width [`MOE_EXPERT_COMPUTE_EFFICIENCY`] holds for.
pub const MOE_REFERENCE_EXPERT_WIDTH: f64 = 14336.0;

/// How grouped-GEMM efficiency falls for narrower experts: as
/// (width / 14,336)^0.5, so DeepSeek-V3's 2,048-wide experts run at 0.38 of
/// Mixtral's rate and Qwen3-30B-A3B's 768-wide ones at 0.23. Fine-grained
/// experts are many small GEMMs that leave a large GPU partly idle (fewer
/// tiles per expert than multiprocessors, one wave per expert). Calibrated:
/// the exponent is fitted to the MoE rows of
/// benchmarks/measured_throughput*.csv (2026-12-02) — 0.5 keeps every
/// family of the older table within a point or two of its error before the
/// change while the fine-grained MoE rows' median error falls by a quarter.
pub const MOE_EXPERT_WIDTH_EXPONENT: f64 = 0.5;

/// Rate of 4-bit floating-point (NVFP4, MXFP4) grouped expert GEMMs relative
/// to 8- and 16-bit ones, each against its own dense peak. Calibrated on the
/// FP4 MoE rows of benchmarks/measured_throughput_2026.csv (TensorRT-LLM on
/// B200 and GB200, 2026): at 0.5, FP4 experts run at about the FP8 rate,
/// which is what those measurements show; 4-bit MoE kernels do not yet
/// reach the doubled FP4 peak the dense 4-bit GEMMs do.
pub const FP4_GROUPED_GEMM_SHARE: f64 = 0.5;

/// Rows of one tile of a grouped (per-expert) GEMM. Each expert's token
/// count is padded up to whole tiles, so an expert that sees m tokens runs
/// at about m / (m + TILE/2) of the rate of a large GEMM (the expected
/// padding of a random count is half a tile). 128 is the M tile of the
/// CUTLASS grouped GEMMs in TensorRT-LLM's and vLLM's MoE kernels and of
/// DeepGEMM's masked grouped GEMM (its README, block M 64 or 128).
pub const GROUPED_GEMM_TILE_TOKENS: f64 = 128.0;

/// Columns of one GEMM tile. Tensor parallelism splits each expert's
/// feed-forward width over the GPUs; a slice narrower than whole tiles
/// wastes the rest of its last tile (DeepSeek-V3's 2,048-wide experts at
/// 8-way TP leave 256 columns per GPU; Qwen3-30B-A3B's 768 leave 96, three
/// quarters of a tile). Same source as the tile rows.
pub const GEMM_TILE_COLUMNS: f64 = 128.0;

/// All-to-alls per MoE layer under expert parallelism with data-parallel
/// attention: one to dispatch tokens to their experts, one to combine the
/// results (DeepEP's dispatch and combine kernels).
pub const ALLTOALLS_PER_MOE_LAYER: f64 = 2.0;

/// Tokens one engine step processes at most, prefill chunks and decode
/// tokens together: TensorRT-LLM's default `max_num_tokens` and vLLM's
/// default `max_num_batched_tokens` for online serving are both 8,192.
/// Prompts are prefilled in such steps, batched with others, so their
/// expert GEMMs see a step's worth of tokens, not one prompt's.
pub const STEP_TOKENS: f64 = 8192.0;

/// Fewest rows a grouped-GEMM tile has: kernels pick their tile to the
/// token count (vLLM's fused MoE configurations use BLOCK_SIZE_M 16 for
/// small batches and 64–128 for large ones), and 16 is the M of the tensor
/// cores' smallest matrix instruction (mma.m16n8k16).
pub const MIN_GROUPED_GEMM_TILE_TOKENS: f64 = 16.0;
