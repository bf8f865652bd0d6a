//! The command line's answers never contradict each other: one sign for
//! savings everywhere, the break-even volume and month each saying which
//! question it answers, "never" and "not reached" rather than a 0, plain
//! sentences where nothing breaks even, and every command that writes a
//! file saying so.

mod common;

use breakeven::grpc::pb;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use breakeven::tco::Scenario;
use common::TestServer;
use common::cli::{TempFile, example, run};

/// The example that never breaks even: Llama 3.1 70B FP8 on rented H100s
/// against GPT-4o mini.
const NEVER: &str = "llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml";
/// The example with a fixed fleet that breaks even in month 25 on the cash basis.
const OVERFLOW: &str = "hybrid-overflow.toml";

fn wire(name: &str) -> pb::Scenario {
    let text = std::fs::read_to_string(example(name)).unwrap();
    pb::Scenario::try_from(&Scenario::from_toml(&text).unwrap()).unwrap()
}

/// Saves an example with `scenario create` and runs it with `scenario run
/// --kind KIND`; the kept run's id.
async fn kept_run(server: &TestServer, example_name: &str, kind: &str) -> String {
    let path = example(example_name);
    let saved = run(
        server,
        &["--json", "scenario", "create", path.to_str().unwrap()],
    )
    .await
    .ok()
    .json();
    let id = saved["id"].as_str().unwrap();
    let kept = run(server, &["--json", "scenario", "run", id, "--kind", kind])
        .await
        .ok()
        .json();
    kept["id"].as_str().unwrap().to_string()
}

