//! The TCO model: month by month, what the API costs against what serving
//! the open model costs on rented or owned GPUs, and when the switch pays.
//!
//! [`scenario`] holds the inputs and their validation; [`plan`] resolves a
//! scenario once (catalogue prices by date, the throughput estimate);
//! [`project`] runs the monthly arithmetic over a path of multipliers, and
//! [`batch`] the same arithmetic over many paths side by side, which is
//! what the Monte Carlo engine repeats; [`breakeven`] answers volume and
//! sensitivity questions on top, and [`finance`] reads the months as an
//! investment (IRR, payback, ROI); [`load_shape`] spreads a day over its
//! hours for fixed fleets. No I/O, no gRPC.

pub mod batch;
pub mod breakeven;
pub mod compare;
pub mod examples;
pub mod finance;
pub mod load_shape;
pub mod map;
pub mod plan;
pub mod project;
pub mod scenario;

pub use batch::{Batch, InputRows, LANES, Row};
pub use breakeven::{Adjust, BreakEvenVolume, Sensitivity, sensitivities};
pub use plan::{Plan, plan};
pub use project::{Basis, Bridge, Month, PathInputs, Summary, summarize, summarize_break_even};
pub use scenario::Scenario;

use crate::catalog::Catalog;
use crate::error::Result;
use crate::estimator::Calibration;

/// A deterministic projection: every month and the summary.
#[derive(Debug, Clone)]
pub struct Projection {
    pub plan: Plan,
    pub months: Vec<Month>,
    pub summary: Summary,
    pub break_even_volume: BreakEvenVolume,
}

/// Projects `scenario` month by month.
pub fn project(
    catalog: &Catalog,
    scenario: &Scenario,
    calibration: &Calibration,
    basis: Basis,
) -> Result<Projection> {
    let plan = plan::plan(catalog, scenario, calibration, "scenario.")?;
    let mut months = Vec::with_capacity(plan.horizon);
    plan.run(&PathInputs::default(), &mut months);
    let summary = summarize(&plan, &months, basis);
    let break_even_volume = plan.break_even_volume(Adjust::default());
    Ok(Projection {
        plan,
        months,
        summary,
        break_even_volume,
    })
}

#[cfg(test)]
mod tests;
