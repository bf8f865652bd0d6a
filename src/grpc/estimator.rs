//! `breakeven.v1.EstimatorService`: throughput estimates, sweeps, scaling
//! curves and calibration.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{precision_or, required};
use super::pb;
use crate::catalog::{LiveCatalog, Precision};
use crate::error::{Error, FieldViolation, Result};
use crate::estimator::{
    self, Bound, Estimate, Layout, MeasuredPoint, Metric, Query, Targets, Workload,
    calibrate::{self, Calibrations},
};

/// Most measured points one Calibrate call may send.
pub const MAX_CALIBRATION_POINTS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct EstimatorApi {
    catalog: Arc<LiveCatalog>,
    calibrations: Arc<Calibrations>,
    store: crate::store::Store,
}

impl EstimatorApi {
    pub fn new(
        catalog: Arc<LiveCatalog>,
        calibrations: Arc<Calibrations>,
        store: crate::store::Store,
    ) -> Self {
        Self {
            catalog,
            calibrations,
            store,
        }
    }
}

#[tonic::async_trait]
impl pb::estimator_service_server::EstimatorService for EstimatorApi {
    async fn estimate_throughput(
        &self,
        request: Request<pb::EstimateThroughputRequest>,
    ) -> Result<Response<pb::ThroughputEstimate>, Status> {
        let req = request.into_inner();
        let query = query("", &req)?;
        let calibration = self.calibrations.get(&req.calibration)?;
        let estimate = estimator::estimate(&self.catalog.get(), &query, &calibration)?;
        Ok(Response::new(estimate.into()))
    }

    async fn sweep_concurrency(
        &self,
        request: Request<pb::SweepConcurrencyRequest>,
    ) -> Result<Response<pb::SweepConcurrencyResponse>, Status> {
        let req = request.into_inner().configuration.unwrap_or_default();
        let mut query = query("configuration.", &req)?;
        // The sweep chooses the concurrencies itself.
        query.workload.concurrency = 0;
        let calibration = self.calibrations.get(&req.calibration)?;
        let (points, best) = estimator::sweep(&self.catalog.get(), &query, &calibration)
            .map_err(|e| prefix_fields(e, "configuration."))?;
        Ok(Response::new(pb::SweepConcurrencyResponse {
            points: points.into_iter().map(Into::into).collect(),
            best: Some(best.into()),
        }))
    }

    async fn scaling_curve(
        &self,
        request: Request<pb::ScalingCurveRequest>,
    ) -> Result<Response<pb::ScalingCurveResponse>, Status> {
        let req = request.into_inner();
        let gpu = required("gpu_id", &req.gpu_id)?;
        let (weights, kv) = precisions(req.weight_precision, req.kv_cache_precision)?;
        let workload = workload("", req.workload.as_ref())?;
        let targets = targets("", req.targets.as_ref());
        let calibration = self.calibrations.get(&req.calibration)?;
        let points = estimator::scaling_curve(
            &self.catalog.get(),
            gpu,
            weights,
            kv,
            workload,
            targets,
            &calibration,
        )?;
        Ok(Response::new(pb::ScalingCurveResponse {
            points: points
                .into_iter()
                .map(|p| {
                    let (fits, reason, estimate) = match p.estimate {
                        Ok(e) => (true, String::new(), Some(e.into())),
                        Err(why) => (false, why, None),
                    };
                    pb::ScalingPoint {
                        model_id: p.model,
                        total_params_b: p.total_params_b,
                        active_params_b: p.active_params_b,
                        fits,
                        reason,
                        estimate,
                    }
                })
                .collect(),
        }))
    }

    async fn calibrate(
        &self,
        request: Request<pb::CalibrateRequest>,
    ) -> Result<Response<pb::CalibrateResponse>, Status> {
        let req = request.into_inner();
        let points = measured_points(&req)?;
        self.calibrations.check_name(&req.name)?;
        let catalog = self.catalog.get();
        let name = req.name.clone();
        let fitted = {
            let points = points.clone();
            tokio::task::spawn_blocking(move || calibrate::fit(&catalog, &name, &points))
                .await
                .map_err(|e| Error::Internal(format!("calibration task failed: {e}")))??
        };
        // Kept in the database first, so a calibration that estimates use
        // survives a restart.
        self.store
            .save_calibration(fitted.calibration.clone())
            .await?;
        self.calibrations.insert(fitted.calibration.clone())?;
        let tuning = fitted.calibration.tuning;
        Ok(Response::new(pb::CalibrateResponse {
            name: req.name,
            bandwidth_scale: tuning.bandwidth_scale,
            compute_scale: tuning.compute_scale,
            allreduce_latency_seconds: tuning.allreduce_latency_s,
            error_before: fitted.error_before,
            error_after: fitted.error_after,
            residuals: points
                .iter()
                .zip(&fitted.residuals)
                .map(|(p, r)| pb::PointResidual {
                    id: p.id.clone(),
                    measured: p.value,
                    predicted: p.value * (1.0 + r),
                })
                .collect(),
        }))
    }
}

