//! The README, followed literally: its walk-through's commands run one after
//! another against `breakeven serve --seed-examples` started in an empty
//! directory, every command succeeds, and every figure the README quotes —
//! in its sample outputs and in the prose around them — is what the
//! commands print today. Sample outputs elsewhere (a block that starts with
//! `$ breakeven …`) are run and compared the same way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

mod common;

const README: &str = include_str!("../README.md");
const BIN: &str = env!("CARGO_BIN_EXE_breakeven");
const WALK_THROUGH: &str = "## From a scenario to the report finance reads";

/// A fenced block of the README, or a run of prose lines.
#[derive(Debug)]
enum Part {
    Code { info: String, lines: Vec<String> },
    Prose(String),
}

/// The README cut into sections (by `## ` heading), each a list of parts.
fn sections(text: &str) -> Vec<(String, Vec<Part>)> {
    let mut out: Vec<(String, Vec<Part>)> = vec![(String::new(), Vec::new())];
    let mut code: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        if let Some((info, lines)) = &mut code {
            if line.trim_start().starts_with("```") {
                let (info, lines) = (std::mem::take(info), std::mem::take(lines));
                out.last_mut().unwrap().1.push(Part::Code { info, lines });
                code = None;
            } else {
                lines.push(line.to_string());
            }
        } else if let Some(info) = line.trim_start().strip_prefix("```") {
            code = Some((info.trim().to_string(), Vec::new()));
        } else if line.starts_with("## ") {
            out.push((line.trim().to_string(), Vec::new()));
        } else {
            out.last_mut()
                .unwrap()
                .1
                .push(Part::Prose(line.to_string()));
        }
    }
    out
}

