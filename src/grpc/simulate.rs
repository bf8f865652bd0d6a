//! RunSimulation and StreamSimulation: the Monte Carlo engine behind a
//! bounded number of concurrent runs, stopped when the caller goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::pb;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::montecarlo::{self, Distribution, Outcome, Settings, Stochastic};
use crate::tco::{self, Basis};

/// Shared by the simulation handlers: which runs may start.
#[derive(Debug)]
pub struct SimulationSlots {
    semaphore: Arc<Semaphore>,
    max: usize,
}

impl SimulationSlots {
    pub fn new(max: usize) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    pub(super) fn acquire(&self) -> Result<OwnedSemaphorePermit> {
        Arc::clone(&self.semaphore)
            .try_acquire_owned()
            .map_err(|_| {
                Error::ResourceExhausted(format!(
                    "{} simulations are running already; retry when one finishes",
                    self.max
                ))
            })
    }
}

/// Simulations computing in this process and the main paths they have
/// finished, for the metrics endpoint. Process-wide rather than per server
/// because every simulation (RunSimulation, StreamSimulation, kept runs,
/// job items) is computed by this module while only some callers hold
/// [`SimulationSlots`].
static RUNNING: AtomicU64 = AtomicU64::new(0);
static PATHS_DONE: AtomicU64 = AtomicU64::new(0);

/// Simulations computing now.
pub fn simulations_running() -> u64 {
    RUNNING.load(Ordering::Relaxed)
}

/// Main paths simulated since the process started (tornado paths aside).
pub fn simulation_paths() -> u64 {
    PATHS_DONE.load(Ordering::Relaxed)
}

/// Counts one simulation as running while alive, and the paths its
/// progress reports say are done.
struct Tally {
    seen: u64,
}

impl Tally {
    fn start() -> Self {
        RUNNING.fetch_add(1, Ordering::Relaxed);
        Self { seen: 0 }
    }

