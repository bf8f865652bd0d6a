//! The browser view's HTML: every page as a function of the API's answers,
//! with no I/O. Every value that comes from a request, a scenario or the
//! store goes through [`escape`]; styles are inline (the report's, plus a
//! few rules for the bar and the forms); there are no scripts, so the
//! pages work with no network and under a strict content security policy.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::grpc::pb;
use crate::report::escape;
use crate::report::format::{money, percent};

/// What every page shows around its content.
pub struct Chrome<'a> {
    /// The signed-in team; `None` without tokens.
    pub team: Option<&'a str>,
    /// The form token of this browser.
    pub csrf: &'a str,
}

const EXTRA_STYLE: &str = "
header.bar { background: #1a1a1a; color: #fff; padding: 8px 32px; display: flex; gap: 18px; align-items: center; }
header.bar a { color: #fff; text-decoration: none; font-weight: 600; }
header.bar .who { margin-left: auto; color: #ccc; }
header.bar button { background: none; border: 1px solid #888; color: #fff; border-radius: 4px; padding: 2px 10px; cursor: pointer; }
form.inline { display: inline; }
form.filters label, form.run label { margin-right: 14px; white-space: nowrap; }
form.filters input, form.run input, form.run select { font: inherit; padding: 2px 6px; }
form.run fieldset { border: 1px solid var(--rule); border-radius: 6px; margin: 0.6em 0; }
button.primary { font: inherit; padding: 4px 16px; border-radius: 4px; border: 1px solid #1f4f8f; background: #1f77b4; color: #fff; cursor: pointer; }
.error { border: 1px solid #c33; background: #fff3f3; padding: 10px 14px; border-radius: 6px; }
.pages { margin: 1em 0; }
.pages a, .pages span { margin-right: 12px; }
td.before { background: #fff0f0; } td.after { background: #effbef; }
progress { width: 100%; height: 18px; }
nav.run { background: #f4f4f4; border-bottom: 1px solid var(--rule); padding: 8px 32px; font-size: 0.95rem; }
nav.run a { margin-right: 16px; }
";

/// The page head and bar, then `body`.
pub fn layout(title: &str, chrome: &Chrome, refresh: bool, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 4096);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n{}\
         <title>{} — breakeven</title>\n<style>{}{EXTRA_STYLE}</style>\n</head>\n<body>\n",
        if refresh {
            "<meta http-equiv=\"refresh\" content=\"1\" />\n"
        } else {
            ""
        },
        escape(title),
        crate::report::STYLE,
    );
    out.push_str(&bar(chrome));
    out.push_str("<main>\n");
    out.push_str(body);
    out.push_str("\n</main>\n</body>\n</html>\n");
    out
}

fn bar(chrome: &Chrome) -> String {
    let who = match chrome.team {
        Some(team) => format!(
            "<span class=\"who\">team {} \
             <form class=\"inline\" method=\"post\" action=\"/signout\">{}\
             <button type=\"submit\" id=\"signout\">Sign out</button></form></span>",
            escape(team),
            csrf_field(chrome.csrf)
        ),
        None => String::new(),
    };
    format!(
        "<header class=\"bar\"><a href=\"/scenarios\">breakeven</a><a href=\"/scenarios\">Saved scenarios</a>{who}</header>\n"
    )
}

fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\" />",
        escape(token)
    )
}

/// The sign-in form; `problem` says why the last attempt failed.
pub fn sign_in(csrf: &str, problem: Option<&str>) -> String {
    let mut body = String::from("<h1>Sign in</h1>\n");
    if let Some(problem) = problem {
        let _ = writeln!(body, "<p class=\"error\">{}</p>", escape(problem));
    }
    let _ = write!(
        body,
        "<p class=\"lede\">Sign in with your team's API token: you will see your team's saved \
         scenarios and runs.</p>\n<form method=\"post\" action=\"/signin\">{}\
         <label>Token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" \
         required=\"required\" /></label> <button class=\"primary\" type=\"submit\" id=\"signin\">\
         Sign in</button></form>",
        csrf_field(csrf)
    );
    layout("Sign in", &Chrome { team: None, csrf }, false, &body)
}

/// An answer that is not the page asked for: its title and message.
pub fn problem(chrome: &Chrome, title: &str, message: &str) -> String {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"error\">{}</p>\n<p><a href=\"/scenarios\">Back to the saved scenarios</a></p>",
        escape(title),
        escape(message)
    );
    layout(title, chrome, false, &body)
}

/// The filters of the scenario list, as the query string gives them.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ListFilters {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub team: String,
    /// 1-based; text so that a bad number is answered by the page, not by
    /// the extractor.
    #[serde(default)]
    pub page: String,
}

impl ListFilters {
    /// The query string of these filters at `page`.
    pub fn query(&self, page: u64) -> String {
        let mut pairs = vec![];
        for (key, value) in [
            ("name", &self.name),
            ("tag", &self.tag),
            ("team", &self.team),
        ] {
            if !value.is_empty() {
                pairs.push(format!("{key}={}", url_encode(value)));
            }
        }
        pairs.push(format!("page={page}"));
        pairs.join("&")
    }
}

/// Percent-encodes a query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// The saved scenarios, one page of them.
pub fn scenario_list(
    chrome: &Chrome,
    filters: &ListFilters,
    list: &pb::ListScenariosResponse,
    page: u64,
    pages: u64,
) -> String {
    let mut body = String::from("<h1>Saved scenarios</h1>\n");
    let team_filter = if chrome.team.is_none() {
        format!(
            "<label>Team <input name=\"team\" id=\"filter-team\" value=\"{}\" /></label>",
            escape(&filters.team)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/scenarios\">\
         <label>Name contains <input name=\"name\" id=\"filter-name\" value=\"{}\" /></label>\
         <label>Tag <input name=\"tag\" id=\"filter-tag\" value=\"{}\" /></label>{team_filter}\
         <button class=\"primary\" type=\"submit\" id=\"filter\">Filter</button></form>",
        escape(&filters.name),
        escape(&filters.tag),
    );
    let _ = writeln!(
        body,
        "<p class=\"notes\" id=\"count\">{} scenario{} match.</p>",
        list.total_size,
        if list.total_size == 1 { "" } else { "s" }
    );
    if !list.scenarios.is_empty() {
        body.push_str(
            "<table id=\"scenarios\"><thead><tr><th>Name</th><th>Team</th><th>Tags</th>\
             <th>Revision</th><th>Saved</th><th>Last run</th></tr></thead><tbody>\n",
        );
        for s in &list.scenarios {
            let _ = writeln!(
                body,
                "<tr><td><a href=\"/scenarios/{}\">{}</a></td><td>{}</td><td>{}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                url_encode(&s.id),
                escape(&s.name),
                escape(&s.team),
                tags(&s.tags),
                s.revision,
                escape(&s.update_time),
                if s.last_run_time.is_empty() {
                    "<span class=\"missing\">never</span>".to_string()
                } else {
                    escape(&s.last_run_time)
                },
            );
        }
        body.push_str("</tbody></table>\n");
    }
    body.push_str("<p class=\"pages\">");
    if page > 1 {
        let _ = write!(
            body,
            "<a href=\"/scenarios?{}\" id=\"previous\">← previous</a>",
            escape(&filters.query(page - 1))
        );
    }
    let _ = write!(body, "<span>page {page} of {pages}</span>");
    if page < pages {
        let _ = write!(
            body,
            "<a href=\"/scenarios?{}\" id=\"next\">next →</a>",
            escape(&filters.query(page + 1))
        );
    }
    body.push_str("</p>\n");
    layout("Saved scenarios", chrome, false, &body)
}

fn tags(tags: &[String]) -> String {
    tags.iter()
        .map(|t| format!("<span class=\"tag\">{}</span>", escape(t)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One field that differs between two revisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    /// Empty when the field was not set before.
    pub before: String,
    /// Empty when the field is no longer set.
    pub after: String,
}

/// The fields that differ between two revisions: name, team, tags,
/// description and every scenario field, by its path in the scenario
/// file.
pub fn revision_changes(old: &pb::ScenarioRevision, new: &pb::ScenarioRevision) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut push = |field: &str, before: String, after: String| {
        if before != after {
            changes.push(Change {
                field: field.to_string(),
                before,
                after,
            });
        }
    };
    push("name", old.name.clone(), new.name.clone());
    push("team", old.team.clone(), new.team.clone());
    push("tags", old.tags.join(", "), new.tags.join(", "));
    push(
        "description",
        old.description.clone(),
        new.description.clone(),
    );
    let (before, after) = (fields(old.scenario.as_ref()), fields(new.scenario.as_ref()));
    let keys: std::collections::BTreeSet<_> = before.keys().chain(after.keys()).collect();
    for key in keys {
        push(
            key,
            before.get(key).cloned().unwrap_or_default(),
            after.get(key).cloned().unwrap_or_default(),
        );
    }
    changes
}

/// A scenario's fields by their path in the scenario file
/// ("workload.requests_per_day" → "20000"). A scenario that no longer
/// converts is shown by its wire form's fields instead.
fn fields(scenario: Option<&pb::Scenario>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let value = match crate::grpc::domain_scenario(scenario) {
        Ok(domain) => serde_json::to_value(&domain),
        Err(_) => return out,
    };
    if let Ok(value) = value {
        flatten(&value, "", &mut out);
    }
    out
}

fn flatten(value: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(v, &path, out);
            }
        }
        Value::Null => {}
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// What the scenario page shows.
pub struct ScenarioView<'a> {
    pub saved: &'a pb::SavedScenario,
    /// Newest first.
    pub revisions: &'a [pb::ScenarioRevision],
    /// Revisions not listed (beyond the first page).
    pub more_revisions: i64,
    /// Newest first.
    pub runs: &'a [pb::Run],
    pub runs_total: i64,
}

/// A saved scenario: what it is, how to run it, its runs (to open or
/// compare) and its revisions with what each changed.
pub fn scenario_page(chrome: &Chrome, view: &ScenarioView) -> String {
    let s = view.saved;
    let id = url_encode(&s.id);
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1 id=\"scenario-name\">{}</h1>\n<p class=\"lede\">{} · revision {} · saved {}{}</p>\n",
        escape(&s.name),
        if s.team.is_empty() {
            "no team".to_string()
        } else {
            format!("team {}", escape(&s.team))
        },
        s.revision,
        escape(&s.update_time),
        if s.tags.is_empty() {
            String::new()
        } else {
            format!(" · {}", tags(&s.tags))
        },
    );
    if !s.description.is_empty() {
        let _ = writeln!(body, "<p>{}</p>", escape(&s.description));
    }
    let _ = writeln!(
        body,
        "<p><a href=\"/scenarios/{id}/scenario.toml\" id=\"download-toml\">Download the scenario file (TOML)</a></p>"
    );

    let _ = write!(
        body,
        "<h2>Run it</h2>\n<form class=\"run\" method=\"post\" action=\"/scenarios/{id}/run\">{}\
         <label>What <select name=\"kind\" id=\"kind\">\
         <option value=\"projection\">Projection</option>\
         <option value=\"break_even\">Break-even volume and sensitivities</option>\
         <option value=\"simulation\">Monte Carlo simulation</option></select></label>\
         <label>Basis <select name=\"basis\" id=\"basis\"><option value=\"pnl\">Profit and loss</option>\
         <option value=\"cash\">Cash</option></select></label>\
         <fieldset><legend>For a simulation</legend>\
         <label>Paths <input name=\"paths\" id=\"paths\" value=\"10000\" size=\"8\" /></label>\
         <label>Seed <input name=\"seed\" id=\"seed\" value=\"1\" size=\"6\" /></label>\
         <label>Demand volatility <input name=\"demand_volatility\" id=\"demand_volatility\" value=\"0.3\" size=\"5\" /></label>\
         <label>API price volatility <input name=\"api_price_volatility\" id=\"api_price_volatility\" value=\"0\" size=\"5\" /></label>\
         <label>GPU price volatility <input name=\"gpu_price_volatility\" id=\"gpu_price_volatility\" value=\"0\" size=\"5\" /></label>\
         </fieldset><button class=\"primary\" type=\"submit\" id=\"run\">Run</button></form>\n\
         <p class=\"notes\">Volatilities are annual (0.3 is 30%); with all of them 0 a simulation \
         has nothing random and is refused. The run is kept with everything needed to \
         reproduce it.</p>\n",
        csrf_field(chrome.csrf)
    );

    let _ = writeln!(body, "<h2>Runs</h2>");
    if view.runs.is_empty() {
        body.push_str("<p class=\"missing\">Not run yet.</p>\n");
    } else {
        body.push_str(
            "<form method=\"get\" action=\"/compare\"><table id=\"runs\"><thead><tr>\
             <th>Baseline</th><th>Compare</th><th>Run</th><th>Kind</th><th>Revision</th>\
             <th>Break-even</th><th>Savings over the horizon</th><th>P(self-host cheaper)</th>\
             </tr></thead><tbody>\n",
        );
        for (i, run) in view.runs.iter().enumerate() {
            let k = run.key_figures.unwrap_or_default();
            let rid = escape(&run.id);
            let _ = writeln!(
                body,
                "<tr><td><input type=\"radio\" name=\"baseline\" value=\"{rid}\"{} /></td>\
                 <td><input type=\"checkbox\" name=\"other\" value=\"{rid}\" /></td>\
                 <td><a href=\"/runs/{}\">{}</a><br /><span class=\"notes\">{}</span></td><td>{}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                if i == 0 { " checked=\"checked\"" } else { "" },
                url_encode(&run.id),
                rid,
                escape(&run.create_time),
                kind_name(run.kind()),
                run.scenario_revision,
                if k.breaks_even {
                    format!("month {}", k.break_even_month)
                } else {
                    "never".into()
                },
                money(k.savings),
                if run.kind() == pb::RunKind::Simulation {
                    percent(k.p_self_host_cheaper, 1)
                } else {
                    "—".into()
                },
            );
        }
        body.push_str(
            "</tbody></table><button class=\"primary\" type=\"submit\" id=\"compare\">Compare \
             the ticked runs with the baseline</button></form>\n",
        );
        if view.runs_total > view.runs.len() as i64 {
            let _ = writeln!(
                body,
                "<p class=\"notes\">The newest {} of {} runs.</p>",
                view.runs.len(),
                view.runs_total
            );
        }
    }

    let _ = writeln!(body, "<h2>Revisions</h2>");
    for (i, revision) in view.revisions.iter().enumerate() {
        let _ = writeln!(
            body,
            "<h3 id=\"revision-{n}\">Revision {n} · {}</h3>",
            escape(&revision.create_time),
            n = revision.revision,
        );
        match view.revisions.get(i + 1) {
            None if view.more_revisions > 0 => {
                body.push_str("<p class=\"notes\">Earlier revisions are not shown.</p>\n")
            }
            None => body.push_str("<p class=\"notes\">Saved first.</p>\n"),
            Some(previous) => {
                let changes = revision_changes(previous, revision);
                if changes.is_empty() {
                    body.push_str("<p class=\"notes\">Nothing changed.</p>\n");
                    continue;
                }
                let _ = writeln!(
                    body,
                    "<table class=\"changes\"><thead><tr><th>Field</th><th>Revision {}</th>\
                     <th>Revision {}</th></tr></thead><tbody>",
                    previous.revision, revision.revision
                );
                for c in changes {
                    let _ = writeln!(
                        body,
                        "<tr><td>{}</td><td class=\"before\">{}</td><td class=\"after\">{}</td></tr>",
                        escape(&c.field),
                        or_unset(&c.before),
                        or_unset(&c.after)
                    );
                }
                body.push_str("</tbody></table>\n");
            }
        }
    }
    layout(&s.name, chrome, false, &body)
}

