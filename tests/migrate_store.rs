//! `breakeven migrate-store --from FILE --to URL`: a SQLite file with
//! scenarios and their revisions, kept runs, jobs in every state, custom
//! entries, imported prices and calibrations is copied into PostgreSQL and
//! checked; a second run is a no-op; a target holding other data is
//! refused untouched.

use std::process::Command;

use breakeven::estimator::{Calibration, Tuning};
use breakeven::store::copy::{Table, summarize};
use breakeven::store::jobs::item_run_id;
use breakeven::store::{
    Backend, CustomEntry, Expected, ImportedPrice, ItemResult, Lease, NewItem, NewJob, Postgres,
    ScenarioFields, Sqlite, StoredRun, testdb,
};

struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn run(id: &str, job: Option<&str>) -> StoredRun {
    StoredRun {
        id: id.into(),
        scenario_id: "scn_a".into(),
        scenario_revision: 2,
        team: "ml".into(),
        kind: "simulation".into(),
        created_at: 50,
        job_id: job.map(str::to_string),
        engine_version: "e".into(),
        catalog_version: "c".into(),
        key_figures: vec![1, 2],
        inputs: vec![3; 1000],
        output: (0..=255).collect(),
    }
}

/// A file holding a little of everything.
fn filled(path: &std::path::Path) -> Sqlite {
    let db = Sqlite::open(path, Default::default()).unwrap();
    let fields = |name: &str, tags: &[&str]| ScenarioFields {
        name: name.into(),
        team: "ml".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        description: "ünïcode ✓".into(),
        body: vec![0, 1, 2, 255],
    };
    db.create("scn_a", &fields("a", &["x"]), 1).unwrap();
    db.update("scn_a", &fields("a2", &["x", "y"]), &Expected::default(), 2)
        .unwrap();
    db.create("scn_B", &fields("b", &[]), 3).unwrap();
    db.insert_run(&run("run_1", None)).unwrap();
    let job = NewJob {
        name: "sweep".into(),
        team: "ml".into(),
        options: vec![9],
        items: (0..4)
            .map(|i| NewItem {
                label: format!("item {i}"),
                scenario_id: "scn_a".into(),
                scenario_revision: 2,
                scenario: vec![i],
            })
            .collect(),
    };
    db.create_job("job_1", &job, 10).unwrap();
    let lease = Lease::new();
    let items = db.claim_items(&lease, 3).unwrap();
    let mut done = run(&item_run_id("job_1", 0), Some("job_1"));
    done.scenario_revision = 2;
    assert!(
        db.finish_item(&items[0].key(), &ItemResult::Succeeded(Box::new(done)), 20)
            .unwrap()
    );
    assert!(
        db.finish_item(&items[1].key(), &ItemResult::Failed("no fit".into()), 21)
            .unwrap()
    );
    // Item 2 stays pending with its lease, item 3 never claimed.
    db.save_calibration(
        &Calibration {
            name: "lab".into(),
            tuning: Tuning {
                bandwidth_scale: 0.1 + 0.2,
                compute_scale: 1.0 / 3.0,
                allreduce_latency_s: 1e-6,
            },
            expected_error: 0.05,
            points: 12,
        },
        30,
    )
    .unwrap();
    let entry = CustomEntry {
        kind: "hardware".into(),
        name: "acme".into(),
        team: "ml".into(),
        text: "id = \"acme\"".into(),
        revision: 0,
        created_at: 0,
        updated_at: 0,
    };
    db.put_custom_entry(&entry, true, None, 40).unwrap();
    db.put_imported_prices(
        &[ImportedPrice {
            team: "ml".into(),
            price_id: "gpt-4o".into(),
            effective_date: "2026-08-01".into(),
            path: "imported/gpt-4o/2026-08-01/prices/openai.toml".into(),
            text: "[[price]]".into(),
            created_at: 0,
        }],
        41,
    )
    .unwrap();
    db
}

fn migrate(from: &std::path::Path, to: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_breakeven"))
        .args(["migrate-store", "--from"])
        .arg(from)
        .args(["--to", to])
        .env_remove("BREAKEVEN_DATABASE_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_file_is_copied_whole_once_and_never_over_other_data() {
    let file =
        TempFile(std::env::temp_dir().join(format!("breakeven-migrate-{}.db", std::process::id())));
    let source = filled(&file.0);
    let expected = summarize(&source).unwrap();
    assert!(expected.iter().all(|t| t.rows > 0), "{expected:?}");
    drop(source);
    let schema = testdb::schema();

    let (ok, text) = migrate(&file.0, &schema.url);
    assert!(ok, "{text}");
    assert!(text.contains("both sides match"), "{text}");
    assert!(text.contains("job items"), "{text}");
    let target = Postgres::open(&schema.url, Default::default()).unwrap();
    assert_eq!(summarize(&target).unwrap(), expected);
    // Read back through the backend: the same values, leases left behind.
    let source = Sqlite::open(&file.0, Default::default()).unwrap();
    assert_eq!(target.get("scn_a").unwrap(), source.get("scn_a").unwrap());
    assert_eq!(
        target.get_run("run_1").unwrap(),
        source.get_run("run_1").unwrap()
    );
    assert_eq!(
        target.get_job("job_1", true).unwrap(),
        source.get_job("job_1", true).unwrap()
    );
    let pending = target.claim_items(&Lease::new(), 10).unwrap();
    assert_eq!(pending.len(), 2, "copied leases still hold items");
    target.release_leases(None).unwrap();
    drop(target);

    // Again: nothing to do.
    let (ok, text) = migrate(&file.0, &schema.url);
    assert!(ok, "{text}");
    assert!(text.contains("nothing to do"), "{text}");

    // Another file into the same database: refused, nothing written.
    let other = TempFile(
        std::env::temp_dir().join(format!("breakeven-migrate-other-{}.db", std::process::id())),
    );
    let db = Sqlite::open(&other.0, Default::default()).unwrap();
    db.create(
        "scn_z",
        &ScenarioFields {
            name: "z".into(),
            ..Default::default()
        },
        1,
    )
    .unwrap();
    drop(db);
    let (ok, text) = migrate(&other.0, &schema.url);
    assert!(!ok, "{text}");
    assert!(text.contains("already holds other data"), "{text}");
    let target = Postgres::open(&schema.url, Default::default()).unwrap();
    let after = summarize(&target).unwrap();
    assert_eq!(after, expected);
    assert_eq!(after[0].table, Table::Scenarios);

    // A missing source is an error, not a new empty file.
    let (ok, text) = migrate(std::path::Path::new("/nonexistent/x.db"), &schema.url);
    assert!(!ok && text.contains("is not a file"), "{text}");
}
