//! `breakeven estimate`: one EstimateThroughput call, its flags mirroring
//! the request.

use super::catalog::precision_name;
use super::exit::Failure;
use super::format::{count, number, percent, seconds, usd_price};
use super::output::{Cell, Output, Record, Report};
use super::{Global, connect};
use crate::catalog::Precision;
use crate::grpc::pb;
use crate::grpc::pb::estimator_service_client::EstimatorServiceClient;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Catalogue model id, e.g. llama-3.1-70b.
    #[arg(long)]
    model: String,
    /// Catalogue GPU id, e.g. h100-sxm.
    #[arg(long)]
    gpu: String,
    /// Weight precision: bf16 (default), fp8, int8, fp4 or int4.
    #[arg(long, value_parser = parse_precision)]
    precision: Option<pb::Precision>,
    /// KV-cache precision; fp8 with fp8 or fp4 weights, bf16 otherwise.
    #[arg(long, value_parser = parse_precision)]
    kv_precision: Option<pb::Precision>,
    /// GPUs per replica (tensor-parallel degree); the smallest that fits
    /// by default.
    #[arg(long, default_value_t = 0, value_name = "GPUS")]
    tensor_parallel: u32,
    /// How a replica spreads the model: tp (tensor parallel), tp_ep
    /// (experts spread whole) or dp_ep (data-parallel attention, experts
    /// spread); the fastest that fits by default.
    #[arg(long, value_parser = parse_layout)]
    layout: Option<pb::Layout>,
    /// Prompt tokens per request.
    #[arg(long)]
    input_tokens: u32,
    /// Generated tokens per request.
    #[arg(long)]
    output_tokens: u32,
    /// Sequences in flight per replica; the best within the targets by
    /// default.
    #[arg(long, default_value_t = 0)]
    concurrency: u32,
    /// Longest acceptable time to first token, seconds.
    #[arg(long, value_name = "SECONDS")]
    ttft: Option<f64>,
    /// Longest acceptable time per output token, seconds.
    #[arg(long, value_name = "SECONDS")]
    tpot: Option<f64>,
    /// A calibration kept on the server; the defaults when omitted.
    #[arg(long, value_name = "NAME")]
    calibration: Option<String>,
}

/// A precision flag, as scenario files write it.
pub fn parse_precision(text: &str) -> Result<pb::Precision, String> {
    Precision::parse(text)
        .map(pb::Precision::from)
        .ok_or_else(|| format!("{text:?} is not one of bf16, fp8, int8, fp4, int4"))
}

/// A layout flag, as measurement tables write it.
pub fn parse_layout(text: &str) -> Result<pb::Layout, String> {
    match crate::estimator::Layout::parse(text) {
        Some(layout) => Ok(layout.into()),
        None => Err(format!("{text:?} is not one of tp, tp_ep, dp_ep")),
    }
}

/// A layout as the flag names it; empty when unset.
fn layout_name(value: i32) -> &'static str {
    match pb::Layout::try_from(value) {
        Ok(pb::Layout::Tensor) => "tp",
        Ok(pb::Layout::TensorExpert) => "tp_ep",
        Ok(pb::Layout::DataExpert) => "dp_ep",
        Ok(pb::Layout::Unspecified) | Err(_) => "",
    }
}

impl Args {
    /// The request these flags describe.
    pub fn request(&self) -> pb::EstimateThroughputRequest {
        pb::EstimateThroughputRequest {
            model_id: self.model.clone(),
            gpu_id: self.gpu.clone(),
            weight_precision: self.precision.map_or(0, Into::into),
            kv_cache_precision: self.kv_precision.map_or(0, Into::into),
            tensor_parallel: self.tensor_parallel,
            layout: self.layout.map_or(0, Into::into),
            workload: Some(pb::Workload {
                input_tokens: self.input_tokens,
                output_tokens: self.output_tokens,
                concurrency: self.concurrency,
            }),
            targets: (self.ttft.is_some() || self.tpot.is_some()).then(|| pb::LatencyTargets {
                ttft_seconds: self.ttft.unwrap_or(0.0),
                tpot_seconds: self.tpot.unwrap_or(0.0),
            }),
            calibration: self.calibration.clone().unwrap_or_default(),
        }
    }
}