/// The rows of the last table in `text`, split on runs of two or more
/// spaces, with the header row first.
fn last_table(text: &str) -> Vec<Vec<String>> {
    let block = text.trim_end().rsplit("\n\n").next().unwrap();
    block
        .lines()
        .filter(|l| !l.starts_with("---"))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savings_are_api_minus_self_host_in_every_table() {
    let server = TestServer::start().await;
    let path = example(OVERFLOW);
    let path = path.to_str().unwrap();
    let response = SimulationServiceClient::new(server.channel().await)
        .find_break_even(pb::FindBreakEvenRequest {
            scenario: Some(wire(OVERFLOW)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let out = run(&server, &["breakeven", path]).await.ok().stdout;
    let table = last_table(&out);
    assert_eq!(
        table[0].last().unwrap(),
        "savings (API − self-host)",
        "{out}"
    );
    for (row, case) in table[1..].iter().zip(&response.sensitivities) {
        // A dearer API saves more: the sign is the project table's.
        assert_eq!(
            row.last().unwrap(),
            &breakeven::cli::format::usd(case.horizon_savings),
            "{out}"
        );
    }
    let project = run(&server, &["project", path]).await.ok().stdout;
    assert!(project.contains("savings (API − self-host)"), "{project}");
    assert!(!out.contains("self-host − API") && !project.contains("self-host − API"));

    let rows = run(&server, &["--csv", "breakeven", path]).await.ok().csv();
    assert!(rows.iter().all(|r| r.contains_key("horizon_savings")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_even_month_without_a_volume_says_which_question_each_answers() {
    let server = TestServer::start().await;
    let path = example(OVERFLOW);
    // On the cash basis the fixed fleet's purchase is paid back in month 25,
    // and the fixed fleet has a volume from which it pays: both answers.
    let out = run(
        &server,
        &["breakeven", path.to_str().unwrap(), "--basis", "cash"],
    )
    .await
    .ok()
    .stdout;
    assert!(out.contains("breaks even               month 25"), "{out}");
    assert!(
        out.contains("break-even volume         400,705 requests/day"),
        "{out}"
    );
    // The owned DeepSeek fleet has a volume but no break-even month within
    // its ten months: the note says which question each answers.
    let deepseek = example("deepseek-v3-owned-h200-vs-claude-sonnet.toml");
    let out = run(&server, &["breakeven", deepseek.to_str().unwrap()])
        .await
        .ok()
        .stdout;
    assert!(
        out.contains("breaks even               not within the horizon"),
        "{out}"
    );
    let note = out.replace('\n', " ");
    assert!(
        note.contains("the break-even volume is the daily volume from which"),
        "{out}"
    );

    // A fixed fleet too dear to pay at any volume: the reason travels in
    // the response, naming the routing.
    let mut dear = wire(OVERFLOW);
    if let Some(pb::self_host_option::Deployment::Owned(o)) =
        dear.self_host.as_mut().unwrap().deployment.as_mut()
    {
        o.purchase_usd_per_gpu = Some(2_000_000.0);
    }
    let response = SimulationServiceClient::new(server.channel().await)
        .find_break_even(pb::FindBreakEvenRequest {
            scenario: Some(dear),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let volume = response.break_even_volume.unwrap();
    assert!(!volume.reached);
    assert!(
        volume.not_reached_reason.contains("routing.overflow"),
        "{}",
        volume.not_reached_reason
    );

    // Where both agree there is nothing to explain.
    let template = TempFile::new(Some(breakeven::cli::scenario::TEMPLATE));
    let out = run(&server, &["breakeven", template.path()])
        .await
        .ok()
        .stdout;
    assert!(!out.contains("No break-even volume"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_breaking_even_reads_as_plain_sentences() {
    let server = TestServer::start().await;
    let path = example(NEVER);
    let out = run(
        &server,
        &[
            "simulate",
            path.to_str().unwrap(),
            "--paths",
            "2000",
            "--demand-volatility",
            "0.2",
        ],
    )
    .await
    .ok()
    .stdout;
    let line = out
        .lines()
        .find(|l| l.starts_with("half the paths break even "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.ends_with(" fewer than half the paths break even within the horizon"),
        "{out}"
    );
    assert!(
        !out.contains("by never") && !out.contains("than not"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compared_runs_show_never_and_no_difference_rather_than_zeros() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(kept_run(&server, NEVER, "break-even").await);
    }
    let out = run(&server, &["run", "compare", &ids[0], &ids[1]])
        .await
        .ok()
        .stdout;
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in {out}"))
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    // Name, unit, baseline, the other run, and no difference.
    assert_eq!(
        line("break_even_month"),
        ["break_even_month", "month", "never", "never"]
    );
    assert_eq!(
        line("break_even_volume"),
        [
            "break_even_volume",
            "requests_per_day",
            "not",
            "reached",
            "not",
            "reached"
        ]
    );
    let rows = run(&server, &["--csv", "run", "compare", &ids[0], &ids[1]])
        .await
        .ok()
        .csv();
    let month = rows
        .iter()
        .find(|r| r["line"] == "break_even_month")
        .unwrap();
    assert_eq!(month["baseline"], "");
    assert_eq!(month[&format!("{}_difference", ids[1])], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_write_files_say_what_they_wrote_and_models_show_their_sources() {
    let server = TestServer::start().await;
    let kept = kept_run(&server, NEVER, "projection").await;
    let csv = TempFile::named(&format!("export-{}", common::cli::unique()), None);
    let exported = run(&server, &["run", "export", &kept, "--out", csv.path()])
        .await
        .ok();
    assert_eq!(exported.stderr.trim(), format!("wrote {}", csv.path()));
    assert!(
        std::fs::read_to_string(&csv.0)
            .unwrap()
            .starts_with("month,")
    );

    let out = run(&server, &["catalog", "models", "deepseek-v3"])
        .await
        .ok()
        .stdout;
    for expected in [
        "experts                        256 routed, 8 per token, 1 shared, on 58 of 61 layers",
        "latent attention               KV latent 512 wide, rotary key 64 wide",
        "architecture from              huggingface.co/deepseek-ai/DeepSeek-V3 config.json",
    ] {
        assert!(out.contains(expected), "{expected:?} not in\n{out}");
    }
}
