//! Calibration: fitting the estimator's efficiency multipliers to measured
//! throughput, and the expected error that travels with every estimate.
//!
//! The fit is a Levenberg–Marquardt least-squares fit of the log ratio of
//! predicted to measured throughput over three parameters: a bandwidth
//! scale, a compute scale and the all-reduce latency. Logs make a 2x
//! overestimate and a 2x underestimate weigh the same.

use nalgebra::{DMatrix, DVector};
use serde::Deserialize;

use super::{Layout, Query, Targets, Tuning, Workload, setup};
use crate::catalog::{Catalog, Precision};
use crate::error::{Error, FieldViolation, Result};

/// The measurements shipped with breakeven (see `benchmarks/README.md`).
pub const PUBLIC_MEASUREMENTS: &str = include_str!("../../benchmarks/measured_throughput.csv");
/// The newer table: fine-grained MoE models, FP4, Blackwell and AMD MI3xx
/// GPUs, with the engine of each row.
pub const PUBLIC_MEASUREMENTS_2026: &str =
    include_str!("../../benchmarks/measured_throughput_2026.csv");

/// What a measured number counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Generated tokens per second per GPU at the stated concurrency (0:
    /// the highest the hardware reaches, as offline benchmarks report).
    OutputTokensPerSecondPerGpu,
    /// Generated tokens per second one user sees at batch 1 (decode only).
    DecodeTokensPerSecondPerUser,
}

impl Metric {
    /// Reads a metric name; latency-constrained server figures (whose
    /// targets the table does not carry) are not used for fitting.
    pub fn parse(name: &str) -> Option<Metric> {
        match name {
            "output_tokens_per_s_per_gpu" => Some(Metric::OutputTokensPerSecondPerGpu),
            "decode_tokens_per_s_per_user" => Some(Metric::DecodeTokensPerSecondPerUser),
            _ => None,
        }
    }
}

/// One measured serving result.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredPoint {
    pub id: String,
    pub model: String,
    pub gpu: String,
    pub weight_precision: Precision,
    pub kv_precision: Precision,
    pub tensor_parallel: u32,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Sequences in flight per replica; 0 for the maximum.
    pub concurrency: u32,
    pub metric: Metric,
    pub value: f64,
    /// The publication the point comes from (the first part of a table
    /// row's id: `mlperf41`, `trtllm09`…), for leave-one-source-out errors;
    /// empty when unknown.
    pub source: String,
    /// The serving engine measured (`tensorrt-llm`, `vllm`, `gpt-fast`…);
    /// empty when unknown.
    pub engine: String,
    /// The replica's layout as measured; `None` lets the estimator choose.
    pub layout: Option<Layout>,
}

/// Named efficiency multipliers and how far estimates made with them can
/// be trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub name: String,
    pub tuning: Tuning,
    /// Median absolute relative error over the measurements behind it.
    pub expected_error: f64,
    /// How many measurements it rests on.
    pub points: usize,
}

impl Calibration {
    /// The hardware files' efficiencies with no error figure attached: for
    /// callers that only need the arithmetic (benchmarks, timings).
    pub fn defaults() -> Calibration {
        Calibration {
            name: "default".into(),
            tuning: Tuning::default(),
            expected_error: 0.0,
            points: 0,
        }
    }

    /// The per-GPU defaults of the hardware files, with the error they show
    /// against `points` (the public measurements, normally).
    pub fn uncalibrated(catalog: &Catalog, points: &[MeasuredPoint]) -> Calibration {
        let usable: Vec<_> = points
            .iter()
            .filter(|p| predict(catalog, p, &Tuning::default()).is_ok())
            .cloned()
            .collect();
        let errors = relative_errors(catalog, &usable, &Tuning::default()).unwrap_or_default();
        Calibration {
            name: "default".into(),
            tuning: Tuning::default(),
            expected_error: median_abs(&errors),
            points: usable.len(),
        }
    }
}

/// Most named calibrations kept at once.
pub const MAX_CALIBRATIONS: usize = 1000;

/// The calibrations a server knows: the defaults and those made since.
#[derive(Debug)]
pub struct Calibrations {
    default: Calibration,
    named: std::sync::RwLock<std::collections::BTreeMap<String, Calibration>>,
}

impl Calibrations {
    pub fn new(default: Calibration) -> Self {
        Self {
            default,
            named: Default::default(),
        }
    }

