//! One behaviour, two backends: every test here runs against a fresh
//! SQLite file and against a fresh schema on PostgreSQL (see
//! [`super::testdb`]; without a PostgreSQL server the PostgreSQL half
//! fails, saying what to install).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// A backend under test and what must outlive it (its file or schema).
struct Db {
    backend: Arc<dyn Backend>,
    _keep: Box<dyn std::any::Any>,
}

struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn sqlite() -> Db {
    let path = std::env::temp_dir().join(format!("breakeven-conformance-{}.db", new_id("f")));
    let file = TempFile(path);
    let backend = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
    Db {
        backend: Arc::new(backend),
        _keep: Box::new(file),
    }
}

fn postgres() -> Db {
    let schema = testdb::schema();
    let backend = Postgres::open(&schema.url, PostgresOptions::default()).unwrap();
    Db {
        backend: Arc::new(backend),
        _keep: Box::new(schema),
    }
}

/// Each named test function, once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test] fn $name() { let db = super::sqlite(); super::$name(&db.backend); })*
        }
        mod on_postgres {
            $(#[test] fn $name() { let db = super::postgres(); super::$name(&db.backend); })*
        }
    };
}

conformance!(
    scenarios_keep_revisions_and_check_etags,
    listings_filter_order_and_page,
    calibrations_replace_by_name,
    runs_are_kept_and_listed_newest_first,
    unknown_ids_are_not_found,
    items_are_claimed_once_and_finished_once,
    a_late_completion_is_fenced_off,
    concurrent_claims_never_share_an_item,
    an_item_fails_after_its_last_attempt,
    released_leases_are_taken_at_once,
    cancelling_a_job_loses_its_leases,
    custom_entries_and_imports_move_the_epoch,
);

fn fields(name: &str, tags: &[&str]) -> ScenarioFields {
    ScenarioFields {
        name: name.into(),
        team: "ml".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        description: "d".into(),
        body: vec![1, 2, 3],
    }
}

fn scenarios_keep_revisions_and_check_etags(db: &Arc<dyn Backend>) {
    let s = db.create("scn_a", &fields("a", &["x", "y"]), 10).unwrap();
    assert_eq!((s.revision, s.created_at, s.last_run_at), (1, 10, None));
    assert_eq!(db.get("scn_a").unwrap(), s);
    let stale = Expected {
        etag: Some("0-0".into()),
        revision: None,
    };
    let err = db.update("scn_a", &fields("b", &[]), &stale, 11);
    assert!(matches!(err, Err(Error::Aborted(_))), "{err:?}");
    let expected = Expected {
        etag: Some(s.etag()),
        revision: Some(1),
    };
    let next = db
        .update("scn_a", &fields("b", &["z"]), &expected, 10)
        .unwrap();
    // Saved in the same millisecond: still a new update time and etag.
    assert_eq!((next.revision, next.updated_at), (2, 11));
    assert_ne!(next.etag(), s.etag());
    let revisions = db.revisions("scn_a", 0, 10).unwrap();
    assert_eq!(revisions.total, 2);
    let names: Vec<_> = revisions.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["b", "a"]);
    assert_eq!(revisions.items[1].tags, ["x", "y"]);
    db.record_run("scn_a", 50).unwrap();
    assert_eq!(db.get("scn_a").unwrap().last_run_at, Some(50));
    assert!(matches!(db.delete("scn_a", &stale), Err(Error::Aborted(_))));
    db.delete("scn_a", &Expected::default()).unwrap();
    assert!(matches!(db.get("scn_a"), Err(Error::NotFound(_))));
    assert!(matches!(
        db.revisions("scn_a", 0, 10),
        Err(Error::NotFound(_))
    ));
    // The id is free again, with no revisions left behind.
    db.create("scn_a", &fields("c", &["x"]), 60).unwrap();
    assert_eq!(db.revisions("scn_a", 0, 10).unwrap().total, 1);
}