/// The commands of a shell block: continuation lines joined, comments and
/// blank lines dropped.
fn commands(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in lines {
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None => line.as_str(),
        };
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// Words of a command line, with double quotes grouping (no escapes are
/// used in the README).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

/// Ids that differ from one run to the next (`run_…`, `scn_…` with 16 hex
/// digits) and the dates a run was made, as placeholders.
fn normalise(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line.trim_end();
    while !rest.is_empty() {
        let id = ["run_", "scn_", "job_"].iter().find_map(|prefix| {
            let tail = rest.strip_prefix(prefix)?;
            let hex = tail.chars().take_while(|c| c.is_ascii_hexdigit()).count();
            (hex == 16).then_some(prefix.len() + 16)
        });
        match id {
            Some(len) => {
                out.push_str(&rest[..4]);
                out.push('…');
                rest = &rest[len..];
            }
            None => {
                let c = rest.chars().next().unwrap();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Checks that the lines of `expected` (a sample output, `…` standing for
/// lines left out) appear in `printed` in the same order.
fn check_sample(what: &str, expected: &[String], printed: &str) {
    let printed: Vec<String> = printed.lines().map(normalise).collect();
    let mut at = 0;
    for line in expected {
        if line.trim() == "…" || line.trim().is_empty() {
            continue;
        }
        let want = normalise(line);
        match printed[at..].iter().position(|l| *l == want) {
            Some(i) => at += i + 1,
            None => panic!(
                "the README's sample output of `{what}` shows\n  {want}\nwhich the command \
                 does not print (after the lines matched so far); it printed:\n{}",
                printed.join("\n")
            ),
        }
    }
}

/// Dollar amounts and percentages with decimals quoted in prose: the
/// figures a reader takes from the text.
fn quoted_figures(prose: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = prose.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let negative = chars[i] == '-' || chars[i] == '−';
        let start = if negative { i + 1 } else { i };
        if start < chars.len() && chars[start] == '$' {
            let mut end = start + 1;
            while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == ',') {
                end += 1;
            }
            let figure: String = chars[start..end].iter().collect();
            let figure = figure.trim_end_matches(',').to_string();
            if figure.len() > 1 {
                out.push(if negative {
                    format!("-{figure}")
                } else {
                    figure
                });
            }
            i = end;
            continue;
        }
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_digit()) {
            let mut end = i;
            while end < chars.len() && (chars[end].is_ascii_digit() || chars[end] == '.') {
                end += 1;
            }
            let number: String = chars[i..end].iter().collect();
            if end < chars.len() && chars[end] == '%' && number.contains('.') {
                out.push(format!("{number}%"));
            }
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// `breakeven serve --seed-examples`, started as the README says, in an
/// empty directory of its own.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let (child, addr) = common::process::serve(&["--seed-examples".as_ref()], Some(dir));
        Server {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `breakeven ARGS` in `dir` against `server`; it must succeed.
fn breakeven(server: &Server, dir: &Path, args: &[String]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("BREAKEVEN_SERVER", &server.url)
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "`breakeven {}` failed ({}):\n{stderr}",
        args.join(" "),
        output.status
    );
    stdout
}

/// A directory of its own, with `examples/` linked in as in a clone.
fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("breakeven-readme-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        dir.join("examples"),
    )
    .unwrap();
    dir
}

/// The first word of the line of `listing` that contains `name`.
fn id_of(listing: &str, name: &str) -> String {
    listing
        .lines()
        .find(|l| l.contains(name))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {name:?} in\n{listing}"))
        .to_string()
}

#[test]
fn the_walk_through_runs_as_written_and_prints_the_figures_it_quotes() {
    let dir = work_dir("walk");
    let server = Server::start(&dir);
    assert!(
        dir.join("breakeven.db").exists(),
        "Quick start says `serve` keeps breakeven.db in the working directory"
    );
    let (_, parts) = sections(README)
        .into_iter()
        .find(|(title, _)| title == WALK_THROUGH)
        .expect("the README has its walk-through");

    // Ids the README shows stand for the ones this server gives.
    let mut scenario_id = None;
    let mut run_id: Option<String> = None;
    let mut printed = String::new();
    let mut last_block = String::new();
    let mut ran = 0;
    for part in &parts {
        match part {
            Part::Code { info, lines } if info == "sh" => {
                last_block.clear();
                for line in commands(lines) {
                    let mut args = words(&line);
                    assert_eq!(args.remove(0), "breakeven", "{line}");
                    if args.first().map(String::as_str) == Some("serve") {
                        continue;
                    }
                    for arg in &mut args {
                        if arg == "scn_…" {
                            *arg = scenario_id
                                .clone()
                                .expect("a scenario id listed before use");
                        } else if arg.starts_with("run_") {
                            *arg = run_id.clone().expect("a run made before it is used");
                        }
                    }
                    let out = breakeven(&server, &dir, &args);
                    ran += 1;
                    if args[..2] == ["scenario", "list"] {
                        scenario_id = Some(id_of(&out, "Hybrid"));
                    }
                    if args[..2] == ["scenario", "run"] {
                        run_id = Some(
                            out.lines()
                                .find_map(|l| l.strip_prefix("run "))
                                .map(|id| id.trim().to_string())
                                .expect("`scenario run` prints the run id"),
                        );
                    }
                    last_block.push_str(&out);
                    printed.push_str(&out);
                }
            }
            Part::Code { info, lines } if info.is_empty() => {
                check_sample("the walk-through's commands above it", lines, &last_block);
            }
            Part::Code { .. } => {}
            Part::Prose(text) => {
                for figure in quoted_figures(text) {
                    assert!(
                        printed.contains(&figure),
                        "the walk-through quotes {figure} ({text:?}), which none of its \
                         commands printed:\n{printed}"
                    );
                }
            }
        }
    }
    assert!(ran >= 5, "only {ran} commands ran");
    assert!(dir.join("report.html").exists(), "the report was written");
    assert!(dir.join("months.csv").exists(), "the export was written");
    assert!(dir.join("run.xlsx").exists(), "the workbook was written");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sample_outputs_are_what_the_commands_print() {
    let dir = work_dir("samples");
    let server = Server::start(&dir);
    let mut checked = 0;
    for (_, parts) in sections(README) {
        for part in parts {
            let Part::Code { info, lines } = part else {
                continue;
            };
            let Some(command) = lines.first().and_then(|l| l.strip_prefix("$ breakeven ")) else {
                continue;
            };
            assert!(info.is_empty(), "a sample output block has no language");
            let out = breakeven(&server, &dir, &words(command));
            check_sample(command, &lines[1..], &out);
            checked += 1;
        }
    }
    assert!(checked >= 1, "the README shows sample outputs");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_readers_helpers_read_what_the_readme_writes() {
    assert_eq!(
        commands(&[
            "breakeven a \\".into(),
            "    --b 1   # note".into(),
            "# comment".into(),
            "breakeven c".into(),
        ]),
        ["breakeven a --b 1", "breakeven c"]
    );
    assert_eq!(words(r#"x "a b" c"#), ["x", "a b", "c"]);
    assert_eq!(normalise("run   run_734c97fd7f3949b5 x"), "run   run_… x");
    assert_eq!(
        quoted_figures("cheaper 53.8% of the time, median -$32,698, 8% a year, $1,000."),
        ["53.8%", "-$32,698", "$1,000"]
    );
}
