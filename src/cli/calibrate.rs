//! `breakeven calibrate`: measured throughput (a CSV table in the format of
//! `benchmarks/measured_throughput.csv`, or vLLM serving-benchmark JSON
//! files) sent to the Calibrate RPC, and the fitted calibration kept on the
//! server under a name that scenarios and estimates can then use.

use std::path::{Path, PathBuf};

use super::estimate::parse_precision;
use super::exit::Failure;
use super::format::{number, percent};
use super::output::{Cell, Output, Record, Report, Table, num, text};
use super::{Global, connect};
use crate::estimator::calibrate::{self, Metric};
use crate::grpc::pb;
use crate::grpc::pb::estimator_service_client::EstimatorServiceClient;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Name to keep the calibration under (lowercase letters, digits, '-'
    /// and '.'), for `calibration = "NAME"` in a scenario.
    name: String,
    /// Measured points: a CSV table in the format of
    /// benchmarks/measured_throughput.csv.
    #[arg(long, value_name = "CSV")]
    measurements: Vec<PathBuf>,
    /// A vLLM serving-benchmark result (`vllm bench serve --save-result`);
    /// the hardware flags below say what it ran on.
    #[arg(long, value_name = "JSON")]
    vllm: Vec<PathBuf>,
    /// Catalogue model id the vLLM results served.
    #[arg(long, required_unless_present = "measurements")]
    model: Option<String>,
    /// Catalogue GPU id the vLLM results ran on.
    #[arg(long, required_unless_present = "measurements")]
    gpu: Option<String>,
    /// Weight precision of the vLLM results: bf16 (default), fp8, int8,
    /// fp4 or int4.
    #[arg(long, value_parser = parse_precision)]
    precision: Option<pb::Precision>,
    /// KV-cache precision of the vLLM results.
    #[arg(long, value_parser = parse_precision)]
    kv_precision: Option<pb::Precision>,
    /// GPUs per replica in the vLLM results.
    #[arg(long, default_value_t = 1, value_name = "GPUS")]
    tensor_parallel: u32,
    /// GPUs the vLLM server used in all; one replica's when omitted.
    #[arg(long, default_value_t = 0)]
    gpus: u32,
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

/// A CSV row in the form the API takes.
fn point(p: &calibrate::MeasuredPoint) -> pb::MeasuredPoint {
    pb::MeasuredPoint {
        id: p.id.clone(),
        model_id: p.model.clone(),
        gpu_id: p.gpu.clone(),
        weight_precision: pb::Precision::from(p.weight_precision).into(),
        kv_cache_precision: pb::Precision::from(p.kv_precision).into(),
        tensor_parallel: p.tensor_parallel,
        input_tokens: p.input_tokens,
        output_tokens: p.output_tokens,
        concurrency: p.concurrency,
        metric: match p.metric {
            Metric::OutputTokensPerSecondPerGpu => pb::MeasuredMetric::OutputTokensPerSecondPerGpu,
            Metric::DecodeTokensPerSecondPerUser => {
                pb::MeasuredMetric::DecodeTokensPerSecondPerUser
            }
        }
        .into(),
        value: p.value,
    }
}

impl Args {
    /// The request these flags and files describe.
    pub fn request(&self) -> Result<pb::CalibrateRequest, Failure> {
        let mut points = Vec::new();
        for path in &self.measurements {
            let rows = calibrate::parse_csv(&read(path)?)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            points.extend(rows.iter().map(point));
        }
        let mut vllm_results = Vec::new();
        for path in &self.vllm {
            vllm_results.push(pb::VllmBenchmarkResult {
                id: path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("vllm")
                    .to_string(),
                json: read(path)?,
                model_id: self.model.clone().unwrap_or_default(),
                gpu_id: self.gpu.clone().unwrap_or_default(),
                weight_precision: self.precision.map_or(0, Into::into),
                kv_cache_precision: self.kv_precision.map_or(0, Into::into),
                tensor_parallel: self.tensor_parallel,
                gpus: self.gpus,
            });
        }
        if points.is_empty() && vllm_results.is_empty() {
            return Err(Failure::Usage(
                "give measured points with --measurements CSV or --vllm JSON".into(),
            ));
        }
        Ok(pb::CalibrateRequest {
            name: self.name.clone(),
            points,
            vllm_results,
        })
    }
}

pub async fn run(global: &Global, out: Output, args: Args) -> Result<(), Failure> {
    let request = args.request()?;
    let mut client = EstimatorServiceClient::new(connect(global).await?);
    let response = client.calibrate(request).await?.into_inner();
    out.show(&response, || report(&response))
}

fn report(c: &pb::CalibrateResponse) -> Report {
    let mut summary = Record::new();
    summary
        .add("name", "calibration", Cell::text(&c.name))
        .add(
            "bandwidth_scale",
            "bandwidth scale",
            Cell::number(number(c.bandwidth_scale, 3), c.bandwidth_scale),
        )
        .add(
            "compute_scale",
            "compute scale",
            Cell::number(number(c.compute_scale, 3), c.compute_scale),
        )
        .add(
            "allreduce_latency_seconds",
            "all-reduce latency",
            Cell::number(
                format!("{} µs", number(c.allreduce_latency_seconds * 1e6, 1)),
                c.allreduce_latency_seconds,
            ),
        )
        .add(
            "error_before",
            "median error before",
            Cell::number(percent(c.error_before), c.error_before),
        )
        .add(
            "error_after",
            "median error after",
            Cell::number(percent(c.error_after), c.error_after),
        );
    let mut residuals = Table::new(vec![
        text("id", "point"),
        num("measured", "measured"),
        num("predicted", "predicted"),
    ]);
    for r in &c.residuals {
        residuals.push(vec![
            Cell::text(&r.id),
            Cell::number(number(r.measured, 1), r.measured),
            Cell::number(number(r.predicted, 1), r.predicted),
        ]);
    }
    let mut report = Report::new();
    report
        .title(format!(
            "calibration {:?} kept; use it with calibration = {:?}",
            c.name, c.name
        ))
        .record(summary)
        .table(residuals);
    report
}