fn listings_filter_order_and_page(db: &Arc<dyn Backend>) {
    for (i, (id, name, tags)) in [
        ("scn_1", "50% off", &["cheap"][..]),
        ("scn_2", "500 off", &["cheap", "big"][..]),
        ("scn_3", "a_b", &[][..]),
        ("scn_4", "Zeta", &["big"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut f = fields(name, tags);
        if id == "scn_4" {
            f.team = "other".into();
        }
        db.create(id, &f, 100 + i as i64).unwrap();
    }
    db.record_run("scn_2", 500).unwrap();
    db.record_run("scn_3", 400).unwrap();
    let ids = |query: ListQuery| -> (Vec<String>, u64) {
        let page = db
            .list(&ListQuery {
                limit: if query.limit == 0 { 10 } else { query.limit },
                ..query
            })
            .unwrap();
        (page.items.into_iter().map(|s| s.id).collect(), page.total)
    };
    let contains = |text: &str| ListQuery {
        name_contains: text.into(),
        ..Default::default()
    };
    assert_eq!(ids(contains("0%")).0, ["scn_1"]);
    assert_eq!(ids(contains("_")).0, ["scn_3"]);
    assert_eq!(ids(contains("OFF")).0, ["scn_1", "scn_2"]);
    assert_eq!(ids(contains("zE")).0, ["scn_4"]);
    let tagged = ListQuery {
        tag: "big".into(),
        ..Default::default()
    };
    assert_eq!(ids(tagged).0, ["scn_2", "scn_4"]);
    let team = ListQuery {
        team: "ml".into(),
        ..Default::default()
    };
    assert_eq!(ids(team).1, 3);
    let window = ListQuery {
        created_after: Some(100),
        created_before: Some(103),
        ..Default::default()
    };
    assert_eq!(ids(window).0, ["scn_2", "scn_3"]);
    let order = |key, descending| ListQuery {
        order: Order { key, descending },
        ..Default::default()
    };
    // Byte order: "%" before "0", upper case before lower case.
    assert_eq!(
        ids(order(OrderKey::Name, false)).0,
        ["scn_1", "scn_2", "scn_4", "scn_3"]
    );
    assert_eq!(
        ids(order(OrderKey::Name, true)).0,
        ["scn_3", "scn_4", "scn_2", "scn_1"]
    );
    // Never run first, ties by id.
    assert_eq!(
        ids(order(OrderKey::LastRunTime, false)).0,
        ["scn_1", "scn_4", "scn_3", "scn_2"]
    );
    assert_eq!(
        ids(order(OrderKey::LastRunTime, true)).0,
        ["scn_2", "scn_3", "scn_4", "scn_1"]
    );
    let page = ListQuery {
        offset: 1,
        limit: 2,
        order: Order {
            key: OrderKey::CreateTime,
            descending: true,
        },
        ..Default::default()
    };
    assert_eq!(ids(page), (vec!["scn_3".into(), "scn_2".into()], 4));
}

fn calibrations_replace_by_name(db: &Arc<dyn Backend>) {
    use crate::estimator::{Calibration, Tuning};
    let calibration = |name: &str, scale: f64| Calibration {
        name: name.into(),
        tuning: Tuning {
            bandwidth_scale: scale,
            compute_scale: 0.5,
            allreduce_latency_s: 1e-5,
        },
        expected_error: 0.125,
        points: 7,
    };
    let before = db.store_epoch().unwrap();
    db.save_calibration(&calibration("b", 0.9), 1).unwrap();
    db.save_calibration(&calibration("a", 0.8), 1).unwrap();
    db.save_calibration(&calibration("b", 0.7), 2).unwrap();
    let kept = db.calibrations().unwrap();
    assert_eq!(kept, [calibration("a", 0.8), calibration("b", 0.7)]);
    assert!(db.store_epoch().unwrap() > before);
}

fn run(id: &str, scenario: &str, kind: &str, at: i64, job: Option<&str>) -> StoredRun {
    StoredRun {
        id: id.into(),
        scenario_id: scenario.into(),
        scenario_revision: 1,
        team: "ml".into(),
        kind: kind.into(),
        created_at: at,
        job_id: job.map(str::to_string),
        engine_version: "e1".into(),
        catalog_version: "c1".into(),
        key_figures: vec![9],
        inputs: vec![1; 100],
        output: vec![2; 200],
    }
}

fn runs_are_kept_and_listed_newest_first(db: &Arc<dyn Backend>) {
    db.create("scn_a", &fields("a", &[]), 1).unwrap();
    db.insert_run(&run("run_1", "scn_a", "projection", 10, None))
        .unwrap();
    db.insert_run(&run("run_2", "scn_a", "simulation", 20, None))
        .unwrap();
    // A run of a deleted scenario is kept all the same.
    db.insert_run(&run("run_3", "scn_gone", "projection", 30, None))
        .unwrap();
    assert_eq!(
        db.get_run("run_2").unwrap(),
        run("run_2", "scn_a", "simulation", 20, None)
    );
    assert_eq!(db.get("scn_a").unwrap().last_run_at, Some(20));
    let listed = db
        .list_runs(&RunQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    let ids: Vec<_> = listed.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["run_3", "run_2", "run_1"]);
    assert!(
        listed
            .items
            .iter()
            .all(|r| r.inputs.is_empty() && r.output.is_empty())
    );
    let of = |query: RunQuery| {
        db.list_runs(&RunQuery { limit: 10, ..query })
            .unwrap()
            .total
    };
    let by_scenario = RunQuery {
        scenario_id: "scn_a".into(),
        ..Default::default()
    };
    assert_eq!(of(by_scenario), 2);
    let by_kind = RunQuery {
        kind: "projection".into(),
        ..Default::default()
    };
    assert_eq!(of(by_kind), 2);
    assert!(
        db.insert_run(&run("run_1", "scn_a", "projection", 40, None))
            .is_err()
    );
}

fn unknown_ids_are_not_found(db: &Arc<dyn Backend>) {
    let found = |r: Result<()>| matches!(r, Err(Error::NotFound(_)));
    assert!(found(db.get("scn_x").map(drop)));
    assert!(found(db.scenario_exists("scn_x")));
    assert!(found(db.record_run("scn_x", 1)));
    assert!(found(db.delete("scn_x", &Expected::default())));
    assert!(found(
        db.update("scn_x", &fields("a", &[]), &Expected::default(), 1)
            .map(drop)
    ));
    assert!(found(db.get_run("run_x").map(drop)));
    assert!(found(db.get_job("job_x", true).map(drop)));
    assert!(found(db.cancel_job("job_x", 1).map(drop)));
    assert!(found(db.custom_entry("hardware", "x").map(drop)));
    assert!(found(db.delete_custom_entry("hardware", "x")));
    let key = LeaseKey {
        job_id: "job_x".into(),
        index: 0,
        attempt: 1,
    };
    assert!(found(
        db.finish_item(&key, &ItemResult::Failed("x".into()), 1)
            .map(drop)
    ));
}

fn job(items: usize) -> NewJob {
    NewJob {
        name: "sweep".into(),
        team: "ml".into(),
        options: vec![7, 7],
        items: (0..items)
            .map(|i| NewItem {
                label: format!("item {i}"),
                scenario_id: "scn_a".into(),
                scenario_revision: 3,
                scenario: vec![i as u8],
            })
            .collect(),
    }
}

fn lease(owner: &str, ttl: Duration) -> Lease {
    Lease {
        owner: owner.into(),
        ttl,
        max_attempts: 5,
    }
}

fn succeed(db: &Arc<dyn Backend>, item: &PendingItem) -> bool {
    let mut run = run(
        &jobs::item_run_id(&item.job_id, item.index),
        &item.scenario_id,
        "projection",
        100,
        Some(&item.job_id),
    );
    run.scenario_revision = item.scenario_revision;
    db.finish_item(&item.key(), &ItemResult::Succeeded(Box::new(run)), 100)
        .unwrap()
}

fn runs_of(db: &Arc<dyn Backend>, job_id: &str) -> u64 {
    db.list_runs(&RunQuery {
        job_id: job_id.into(),
        limit: 1000,
        ..Default::default()
    })
    .unwrap()
    .total
}

fn items_are_claimed_once_and_finished_once(db: &Arc<dyn Backend>) {
    let a = lease("a", Duration::from_secs(60));
    let first = db.create_job("job_1", &job(3), 5).unwrap();
    assert_eq!((first.total, first.pending, first.cancelled), (3, 3, false));
    assert_eq!(db.open_jobs().unwrap(), 1);
    let claimed = db.claim_items(&a, 2).unwrap();
    let got: Vec<_> = claimed.iter().map(|i| (i.index, i.attempt)).collect();
    assert_eq!(got, [(0, 1), (1, 1)]);
    assert_eq!(claimed[1].scenario, [1]);
    assert_eq!(claimed[1].options, [7, 7]);
    assert_eq!(claimed[1].team, "ml");
    assert_eq!(claimed[1].scenario_revision, 3);
    let rest = db
        .claim_items(&lease("b", Duration::from_secs(60)), 5)
        .unwrap();
    assert_eq!(rest.iter().map(|i| i.index).collect::<Vec<_>>(), [2]);
    assert!(db.claim_items(&a, 5).unwrap().is_empty());
    let keys: Vec<_> = claimed.iter().map(PendingItem::key).collect();
    assert_eq!(db.heartbeat(&a, &keys).unwrap(), keys);
    // Someone else's heartbeat extends nothing.
    assert!(
        db.heartbeat(&lease("b", Duration::from_secs(60)), &keys)
            .unwrap()
            .is_empty()
    );
    assert!(succeed(db, &claimed[0]));
    assert!(!succeed(db, &claimed[0]), "finished twice");
    assert!(
        db.finish_item(
            &claimed[1].key(),
            &ItemResult::Failed("bad input".into()),
            101
        )
        .unwrap()
    );
    assert!(succeed(db, &rest[0]));
    let done = db.get_job("job_1", true).unwrap();
    assert_eq!(
        (done.pending, done.succeeded, done.failed, done.updated_at),
        (0, 2, 1, 101)
    );
    assert_eq!(done.items[1].error, "bad input");
    assert_eq!(
        done.items[0].run_id.as_deref(),
        Some(jobs::item_run_id("job_1", 0).as_str())
    );
    assert_eq!(runs_of(db, "job_1"), 2);
    assert_eq!(db.open_jobs().unwrap(), 0);
    let listed = db.list_jobs("ml", 0, 10).unwrap();
    assert_eq!((listed.total, listed.items[0].succeeded), (1, 2));
    assert_eq!(db.list_jobs("other", 0, 10).unwrap().total, 0);
}

fn a_late_completion_is_fenced_off(db: &Arc<dyn Backend>) {
    db.create_job("job_1", &job(1), 5).unwrap();
    let a = lease("a", Duration::from_millis(300));
    let b = lease("b", Duration::from_secs(60));
    let held = db.claim_items(&a, 1).unwrap();
    assert!(
        db.claim_items(&b, 1).unwrap().is_empty(),
        "a live lease was taken"
    );
    std::thread::sleep(Duration::from_millis(600));
    let taken = db.claim_items(&b, 1).unwrap();
    assert_eq!((taken[0].index, taken[0].attempt), (0, 2));
    // A wakes up: its lease is gone, its result refused.
    assert!(db.heartbeat(&a, &[held[0].key()]).unwrap().is_empty());
    assert!(!succeed(db, &held[0]));
    assert_eq!(runs_of(db, "job_1"), 0);
    assert!(succeed(db, &taken[0]));
    assert!(!succeed(db, &held[0]));
    assert_eq!(runs_of(db, "job_1"), 1);
}

fn concurrent_claims_never_share_an_item(db: &Arc<dyn Backend>) {
    db.create_job("job_1", &job(200), 5).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let db = Arc::clone(db);
            std::thread::spawn(move || {
                let me = lease(&format!("runner-{t}"), Duration::from_secs(60));
                let mut mine = Vec::new();
                loop {
                    let claimed = db.claim_items(&me, 1 + t % 3).unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    for item in claimed {
                        assert!(succeed(&db, &item), "{item:?} refused");
                        mine.push(item.index);
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for thread in threads {
        all.extend(thread.join().unwrap());
    }
    assert_eq!(all.len(), 200);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 200);
    assert_eq!(runs_of(db, "job_1"), 200);
    assert_eq!(db.get_job("job_1", false).unwrap().succeeded, 200);
}

fn an_item_fails_after_its_last_attempt(db: &Arc<dyn Backend>) {
    db.create_job("job_1", &job(1), 5).unwrap();
    let short = Lease {
        max_attempts: 2,
        ..lease("a", Duration::from_millis(100))
    };
    for attempt in 1..=2 {
        let claimed = db.claim_items(&short, 1).unwrap();
        assert_eq!(claimed[0].attempt, attempt);
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(db.claim_items(&short, 1).unwrap().is_empty());
    let job = db.get_job("job_1", true).unwrap();
    assert_eq!((job.pending, job.failed), (0, 1));
    assert_eq!(job.items[0].error, short.abandoned());
}

fn released_leases_are_taken_at_once(db: &Arc<dyn Backend>) {
    db.create_job("job_1", &job(2), 5).unwrap();
    let a = lease("a", Duration::from_secs(60));
    let b = lease("b", Duration::from_secs(60));
    let held = db.claim_items(&a, 2).unwrap();
    assert_eq!(db.release_leases(Some("b")).unwrap(), 0);
    assert_eq!(db.release_leases(Some("a")).unwrap(), 2);
    let taken = db.claim_items(&b, 2).unwrap();
    // A released claim does not count as an attempt.
    assert_eq!(taken.iter().map(|i| i.attempt).collect::<Vec<_>>(), [1, 1]);
    assert!(db.heartbeat(&a, &[held[0].key()]).unwrap().is_empty());
    assert_eq!(db.release_leases(None).unwrap(), 2);
}

fn cancelling_a_job_loses_its_leases(db: &Arc<dyn Backend>) {
    db.create_job("job_1", &job(3), 5).unwrap();
    let a = lease("a", Duration::from_secs(60));
    let held = db.claim_items(&a, 1).unwrap();
    assert!(succeed(db, &held[0]));
    let held = db.claim_items(&a, 1).unwrap();
    let cancelled = db.cancel_job("job_1", 9).unwrap();
    assert!(cancelled.cancelled);
    assert_eq!(
        (
            cancelled.succeeded,
            cancelled.cancelled_items,
            cancelled.pending
        ),
        (1, 2, 0)
    );
    assert!(db.heartbeat(&a, &[held[0].key()]).unwrap().is_empty());
    assert!(!succeed(db, &held[0]));
    assert!(db.claim_items(&a, 5).unwrap().is_empty());
    // Cancelling a finished job changes nothing.
    assert_eq!(db.cancel_job("job_1", 10).unwrap().updated_at, 9);
}

fn custom_entries_and_imports_move_the_epoch(db: &Arc<dyn Backend>) {
    let entry = |name: &str, text: &str| CustomEntry {
        kind: "hardware".into(),
        name: name.into(),
        team: "ml".into(),
        text: text.into(),
        revision: 0,
        created_at: 0,
        updated_at: 0,
    };
    let e0 = db.store_epoch().unwrap();
    let saved = db
        .put_custom_entry(&entry("gpu-b", "v1"), true, None, 10)
        .unwrap();
    assert_eq!((saved.revision, saved.created_at), (1, 10));
    let e1 = db.store_epoch().unwrap();
    assert!(e1 > e0);
    assert!(matches!(
        db.put_custom_entry(&entry("gpu-b", "v1"), true, None, 11),
        Err(Error::AlreadyExists(_))
    ));
    assert!(matches!(
        db.put_custom_entry(&entry("gpu-b", "v2"), false, Some(7), 11),
        Err(Error::Aborted(_))
    ));
    assert!(matches!(
        db.put_custom_entry(&entry("gpu-c", "v2"), false, None, 11),
        Err(Error::NotFound(_))
    ));
    let next = db
        .put_custom_entry(&entry("gpu-b", "v2"), false, Some(1), 10)
        .unwrap();
    assert_eq!(
        (next.revision, next.updated_at, next.created_at),
        (2, 11, 10)
    );
    db.put_custom_entry(&entry("gpu-a", "a"), true, None, 12)
        .unwrap();
    let names: Vec<_> = db
        .custom_entries()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.text))
        .collect();
    assert_eq!(
        names,
        [("gpu-a".into(), "a".into()), ("gpu-b".into(), "v2".into())]
    );
    assert_eq!(db.custom_entry("hardware", "gpu-b").unwrap(), next);
    let e2 = db.store_epoch().unwrap();
    db.delete_custom_entry("hardware", "gpu-a").unwrap();
    assert!(db.store_epoch().unwrap() > e2);
    let price = |team: &str, text: &str| ImportedPrice {
        team: team.into(),
        price_id: "gpt-4o".into(),
        effective_date: "2026-08-01".into(),
        path: "imported/gpt-4o/2026-08-01/prices/openai.toml".into(),
        text: text.into(),
        created_at: 0,
    };
    let e3 = db.store_epoch().unwrap();
    db.put_imported_prices(&[price("a", "v1")], 1).unwrap();
    db.put_imported_prices(&[price("a", "v2"), price("b", "b")], 2)
        .unwrap();
    assert!(db.store_epoch().unwrap() > e3);
    let texts: Vec<_> = db
        .imported_prices()
        .unwrap()
        .into_iter()
        .map(|p| (p.team, p.text, p.created_at))
        .collect();
    assert_eq!(
        texts,
        [("a".into(), "v2".into(), 2), ("b".into(), "b".into(), 2)]
    );
}
