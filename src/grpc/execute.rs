//! Running a scenario so that the run can be kept and reproduced: resolve
//! the inputs (scenario, options, the catalogue files and calibration it
//! needs), then compute the outputs from those inputs alone.
//!
//! [`compute`] never reads the live catalogue: it rebuilds one from the
//! files the inputs carry, so recomputing a kept run gives the same bytes
//! after the data files change. Used by RunService and by the job runner.

use std::sync::atomic::AtomicBool;

use super::pb;
use super::simulate;
use super::simulation::{basis, break_even_response, projection_response, scenario};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::estimator::{Calibration, Tuning, calibrate::Calibrations};
use crate::tco;

/// What a run computes, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Projection,
    BreakEven,
    Simulation,
}

impl Kind {
    pub fn from_pb(value: i32, field: &str) -> Result<Kind> {
        match pb::RunKind::try_from(value) {
            Ok(pb::RunKind::Projection) => Ok(Kind::Projection),
            Ok(pb::RunKind::BreakEven) => Ok(Kind::BreakEven),
            Ok(pb::RunKind::Simulation) => Ok(Kind::Simulation),
            _ => Err(Error::invalid(
                field,
                "must be RUN_KIND_PROJECTION, RUN_KIND_BREAK_EVEN or RUN_KIND_SIMULATION",
            )),
        }
    }

    /// The name the store keeps.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Projection => "projection",
            Kind::BreakEven => "break_even",
            Kind::Simulation => "simulation",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Projection, Kind::BreakEven, Kind::Simulation]
            .into_iter()
            .find(|k| k.name() == name)
    }

    pub fn to_pb(self) -> pb::RunKind {
        match self {
            Kind::Projection => pb::RunKind::Projection,
            Kind::BreakEven => pb::RunKind::BreakEven,
            Kind::Simulation => pb::RunKind::Simulation,
        }
    }
}

/// Checks the options on their own; `prefix` names their field
/// ("options.").
pub fn check_options(options: Option<&pb::RunOptions>, prefix: &str) -> Result<Kind> {
    let options =
        options.ok_or_else(|| Error::invalid(prefix.trim_end_matches('.'), "is required"))?;
    let kind = Kind::from_pb(options.kind, &format!("{prefix}kind"))?;
    basis(options.basis).map_err(|_| {
        Error::invalid(
            format!("{prefix}basis"),
            format!("{} is not a cost basis", options.basis),
        )
    })?;
    if kind == Kind::Simulation && options.simulation.is_none() {
        return Err(Error::invalid(
            format!("{prefix}simulation"),
            "is required for RUN_KIND_SIMULATION",
        ));
    }
    Ok(kind)
}

/// Checks the options of a new run, as [`check_options`] does, and
/// refuses a simulation in which nothing is random unless it allows one.
/// Kept runs replay without the second check: it guards what a caller asks
/// for, not what was computed before.
pub fn check_new_options(options: &pb::RunOptions, prefix: &str) -> Result<Kind> {
    let kind = check_options(Some(options), prefix)?;
    if kind == Kind::Simulation {
        simulate::require_random(options.simulation.as_ref().unwrap_or(&Default::default()))?;
    }
    Ok(kind)
}

/// Resolves a scenario and options against the live catalogue into the
/// inputs a run keeps, checking everything [`compute`] will need.
pub fn prepare(
    catalog: &Catalog,
    calibrations: &Calibrations,
    scenario_pb: pb::Scenario,
    options: pb::RunOptions,
) -> Result<pb::RunInputs> {
    check_new_options(&options, "options.")?;
    let domain = scenario(Some(&scenario_pb))?;
    domain.validate(catalog, "scenario.")?;
    let calibration = calibrations.get(&domain.self_host.calibration)?;
    let files = catalog.snapshot(
        &domain.self_host.gpu,
        &domain.self_host.model,
        &[domain.api.price_id.as_str()],
    )?;
    Ok(pb::RunInputs {
        scenario: Some(scenario_pb),
        options: Some(options),
        catalog_files: files
            .into_iter()
            .map(|(path, text)| pb::CatalogFile { path, text })
            .collect(),
        calibration: Some(pb::CalibrationUsed {
            name: calibration.name.clone(),
            bandwidth_scale: calibration.tuning.bandwidth_scale,
            compute_scale: calibration.tuning.compute_scale,
            allreduce_latency_seconds: calibration.tuning.allreduce_latency_s,
            expected_error: calibration.expected_error,
            points: calibration.points as u64,
        }),
    })
}