fn or_unset(value: &str) -> String {
    if value.is_empty() {
        "<span class=\"missing\">not set</span>".into()
    } else {
        escape(value)
    }
}

pub fn kind_name(kind: pb::RunKind) -> &'static str {
    match kind {
        pb::RunKind::Projection => "projection",
        pb::RunKind::BreakEven => "break-even",
        pb::RunKind::Simulation => "simulation",
        pb::RunKind::Unspecified => "unknown",
    }
}

/// The page of a run in progress: it reloads itself every second.
pub fn task(
    chrome: &Chrome,
    kind: &str,
    scenario_id: &str,
    (done, total): (u64, u64),
    seconds: u64,
) -> String {
    let progress = if total > 0 {
        format!(
            "<progress id=\"progress\" value=\"{done}\" max=\"{total}\"></progress>\
             <p>{done} of {total} paths.</p>"
        )
    } else {
        "<progress id=\"progress\"></progress>".to_string()
    };
    let body = format!(
        "<h1>Running a {} of <a href=\"/scenarios/{}\">{}</a></h1>\n{progress}\n\
         <p>Running for {seconds} s.</p>\n<p class=\"notes\">This page reloads every second and opens the run's report when \
         it is done. The run is kept even if you leave.</p>",
        escape(kind),
        url_encode(scenario_id),
        escape(scenario_id),
    );
    layout("Running", chrome, true, &body)
}

