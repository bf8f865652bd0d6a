//! Charts and the HTML report drawn from real results: an example scenario
//! (made to break even inside its horizon) projected, simulated, swept and put on a scaling curve through the
//! library, then every chart rendered to SVG (which must parse and show its
//! series, axes and legend) and to PNG (which must decode to the chart's
//! size and not be blank), and the report rendered to one self-contained
//! page.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use breakeven::catalog::{Catalog, Precision};
use breakeven::estimator::{self, Calibration, Query, ScalingPoint, Targets, Workload};
use breakeven::montecarlo::{
    self, ApiPriceProcess, DemandProcess, Distribution, GpuPriceProcess, Outcome, Settings,
    Stochastic,
};
use breakeven::report::{self, Format, Report, Sweep, Tornado};
use breakeven::tco::{self, Basis, Projection, Scenario};
use chrono::NaiveDate;

/// Everything the charts draw, computed once for all tests.
struct Results {
    catalog: Catalog,
    projection: Projection,
    outcome: Outcome,
    sobol: montecarlo::sobol::Sensitivity,
    sensitivities: Vec<tco::Sensitivity>,
    sweep: Sweep,
    scaling: Vec<ScalingPoint>,
}

fn results() -> &'static Results {
    static RESULTS: OnceLock<Results> = OnceLock::new();
    RESULTS.get_or_init(|| {
        let catalog = Catalog::embedded().expect("built-in catalogue loads");
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml");
        let mut scenario = Scenario::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap();
        // Against GPT-4o at 20,000 requests a day the rented GPUs start
        // dearer and pay off in month 21, so every chart has a crossing.
        scenario.name = "Llama 3.1 70B FP8 on rented H100 vs GPT-4o".into();
        scenario.api.price_id = "gpt-4o".into();
        scenario.workload.requests_per_day = Some(20_000.0);
        let calibration = Calibration::defaults();
        let projection =
            tco::project(&catalog, &scenario, &calibration, Basis::ProfitAndLoss).unwrap();
        let stochastic = Stochastic {
            demand: Some(DemandProcess::Gbm { volatility: 0.4 }),
            api_price: Some(ApiPriceProcess::SameProduct {
                annual_drift: -0.1,
                cuts_per_year: 0.5,
                cut_size: Distribution::Uniform {
                    min: 0.5,
                    max: 0.67,
                },
            }),
            gpu_price: Some(GpuPriceProcess {
                annual_decline: 0.15,
                volatility: 0.3,
                reversion_per_year: 1.0,
            }),
            uncertain: vec![
                (
                    "workload.annual_growth".into(),
                    Distribution::Triangular {
                        min: 0.8,
                        mode: 1.5,
                        max: 2.5,
                    },
                ),
                (
                    "rented.usd_per_gpu_hour".into(),
                    Distribution::Uniform { min: 2.0, max: 3.5 },
                ),
            ],
            ..Default::default()
        };
        let settings = Settings {
            paths: 4_000,
            seed: 7,
            antithetic: true,
            basis: Basis::ProfitAndLoss,
            tornado_paths: 500,
            finance: Some(montecarlo::FinanceQuestions {
                hurdle_rate: 0.15,
                payback_months: 24,
            }),
        };
        let outcome = montecarlo::simulate(
            &projection.plan,
            &stochastic,
            &settings,
            &AtomicBool::new(false),
            |_| {},
        )
        .unwrap();
        let sobol =
            montecarlo::sobol::of_plan(&projection.plan, &stochastic, Basis::ProfitAndLoss, 200, 7)
                .unwrap();
        let sensitivities = tco::sensitivities(&projection.plan, Basis::ProfitAndLoss);
        let workload = Workload {
            input_tokens: 1260,
            output_tokens: 263,
            concurrency: 0,
        };
        let targets = Targets {
            ttft_s: Some(2.0),
            tpot_s: Some(0.04),
        };
        let query = Query {
            model: "llama-3.1-70b".into(),
            gpu: "h100-sxm".into(),
            weight_precision: Precision::Fp8,
            kv_precision: Precision::Fp8,
            tensor_parallel: 0,
            layout: None,
            workload,
            targets,
        };
        let (points, best) = estimator::sweep(&catalog, &query, &calibration).unwrap();
        let scaling = estimator::scaling_curve(
            &catalog,
            "h100-sxm",
            Precision::Fp8,
            Precision::Fp8,
            workload,
            targets,
            &calibration,
        )
        .unwrap();
        Results {
            catalog,
            projection,
            outcome,
            sobol,
            sensitivities,
            sweep: Sweep { points, best },
            scaling,
        }
    })
}

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
}