    /// The calibration called `name`; empty or "default" gives the defaults.
    pub fn get(&self, name: &str) -> Result<Calibration> {
        if name.is_empty() || name == self.default.name {
            return Ok(self.default.clone());
        }
        // A poisoned lock only means a writer panicked mid-insert of a
        // whole value; the map itself is still consistent.
        let named = self.named.read().unwrap_or_else(|e| e.into_inner());
        named
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("calibration {name:?} not found")))
    }

    /// Whether a new calibration may take `name`.
    pub fn check_name(&self, name: &str) -> Result<()> {
        if name == self.default.name {
            return Err(Error::invalid("name", format!("{name:?} is reserved")));
        }
        if !crate::catalog::is_valid_id(name) {
            return Err(Error::invalid(
                "name",
                "must be 1-64 lowercase letters, digits, '-' or '.', starting with a letter or digit",
            ));
        }
        Ok(())
    }

    /// Keeps `calibration` under its name, replacing an older one.
    pub fn insert(&self, calibration: Calibration) -> Result<()> {
        self.check_name(&calibration.name)?;
        let mut named = self.named.write().unwrap_or_else(|e| e.into_inner());
        if named.len() >= MAX_CALIBRATIONS && !named.contains_key(&calibration.name) {
            return Err(Error::ResourceExhausted(format!(
                "{MAX_CALIBRATIONS} calibrations are kept already"
            )));
        }
        named.insert(calibration.name.clone(), calibration);
        Ok(())
    }
}

/// The outcome of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    pub calibration: Calibration,
    /// Median absolute relative error before and after.
    pub error_before: f64,
    pub error_after: f64,
    /// Relative error of each point after the fit, in input order.
    pub residuals: Vec<f64>,
}

/// What the estimator predicts for a measured configuration.
pub fn predict(catalog: &Catalog, point: &MeasuredPoint, tuning: &Tuning) -> Result<f64> {
    let query = Query {
        model: point.model.clone(),
        gpu: point.gpu.clone(),
        weight_precision: point.weight_precision,
        kv_precision: point.kv_precision,
        tensor_parallel: point.tensor_parallel,
        layout: point.layout,
        workload: Workload {
            input_tokens: point.input_tokens,
            output_tokens: point.output_tokens,
            concurrency: point.concurrency,
        },
        targets: Targets::default(),
    };
    let calibration = Calibration {
        name: String::new(),
        tuning: *tuning,
        expected_error: 0.0,
        points: 0,
    };
    let setup = setup(catalog, &query, &calibration)?;
    Ok(match point.metric {
        Metric::OutputTokensPerSecondPerGpu => {
            let estimate = match point.concurrency {
                0 => setup.best(&Targets::default()),
                c => setup.at(c, &Targets::default()),
            };
            estimate.output_tokens_per_second_per_gpu
        }
        Metric::DecodeTokensPerSecondPerUser => {
            let context =
                super::memory::kv_layer_tokens(setup.model, setup.input + setup.output / 2.0);
            1.0 / setup.replica.decode_step(1.0, context).total()
        }
    })
}

/// predicted / measured − 1 for each point.
pub fn relative_errors(
    catalog: &Catalog,
    points: &[MeasuredPoint],
    tuning: &Tuning,
) -> Result<Vec<f64>> {
    points
        .iter()
        .map(|p| Ok(predict_point(catalog, p, tuning)? / p.value - 1.0))
        .collect()
}

/// [`predict`], with the point's id in any error.
fn predict_point(catalog: &Catalog, point: &MeasuredPoint, tuning: &Tuning) -> Result<f64> {
    predict(catalog, point, tuning).map_err(|err| match err {
        Error::InvalidArgument(v) => Error::InvalidArgument(
            v.into_iter()
                .map(|v| FieldViolation::new(format!("{}.{}", point.id, v.field), v.description))
                .collect(),
        ),
        Error::NotFound(m) => Error::NotFound(format!("point {}: {m}", point.id)),
        Error::FailedPrecondition(m) => {
            Error::FailedPrecondition(format!("point {}: {m}", point.id))
        }
        other => other,
    })
}

