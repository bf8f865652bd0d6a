//! Accuracy of the throughput estimator against public serving measurements
//! (MLPerf Inference results and TensorRT-LLM's performance tables), and what
//! calibration buys on measurements it was not fitted to.

use breakeven::catalog::Catalog;
use breakeven::estimator::Tuning;
use breakeven::estimator::calibrate::{self, MeasuredPoint, Metric};

const MEASUREMENTS: &str = include_str!("data/measured_throughput.csv");

/// Largest median absolute error the uncalibrated estimator may show on
/// throughput per GPU.
const DEFAULT_MDAPE_LIMIT: f64 = 0.25;

/// Points the estimator may decline (configurations it cannot model).
const MAX_SKIPPED: usize = 2;

/// The bounds `calibrate::fit` keeps its parameters within.
const BANDWIDTH_SCALE: (f64, f64) = (0.2, 2.0);
const COMPUTE_SCALE: (f64, f64) = (0.2, 3.0);
const ALLREDUCE_LATENCY_S: (f64, f64) = (1e-6, 200e-6);

fn catalog() -> Catalog {
    Catalog::embedded().expect("built-in catalogue loads")
}

/// The throughput-per-GPU rows of the measurement table.
fn throughput_points() -> Vec<MeasuredPoint> {
    calibrate::parse_csv(MEASUREMENTS)
        .expect("measurement table parses")
        .into_iter()
        .filter(|p| p.metric == Metric::OutputTokensPerSecondPerGpu)
        .collect()
}

/// The points the estimator can predict with the defaults, and how many it
/// declined.
fn predictable(catalog: &Catalog, points: Vec<MeasuredPoint>) -> (Vec<MeasuredPoint>, usize) {
    let total = points.len();
    let kept: Vec<_> = points
        .into_iter()
        .filter(|p| calibrate::predict(catalog, p, &Tuning::default()).is_ok())
        .collect();
    let skipped = total - kept.len();
    (kept, skipped)
}

fn mdape(catalog: &Catalog, points: &[MeasuredPoint], tuning: &Tuning) -> f64 {
    let errors = calibrate::relative_errors(catalog, points, tuning).expect("points predict");
    calibrate::median_abs(&errors)
}

#[test]
fn the_uncalibrated_estimator_is_within_25_percent_on_median() {
    let catalog = catalog();
    let all = throughput_points();
    assert!(all.len() >= 40, "only {} throughput rows", all.len());
    let (points, skipped) = predictable(&catalog, all);
    assert!(
        skipped <= MAX_SKIPPED,
        "{skipped} points could not be predicted"
    );
    let error = mdape(&catalog, &points, &Tuning::default());
    eprintln!(
        "default MdAPE over {} points: {:.1}%",
        points.len(),
        error * 100.0
    );
    assert!(error.is_finite() && error > 0.0, "{error}");
    assert!(
        error <= DEFAULT_MDAPE_LIMIT,
        "median absolute error {:.1}% exceeds {:.0}%\n{}",
        error * 100.0,
        DEFAULT_MDAPE_LIMIT * 100.0,
        calibrate::accuracy_table(&catalog, &points)
    );
}

fn assert_within_bounds(tuning: &Tuning) {
    for (name, value, (lo, hi)) in [
        ("bandwidth_scale", tuning.bandwidth_scale, BANDWIDTH_SCALE),
        ("compute_scale", tuning.compute_scale, COMPUTE_SCALE),
        (
            "allreduce_latency_s",
            tuning.allreduce_latency_s,
            ALLREDUCE_LATENCY_S,
        ),
    ] {
        assert!(value.is_finite(), "{name} = {value}");
        // The fit clamps in log space; allow for the rounding of exp(ln x).
        assert!(
            value >= lo * (1.0 - 1e-12) && value <= hi * (1.0 + 1e-12),
            "{name} = {value} outside [{lo}, {hi}]"
        );
    }
}

#[test]
fn a_fit_to_every_point_stays_within_its_bounds() {
    let catalog = catalog();
    let (points, _) = predictable(&catalog, throughput_points());
    let report = calibrate::fit(&catalog, "public", &points).expect("fit succeeds");
    eprintln!(
        "fit to all {} points: {:.1}% -> {:.1}%",
        points.len(),
        report.error_before * 100.0,
        report.error_after * 100.0
    );
    assert_within_bounds(&report.calibration.tuning);
    assert_eq!(report.residuals.len(), points.len());
    assert_eq!(report.calibration.points, points.len());
    assert_eq!(report.calibration.expected_error, report.error_after);
    assert!(report.residuals.iter().all(|r| r.is_finite() && *r > -1.0));
    // The defaults are centred on these points, so the fit may find nothing
    // better; it never keeps a calibration that is worse.
    assert!(
        report.error_after <= report.error_before,
        "{} -> {}",
        report.error_before,
        report.error_after
    );
}