    fn progress(&mut self, p: &montecarlo::Progress) {
        PATHS_DONE.fetch_add(p.paths_done.saturating_sub(self.seen), Ordering::Relaxed);
        self.seen = self.seen.max(p.paths_done);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Sets the flag when dropped: a handler future dropped because the client
/// cancelled or its deadline passed stops the rayon workers.
pub(super) struct CancelOnDrop(pub(super) Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A validated simulation request.
pub struct Request {
    plan: tco::Plan,
    stochastic: Stochastic,
    settings: Settings,
    /// Saltelli rows of the Sobol indices; 0 for none.
    sobol_rows: usize,
    /// Set when the run is spread across replicas.
    split: Option<Split>,
}

/// How a request runs across replicas: its inputs as every replica reads
/// them, and the request they make, which the parts are merged with.
pub struct Split {
    pub splitter: Arc<crate::engine::Splitter>,
    pub inputs: Vec<u8>,
    pub from_inputs: Box<Request>,
}

impl Request {
    /// Paths × months, for [`crate::engine::Splitter::wants`].
    pub fn size(&self) -> (u64, usize) {
        (self.settings.paths, self.plan.horizon)
    }

    /// Runs this request across replicas, as `split` says.
    pub fn split(&mut self, split: Split) {
        self.split = Some(split);
    }
}

/// Computes a slice of the simulation `request` describes (built from a
/// split run's inputs), as the bytes of its part.
pub fn slice(
    request: &Request,
    first_chunk: u64,
    chunks: u64,
    cancel: &AtomicBool,
) -> Result<Vec<u8>> {
    let mut tally = Tally::start();
    let part = montecarlo::split::run_slice(
        &request.plan,
        &request.stochastic,
        &request.settings,
        first_chunk,
        chunks,
        cancel,
    )?;
    let paths = ((first_chunk + chunks) * montecarlo::CHUNK).min(request.settings.paths)
        - (first_chunk * montecarlo::CHUNK).min(request.settings.paths);
    tally.progress(&montecarlo::Progress {
        paths_done: paths,
        paths_total: request.settings.paths,
        estimate_paths: 0,
        mean_npv_savings: 0.0,
        p_self_host_cheaper: 0.0,
    });
    Ok(part.encode())
}

/// The outcome of `request`: here, or across replicas when it is split.
/// `progress` hears the running figures (of a split run: the paths done
/// as its slices finish).
fn simulate_request(
    request: &Request,
    cancel: &AtomicBool,
    mut progress: impl FnMut(montecarlo::Progress) + Send,
) -> Result<Outcome> {
    let Some(split) = &request.split else {
        return montecarlo::simulate(
            &request.plan,
            &request.stochastic,
            &request.settings,
            cancel,
            progress,
        );
    };
    let total = request.settings.paths;
    let parts = split
        .splitter
        .run_blocking(split.inputs.clone(), total, cancel, |done| {
            progress(montecarlo::Progress {
                paths_done: done,
                paths_total: total,
                estimate_paths: 0,
                mean_npv_savings: 0.0,
                p_self_host_cheaper: 0.0,
            })
        })?
        .iter()
        .map(|bytes| montecarlo::split::SlicePart::decode(bytes))
        .collect::<Result<Vec<_>>>()?;
    let own = &split.from_inputs;
    montecarlo::split::merge(&own.plan, &own.stochastic, &own.settings, parts, cancel)
}

/// Most Saltelli rows one request may ask for.
pub const MAX_SOBOL_ROWS: u64 = 50_000;

pub fn request(
    catalog: &Catalog,
    calibration: &crate::estimator::Calibration,
    req: &pb::RunSimulationRequest,
) -> Result<Request> {
    let scenario = super::simulation::scenario(req.scenario.as_ref())?;
    let plan = tco::plan(catalog, &scenario, calibration, "scenario.")?;
    let basis = match pb::CostBasis::try_from(req.basis) {
        Ok(pb::CostBasis::Cash) => Basis::Cash,
        Ok(_) => Basis::ProfitAndLoss,
        Err(_) => {
            return Err(Error::invalid(
                "basis",
                format!("{} is not a cost basis", req.basis),
            ));
        }
    };
    if req.tornado_paths > req.paths {
        return Err(Error::invalid("tornado_paths", "must not exceed paths"));
    }
    let stochastic = stochastic(req.stochastic.as_ref())?;
    if let Some(h) = req.hurdle_rate
        && !(h > -1.0 && h <= 100.0)
    {
        return Err(Error::invalid(
            "hurdle_rate",
            format!("must be above -1 and at most 100 (a year), got {h}"),
        ));
    }
    if req.payback_within_months == Some(0) {
        return Err(Error::invalid(
            "payback_within_months",
            "must be at least 1",
        ));
    }
    let finance = (req.hurdle_rate.is_some() || req.payback_within_months.is_some()).then(|| {
        montecarlo::FinanceQuestions {
            hurdle_rate: req.hurdle_rate.unwrap_or(plan.discount_rate),
            payback_months: req.payback_within_months.unwrap_or(plan.horizon as u32),
        }
    });
    let settings = Settings {
        paths: req.paths,
        seed: req.seed,
        antithetic: req.antithetic,
        basis,
        tornado_paths: req.tornado_paths,
        finance,
    };
    montecarlo::validate(&plan, &stochastic, &settings)?;
    if req.sobol_rows > MAX_SOBOL_ROWS {
        return Err(Error::invalid(
            "sobol_rows",
            format!("must be at most {MAX_SOBOL_ROWS}, got {}", req.sobol_rows),
        ));
    }
    if req.sobol_rows > 0 && stochastic.uncertain.is_empty() {
        return Err(Error::invalid(
            "sobol_rows",
            "needs at least one uncertain input (stochastic.uncertain) to attribute the variance to",
        ));
    }
    Ok(Request {
        plan,
        stochastic,
        settings,
        sobol_rows: req.sobol_rows as usize,
        split: None,
    })
}

/// Refuses a new simulation in which nothing is random, unless the request
/// allows it. Kept runs replay without this check: it guards what a caller
/// asks for, not what was computed before.
pub(super) fn require_random(req: &pb::RunSimulationRequest) -> Result<()> {
    stochastic(req.stochastic.as_ref())?.require_random(req.allow_deterministic)
}

/// Runs `request` here, on the calling thread (which must not be an async
/// worker), until done or until `cancel` is set; `progress` hears about
/// every 5%.
pub(super) fn compute(
    request: Request,
    cancel: &AtomicBool,
    catalog_version: String,
    progress: &mut (dyn FnMut(montecarlo::Progress) + Send),
) -> Result<pb::SimulationResult> {
    let dates = context(&request);
    let outcome = outcome(&request, cancel, progress)?;
    let sobol = sobol(&request);
    Ok(result(&outcome, sobol.as_ref(), catalog_version, &dates))
}

/// The Sobol indices the request asks for, if any.
pub(super) fn sobol(request: &Request) -> Option<montecarlo::sobol::Sensitivity> {
    montecarlo::sobol::of_plan(
        &request.plan,
        &request.stochastic,
        request.settings.basis,
        request.sobol_rows,
        request.settings.seed,
    )
}

/// The engine's outcome for `request`, on the calling thread.
pub(super) fn outcome(
    request: &Request,
    cancel: &AtomicBool,
    progress: &mut (dyn FnMut(montecarlo::Progress) + Send),
) -> Result<Outcome> {
    let mut tally = Tally::start();
    montecarlo::simulate(
        &request.plan,
        &request.stochastic,
        &request.settings,
        cancel,
        |p| {
            tally.progress(&p);
            progress(p);
        },
    )
}

/// Runs `request` on the blocking pool within a slot, with the Sobol
/// indices it asks for; `progress` may send updates and return false to
/// stop.
pub async fn run(
    slots: &SimulationSlots,
    request: Request,
    progress: impl FnMut(montecarlo::Progress) -> bool + Send + 'static,
) -> Result<(Outcome, Option<montecarlo::sobol::Sensitivity>)> {
    let permit = slots.acquire()?;
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(Arc::clone(&cancel));
    let flag = Arc::clone(&cancel);
    let mut progress = progress;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut tally = Tally::start();
        simulate_request(&request, &flag, |p| {
            tally.progress(&p);
            if !progress(p) {
                flag.store(true, Ordering::Relaxed);
            }
        })
        .map(|o| (o, sobol(&request)))
    })
    .await
    .map_err(|e| Error::Internal(format!("simulation worker failed: {e}")))?
}

/// A stream of progress events and then the result; dropping the stream
/// cancels the run.
pub fn stream(
    slots: &SimulationSlots,
    request: Request,
    catalog_version: String,
    dates: Context,
) -> Result<ReceiverStream<std::result::Result<pb::SimulationEvent, tonic::Status>>> {
    let permit = slots.acquire()?;
    let (tx, rx) = mpsc::channel(32);
    let cancel = Arc::new(AtomicBool::new(false));
    // The client hanging up drops the receiver: stop the work then, not at
    // the next progress report.
    // The watcher holds a sender, so it must also end when the run does, or
    // the stream would never close.
    let watcher = tx.clone();
    let flag = Arc::clone(&cancel);
    let (finished, run_over) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        // Also stop the run if this task is dropped unfinished, e.g. when
        // the runtime shuts down.
        let _stop = CancelOnDrop(Arc::clone(&flag));
        tokio::select! {
            () = watcher.closed() => flag.store(true, Ordering::Relaxed),
            _ = run_over => {}
        }
    });
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let progress_tx = tx.clone();
        let flag = Arc::clone(&cancel);
        let mut tally = Tally::start();
        let outcome = simulate_request(&request, &cancel, |p| {
            tally.progress(&p);
            let event = pb::SimulationEvent {
                event: Some(pb::simulation_event::Event::Progress(
                    pb::SimulationProgress {
                        paths_done: p.paths_done,
                        paths_total: p.paths_total,
                        mean_npv_savings: p.mean_npv_savings,
                        p_self_host_cheaper: p.p_self_host_cheaper,
                        estimate_paths: p.estimate_paths,
                    },
                )),
            };
            // The client went away: stop.
            if progress_tx.blocking_send(Ok(event)).is_err() {
                flag.store(true, Ordering::Relaxed);
            }
        });
        let last = match outcome {
            Ok(o) => Ok(pb::SimulationEvent {
                event: Some(pb::simulation_event::Event::Result(result(
                    &o,
                    sobol(&request).as_ref(),
                    catalog_version,
                    &dates,
                ))),
            }),
            Err(e) => Err(tonic::Status::from(e)),
        };
        let _ = tx.blocking_send(last);
        let _ = finished.send(());
    });
    Ok(ReceiverStream::new(rx))
}