/// Weight and KV precisions with their defaults (see the proto comments).
fn precisions(weights: i32, kv: i32) -> Result<(Precision, Precision)> {
    let weights = precision_or("weight_precision", weights, Precision::Bf16)?;
    let default_kv = match weights {
        Precision::Fp8 | Precision::Fp4 => Precision::Fp8,
        _ => Precision::Bf16,
    };
    Ok((weights, precision_or("kv_cache_precision", kv, default_kv)?))
}

fn workload(prefix: &str, w: Option<&pb::Workload>) -> Result<Workload> {
    let w = w.ok_or_else(|| Error::invalid(format!("{prefix}workload"), "is required"))?;
    Ok(Workload {
        input_tokens: w.input_tokens,
        output_tokens: w.output_tokens,
        concurrency: w.concurrency,
    })
}

fn targets(_prefix: &str, t: Option<&pb::LatencyTargets>) -> Targets {
    let limit = |v: f64| (v != 0.0).then_some(v);
    t.map(|t| Targets {
        ttft_s: limit(t.ttft_seconds),
        tpot_s: limit(t.tpot_seconds),
    })
    .unwrap_or_default()
}

fn query(prefix: &str, req: &pb::EstimateThroughputRequest) -> Result<Query> {
    let field = |name: &str| format!("{prefix}{name}");
    let (weight_precision, kv_precision) = precisions(req.weight_precision, req.kv_cache_precision)
        .map_err(|e| prefix_fields(e, prefix))?;
    Ok(Query {
        model: required(&field("model_id"), &req.model_id)?.to_string(),
        gpu: required(&field("gpu_id"), &req.gpu_id)?.to_string(),
        weight_precision,
        kv_precision,
        tensor_parallel: req.tensor_parallel,
        layout: layout(&field("layout"), req.layout)?,
        workload: workload(prefix, req.workload.as_ref())?,
        targets: targets(prefix, req.targets.as_ref()),
    })
}

fn layout(field: &str, value: i32) -> Result<Option<Layout>> {
    match pb::Layout::try_from(value) {
        Ok(pb::Layout::Unspecified) => Ok(None),
        Ok(pb::Layout::Tensor) => Ok(Some(Layout::Tensor)),
        Ok(pb::Layout::TensorExpert) => Ok(Some(Layout::TensorExpert)),
        Ok(pb::Layout::DataExpert) => Ok(Some(Layout::DataExpert)),
        Err(_) => Err(Error::invalid(
            field,
            format!(
                "{value} is not a layout (LAYOUT_TENSOR, LAYOUT_TENSOR_EXPERT or LAYOUT_DATA_EXPERT)"
            ),
        )),
    }
}

impl From<Layout> for pb::Layout {
    fn from(layout: Layout) -> Self {
        match layout {
            Layout::Tensor => pb::Layout::Tensor,
            Layout::TensorExpert => pb::Layout::TensorExpert,
            Layout::DataExpert => pb::Layout::DataExpert,
        }
    }
}

fn prefix_fields(err: Error, prefix: &str) -> Error {
    match err {
        Error::InvalidArgument(v) => Error::InvalidArgument(
            v.into_iter()
                .map(|v| FieldViolation::new(format!("{prefix}{}", v.field), v.description))
                .collect(),
        ),
        other => other,
    }
}

