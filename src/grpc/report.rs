//! A kept run's HTML report, recomputed from the inputs kept with it
//! (scenario, options, catalogue files, calibration): the same code on the
//! same inputs gives the same numbers bit for bit; a simulation run takes
//! as long again as it first did. Used by the `report` command and the
//! browser view.
//!
//! The concurrency sweep is drawn from the same catalogue files. The
//! scaling curve compares every model, which a run does not keep, so it
//! comes from the catalogue built into this binary (or, for a GPU that is
//! not in it, the run's files).

use std::sync::atomic::AtomicBool;

use super::pb;
use crate::error::{Error, Result};
use crate::report::{Report, Sweep};
use crate::{estimator, tco};

/// The report of a kept run, recomputed from its stored inputs. Blocks
/// for as long as the run took: call it off the async workers.
pub fn report_of(run: &pb::Run) -> Result<Report> {
    let inputs = run
        .inputs
        .as_ref()
        .ok_or_else(|| Error::Internal(format!("run {} came without its inputs", run.id)))?;
    let r = super::recompute(inputs, &AtomicBool::new(false))?;
    let plan = &r.projection.plan;
    let mut report = Report::new(&r.projection, &r.catalog);
    report.sensitivities = tco::sensitivities(plan, r.basis);
    report.outcome = r.outcome;
    report.sobol = r.sobol;
    report.generated = run.create_time.clone();
    report.catalog_version = run.catalog_version.clone();
    // The sweep and the curve are extras: a configuration they cannot
    // draw leaves them out rather than failing the page.
    if let Ok((points, best)) = estimator::sweep(&r.catalog, &plan.query, &r.calibration) {
        report.sweep = Some(Sweep { points, best });
    }
    let built_in = crate::catalog::Catalog::embedded().ok();
    let models = built_in
        .as_ref()
        .filter(|c| c.gpu(&plan.query.gpu).is_ok())
        .unwrap_or(&r.catalog);
    report.scaling = estimator::scaling_curve(
        models,
        &plan.query.gpu,
        plan.query.weight_precision,
        plan.query.kv_precision,
        plan.query.workload,
        plan.query.targets,
        &r.calibration,
    )
    .unwrap_or_default();
    Ok(report)
}