/// The bars above a run's report: the pages' own, then where the run came
/// from and its downloads, with the styles they need (the report has its
/// own).
pub fn run_nav(chrome: &Chrome, run: &pb::Run) -> String {
    let id = url_encode(&run.id);
    let mut out = format!("<style>{EXTRA_STYLE}</style>\n{}", bar(chrome));
    let _ = write!(
        out,
        "<nav class=\"run\">Run {} of <a href=\"/scenarios/{}\" id=\"to-scenario\">{}</a> \
         (revision {}) · Download: \
         <a href=\"/runs/{id}/workbook.xlsx\" id=\"download-xlsx\">Excel workbook</a>\
         <a href=\"/runs/{id}/export.csv?table=months\" id=\"download-csv\">monthly CSV</a>\
         <a href=\"/runs/{id}/export.csv?table=summary\">summary CSV</a>",
        escape(&run.id),
        url_encode(&run.scenario_id),
        escape(&run.scenario_id),
        run.scenario_revision,
    );
    if run.kind() == pb::RunKind::Simulation {
        let _ = write!(
            out,
            "<a href=\"/runs/{id}/export.csv?table=simulation_months\">simulation CSV</a>"
        );
    }
    out.push_str("</nav>\n");
    out
}

/// Two or more runs side by side: every line with its difference from the
/// baseline, and the inputs that differ.
pub fn comparison(chrome: &Chrome, c: &pb::CompareRunsResponse) -> String {
    let baseline = c.baseline.clone().unwrap_or_default();
    let mut body = String::from("<h1>Runs compared</h1>\n");
    let _ = write!(
        body,
        "<table id=\"comparison\"><thead><tr><th>Figure</th><th>Baseline <a href=\"/runs/{}\">{}</a></th>",
        url_encode(&baseline.id),
        escape(&baseline.id)
    );
    for other in &c.others {
        let _ = write!(
            body,
            "<th><a href=\"/runs/{}\">{}</a></th><th>Difference</th>",
            url_encode(&other.id),
            escape(&other.id)
        );
    }
    body.push_str("</tr></thead><tbody>\n");
    for line in &c.lines {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td>",
            escape(&line.name),
            value(&line.unit, line.baseline, line.baseline_missing)
        );
        for (i, v) in line.others.iter().enumerate() {
            let missing = line.others_missing.get(i).copied().unwrap_or(false);
            let difference = if missing || line.baseline_missing {
                String::new()
            } else {
                value(
                    &line.unit,
                    line.differences.get(i).copied().unwrap_or(0.0),
                    false,
                )
            };
            let _ = write!(
                body,
                "<td class=\"num\">{}</td><td class=\"num\">{difference}</td>",
                value(&line.unit, *v, missing)
            );
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</tbody></table>\n");
    if !c.input_changes.is_empty() {
        body.push_str("<h2>Inputs that differ</h2>\n<ul id=\"input-changes\">\n");
        for change in &c.input_changes {
            let _ = writeln!(body, "<li>{}</li>", escape(change));
        }
        body.push_str("</ul>\n");
    }
    layout("Runs compared", chrome, false, &body)
}

fn value(unit: &str, v: f64, missing: bool) -> String {
    if missing {
        return "<span class=\"missing\">never</span>".into();
    }
    match unit {
        "usd" => money(v),
        "probability" | "fraction" => percent(v, 1),
        _ => crate::report::format::number(v, if v.fract() == 0.0 { 0 } else { 2 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded_and_pages_keep_filters() {
        let f = ListFilters {
            name: "a&b c".into(),
            tag: "<x>".into(),
            ..Default::default()
        };
        assert_eq!(f.query(3), "name=a%26b%20c&tag=%3Cx%3E&page=3");
    }

    #[test]
    fn every_value_from_the_store_is_escaped() {
        let chrome = Chrome {
            team: Some("<team>"),
            csrf: "\"tok\"",
        };
        let list = pb::ListScenariosResponse {
            scenarios: vec![pb::SavedScenario {
                id: "scn_1".into(),
                name: "<script>alert(1)</script>".into(),
                tags: vec!["\"q3\"".into()],
                ..Default::default()
            }],
            total_size: 1,
            ..Default::default()
        };
        let page = scenario_list(&chrome, &ListFilters::default(), &list, 1, 1);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&lt;team&gt;") && page.contains("&quot;tok&quot;"));
        assert!(!page.contains("\"q3\""));
    }

    #[test]
    fn revisions_differ_by_field_path() {
        let revision = |n: u32, requests: f64, tags: &[&str]| pb::ScenarioRevision {
            revision: n,
            name: "bot".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            scenario: Some(pb::Scenario {
                name: "bot".into(),
                horizon_months: 24,
                start_month: "2026-01".into(),
                workload: Some(pb::WorkloadSpec {
                    requests_per_day: requests,
                    input_tokens: 1000.0,
                    output_tokens: 200.0,
                    ..Default::default()
                }),
                api: Some(pb::ApiOption {
                    price_id: "gpt-4o-mini".into(),
                    ..Default::default()
                }),
                self_host: Some(pb::SelfHostOption {
                    model_id: "llama-3.1-8b".into(),
                    gpu_id: "h100-sxm".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let changes = revision_changes(
            &revision(1, 20_000.0, &["a"]),
            &revision(2, 25_000.0, &["a", "b"]),
        );
        let fields: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["tags", "workload.requests_per_day"], "{changes:?}");
        assert_eq!(changes[1].before, "20000.0");
        assert_eq!(changes[1].after, "25000.0");
    }
}