/// The catalogue a run's inputs carry, and its version.
pub fn catalog_of(inputs: &pb::RunInputs) -> Result<Catalog> {
    Catalog::from_files(
        inputs
            .catalog_files
            .iter()
            .map(|f| (f.path.clone(), f.text.clone())),
    )
    .map_err(|e| {
        Error::FailedPrecondition(format!(
            "the catalogue files kept with this run no longer load in this version: {e}"
        ))
    })
}

/// A kept run's results as domain values, recomputed from its inputs alone
/// (bit-identical to the stored outputs): what reports and charts draw.
#[derive(Debug)]
pub struct Recomputed {
    /// The catalogue the run's files make.
    pub catalog: Catalog,
    pub calibration: Calibration,
    pub basis: tco::Basis,
    pub projection: tco::Projection,
    /// The Monte Carlo outcome, for simulation runs.
    pub outcome: Option<crate::montecarlo::Outcome>,
    /// Its Sobol indices, where the run asked for them.
    pub sobol: Option<crate::montecarlo::sobol::Sensitivity>,
}

/// Recomputes a run from its inputs; a simulation runs again (as long as
/// it first took) unless `cancel` is set.
pub fn recompute(inputs: &pb::RunInputs, cancel: &AtomicBool) -> Result<Recomputed> {
    let catalog = catalog_of(inputs)?;
    let options = inputs
        .options
        .as_ref()
        .ok_or_else(|| Error::Internal("run inputs lack options".into()))?;
    let kind = check_options(Some(options), "options.")?;
    let basis = basis(options.basis)?;
    let calibration = calibration_of(inputs)?;
    let domain = scenario(inputs.scenario.as_ref())?;
    let projection = tco::project(&catalog, &domain, &calibration, basis)?;
    let (outcome, sobol) = match kind {
        Kind::Simulation => {
            let request = simulation_request(inputs, options, &catalog, &calibration)?;
            let outcome = simulate::outcome(&request, cancel, &mut |_| {})?;
            (Some(outcome), simulate::sobol(&request))
        }
        _ => (None, None),
    };
    Ok(Recomputed {
        catalog,
        calibration,
        basis,
        projection,
        outcome,
        sobol,
    })
}

/// The catalogue figures a kept run used, with their sources and dates:
/// the HTML report's listing, from the run's own files and its
/// deterministic projection alone (a simulation is not run again).
pub fn sources_of(inputs: &pb::RunInputs) -> Result<Vec<crate::report::Source>> {
    let catalog = catalog_of(inputs)?;
    let options = inputs
        .options
        .as_ref()
        .ok_or_else(|| Error::Internal("run inputs lack options".into()))?;
    let basis = basis(options.basis)?;
    let calibration = calibration_of(inputs)?;
    let domain = scenario(inputs.scenario.as_ref())?;
    let projection = tco::project(&catalog, &domain, &calibration, basis)?;
    Ok(crate::report::sources(&projection.plan, &catalog))
}

fn calibration_of(inputs: &pb::RunInputs) -> Result<Calibration> {
    let c = inputs
        .calibration
        .as_ref()
        .ok_or_else(|| Error::Internal("run inputs lack a calibration".into()))?;
    Ok(Calibration {
        name: c.name.clone(),
        tuning: Tuning {
            bandwidth_scale: c.bandwidth_scale,
            compute_scale: c.compute_scale,
            allreduce_latency_s: c.allreduce_latency_seconds,
        },
        expected_error: c.expected_error,
        points: c.points as usize,
    })
}

