//! The HTML report: one self-contained page — inline CSS, charts as inline
//! SVG, no scripts, no fonts or images fetched — that can be mailed,
//! archived or opened offline.
//!
//! The markup is also well-formed XML (void elements closed), so that
//! the page can be checked, or transformed, with an XML parser.
//!
//! Every piece of text from the inputs (scenario names, catalogue sources
//! and notes, model ids) goes through [`escape`]; the charts are SVG that
//! plotters writes with its own escaping.

use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::catalog::{Catalog, Provenance, UsdFigure};
use crate::error::Error;
use crate::estimator::{Estimate, ScalingPoint};
use crate::montecarlo::Outcome;
use crate::tco::finance::Irr;
use crate::tco::plan::{Assumption, Origin, Plan};
use crate::tco::scenario::{Deployment, parse_month};
use crate::tco::{Basis, BreakEvenVolume, Month, Projection, Scenario, Sensitivity, Summary};

use super::{Format, Tornado, chart, format as fmt, median_break_even, projected_months};

/// Everything one report shows: plain domain data, filled by the caller
/// from a projection, a simulation and whatever else was run. Sections
/// without data are left out.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario as it was run.
    pub scenario: Scenario,
    /// The deterministic projection, month by month.
    pub months: Vec<Month>,
    /// The deterministic projection's headline figures.
    pub summary: Summary,
    /// From what volume self-hosting stays cheaper.
    pub break_even_volume: Option<BreakEvenVolume>,
    /// Break-even with growth and prices moved ([`crate::tco::sensitivities`]).
    pub sensitivities: Vec<Sensitivity>,
    /// The Monte Carlo simulation, if one was run.
    pub outcome: Option<Outcome>,
    /// Its Sobol indices, where the run asked for them.
    pub sobol: Option<crate::montecarlo::sobol::Sensitivity>,
    /// The concurrency sweep of the self-hosted model on its GPU.
    pub sweep: Option<Sweep>,
    /// Cost per million tokens of every catalogue model on the GPU.
    pub scaling: Vec<ScalingPoint>,
    /// The catalogue figures used, with their sources ([`sources`]).
    pub sources: Vec<Source>,
    /// Every value the computation used and where it came from.
    pub assumptions: Vec<Assumption>,
    /// Warnings about the answer (idle GPUs, a fleet below its minimum).
    pub warnings: Vec<String>,
    /// The annual discount rate behind the net present values.
    pub discount_rate: f64,
    /// Which catalogue the figures come from ([`Catalog::version`]); empty
    /// to leave out.
    pub catalog_version: String,
    /// When the run was made, as it should read (the report reads no
    /// clock); empty to leave out.
    pub generated: String,
}

/// A concurrency sweep ([`crate::estimator::sweep`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// One estimate per concurrency.
    pub points: Vec<Estimate>,
    /// The best point within the latency targets.
    pub best: Estimate,
}

/// One catalogue figure a result rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// What the figure is, e.g. "NVIDIA H100 SXM5 80GB purchase price".
    pub figure: String,
    /// The figure as it reads, e.g. "$25,000 per GPU".
    pub value: String,
    pub provenance: Provenance,
}

impl Report {
    /// A report of a deterministic projection: the scenario, its months,
    /// summary, break-even volume and the catalogue figures behind them.
    /// The optional parts (simulation, sensitivities, sweep, scaling) start
    /// empty.
    pub fn new(projection: &Projection, catalog: &Catalog) -> Report {
        Report {
            scenario: projection.plan.scenario.clone(),
            months: projection.months.clone(),
            summary: projection.summary.clone(),
            break_even_volume: Some(projection.break_even_volume),
            sensitivities: Vec::new(),
            outcome: None,
            sobol: None,
            sweep: None,
            scaling: Vec::new(),
            sources: sources(&projection.plan, catalog),
            assumptions: projection.plan.assumptions.clone(),
            warnings: projection.plan.warnings.clone(),
            discount_rate: projection.plan.discount_rate,
            catalog_version: catalog.version(),
            generated: String::new(),
        }
    }
}

