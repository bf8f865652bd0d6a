//! Job item claims per second with 16 runners claiming at once: each
//! claim takes one item under a lease and finishes it with a small run in
//! the fenced transaction, on the SQLite backend and on PostgreSQL (the
//! server the test suite uses; see `breakeven::store::testdb`).
//!
//! `cargo bench --bench claims`; prints one line per backend.

use std::sync::Arc;
use std::time::{Duration, Instant};

use breakeven::store::jobs::item_run_id;
use breakeven::store::{
    Backend, ItemResult, Lease, NewItem, NewJob, Postgres, Sqlite, StoredRun, testdb,
};

const RUNNERS: usize = 16;
const JOBS: usize = 4;
const ITEMS: usize = 1000;

fn fill(db: &dyn Backend) {
    for j in 0..JOBS {
        let job = NewJob {
            name: format!("bench {j}"),
            team: String::new(),
            options: vec![0; 16],
            items: (0..ITEMS)
                .map(|i| NewItem {
                    label: format!("item {i}"),
                    scenario_id: "scn_bench".into(),
                    scenario_revision: 1,
                    scenario: vec![1; 200],
                })
                .collect(),
        };
        db.create_job(&format!("job_{j:04}"), &job, j as i64)
            .unwrap();
    }
}

/// Claims and finishes every item with `RUNNERS` threads; claims per
/// second.
fn drain(db: Arc<dyn Backend>) -> f64 {
    let start = Instant::now();
    let threads: Vec<_> = (0..RUNNERS)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let lease = Lease {
                    ttl: Duration::from_secs(60),
                    ..Lease::new()
                };
                let mut claimed = 0u64;
                while let Some(item) = db.claim_items(&lease, 1).unwrap().pop() {
                    let run = StoredRun {
                        id: item_run_id(&item.job_id, item.index),
                        scenario_id: item.scenario_id.clone(),
                        scenario_revision: item.scenario_revision,
                        team: String::new(),
                        kind: "projection".into(),
                        created_at: 1,
                        job_id: Some(item.job_id.clone()),
                        engine_version: "bench".into(),
                        catalog_version: "bench".into(),
                        key_figures: vec![0; 64],
                        inputs: vec![0; 2048],
                        output: vec![0; 8192],
                    };
                    assert!(
                        db.finish_item(&item.key(), &ItemResult::Succeeded(Box::new(run)), 2)
                            .unwrap()
                    );
                    claimed += 1;
                }
                claimed
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total as usize, JOBS * ITEMS);
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let path = std::env::temp_dir().join(format!("breakeven-claims-{}.db", std::process::id()));
    let sqlite = Sqlite::open(&path, Default::default()).unwrap();
    fill(&sqlite);
    let rate = drain(Arc::new(sqlite));
    println!(
        "sqlite      {RUNNERS} runners, {} items: {rate:.0} claims/s (claim + fenced finish with its run)",
        JOBS * ITEMS
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }

    let schema = testdb::schema();
    let options = breakeven::store::PostgresOptions {
        pool_size: RUNNERS,
        ..Default::default()
    };
    let postgres = Postgres::open(&schema.url, options).unwrap();
    fill(&postgres);
    let rate = drain(Arc::new(postgres));
    println!(
        "postgresql  {RUNNERS} runners, {} items: {rate:.0} claims/s (claim + fenced finish with its run)",
        JOBS * ITEMS
    );
}