/// Median of absolute values; 0 for no values.
pub fn median_abs(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|x| x.abs()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn to_params(t: &Tuning) -> DVector<f64> {
    DVector::from_vec(vec![
        t.bandwidth_scale.ln(),
        t.compute_scale.ln(),
        t.allreduce_latency_s.ln(),
    ])
}

fn from_params(p: &DVector<f64>) -> Tuning {
    // Bounds keep the fit physical: a scale cannot exceed the hardware by
    // more than the default efficiencies allow, nor collapse to nothing.
    Tuning {
        bandwidth_scale: p[0].clamp(0.2f64.ln(), 2.0f64.ln()).exp(),
        compute_scale: p[1].clamp(0.2f64.ln(), 3.0f64.ln()).exp(),
        allreduce_latency_s: p[2].clamp(1e-6f64.ln(), 200e-6f64.ln()).exp(),
    }
}

fn log_residuals(
    catalog: &Catalog,
    points: &[MeasuredPoint],
    p: &DVector<f64>,
) -> Result<DVector<f64>> {
    let tuning = from_params(p);
    let mut r = DVector::zeros(points.len());
    for (i, point) in points.iter().enumerate() {
        r[i] = (predict_point(catalog, point, &tuning)? / point.value).ln();
    }
    Ok(r)
}

/// Fits the multipliers to `points`, starting from the defaults.
pub fn fit(catalog: &Catalog, name: &str, points: &[MeasuredPoint]) -> Result<FitReport> {
    if points.is_empty() {
        return Err(Error::invalid(
            "points",
            "at least one measured point is required",
        ));
    }
    let start = Tuning::default();
    let before = relative_errors(catalog, points, &start)?;
    let mut p = to_params(&start);
    let mut r = log_residuals(catalog, points, &p)?;
    let mut cost = r.norm_squared();
    let mut lambda = 1e-2;
    for _ in 0..60 {
        let h = 1e-4;
        let mut jacobian = DMatrix::zeros(points.len(), p.len());
        for j in 0..p.len() {
            let mut up = p.clone();
            up[j] += h;
            let mut down = p.clone();
            down[j] -= h;
            let column = (log_residuals(catalog, points, &up)?
                - log_residuals(catalog, points, &down)?)
                / (2.0 * h);
            jacobian.set_column(j, &column);
        }
        let jtj = jacobian.transpose() * &jacobian;
        let gradient = jacobian.transpose() * &r;
        let mut improved = false;
        while lambda < 1e8 {
            let mut a = jtj.clone();
            for k in 0..p.len() {
                a[(k, k)] += lambda * jtj[(k, k)] + 1e-12;
            }
            let Some(step) = a.lu().solve(&(-&gradient)) else {
                lambda *= 10.0;
                continue;
            };
            let candidate = to_params(&from_params(&(&p + &step)));
            let r_new = log_residuals(catalog, points, &candidate)?;
            let c_new = r_new.norm_squared();
            if c_new < cost {
                p = candidate;
                r = r_new;
                improved = cost - c_new > 1e-12 * cost.max(1e-12);
                cost = c_new;
                lambda = (lambda / 10.0).max(1e-9);
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    let mut tuning = from_params(&p);
    let mut residuals = relative_errors(catalog, points, &tuning)?;
    // The fit minimises squared log error; the error reported and carried
    // by estimates is the median. Where the fit would make the median
    // worse, the defaults stay.
    if median_abs(&residuals) > median_abs(&before) {
        tuning = start;
        residuals = before.clone();
    }
    let error_after = median_abs(&residuals);
    Ok(FitReport {
        calibration: Calibration {
            name: name.to_string(),
            tuning,
            expected_error: error_after,
            points: points.len(),
        },
        error_before: median_abs(&before),
        error_after,
        residuals,
    })
}

/// A plain-text table of predicted against measured throughput for each
/// point, with the median absolute error at the foot.
pub fn accuracy_table(catalog: &Catalog, points: &[MeasuredPoint]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut errors = Vec::new();
    let _ = writeln!(
        out,
        "{:<58} {:>10} {:>10} {:>8}",
        "point", "measured", "predicted", "error"
    );
    for point in points {
        match predict(catalog, point, &Tuning::default()) {
            Ok(predicted) => {
                let error = predicted / point.value - 1.0;
                errors.push(error);
                let _ = writeln!(
                    out,
                    "{:<58} {:>10.1} {:>10.1} {:>+7.1}%",
                    point.id,
                    point.value,
                    predicted,
                    error * 100.0
                );
            }
            Err(err) => {
                let _ = writeln!(
                    out,
                    "{:<58} {:>10.1} {:>10} {err}",
                    point.id, point.value, "-"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "median absolute error over {} points: {:.1}%",
        errors.len(),
        median_abs(&errors) * 100.0
    );
    out
}

#[derive(Deserialize)]
struct CsvRow {
    id: String,
    model: String,
    gpu: String,
    weight_precision: String,
    kv_precision: String,
    tensor_parallel: u32,
    input_tokens: u32,
    output_tokens: u32,
    concurrency: u32,
    metric: String,
    value: f64,
    source: String,
    /// Newer tables name the engine; for the older one it follows from the
    /// source ([`engine_of`]).
    #[serde(default)]
    engine: String,
    /// `tp`, `tp_ep` or `dp_ep`; rows of the older table, which has no such
    /// column, are tensor parallel as their `tensor_parallel` says.
    #[serde(default)]
    layout: String,
}

/// The engine of a row whose table has no `engine` column, from its cited
/// source: MLPerf results run each submitter's own stack, TensorRT-LLM's
/// tables its own engine, gpt-fast its own code.
fn engine_of(source: &str) -> &'static str {
    if source.contains("MLPerf") {
        "mlperf-submitter"
    } else if source.contains("TensorRT-LLM") {
        "tensorrt-llm"
    } else if source.contains("gpt-fast") {
        "gpt-fast"
    } else {
        ""
    }
}

/// Reads a measurement table in the format of
/// `benchmarks/measured_throughput.csv`, keeping the rows whose metric the
/// estimator can predict.
pub fn parse_csv(text: &str) -> Result<Vec<MeasuredPoint>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut points = Vec::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let field = format!("row {}", i + 2);
        let row = row.map_err(|e| Error::invalid(&field, e.to_string()))?;
        let Some(metric) = Metric::parse(&row.metric) else {
            continue;
        };
        let precision = |name: &str, value: &str| {
            Precision::parse(value).ok_or_else(|| {
                Error::invalid(
                    format!("{field}.{name}"),
                    format!("unknown precision {value:?}"),
                )
            })
        };
        points.push(MeasuredPoint {
            weight_precision: precision("weight_precision", &row.weight_precision)?,
            kv_precision: precision("kv_precision", &row.kv_precision)?,
            model: row.model,
            gpu: row.gpu,
            tensor_parallel: row.tensor_parallel,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            concurrency: row.concurrency,
            metric,
            value: row.value,
            layout: Some(if row.layout.is_empty() {
                Layout::Tensor
            } else {
                Layout::parse(&row.layout).ok_or_else(|| {
                    Error::invalid(
                        format!("{field}.layout"),
                        format!("unknown layout {:?}: tp, tp_ep or dp_ep", row.layout),
                    )
                })?
            }),
            engine: if row.engine.is_empty() {
                engine_of(&row.source).to_string()
            } else {
                row.engine
            },
            source: row.id.split('-').next().unwrap_or_default().to_string(),
            id: row.id,
        });
    }
    Ok(points)
}

/// The summary JSON that vLLM's serving benchmark (`vllm bench serve`,
/// formerly `benchmark_serving.py`) writes with `--save-result`.
#[derive(Deserialize)]
struct VllmResult {
    completed: f64,
    total_input_tokens: f64,
    total_output_tokens: f64,
    output_throughput: f64,
    max_concurrency: Option<f64>,
}

/// Turns one vLLM benchmark result into a measured point. The JSON does not
/// say what hardware ran it, so the caller gives the model, GPU, precisions
/// and the GPUs the server used (`gpus`, a multiple of `tensor_parallel`
/// when data parallel replicas served together).
#[allow(clippy::too_many_arguments)]
pub fn parse_vllm_json(
    field: &str,
    json: &str,
    id: &str,
    model: &str,
    gpu: &str,
    weights: Precision,
    kv: Precision,
    tensor_parallel: u32,
    gpus: u32,
) -> Result<MeasuredPoint> {
    let result: VllmResult = serde_json::from_str(json)
        .map_err(|e| Error::invalid(field, format!("not a vLLM benchmark result: {e}")))?;
    let mut violations = Vec::new();
    if result.completed.is_nan() || result.completed < 1.0 {
        violations.push(FieldViolation::new(field, "reports no completed requests"));
    }
    if !(result.output_throughput > 0.0 && result.output_throughput.is_finite()) {
        violations.push(FieldViolation::new(
            field,
            "output_throughput must be positive",
        ));
    }
    let gpus = gpus.max(tensor_parallel).max(1);
    if !gpus.is_multiple_of(tensor_parallel.max(1)) {
        violations.push(FieldViolation::new(
            field.replace(".json", ".gpus"),
            format!("{gpus} GPUs do not divide into replicas of {tensor_parallel}"),
        ));
    }
    if !violations.is_empty() {
        return Err(Error::InvalidArgument(violations));
    }
    let replicas = f64::from(gpus / tensor_parallel.max(1)).max(1.0);
    Ok(MeasuredPoint {
        id: id.to_string(),
        model: model.to_string(),
        gpu: gpu.to_string(),
        weight_precision: weights,
        kv_precision: kv,
        tensor_parallel,
        input_tokens: (result.total_input_tokens / result.completed)
            .round()
            .max(1.0) as u32,
        output_tokens: (result.total_output_tokens / result.completed)
            .round()
            .max(1.0) as u32,
        concurrency: result
            .max_concurrency
            .map(|c| (c / replicas).round().max(1.0) as u32)
            .unwrap_or(0),
        metric: Metric::OutputTokensPerSecondPerGpu,
        value: result.output_throughput / f64::from(gpus),
        source: String::new(),
        engine: "vllm".into(),
        layout: None,
    })
}