fn percentiles(s: &montecarlo::Stats) -> pb::Percentiles {
    pb::Percentiles {
        p5: s.p5,
        p25: s.p25,
        p50: s.p50,
        p75: s.p75,
        p95: s.p95,
        mean: s.mean,
        std_error: s.std_error,
        min: s.min,
        max: s.max,
    }
}

/// The protobuf result; `dates` holds the first day of each month.
pub fn result(
    o: &Outcome,
    sobol: Option<&montecarlo::sobol::Sensitivity>,
    catalog_version: String,
    context: &Context,
) -> pb::SimulationResult {
    let dates = &context.dates;
    pb::SimulationResult {
        paths: o.paths,
        seed: o.seed,
        antithetic: o.antithetic,
        engine_version: o.engine_version.to_string(),
        catalog_version,
        months: o
            .months
            .iter()
            .map(|m| pb::SimulationMonth {
                month: m.t,
                date: dates.get(m.t as usize - 1).cloned().unwrap_or_default(),
                api: Some(percentiles(&m.api)),
                self_host: Some(percentiles(&m.self_host)),
                cumulative_api: Some(percentiles(&m.cumulative_api)),
                cumulative_self_host: Some(percentiles(&m.cumulative_self_host)),
                cumulative_savings: Some(percentiles(&m.cumulative_savings)),
                mean_utilization: m.mean_utilization,
                p_break_even_by: m.p_break_even_by,
                p_break_even_by_se: m.p_break_even_by_se,
            })
            .collect(),
        p_no_break_even: o.p_no_break_even,
        p_self_host_cheaper: o.p_self_host_cheaper,
        npv_savings: Some(percentiles(&o.npv_savings)),
        var_95: o.var_95,
        cvar_95: o.cvar_95,
        tornado: o
            .tornado
            .iter()
            .map(|b| pb::TornadoBar {
                input: b.input.clone(),
                low_value: b.low_value,
                high_value: b.high_value,
                npv_at_low: b.npv_at_low,
                npv_at_high: b.npv_at_high,
            })
            .collect(),
        rank_correlations: o
            .rank_correlations
            .iter()
            .map(|(input, rho)| pb::RankCorrelation {
                input: input.clone(),
                spearman: *rho,
            })
            .collect(),
        quantile_relative_error: o.quantile_relative_error,
        investment: o.finance.as_ref().map(|f| pb::InvestmentDistribution {
            hurdle_rate: f.hurdle_rate,
            payback_within_months: f.payback_months,
            irr: Some(percentiles(&f.irr)),
            p_no_irr: f.p_no_irr,
            p_irr_above_hurdle: f.p_irr_above_hurdle,
            p_payback_by: f.p_payback_by.clone(),
            p_payback_within: f.p_payback_within,
            p_no_payback: f.p_no_payback,
        }),
        assumptions: context.assumptions.clone(),
        warnings: context.warnings.clone(),
        sobol: sobol.map(sobol_indices).unwrap_or_default(),
        sobol_rows: sobol.map_or(0, |s| s.rows as u64),
    }
}

