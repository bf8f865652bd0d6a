//! How far the estimator is from published measurements, by family: dense
//! or mixture-of-experts, precision, GPU vendor and generation, engine. A
//! better median overall can hide a family that got worse, so every change
//! to the estimator is judged on this table. Also the leave-one-source-out
//! error: calibrate on every publication but one and predict that one,
//! which is what a user with new hardware or a new engine faces.

use super::calibrate::{self, MeasuredPoint, median_abs};
use super::roofline::Tuning;
use crate::catalog::Catalog;

/// The error figures of one group of points.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupError {
    /// What groups the points (`all`, `model kind`, `precision`, `gpu`,
    /// `engine`).
    pub by: &'static str,
    /// The group (`moe`, `fp4`, `NVIDIA Blackwell`…).
    pub group: String,
    pub points: usize,
    /// Median of |predicted / measured − 1|.
    pub median_abs: f64,
    /// 90th percentile of the same.
    pub p90_abs: f64,
    /// Median of predicted / measured − 1: positive is optimistic.
    pub median_signed: f64,
}

/// A point's prediction with the defaults: its relative error, or why the
/// estimator declined it.
pub fn errors(catalog: &Catalog, points: &[MeasuredPoint]) -> Vec<Option<f64>> {
    points
        .iter()
        .map(|p| {
            calibrate::predict(catalog, p, &Tuning::default())
                .ok()
                .map(|predicted| predicted / p.value - 1.0)
        })
        .collect()
}