/// The simulation a run's inputs describe, resolved from those inputs
/// alone: what every replica computes a split run's slices from.
pub fn simulation_of(inputs: &pb::RunInputs) -> Result<simulate::Request> {
    let catalog = catalog_of(inputs)?;
    let options = inputs
        .options
        .as_ref()
        .ok_or_else(|| Error::Internal("run inputs lack options".into()))?;
    let calibration = calibration_of(inputs)?;
    simulation_request(inputs, options, &catalog, &calibration)
}

/// The simulation request a run's inputs describe, with its field errors
/// under `options.simulation.`.
fn simulation_request(
    inputs: &pb::RunInputs,
    options: &pb::RunOptions,
    catalog: &Catalog,
    calibration: &Calibration,
) -> Result<simulate::Request> {
    let request = pb::RunSimulationRequest {
        scenario: inputs.scenario.clone(),
        basis: options.basis,
        ..options.simulation.clone().unwrap_or_default()
    };
    simulate::request(catalog, calibration, &request).map_err(|e| match e {
        Error::InvalidArgument(v) => Error::InvalidArgument(
            v.into_iter()
                .map(|mut v| {
                    if !v.field.starts_with("scenario") {
                        v.field = format!("options.simulation.{}", v.field);
                    }
                    v
                })
                .collect(),
        ),
        other => other,
    })
}

/// Computes a run's outputs from its inputs alone. Blocks: call it on the
/// blocking pool. A simulation stops when `cancel` is set.
pub fn compute(inputs: &pb::RunInputs, cancel: &AtomicBool) -> Result<pb::RunOutput> {
    compute_watched(inputs, cancel, &mut |_| {})
}

/// [`compute`], telling `progress` how a simulation advances (about every
/// 5% of its paths); other kinds finish without a report.
pub fn compute_watched(
    inputs: &pb::RunInputs,
    cancel: &AtomicBool,
    progress: &mut (dyn FnMut(crate::montecarlo::Progress) + Send),
) -> Result<pb::RunOutput> {
    let catalog = catalog_of(inputs)?;
    let options = inputs
        .options
        .as_ref()
        .ok_or_else(|| Error::Internal("run inputs lack options".into()))?;
    let kind = check_options(Some(options), "options.")?;
    let basis = basis(options.basis)?;
    let calibration = calibration_of(inputs)?;
    let domain = scenario(inputs.scenario.as_ref())?;
    let projection = tco::project(&catalog, &domain, &calibration, basis)?;
    let mut output = pb::RunOutput {
        projection: Some(projection_response(&projection)),
        ..Default::default()
    };
    match kind {
        Kind::Projection => {}
        Kind::BreakEven => {
            output.break_even = Some(break_even_response(&projection.plan, basis));
        }
        Kind::Simulation => {
            let request = simulation_request(inputs, options, &catalog, &calibration)?;
            output.simulation = Some(simulate::compute(
                request,
                cancel,
                catalog.version(),
                progress,
            )?);
        }
    }
    Ok(output)
}

/// The headline figures of a run's outputs.
pub fn key_figures(output: &pb::RunOutput, basis_value: i32) -> pb::KeyFigures {
    let summary = output
        .projection
        .as_ref()
        .and_then(|p| p.summary.clone())
        .unwrap_or_default();
    let cash = matches!(basis(basis_value), Ok(tco::Basis::Cash));
    let total_self_host = if cash {
        summary.total_self_host_cash
    } else {
        summary.total_self_host_pnl
    };
    let simulation = output.simulation.as_ref();
    pb::KeyFigures {
        breaks_even: summary.breaks_even,
        break_even_month: summary.break_even_month,
        total_api: summary.total_api,
        total_self_host,
        savings: summary.total_api - total_self_host,
        npv_api: summary.npv_api,
        npv_self_host: summary.npv_self_host,
        p_self_host_cheaper: simulation.map_or(0.0, |s| s.p_self_host_cheaper),
        median_npv_savings: simulation
            .and_then(|s| s.npv_savings.as_ref())
            .map_or(0.0, |n| n.p50),
    }
}