fn measured_points(req: &pb::CalibrateRequest) -> Result<Vec<MeasuredPoint>> {
    let total = req.points.len() + req.vllm_results.len();
    if total == 0 {
        return Err(Error::invalid(
            "points",
            "at least one measured point is required",
        ));
    }
    if total > MAX_CALIBRATION_POINTS {
        return Err(Error::invalid(
            "points",
            format!("at most {MAX_CALIBRATION_POINTS} points per call, got {total}"),
        ));
    }
    let mut violations = Vec::new();
    let mut points = Vec::new();
    for (i, p) in req.points.iter().enumerate() {
        let at = format!("points[{i}].");
        let metric = match pb::MeasuredMetric::try_from(p.metric) {
            Ok(pb::MeasuredMetric::OutputTokensPerSecondPerGpu) => {
                Some(Metric::OutputTokensPerSecondPerGpu)
            }
            Ok(pb::MeasuredMetric::DecodeTokensPerSecondPerUser) => {
                Some(Metric::DecodeTokensPerSecondPerUser)
            }
            _ => {
                violations.push(FieldViolation::new(format!("{at}metric"), "must be set"));
                None
            }
        };
        if !(p.value.is_finite() && p.value > 0.0) {
            violations.push(FieldViolation::new(
                format!("{at}value"),
                format!("must be a positive number, got {}", p.value),
            ));
        }
        if p.tensor_parallel == 0 {
            violations.push(FieldViolation::new(
                format!("{at}tensor_parallel"),
                "must be set for a measurement",
            ));
        }
        match (precisions(p.weight_precision, p.kv_cache_precision), metric) {
            (Ok((weights, kv)), Some(metric)) => points.push(MeasuredPoint {
                id: if p.id.is_empty() {
                    format!("points[{i}]")
                } else {
                    p.id.clone()
                },
                model: p.model_id.clone(),
                gpu: p.gpu_id.clone(),
                weight_precision: weights,
                kv_precision: kv,
                tensor_parallel: p.tensor_parallel,
                input_tokens: p.input_tokens,
                output_tokens: p.output_tokens,
                concurrency: p.concurrency,
                metric,
                value: p.value,
                source: String::new(),
                engine: String::new(),
                layout: Some(Layout::Tensor),
            }),
            (Err(Error::InvalidArgument(v)), _) => violations.extend(
                v.into_iter()
                    .map(|v| FieldViolation::new(format!("{at}{}", v.field), v.description)),
            ),
            _ => {}
        }
    }
    for (i, r) in req.vllm_results.iter().enumerate() {
        let at = format!("vllm_results[{i}]");
        let parsed = precisions(r.weight_precision, r.kv_cache_precision).and_then(|(w, kv)| {
            calibrate::parse_vllm_json(
                &format!("{at}.json"),
                &r.json,
                if r.id.is_empty() { &at } else { &r.id },
                &r.model_id,
                &r.gpu_id,
                w,
                kv,
                r.tensor_parallel.max(1),
                r.gpus,
            )
        });
        match parsed {
            Ok(p) => points.push(p),
            Err(Error::InvalidArgument(v)) => violations.extend(v),
            Err(other) => return Err(other),
        }
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    // Every point must describe a configuration the estimator can model.
    Ok(points)
}

impl From<Bound> for pb::Bound {
    fn from(b: Bound) -> Self {
        match b {
            Bound::MemoryBandwidth => pb::Bound::MemoryBandwidth,
            Bound::Compute => pb::Bound::Compute,
            Bound::Interconnect => pb::Bound::Interconnect,
            Bound::MemoryCapacity => pb::Bound::MemoryCapacity,
        }
    }
}

impl From<Estimate> for pb::ThroughputEstimate {
    fn from(e: Estimate) -> Self {
        Self {
            memory: Some(pb::MemoryBreakdown {
                weights_gb: e.memory.weights_gb,
                weights_gb_per_gpu: e.memory.weights_gb_per_gpu,
                usable_gb_per_gpu: e.memory.usable_gb_per_gpu,
                kv_bytes_per_token: e.memory.kv_bytes_per_token,
                kv_capacity_tokens: e.memory.kv_capacity_tokens,
                max_concurrent_sequences: e.memory.max_concurrent_sequences,
            }),
            tensor_parallel: e.tensor_parallel,
            layout: pb::Layout::from(e.layout).into(),
            concurrency: e.concurrency,
            ttft_seconds: e.ttft_s,
            tpot_seconds: e.tpot_s,
            prefill_tokens_per_second: e.prefill_tokens_per_s,
            decode_tokens_per_second: e.decode_tokens_per_s,
            output_tokens_per_second_per_gpu: e.output_tokens_per_second_per_gpu,
            total_tokens_per_second_per_gpu: e.total_tokens_per_second_per_gpu,
            tokens_per_second_per_user: e.tokens_per_second_per_user,
            requests_per_second_per_replica: e.requests_per_second_per_replica,
            bound: pb::Bound::from(e.bound).into(),
            meets_targets: e.meets_targets,
            cost_per_million_output_tokens_usd: e.cost_per_million_output_tokens_usd,
            cost_per_million_total_tokens_usd: e.cost_per_million_total_tokens_usd,
            expected_error: e.expected_error,
            calibration: e.calibration,
        }
    }
}