/// The groups a point belongs to, one per dimension.
fn groups(catalog: &Catalog, p: &MeasuredPoint) -> [(&'static str, String); 5] {
    let kind = match catalog.model(&p.model) {
        Ok(m) if m.moe.is_some() => "moe",
        Ok(_) => "dense",
        Err(_) => "unknown model",
    };
    let gpu = match catalog.gpu(&p.gpu) {
        Ok(g) => format!("{} {}", g.vendor, g.architecture),
        Err(_) => "unknown gpu".into(),
    };
    let engine = if p.engine.is_empty() {
        "not stated".to_string()
    } else {
        p.engine.clone()
    };
    [
        ("all", "all".to_string()),
        ("model kind", kind.to_string()),
        ("precision", p.weight_precision.name().to_string()),
        ("gpu", gpu),
        ("engine", engine),
    ]
}

/// The q-quantile (0–1) of sorted values, by the nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Signed median: the middle value, or the mean of the two middle ones.
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Error figures by family over the points the estimator predicts, in a
/// fixed order: dimension, then group name.
pub fn by_family(catalog: &Catalog, points: &[MeasuredPoint]) -> Vec<GroupError> {
    let errors = errors(catalog, points);
    let mut groups_of: std::collections::BTreeMap<(usize, &'static str, String), Vec<f64>> =
        Default::default();
    for (p, e) in points.iter().zip(&errors) {
        let Some(e) = e else { continue };
        for (rank, (by, group)) in groups(catalog, p).into_iter().enumerate() {
            groups_of.entry((rank, by, group)).or_default().push(*e);
        }
    }
    groups_of
        .into_iter()
        .map(|((_, by, group), errors)| {
            let mut abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
            abs.sort_by(f64::total_cmp);
            GroupError {
                by,
                group,
                points: errors.len(),
                median_abs: median_abs(&errors),
                p90_abs: quantile(&abs, 0.9),
                median_signed: median(&errors),
            }
        })
        .collect()
}

/// The error on one publication's points with the defaults, and with a
/// calibration fitted to every other publication's points.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    pub source: String,
    pub points: usize,
    pub default_median_abs: f64,
    pub calibrated_median_abs: f64,
}

/// Leave-one-source-out: for each publication, fit on the rest and predict
/// it. Points the estimator declines are left out of both sides.
pub fn leave_one_source_out(catalog: &Catalog, points: &[MeasuredPoint]) -> Vec<HeldOut> {
    let errors = errors(catalog, points);
    let usable: Vec<&MeasuredPoint> = points
        .iter()
        .zip(&errors)
        .filter_map(|(p, e)| e.map(|_| p))
        .collect();
    let mut sources: Vec<&str> = usable.iter().map(|p| p.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let mut out = Vec::new();
    for source in sources {
        let (held, rest): (Vec<MeasuredPoint>, Vec<MeasuredPoint>) = usable
            .iter()
            .map(|p| (*p).clone())
            .partition(|p| p.source == source);
        if rest.is_empty() {
            continue;
        }
        let Ok(fit) = calibrate::fit(catalog, "held-out", &rest) else {
            continue;
        };
        let (Ok(default), Ok(calibrated)) = (
            calibrate::relative_errors(catalog, &held, &Tuning::default()),
            calibrate::relative_errors(catalog, &held, &fit.calibration.tuning),
        ) else {
            continue;
        };
        out.push(HeldOut {
            source: source.to_string(),
            points: held.len(),
            default_median_abs: median_abs(&default),
            calibrated_median_abs: median_abs(&calibrated),
        });
    }
    out
}

/// The by-family table and the leave-one-source-out table as plain text,
/// for `breakeven accuracy`.
pub fn family_tables(catalog: &Catalog, points: &[MeasuredPoint]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<24} {:>6} {:>12} {:>12} {:>14}",
        "by", "group", "points", "median |err|", "P90 |err|", "median signed"
    );
    for g in by_family(catalog, points) {
        let _ = writeln!(
            out,
            "{:<12} {:<24} {:>6} {:>11.1}% {:>11.1}% {:>+13.1}%",
            g.by,
            g.group,
            g.points,
            g.median_abs * 100.0,
            g.p90_abs * 100.0,
            g.median_signed * 100.0
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<16} {:>6} {:>16} {:>28}",
        "held-out source", "points", "defaults |err|", "calibrated on the rest |err|"
    );
    for h in leave_one_source_out(catalog, points) {
        let _ = writeln!(
            out,
            "{:<16} {:>6} {:>15.1}% {:>27.1}%",
            h.source,
            h.points,
            h.default_median_abs * 100.0,
            h.calibrated_median_abs * 100.0
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Precision;
    use crate::estimator::Metric;

    fn point(id: &str, model: &str, gpu: &str, value: f64) -> MeasuredPoint {
        MeasuredPoint {
            id: id.into(),
            model: model.into(),
            gpu: gpu.into(),
            weight_precision: Precision::Fp8,
            kv_precision: Precision::Fp8,
            tensor_parallel: 8,
            input_tokens: 1000,
            output_tokens: 1000,
            concurrency: 256,
            metric: Metric::OutputTokensPerSecondPerGpu,
            value,
            source: id.split('-').next().unwrap().into(),
            engine: "vllm".into(),
            layout: None,
        }
    }

    #[test]
    fn quantiles_and_medians_by_hand() {
        let v = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
        assert_eq!(quantile(&v, 0.9), 0.9);
        assert_eq!(quantile(&v, 1.0), 1.0);
        assert_eq!(quantile(&v[..1], 0.9), 0.1);
        assert_eq!(median(&[-0.5, 0.1, 0.3]), 0.1);
        assert_eq!(median(&[-0.5, 0.1]), -0.2);
    }

    /// Points measured at exactly what the estimator predicts have no
    /// error; one measured at half of it is 100% optimistic, and only its
    /// families show it.
    #[test]
    fn families_show_where_the_error_is() {
        let catalog = Catalog::embedded().unwrap();
        let mut points = vec![
            point("a-dense", "llama-3.1-70b", "h100-sxm", 1.0),
            point("b-moe", "deepseek-v3", "h200", 1.0),
        ];
        for p in &mut points {
            p.value = calibrate::predict(&catalog, p, &Tuning::default()).unwrap();
        }
        points[1].value /= 2.0;
        let table = by_family(&catalog, &points);
        let find = |by: &str, group: &str| {
            table
                .iter()
                .find(|g| g.by == by && g.group == group)
                .unwrap_or_else(|| panic!("no {by} {group} in {table:?}"))
                .clone()
        };
        let dense = find("model kind", "dense");
        assert_eq!((dense.points, dense.median_abs), (1, 0.0));
        let moe = find("model kind", "moe");
        assert!((moe.median_signed - 1.0).abs() < 1e-12, "{moe:?}");
        assert!((moe.p90_abs - 1.0).abs() < 1e-12, "{moe:?}");
        assert_eq!(find("gpu", "NVIDIA Hopper").points, 2);
        assert_eq!(find("all", "all").points, 2);
        assert_eq!(find("engine", "vllm").points, 2);
    }

    #[test]
    fn every_source_is_held_out_once() {
        let catalog = Catalog::embedded().unwrap();
        let points = calibrate::parse_csv(calibrate::PUBLIC_MEASUREMENTS).unwrap();
        let held = leave_one_source_out(&catalog, &points);
        let mut sources: Vec<&str> = held.iter().map(|h| h.source.as_str()).collect();
        sources.dedup();
        assert_eq!(sources, ["gptfast", "mlperf41", "mlperf50", "trtllm09"]);
        for h in &held {
            assert!(h.points > 0 && h.calibrated_median_abs.is_finite(), "{h:?}");
        }
    }
}