pub async fn run(global: &Global, out: Output, args: Args) -> Result<(), Failure> {
    let request = args.request();
    let mut client = EstimatorServiceClient::new(connect(global).await?);
    let estimate = client
        .estimate_throughput(request.clone())
        .await?
        .into_inner();
    out.show(&estimate, || report(&request, &estimate))
}

fn bound_name(value: i32) -> String {
    match pb::Bound::try_from(value) {
        Ok(pb::Bound::MemoryBandwidth) => "memory bandwidth",
        Ok(pb::Bound::Compute) => "compute",
        Ok(pb::Bound::Interconnect) => "interconnect",
        Ok(pb::Bound::MemoryCapacity) => "memory capacity",
        Ok(pb::Bound::Unspecified) | Err(_) => "",
    }
    .into()
}

fn report(request: &pb::EstimateThroughputRequest, e: &pb::ThroughputEstimate) -> Report {
    let weights = match precision_name(request.weight_precision) {
        name if name.is_empty() => "bf16".to_string(),
        name => name,
    };
    let mut r = Record::new();
    r.add("model_id", "model", Cell::text(&request.model_id))
        .add("gpu_id", "GPU", Cell::text(&request.gpu_id))
        .add("weight_precision", "weights", Cell::text(weights))
        .add(
            "tensor_parallel",
            "GPUs per replica",
            Cell::count(e.tensor_parallel),
        )
        .add("layout", "layout", Cell::text(layout_name(e.layout)))
        .add(
            "concurrency",
            "sequences in flight",
            Cell::count(e.concurrency),
        )
        .add(
            "output_tokens_per_second_per_gpu",
            "output tokens/s per GPU",
            Cell::number(
                format!(
                    "{} (±{})",
                    number(e.output_tokens_per_second_per_gpu, 0),
                    percent(e.expected_error)
                ),
                e.output_tokens_per_second_per_gpu,
            ),
        )
        .add(
            "total_tokens_per_second_per_gpu",
            "total tokens/s per GPU",
            Cell::number(
                number(e.total_tokens_per_second_per_gpu, 0),
                e.total_tokens_per_second_per_gpu,
            ),
        )
        .add(
            "tokens_per_second_per_user",
            "tokens/s per user",
            Cell::number(
                number(e.tokens_per_second_per_user, 1),
                e.tokens_per_second_per_user,
            ),
        )
        .add(
            "requests_per_second_per_replica",
            "requests/s per replica",
            Cell::number(
                number(e.requests_per_second_per_replica, 2),
                e.requests_per_second_per_replica,
            ),
        )
        .add(
            "ttft_seconds",
            "time to first token",
            Cell::number(seconds(e.ttft_seconds), e.ttft_seconds),
        )
        .add(
            "tpot_seconds",
            "time per output token",
            Cell::number(seconds(e.tpot_seconds), e.tpot_seconds),
        )
        .add("bound", "limited by", Cell::text(bound_name(e.bound)))
        .add(
            "meets_targets",
            "meets targets",
            Cell::flag(e.meets_targets),
        )
        .add(
            "cost_per_million_output_tokens_usd",
            "on-demand cost per M output tokens",
            Cell::number(
                usd_price(e.cost_per_million_output_tokens_usd),
                e.cost_per_million_output_tokens_usd,
            ),
        )
        .add(
            "cost_per_million_total_tokens_usd",
            "on-demand cost per M tokens",
            Cell::number(
                usd_price(e.cost_per_million_total_tokens_usd),
                e.cost_per_million_total_tokens_usd,
            ),
        )
        .add(
            "expected_error",
            "expected error",
            Cell::number(percent(e.expected_error), e.expected_error),
        )
        .add("calibration", "calibration", Cell::text(&e.calibration));
    if let Some(m) = &e.memory {
        r.add(
            "weights_gb_per_gpu",
            "weights per GPU",
            Cell::number(
                format!(
                    "{} GB of {} GB usable",
                    number(m.weights_gb_per_gpu, 1),
                    number(m.usable_gb_per_gpu, 1)
                ),
                m.weights_gb_per_gpu,
            ),
        )
        .add(
            "kv_capacity_tokens",
            "KV cache capacity",
            Cell::number(
                format!("{} tokens", count(m.kv_capacity_tokens)),
                m.kv_capacity_tokens,
            ),
        )
        .add(
            "max_concurrent_sequences",
            "sequences that fit",
            Cell::count(m.max_concurrent_sequences),
        );
    }
    let mut report = Report::new();
    report.record(r);
    report
}