/// The catalogue figures a plan uses: the GPU's specifications and
/// efficiencies, its rental rate or purchase prices (unless the scenario
/// sets its own), the model's architecture, and every API price entry in
/// force during the horizon.
pub fn sources(plan: &Plan, catalog: &Catalog) -> Vec<Source> {
    let gpu = &plan.gpu;
    let s = &plan.scenario.self_host;
    let mut out = vec![
        Source {
            figure: format!("{} specifications", gpu.name),
            value: format!(
                "{} GB at {} TB/s, {} W, {} GPUs per node",
                fmt::number(gpu.memory_gb, 0),
                gpu.memory_bandwidth_tb_s,
                fmt::number(gpu.tdp_w, 0),
                gpu.gpus_per_node
            ),
            provenance: gpu.specs_provenance.clone(),
        },
        Source {
            figure: format!("{} achievable share of peak", gpu.name),
            value: format!(
                "{} of memory bandwidth, {} of compute",
                fmt::percent(gpu.efficiency.memory_bandwidth, 0),
                fmt::percent(gpu.efficiency.compute, 0)
            ),
            provenance: gpu.efficiency.provenance.clone(),
        },
    ];
    let usd = |figure: String, f: &UsdFigure, unit: &str| Source {
        figure,
        value: format!("{} {unit}", fmt::money_cents(f.usd)),
        provenance: f.provenance.clone(),
    };
    match &s.deployment {
        Deployment::Rented(r) if r.usd_per_gpu_hour.is_none() => {
            let (name, figure) = match r.rate.as_deref() {
                Some("reserved") => ("one-year reserved", &gpu.rental_reserved_1y_per_gpu_hour),
                _ => ("on-demand", &gpu.rental_on_demand_per_gpu_hour),
            };
            if let Some(f) = figure {
                out.push(usd(
                    format!("{} {name} rental", gpu.name),
                    f,
                    "per GPU-hour",
                ));
            }
        }
        Deployment::Rented(_) => {}
        Deployment::Owned(o) => {
            if o.purchase_usd_per_gpu.is_none() {
                out.push(usd(
                    format!("{} purchase price", gpu.name),
                    &gpu.purchase_per_gpu,
                    "per GPU",
                ));
            }
            if o.server_usd_per_gpu.is_none()
                && let Some(server) = &gpu.server_per_gpu
            {
                out.push(usd(
                    format!("{} server, per GPU", gpu.name),
                    server,
                    "per GPU",
                ));
            }
        }
    }
    if let Ok(model) = catalog.model(&s.model) {
        let params = if model.active_params_b < model.total_params_b {
            format!(
                "{}B parameters, {}B active",
                fmt::number_compact(model.total_params_b),
                fmt::number_compact(model.active_params_b)
            )
        } else {
            format!("{}B parameters", fmt::number_compact(model.total_params_b))
        };
        out.push(Source {
            figure: format!("{} architecture", model.name),
            value: format!(
                "{params}, {} layers, {} context",
                model.layers,
                fmt::number(f64::from(model.max_context), 0)
            ),
            provenance: model.provenance.clone(),
        });
    }
    for p in &plan.api_prices {
        let mut value = format!(
            "{} in, {} out per million tokens",
            fmt::money_cents(p.input_usd_per_mtok),
            fmt::money_cents(p.output_usd_per_mtok)
        );
        if let Some(cached) = p.cached_input_usd_per_mtok {
            let _ = write!(value, "; cached input {}", fmt::money_cents(cached));
        }
        if let Some(batch) = p.batch_input_usd_per_mtok {
            let _ = write!(value, "; batch input {}", fmt::money_cents(batch));
        }
        out.push(Source {
            figure: format!(
                "{} ({}) price from {}",
                p.name, p.provider_name, p.effective_date
            ),
            value,
            provenance: p.provenance.clone(),
        });
    }
    out
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The Sobol indices beside the tornado: each input's share of the
/// variance of the NPV of savings and of the break-even month, alone and
/// with its interactions, with 95% intervals.
fn sobol_table(out: &mut String, s: &crate::montecarlo::sobol::Sensitivity) {
    let _ = write!(
        out,
        "<h3>Share of the variance each input explains (Sobol)</h3>\n<p class=\"notes\">\
         First-order index: the share of an output's variance the input explains on its own; \
         total: with its interactions. From {} Saltelli rows of the projection with the \
         uncertain inputs drawn and the monthly shocks at their expected path; 95% bootstrap \
         intervals in brackets.</p>\n<table>\n<thead><tr><th>Input</th>\
         <th class=\"num\">NPV of savings: first order</th><th class=\"num\">total</th>\
         <th class=\"num\">Break-even month: first order</th><th class=\"num\">total</th>\
         </tr></thead>\n<tbody>\n",
        fmt::number(s.rows as f64, 0)
    );
    let cell = |indices: &Option<Vec<crate::montecarlo::sobol::Index>>, i: usize, total: bool| {
        match indices.as_ref().and_then(|v| v.get(i)) {
            Some(x) => {
                let (v, lo, hi) = if total {
                    (x.total, x.total_low, x.total_high)
                } else {
                    (x.first, x.first_low, x.first_high)
                };
                format!(
                    "{} [{}, {}]",
                    fmt::number(v, 2),
                    fmt::number(lo, 2),
                    fmt::number(hi, 2)
                )
            }
            None => "does not vary".to_string(),
        }
    };
    for (i, input) in s.inputs.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&super::sensitivity_label(input)),
            escape(&cell(&s.npv_savings, i, false)),
            escape(&cell(&s.npv_savings, i, true)),
            escape(&cell(&s.break_even_month, i, false)),
            escape(&cell(&s.break_even_month, i, true)),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

pub(crate) const STYLE: &str = "
:root { color-scheme: light; --api: #1f77b4; --self: #d95f02; --muted: #5a5a5a; --rule: #e1e1e1; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1a1a1a; background: #fff; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 1.8rem; margin: 0.2em 0; }
h2 { font-size: 1.3rem; margin-top: 2em; border-bottom: 1px solid var(--rule); padding-bottom: 0.2em; }
h3 { font-size: 1.05rem; margin: 1.4em 0 0.4em; }
p.lede { font-size: 1.1rem; color: var(--muted); margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1em; font-size: 0.95rem; }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid var(--rule); vertical-align: top; }
th { font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 12px; margin: 1em 0; }
.figure { border: 1px solid var(--rule); border-radius: 6px; padding: 10px 14px; }
.figure .label { color: var(--muted); font-size: 0.85rem; }
.figure .value { font-size: 1.35rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.figure .detail { color: var(--muted); font-size: 0.85rem; }
figure { margin: 1em 0 2em; }
figure svg { width: 100%; height: auto; display: block; border: 1px solid var(--rule); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.4em; }
.notes { color: var(--muted); font-size: 0.85rem; }
.tag { display: inline-block; font-size: 0.75rem; padding: 0 6px; border-radius: 4px; background: #f3e8d9; color: #7a4a00; }
.missing { color: var(--muted); font-style: italic; }
footer { margin-top: 3em; color: var(--muted); font-size: 0.85rem; }
@media print { main { max-width: none; padding: 0; } figure { break-inside: avoid; } }
";

/// The report as one HTML page.
pub fn html(report: &Report) -> String {
    let page = Page {
        r: report,
        start: parse_month(&report.scenario.start_month),
    };
    let mut out = String::with_capacity(256 * 1024);
    page.write(&mut out);
    out
}

struct Page<'a> {
    r: &'a Report,
    start: Option<NaiveDate>,
}

impl Page<'_> {
    fn month(&self, t: u32) -> String {
        match self.start {
            Some(start) => fmt::month(start, t),
            None => format!("month {t}"),
        }
    }

    fn break_even(&self, t: Option<u32>) -> String {
        match t {
            Some(t) => format!("month {t} ({})", self.month(t)),
            None => "not within the horizon".into(),
        }
    }

    fn title(&self) -> String {
        let s = &self.r.scenario;
        if s.name.trim().is_empty() {
            format!("{} against {}", s.self_host.model, s.api.price_id)
        } else {
            s.name.clone()
        }
    }

    fn basis(&self) -> &'static str {
        match self.r.summary.basis {
            Basis::ProfitAndLoss => "profit and loss",
            Basis::Cash => "cash",
        }
    }

    fn self_host_total(&self) -> f64 {
        match self.r.summary.basis {
            Basis::ProfitAndLoss => self.r.summary.total_self_host_pnl,
            Basis::Cash => self.r.summary.total_self_host_cash,
        }
    }

    fn write(&self, out: &mut String) {
        let s = &self.r.scenario;
        let title = self.title();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n\
             <title>{} — breakeven report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
            escape(&title)
        );
        let deployment = match &s.self_host.deployment {
            Deployment::Rented(_) => "rented",
            Deployment::Owned(_) => "owned",
        };
        let _ = write!(
            out,
            "<header>\n<h1>{}</h1>\n<p class=\"lede\">Pay <strong>{}</strong> per token, or serve \
             <strong>{}</strong> on {} <strong>{}</strong> GPUs? {} months from {}.</p>\n</header>\n",
            escape(&title),
            escape(&s.api.price_id),
            escape(&s.self_host.model),
            deployment,
            escape(&s.self_host.gpu),
            s.horizon_months,
            escape(&self.month(1)),
        );
        self.key_figures(out);
        self.charts(out);
        self.inputs(out);
        self.sensitivity_table(out);
        self.simulation_details(out);
        self.assumptions(out);
        self.footer(out);
        out.push_str("</main>\n</body>\n</html>\n");
    }

    fn key_figures(&self, out: &mut String) {
        let r = self.r;
        let sm = &r.summary;
        out.push_str(
            "<section id=\"key-figures\">\n<h2>Key figures</h2>\n<div class=\"figures\">\n",
        );
        let mut card = |label: &str, value: String, detail: String| {
            let _ = write!(
                out,
                "<div class=\"figure\"><div class=\"label\">{}</div><div class=\"value\">{}</div>",
                escape(label),
                escape(&value)
            );
            if !detail.is_empty() {
                let _ = write!(out, "<div class=\"detail\">{}</div>", escape(&detail));
            }
            out.push_str("</div>\n");
        };
        card(
            "Break-even month",
            sm.break_even_month.map_or("none".into(), |t| self.month(t)),
            match (sm.break_even_month, sm.break_even_months_fractional) {
                (Some(t), Some(f)) => format!(
                    "month {t}, from which self-hosting stays cheaper ({} basis); the \
                     cumulative costs cross {} months in",
                    self.basis(),
                    fmt::number(f, 1)
                ),
                (Some(t), None) => format!(
                    "month {t}, from which self-hosting stays cheaper ({} basis)",
                    self.basis()
                ),
                (None, _) => format!(
                    "self-hosting does not stay cheaper within {} months",
                    r.scenario.horizon_months
                ),
            },
        );
        if sm.first_crossover_month.is_some() && sm.first_crossover_month != sm.break_even_month {
            card(
                "First crossover",
                self.break_even(sm.first_crossover_month),
                "cheaper that month, but not for good".into(),
            );
        }
        if let Some(v) = &r.break_even_volume {
            card(
                "Break-even volume",
                v.requests_per_day.map_or("none".into(), |rpd| {
                    format!("{} requests/day", fmt::number(rpd, 0))
                }),
                match v.requests_per_day {
                    Some(_) => format!(
                        "at steady state and month-1 prices; {} requests/day per replica",
                        fmt::number(v.requests_per_day_per_replica, 0)
                    ),
                    None => "no volume makes self-hosting cheaper at month-1 prices".into(),
                },
            );
        }
        card(
            "Total cost, API",
            fmt::money(sm.total_api),
            format!(
                "{} per million tokens",
                fmt::money_cents(sm.api_cost_per_million_tokens)
            ),
        );
        card(
            "Total cost, self-hosted",
            fmt::money(self.self_host_total()),
            format!(
                "{} per million tokens ({} basis); mean utilisation {}",
                fmt::money_cents(sm.self_host_cost_per_million_tokens),
                self.basis(),
                fmt::percent(sm.mean_utilization, 0)
            ),
        );
        card(
            "NPV of savings (projection)",
            fmt::money(sm.npv_api - sm.npv_self_host),
            format!(
                "API {} against self-hosted {} at {} a year",
                fmt::money(sm.npv_api),
                fmt::money(sm.npv_self_host),
                fmt::percent(r.discount_rate, 1)
            ),
        );
        let returns = &sm.returns;
        card(
            "IRR of self-hosting",
            returns
                .irr
                .annual()
                .map_or("none".into(), |irr| fmt::percent(irr, 1)),
            match returns.irr {
                Irr::Rate { unique: true, .. } => {
                    "a year: the rate at which the cash self-hosting saves (API bill avoided \
                     less self-host cash) has a present value of zero"
                        .into()
                }
                Irr::Rate { unique: false, .. } => {
                    "a year, the rate nearest 0%: the savings change sign more than once, so \
                     other rates may also zero their present value"
                        .into()
                }
                other => other.reason().unwrap_or_default().into(),
            },
        );
        card(
            "Payback (cash)",
            self.break_even(returns.payback_month),
            format!(
                "from then the cumulative cash saved stays positive; discounted at {} a year: \
                 {}; return on self-host spend over the horizon {}",
                fmt::percent(r.discount_rate, 1),
                self.break_even(returns.discounted_payback_month),
                returns
                    .roi
                    .map_or("none".into(), |roi| fmt::percent(roi, 1))
            ),
        );
        let after_tax = &returns.after_tax;
        if after_tax.tax_rate > 0.0 {
            card(
                "NPV of savings after tax",
                fmt::money(after_tax.npv),
                format!(
                    "at a tax rate of {}, depreciation shielding {}; IRR after tax {}",
                    fmt::percent(after_tax.tax_rate, 1),
                    fmt::money(after_tax.depreciation_tax_shield),
                    after_tax
                        .irr
                        .annual()
                        .map_or("none".into(), |irr| fmt::percent(irr, 1))
                ),
            );
        }
        if let Some(o) = &r.outcome {
            card(
                "P(self-hosting cheaper)",
                fmt::percent(o.p_self_host_cheaper, 1),
                format!(
                    "over the horizon, across {} simulated paths",
                    fmt::number(o.paths as f64, 0)
                ),
            );
            card(
                "Half the paths break even",
                median_break_even(&o.months).map_or(
                    "fewer than half the paths break even within the horizon".into(),
                    |t| format!("by {}", self.month(t)),
                ),
                format!(
                    "P(no break-even within the horizon) {}",
                    fmt::percent(o.p_no_break_even, 1)
                ),
            );
            card(
                "NPV of savings, median",
                fmt::money(o.npv_savings.p50),
                format!(
                    "P5 {} to P95 {}; mean {}",
                    fmt::money(o.npv_savings.p5),
                    fmt::money(o.npv_savings.p95),
                    fmt::money(o.npv_savings.mean)
                ),
            );
            card(
                "Value at risk (95%)",
                fmt::money(o.var_95),
                "loss of savings at the 5th percentile (negative: a gain even there)".into(),
            );
            card(
                "Conditional VaR (95%)",
                fmt::money(o.cvar_95),
                "mean loss of savings over the worst 5% of paths".into(),
            );
            if let Some(f) = &o.finance {
                card(
                    "IRR across the paths, median",
                    if f.p_no_irr < 0.5 {
                        fmt::percent(f.irr.p50, 1)
                    } else {
                        "none".into()
                    },
                    format!(
                        "P(IRR above the {} hurdle) {}; {} of the paths have no IRR",
                        fmt::percent(f.hurdle_rate, 1),
                        fmt::percent(f.p_irr_above_hurdle, 1),
                        fmt::percent(f.p_no_irr, 1)
                    ),
                );
                card(
                    &format!("P(payback within {} months)", f.payback_months),
                    fmt::percent(f.p_payback_within, 1),
                    format!(
                        "{} of the paths do not pay back within the horizon",
                        fmt::percent(f.p_no_payback, 1)
                    ),
                );
            }
        }
        out.push_str("</div>\n</section>\n");
    }

    fn figure(&self, out: &mut String, title: &str, caption: &str, svg: crate::Result<Vec<u8>>) {
        let _ = write!(out, "<figure>\n<h3>{}</h3>\n", escape(title));
        match svg.and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|e| Error::Internal(format!("chart is not UTF-8: {e}")))
        }) {
            Ok(svg) => {
                let labelled = svg.replacen(
                    "<svg ",
                    &format!("<svg role=\"img\" aria-label=\"{}\" ", escape(title)),
                    1,
                );
                out.push_str(&labelled);
            }
            Err(err) => {
                let _ = writeln!(
                    out,
                    "<p class=\"missing\">Chart unavailable: {}</p>",
                    escape(&err.to_string())
                );
            }
        }
        let _ = write!(
            out,
            "<figcaption>{}</figcaption>\n</figure>\n",
            escape(caption)
        );
    }

    fn charts(&self, out: &mut String) {
        let r = self.r;
        out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
        match &r.outcome {
            Some(o) => {
                let marker = median_break_even(&o.months);
                self.figure(
                    out,
                    "Cumulative cost",
                    &format!(
                        "Median cumulative cost of each option over {} simulated paths, with the \
                         ranges between the 25th and 75th and between the 5th and 95th percentiles \
                         shaded. The dashed line marks the month by which half the paths have \
                         broken even{}.",
                        fmt::number(o.paths as f64, 0),
                        if marker.is_none() { " (none do)" } else { "" }
                    ),
                    chart::cumulative_cost_from(&o.months, self.start, Format::Svg),
                );
                self.figure(
                    out,
                    "Probability of break-even by month",
                    "Share of paths that have broken even by each month (self-hosting cheaper \
                     from then to the end of the horizon), with a 95% interval for the \
                     simulation's sampling error.",
                    chart::break_even_probability_from(&o.months, self.start, Format::Svg),
                );
                self.figure(
                    out,
                    "NPV of savings",
                    "Net present value of what self-hosting saves over paying the API: the \
                     box spans the 25th to 75th percentiles, the whiskers the 5th to 95th; the \
                     triangle is the mean of the worst 5% of paths.",
                    chart::npv_distribution(o, Format::Svg),
                );
                if !o.tornado.is_empty() {
                    self.figure(
                        out,
                        "What moves the NPV",
                        "Median NPV of savings with each uncertain input at its 10th and 90th \
                         percentile and the others at the scenario's values.",
                        chart::tornado(&Tornado::from_outcome(o), Format::Svg),
                    );
                }
                if let Some(sobol) = &r.sobol {
                    sobol_table(out, sobol);
                }
            }
            None => {
                let months = projected_months(&r.months, r.summary.basis);
                self.figure(
                    out,
                    "Cumulative cost",
                    &format!(
                        "Cumulative cost of each option in the deterministic projection ({} \
                         basis); the dashed line marks the break-even month.",
                        self.basis()
                    ),
                    chart::cumulative_cost_from(&months, self.start, Format::Svg),
                );
            }
        }
        if !r.sensitivities.is_empty() {
            let base = r.summary.total_api - self.self_host_total();
            self.figure(
                out,
                "Sensitivity of savings",
                "Savings over the horizon (API cost less self-hosting cost) with annual growth, \
                 the API price and the GPU price each moved down and up.",
                chart::tornado(
                    &Tornado::from_sensitivities(&r.sensitivities, base),
                    Format::Svg,
                ),
            );
        }
        if let Some(sweep) = &r.sweep {
            self.figure(
                out,
                "Throughput against interactivity",
                "Generated tokens per second per GPU against the speed each user sees, one \
                 point per number of concurrent sequences; hollow points miss the latency \
                 targets.",
                chart::throughput(&sweep.points, Some(&sweep.best), Format::Svg),
            );
        }
        if !r.scaling.is_empty() {
            self.figure(
                out,
                "Cost per million tokens by model size",
                "On-demand rental cost per million tokens of every catalogue model on this GPU \
                 at its best point within the latency targets.",
                chart::scaling(&r.scaling, Format::Svg),
            );
        }
        out.push_str("</section>\n");
    }

    /// Every value the answer used, with where it came from: the
    /// scenario, a catalogue entry and its source, or a built-in default
    /// and its reason.
    fn inputs(&self, out: &mut String) {
        let r = self.r;
        out.push_str(
            "<section id=\"inputs\">\n<h2>Inputs and assumptions</h2>\n<table>\n<thead><tr>\
             <th>Field</th><th>Value</th><th>From</th></tr></thead>\n<tbody>\n",
        );
        for a in &r.assumptions {
            let from = match &a.origin {
                Origin::Scenario => "scenario".to_string(),
                Origin::Catalogue { entry, source } => format!("catalogue {entry}: {source}"),
                Origin::Default { reason } => format!("default: {reason}"),
                Origin::Derived { how } => format!("derived: {how}"),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&a.field),
                escape(&a.value),
                escape(&from)
            );
        }
        out.push_str("</tbody>\n</table>\n");
        for w in &r.warnings {
            let _ = writeln!(out, "<p class=\"warning\">{}</p>", escape(w));
        }
        out.push_str("</section>\n");
    }

    fn sensitivity_table(&self, out: &mut String) {
        let r = self.r;
        if r.sensitivities.is_empty() {
            return;
        }
        out.push_str(
            "<section id=\"sensitivities\">\n<h2>Sensitivities</h2>\n<table>\n<thead><tr>\
             <th>Input</th><th>Change</th><th>Break-even</th><th class=\"num\">Break-even volume</th>\
             <th class=\"num\">Savings over the horizon</th></tr></thead>\n<tbody>\n",
        );
        for s in &r.sensitivities {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&super::sensitivity_label(s.input)),
                escape(&format!(
                    "{}{}",
                    if s.change > 0.0 { "+" } else { "" },
                    fmt::percent(s.change, 0)
                )),
                escape(&self.break_even(s.break_even_month)),
                escape(
                    &s.break_even_volume
                        .requests_per_day
                        .map_or("none".into(), |v| {
                            format!("{} requests/day", fmt::number(v, 0))
                        })
                ),
                escape(&fmt::money(s.horizon_savings)),
            );
        }
        out.push_str("</tbody>\n</table>\n</section>\n");
    }

    fn simulation_details(&self, out: &mut String) {
        let Some(o) = &self.r.outcome else { return };
        out.push_str("<section id=\"simulation\">\n<h2>Simulation</h2>\n");
        let rows = vec![
            ("Paths", fmt::number(o.paths as f64, 0)),
            ("Seed", o.seed.to_string()),
            (
                "Antithetic pairs",
                if o.antithetic { "yes" } else { "no" }.into(),
            ),
            ("Engine", o.engine_version.to_string()),
            (
                "Percentile error",
                format!(
                    "within {} (relative)",
                    fmt::percent(o.quantile_relative_error, 1)
                ),
            ),
        ];
        table(out, "Run", &rows);
        if let Some(f) = &o.finance {
            let irr = |v: f64| {
                if f.p_no_irr < 1.0 {
                    fmt::percent(v, 1)
                } else {
                    "none".into()
                }
            };
            let rows = vec![
                (
                    "IRR P5 / P25 / median / P75 / P95",
                    format!(
                        "{} / {} / {} / {} / {} a year, over the paths that have one",
                        irr(f.irr.p5),
                        irr(f.irr.p25),
                        irr(f.irr.p50),
                        irr(f.irr.p75),
                        irr(f.irr.p95)
                    ),
                ),
                ("Paths without an IRR", fmt::percent(f.p_no_irr, 1)),
                (
                    "IRR above the hurdle",
                    format!(
                        "{} of the paths (hurdle {} a year)",
                        fmt::percent(f.p_irr_above_hurdle, 1),
                        fmt::percent(f.hurdle_rate, 1)
                    ),
                ),
                (
                    "Payback within the months asked",
                    format!(
                        "{} of the paths within {} months",
                        fmt::percent(f.p_payback_within, 1),
                        f.payback_months
                    ),
                ),
                (
                    "No payback within the horizon",
                    fmt::percent(f.p_no_payback, 1),
                ),
            ];
            table(out, "Investment figures across the paths", &rows);
        }
        if !o.rank_correlations.is_empty() {
            out.push_str(
                "<h3>Rank correlation with the NPV of savings</h3>\n<table>\n<thead><tr>\
                 <th>Driver</th><th class=\"num\">Spearman ρ</th></tr></thead>\n<tbody>\n",
            );
            let mut drivers: Vec<&(String, f64)> = o.rank_correlations.iter().collect();
            drivers.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            for (name, rho) in drivers {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
                    escape(name),
                    escape(&fmt::number(*rho, 2))
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
        out.push_str("</section>\n");
    }

    fn assumptions(&self, out: &mut String) {
        let r = self.r;
        out.push_str(
            "<section id=\"assumptions\">\n<h2>Assumptions and sources</h2>\n\
             <p>Catalogue figures behind this report, each with where it comes from and the date \
             it held on. Figures marked <span class=\"tag\">assumption</span> are estimates \
             rather than published values. Scenario inputs above are the user's own.</p>\n",
        );
        if r.sources.is_empty() {
            out.push_str(
                "<p class=\"missing\">No catalogue figures were recorded for this run.</p>\n",
            );
        } else {
            out.push_str(
                "<table>\n<thead><tr><th>Figure</th><th>Value</th><th>Source</th><th>As of</th></tr>\
                 </thead>\n<tbody>\n",
            );
            for src in &r.sources {
                let p = &src.provenance;
                let _ = write!(
                    out,
                    "<tr><td>{}{}</td><td>{}</td><td>{}",
                    escape(&src.figure),
                    if p.assumption {
                        " <span class=\"tag\">assumption</span>"
                    } else {
                        ""
                    },
                    escape(&src.value),
                    escape(&p.source),
                );
                if !p.notes.is_empty() {
                    let _ = write!(out, "<div class=\"notes\">{}</div>", escape(&p.notes));
                }
                let _ = writeln!(out, "</td><td class=\"num\">{}</td></tr>", p.as_of);
            }
            out.push_str("</tbody>\n</table>\n");
        }
        out.push_str("</section>\n");
    }

    fn footer(&self, out: &mut String) {
        let r = self.r;
        let mut parts = vec!["breakeven report".to_string()];
        if !r.generated.is_empty() {
            parts.push(format!("generated {}", r.generated));
        }
        if !r.catalog_version.is_empty() {
            parts.push(format!("catalogue {}", r.catalog_version));
        }
        if let Some(o) = &r.outcome {
            parts.push(format!("engine {}", o.engine_version));
        }
        let _ = writeln!(out, "<footer>{}</footer>", escape(&parts.join(" · ")));
    }
}

/// A two-column table with a heading.
fn table(out: &mut String, heading: &str, rows: &[(&str, String)]) {
    let _ = write!(out, "<h3>{}</h3>\n<table>\n<tbody>\n", escape(heading));
    for (label, value) in rows {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Every chart the report draws, each with a file stem, in `format`: the
/// charts a command writes to files beside (or instead of) the page.
pub fn charts(
    report: &Report,
    format: Format,
) -> Vec<(&'static str, crate::error::Result<Vec<u8>>)> {
    let start = crate::tco::scenario::parse_month(&report.scenario.start_month);
    let mut out = Vec::new();
    match &report.outcome {
        Some(o) => {
            out.push((
                "cumulative-cost",
                chart::cumulative_cost_from(&o.months, start, format),
            ));
            out.push((
                "break-even-probability",
                chart::break_even_probability_from(&o.months, start, format),
            ));
            out.push(("npv-distribution", chart::npv_distribution(o, format)));
            if !o.tornado.is_empty() {
                out.push((
                    "npv-tornado",
                    chart::tornado(&Tornado::from_outcome(o), format),
                ));
            }
        }
        None => {
            let months = projected_months(&report.months, report.summary.basis);
            out.push((
                "cumulative-cost",
                chart::cumulative_cost_from(&months, start, format),
            ));
        }
    }
    if !report.sensitivities.is_empty() {
        let total_self_host = match report.summary.basis {
            Basis::Cash => report.summary.total_self_host_cash,
            Basis::ProfitAndLoss => report.summary.total_self_host_pnl,
        };
        out.push((
            "sensitivity",
            chart::tornado(
                &Tornado::from_sensitivities(
                    &report.sensitivities,
                    report.summary.total_api - total_self_host,
                ),
                format,
            ),
        ));
    }
    if let Some(sweep) = &report.sweep {
        out.push((
            "throughput",
            chart::throughput(&sweep.points, Some(&sweep.best), format),
        ));
    }
    if !report.scaling.is_empty() {
        out.push(("scaling", chart::scaling(&report.scaling, format)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