/// Sobol indices on the wire: every input for the NPV of savings, then
/// for the break-even month (an output that does not vary has none).
fn sobol_indices(s: &montecarlo::sobol::Sensitivity) -> Vec<pb::SobolIndex> {
    [
        ("npv_savings", &s.npv_savings),
        ("break_even_month", &s.break_even_month),
    ]
    .into_iter()
    .filter_map(|(output, indices)| indices.as_ref().map(|i| (output, i)))
    .flat_map(|(output, indices)| {
        s.inputs
            .iter()
            .zip(indices)
            .map(move |(input, i)| pb::SobolIndex {
                input: input.clone(),
                output: output.into(),
                first_order: i.first,
                first_order_low: i.first_low,
                first_order_high: i.first_high,
                total: i.total,
                total_low: i.total_low,
                total_high: i.total_high,
            })
    })
    .collect()
}

/// What a result carries from the request's plan besides the engine's
/// figures.
pub struct Context {
    /// First day of each month of the scenario.
    dates: Vec<String>,
    assumptions: Vec<pb::Assumption>,
    warnings: Vec<String>,
}

/// The request's dates, assumptions and warnings.
pub fn context(request: &Request) -> Context {
    Context {
        dates: (1..=request.plan.horizon as u32)
            .map(|t| {
                tco::project::month_date(&request.plan, t)
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .collect(),
        assumptions: super::simulation::assumptions_pb(&request.plan),
        warnings: request.plan.warnings.clone(),
    }
}

fn distribution(field: &str, d: Option<&pb::DistributionSpec>) -> Result<Distribution> {
    use pb::distribution_spec::Kind;
    let kind = d
        .and_then(|d| d.kind.as_ref())
        .ok_or_else(|| Error::invalid(field, "a distribution is required"))?;
    Ok(match kind {
        Kind::Fixed(v) => Distribution::Fixed(*v),
        Kind::Uniform(u) => Distribution::Uniform {
            min: u.min,
            max: u.max,
        },
        Kind::Triangular(m) => Distribution::Triangular {
            min: m.min,
            mode: m.mode,
            max: m.max,
        },
        Kind::Pert(m) => Distribution::Pert {
            min: m.min,
            mode: m.mode,
            max: m.max,
        },
        Kind::Normal(m) => Distribution::Normal {
            mean: m.mean,
            sd: m.sd,
            min: m.min.unwrap_or(f64::NEG_INFINITY),
            max: m.max.unwrap_or(f64::INFINITY),
        },
        Kind::Lognormal(m) => Distribution::Lognormal {
            mean: m.mean,
            sd: m.sd,
            min: m.min.unwrap_or(0.0),
            max: m.max.unwrap_or(f64::INFINITY),
        },
    })
}

fn stochastic(s: Option<&pb::StochasticInputs>) -> Result<Stochastic> {
    use montecarlo::{ApiPriceProcess, DemandProcess, GpuPriceProcess, Walk};
    let Some(s) = s else {
        return Ok(Stochastic::default());
    };
    let walk = |w: &pb::WalkSpec| Walk {
        annual_drift: w.annual_drift,
        volatility: w.volatility,
    };
    Ok(Stochastic {
        demand: match &s.demand {
            Some(pb::stochastic_inputs::Demand::DemandGbm(g)) => Some(DemandProcess::Gbm {
                volatility: g.volatility,
            }),
            Some(pb::stochastic_inputs::Demand::DemandLogistic(l)) => {
                Some(DemandProcess::Logistic {
                    ceiling: distribution(
                        "stochastic.demand_logistic.ceiling",
                        l.ceiling.as_ref(),
                    )?,
                    volatility: l.volatility,
                })
            }
            None => None,
        },
        api_price: match &s.api_price {
            Some(pb::stochastic_inputs::ApiPrice::SameProduct(p)) => {
                Some(ApiPriceProcess::SameProduct {
                    annual_drift: p.annual_drift,
                    cuts_per_year: p.cuts_per_year,
                    cut_size: distribution(
                        "stochastic.same_product.cut_size",
                        p.cut_size.as_ref(),
                    )?,
                })
            }
            Some(pb::stochastic_inputs::ApiPrice::ConstantCapability(p)) => {
                Some(ApiPriceProcess::ConstantCapability {
                    annual_factor: p.annual_factor,
                    volatility: p.volatility,
                })
            }
            None => None,
        },
        gpu_price: s.gpu_price.as_ref().map(|g| GpuPriceProcess {
            annual_decline: g.annual_decline,
            volatility: g.volatility,
            reversion_per_year: g.reversion_per_year,
        }),
        power_price: s.power_price.as_ref().map(walk),
        throughput: s.throughput.as_ref().map(walk),
        annual_failure_rate: s.annual_failure_rate,
        uncertain: s
            .uncertain
            .iter()
            .enumerate()
            .map(|(i, u)| {
                Ok((
                    u.input.clone(),
                    distribution(
                        &format!("stochastic.uncertain[{i}].distribution"),
                        u.distribution.as_ref(),
                    )?,
                ))
            })
            .collect::<Result<_>>()?,
        correlation: s.correlation.clone(),
    })
}