/// The published figures as a stack a quarter slower would measure them:
/// what a user whose engine, drivers or clocks differ from the published
/// runs calibrates against.
fn slower_stack(points: &[MeasuredPoint]) -> Vec<MeasuredPoint> {
    points
        .iter()
        .map(|p| MeasuredPoint {
            value: p.value * 0.75,
            ..p.clone()
        })
        .collect()
}

#[test]
fn a_fit_to_a_slower_stack_lowers_its_error() {
    let catalog = catalog();
    let (points, _) = predictable(&catalog, throughput_points());
    let report = calibrate::fit(&catalog, "slower", &slower_stack(&points)).expect("fit succeeds");
    assert_within_bounds(&report.calibration.tuning);
    assert!(
        report.error_after < report.error_before,
        "{} -> {}",
        report.error_before,
        report.error_after
    );
}

/// Leave-one-out on a stack slower than the published runs: each point is
/// predicted by a calibration fitted to all the others, so every error is
/// measured on a point the fit never saw.
#[test]
fn calibration_lowers_the_error_on_points_it_was_not_fitted_to() {
    let catalog = catalog();
    let (points, _) = predictable(&catalog, throughput_points());
    let points = slower_stack(&points);
    let mut before = Vec::new();
    let mut after = Vec::new();
    for (k, held_out) in points.iter().enumerate() {
        let rest: Vec<_> = points
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != k)
            .map(|(_, p)| p.clone())
            .collect();
        let report = calibrate::fit(&catalog, "held-out", &rest).expect("fit succeeds");
        let tuning = report.calibration.tuning;
        assert_within_bounds(&tuning);
        let held_out = std::slice::from_ref(held_out);
        before.extend(calibrate::relative_errors(&catalog, held_out, &Tuning::default()).unwrap());
        after.extend(calibrate::relative_errors(&catalog, held_out, &tuning).unwrap());
    }
    let (before, after) = (
        calibrate::median_abs(&before),
        calibrate::median_abs(&after),
    );
    eprintln!(
        "held-out MdAPE over {} points: {:.1}% with the defaults, {:.1}% calibrated",
        points.len(),
        before * 100.0,
        after * 100.0
    );
    assert!(
        after < before,
        "held-out error {:.1}% calibrated, {:.1}% with the defaults",
        after * 100.0,
        before * 100.0
    );
}

/// The 2026 table of fine-grained MoE, FP4, Blackwell and AMD rows: every
/// row is one the estimator can predict, in its published layout.
fn rows_2026() -> Vec<MeasuredPoint> {
    calibrate::parse_csv(calibrate::PUBLIC_MEASUREMENTS_2026).expect("2026 table parses")
}

#[test]
fn every_2026_row_is_predicted_in_its_published_layout() {
    let catalog = catalog();
    let rows = rows_2026();
    assert!(rows.len() >= 60, "only {} rows", rows.len());
    for p in &rows {
        assert!(p.layout.is_some(), "{} has no layout", p.id);
        calibrate::predict(&catalog, p, &Tuning::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.id));
    }
    let moe = rows
        .iter()
        .filter(|p| catalog.model(&p.model).unwrap().moe.is_some())
        .map(|p| p.model.as_str())
        .collect::<std::collections::BTreeSet<_>>();
    assert!(moe.len() >= 5, "MoE models: {moe:?}");
}

/// Published MoE measurements in three layouts and on three GPU families
/// that the uncalibrated estimate now falls within a quarter of.
#[test]
fn moe_estimates_fall_within_a_quarter_of_published_rows() {
    let catalog = catalog();
    let rows = rows_2026();
    for id in [
        // gpt-oss-120b FP4, data-parallel attention over 2 B200s.
        "trtllm-perf-b200-gpt-oss-120b-fp4-dep2-1024-1024",
        // DeepSeek-R1 FP8 on 8 H200s, attention DP with EP8.
        "trtllm-dsr1guide-h200-deepseek-r1-fp8-tp8ep8-1024-2048",
        // DeepSeek-R1 FP4 on 8 B200s with a 16-bit KV cache.
        "trtllm-dsr1guide-b200-deepseek-r1-fp4-kvbf16-tp8ep8-1024-2048",
        // DeepSeek-V3.2 FP4, tensor parallel over 2 GB300s, vLLM.
        "vllm-blog-gb300-deepseek-v3.2-fp4-tp2-2048-1024",
    ] {
        let p = rows
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no row {id}"));
        let predicted = calibrate::predict(&catalog, p, &Tuning::default()).unwrap();
        let error = predicted / p.value - 1.0;
        assert!(
            error.abs() <= 0.25,
            "{id}: predicted {predicted:.0} against {} measured ({:+.1}%)",
            p.value,
            error * 100.0
        );
    }
}