/// What an SVG chart holds, counted from its parsed XML.
#[derive(Debug)]
struct Svg {
    width: u32,
    height: u32,
    texts: Vec<String>,
    /// (element name, stroke or fill colour) of every drawn shape.
    shapes: Vec<(String, String)>,
}

impl Svg {
    fn parse(bytes: &[u8]) -> Svg {
        let text = std::str::from_utf8(bytes).expect("SVG is UTF-8");
        let doc = roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("SVG parses: {e}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("viewBox"), Some("0 0 960 540"));
        let number = |name| root.attribute(name).unwrap().parse().unwrap();
        let mut svg = Svg {
            width: number("width"),
            height: number("height"),
            texts: Vec::new(),
            shapes: Vec::new(),
        };
        for node in root.descendants().filter(|n| n.is_element()) {
            let name = node.tag_name().name().to_string();
            if name == "text" {
                svg.texts
                    .push(node.text().unwrap_or_default().trim().to_string());
            } else if name != "svg" {
                let colour = node
                    .attribute("stroke")
                    .filter(|c| *c != "none")
                    .or(node.attribute("fill"))
                    .unwrap_or_default()
                    .to_uppercase();
                svg.shapes.push((name, colour));
            }
        }
        svg
    }

    fn has_text(&self, wanted: &str) -> bool {
        self.texts.iter().any(|t| t.contains(wanted))
    }

    fn assert_texts(&self, wanted: &[&str]) {
        for w in wanted {
            assert!(self.has_text(w), "no text {w:?} in {:?}", self.texts);
        }
    }

    fn count(&self, element: &str, colour: &str) -> usize {
        self.shapes
            .iter()
            .filter(|(e, c)| e == element && c == colour)
            .count()
    }
}

const API: &str = "#1F77B4";
const SELF_HOSTED: &str = "#D95F02";

/// Decodes a PNG; checks its size and that it is not one flat colour.
/// Returns its distinct colours.
fn check_png(bytes: &[u8]) -> std::collections::HashSet<[u8; 3]> {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header decodes");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).expect("PNG data decodes");
    assert_eq!((info.width, info.height), report::SIZE);
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let colours: std::collections::HashSet<[u8; 3]> = pixels[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    assert!(colours.len() > 20, "only {} colours", colours.len());
    colours
}

fn both<F: Fn(Format) -> breakeven::Result<Vec<u8>>>(render: F) -> Svg {
    let png = render(Format::Png).expect("PNG renders");
    check_png(&png);
    let svg = Svg::parse(&render(Format::Svg).expect("SVG renders"));
    assert_eq!((svg.width, svg.height), report::SIZE);
    svg
}

#[test]
fn cumulative_cost_shows_both_options_with_bands_and_break_even() {
    let r = results();
    let half = report::median_break_even(&r.outcome.months).expect("half the paths break even");
    let svg = both(|f| report::cumulative_cost(&r.outcome.months, start(), f));
    svg.assert_texts(&[
        "Cumulative cost",
        "API, median",
        "Self-hosted, median",
        "API, P5–P95",
        "Self-hosted, P25–P75",
        &format!(
            "half the paths broken even: {}",
            report::format::month(start(), half)
        ),
        "Jun 2025",
        "Cumulative cost (USD)",
    ]);
    // The median line and its legend swatch, for each option.
    assert_eq!(svg.count("polyline", API), 2, "{:?}", svg.shapes);
    assert_eq!(svg.count("polyline", SELF_HOSTED), 2);
    // Two bands for each option.
    assert_eq!(svg.count("polygon", API), 2);
    assert_eq!(svg.count("polygon", SELF_HOSTED), 2);
    // Month labels are calendar months, and money reads as money.
    assert!(svg.has_text("2026") && svg.texts.iter().any(|t| t.starts_with('$')));
}

#[test]
fn a_projection_draws_lines_without_bands() {
    let r = results();
    assert_eq!(r.projection.summary.break_even_month, Some(21));
    let months = report::projected_months(&r.projection.months, Basis::ProfitAndLoss);
    let svg = Svg::parse(&report::cumulative_cost(&months, start(), Format::Svg).unwrap());
    assert_eq!(svg.count("polyline", API), 2);
    assert_eq!(svg.count("polygon", API), 0);
    assert!(!svg.has_text("P5–P95") && !svg.has_text("median"));
    assert!(svg.texts.iter().any(|t| t == "API"));
    assert!(svg.texts.iter().any(|t| t == "Self-hosted"));
    svg.assert_texts(&["break-even: Feb 2027"]);
}

#[test]
fn break_even_probability_rises_to_the_horizon() {
    let r = results();
    let svg = both(|f| report::break_even_probability(&r.outcome.months, start(), f));
    svg.assert_texts(&[
        "Probability of having broken even",
        "P(break-even by month)",
        "100%",
        "0%",
        "Jun 2025",
    ]);
    assert_eq!(svg.count("polyline", SELF_HOSTED), 2);
}

#[test]
fn npv_distribution_marks_quantiles_and_the_tail() {
    let r = results();
    let svg = both(|f| report::npv_distribution(&r.outcome, f));
    svg.assert_texts(&[
        "NPV of savings",
        "4,000 paths",
        "P5 ",
        "P25 ",
        "median ",
        "P95 ",
        "P25–P75",
        "CVaR",
    ]);
    assert!(
        svg.count("rect", SELF_HOSTED) >= 2,
        "the box and its swatch"
    );
    assert!(svg.shapes.iter().any(|(e, _)| e == "circle"), "the mean");
}

#[test]
fn tornadoes_draw_a_pair_of_bars_per_input() {
    let r = results();
    let simulated = Tornado::from_outcome(&r.outcome);
    assert_eq!(simulated.rows.len(), 2);
    let svg = both(|f| report::tornado(&simulated, f));
    svg.assert_texts(&[
        "workload.annual_growth",
        "rented.usd_per_gpu_hour",
        "input at its P10",
        "input at its P90",
        "base: ",
    ]);

    let s = &r.projection.summary;
    let sensitivities =
        Tornado::from_sensitivities(&r.sensitivities, s.total_api - s.total_self_host_pnl);
    assert_eq!(sensitivities.rows.len(), 3);
    let svg = both(|f| report::tornado(&sensitivities, f));
    svg.assert_texts(&[
        "annual growth",
        "API price",
        "GPU price",
        "input -20%",
        "input +20%",
        "Savings over the horizon (USD)",
    ]);
    // Two bars per input and two legend swatches.
    let bars = svg
        .shapes
        .iter()
        .filter(|(e, c)| e == "rect" && (c == "#4292C6" || c == "#D6604D"))
        .count();
    assert_eq!(bars, 3 * 2 + 2, "{:?}", svg.shapes);
}

#[test]
fn the_sweep_plots_throughput_per_gpu_against_speed_per_user() {
    let r = results();
    let sweep = &r.sweep;
    assert!(sweep.points.len() >= 4);
    let svg = both(|f| report::throughput(&sweep.points, Some(&sweep.best), f));
    svg.assert_texts(&[
        "Throughput against interactivity",
        "Generated tokens/s per GPU",
        "Generated tokens/s per user",
        "best within targets",
    ]);
    // One label per concurrency.
    for p in &sweep.points {
        assert!(
            svg.texts.contains(&p.concurrency.to_string()),
            "no label for {}",
            p.concurrency
        );
    }
    let circles = svg.shapes.iter().filter(|(e, _)| e == "circle").count();
    assert!(circles > sweep.points.len(), "{circles} circles");
}

#[test]
fn the_scaling_curve_labels_each_model_that_fits() {
    let r = results();
    let svg = both(|f| report::scaling(&r.scaling, f));
    svg.assert_texts(&[
        "Cost per million tokens against model size",
        "per million generated tokens",
        "Total parameters",
    ]);
    let (fits, misses): (Vec<_>, Vec<_>) = r.scaling.iter().partition(|p| p.estimate.is_ok());
    assert!(fits.len() >= 3);
    for p in &fits {
        assert!(svg.has_text(&p.model), "no label for {}", p.model);
    }
    if !misses.is_empty() {
        assert!(svg.has_text("Does not fit"));
    }
    // A point per model for each cost, and a legend swatch.
    assert_eq!(svg.count("circle", SELF_HOSTED), fits.len() + 1);
    assert_eq!(svg.count("circle", API), fits.len() + 1);
}

#[test]
fn empty_inputs_are_refused_by_name() {
    let err = report::cumulative_cost(&[], start(), Format::Svg).unwrap_err();
    assert!(err.to_string().contains("months"), "{err}");
    let err = report::throughput(&[], None, Format::Png).unwrap_err();
    assert!(err.to_string().contains("points"), "{err}");
}

fn full_report() -> Report {
    let r = results();
    let mut report = Report::new(&r.projection, &r.catalog);
    report.outcome = Some(r.outcome.clone());
    report.sobol = Some(r.sobol.clone());
    report.sensitivities = r.sensitivities.clone();
    report.sweep = Some(r.sweep.clone());
    report.scaling = r.scaling.clone();
    report.generated = "2025-06-02".into();
    report
}

#[test]
fn the_html_report_is_one_self_contained_page() {
    let html = report::html(&full_report());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    // Nothing is fetched: no scripts, stylesheets, images or fonts.
    for banned in [
        "<script",
        "<link",
        "src=\"http",
        "src='http",
        "url(",
        "@import",
        "<img",
    ] {
        assert!(!html.contains(banned), "the page holds {banned:?}");
    }
    // The page is well-formed XML as well as HTML, inline SVG included.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, options)
        .unwrap_or_else(|e| panic!("the page parses: {e}"));
    let svgs: Vec<_> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "svg")
        .collect();
    // Cumulative cost, break-even probability, NPV, the simulated tornado,
    // the sensitivity tornado, the sweep and the scaling curve.
    assert_eq!(svgs.len(), 7);
    assert!(svgs.iter().all(|s| s.attribute("role") == Some("img")));
    assert!(!html.contains("Chart unavailable"));
    // The Sobol indices under the tornado, one row per uncertain input.
    let sobol = html
        .split_once("each input explains (Sobol)")
        .expect("the Sobol table")
        .1;
    assert!(sobol.contains("Annual growth") || sobol.contains("annual_growth"));

    for wanted in [
        "Llama 3.1 70B FP8 on rented H100 vs GPT-4o",
        "Key figures",
        "Break-even month",
        "Break-even volume",
        "P(self-hosting cheaper)",
        "Value at risk (95%)",
        "Conditional VaR (95%)",
        "NPV of savings, median",
        "Inputs",
        "Assumptions and sources",
        "NVIDIA H100 SXM5 80GB on-demand rental",
        "GPT-4o (OpenAI) price from",
        "Feb 2027",
        "2026-05-18",
        "assumption",
        "Jun 2025",
    ] {
        assert!(html.contains(wanted), "the page lacks {wanted:?}");
    }
    let outcome = &results().outcome;
    assert!(html.contains(&report::format::percent(outcome.p_self_host_cheaper, 1)));
    // The investment figures: the projection's, and across the paths.
    let returns = &results().projection.summary.returns;
    let irr = returns
        .irr
        .annual()
        .expect("a rented fleet that pays off has an IRR");
    let finance = outcome.finance.as_ref().unwrap();
    for wanted in [
        "IRR of self-hosting".to_string(),
        report::format::percent(irr, 1),
        "Payback (cash)".into(),
        format!("month {}", returns.payback_month.unwrap()),
        "IRR across the paths, median".into(),
        report::format::percent(finance.irr.p50, 1),
        "P(payback within 24 months)".into(),
        report::format::percent(finance.p_payback_within, 1),
        "Investment figures across the paths".into(),
    ] {
        assert!(html.contains(&wanted), "the page lacks {wanted:?}");
    }
    assert!(html.contains(&report::format::money(outcome.npv_savings.p50)));
}

#[test]
fn text_in_the_report_is_escaped() {
    let mut report = full_report();
    report.scenario.name = "<script>alert('x')</script> & co".into();
    report.sources[0].provenance.notes = "a <b>bold</b> claim".into();
    let html = report::html(&report);
    assert!(!html.contains("<script>"));
    assert!(!html.contains("<b>bold"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
}

#[test]
fn a_report_without_a_simulation_draws_the_projection() {
    let r = results();
    let html = report::html(&Report::new(&r.projection, &r.catalog));
    assert_eq!(html.matches("<svg").count(), 1);
    assert!(!html.contains("P(self-hosting cheaper)"));
    assert!(html.contains("Break-even month"));
}
