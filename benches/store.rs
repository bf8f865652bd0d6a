//! Speed of listing saved scenarios from SQLite: `cargo bench --bench store`.
//!
//! 10,000 scenarios in a temporary file; each case reads one page through
//! `Store::list`, the path a ListScenarios call takes (blocking pool
//! included). The target is well under 50 ms a page.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};

use breakeven::store::{
    Backend, ListQuery, Order, OrderKey, ScenarioFields, Sqlite, SqliteOptions, Store,
};

const SCENARIOS: usize = 10_000;

/// The database file, removed with its WAL when the bench ends.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

fn list_scenarios(c: &mut Criterion) {
    let file = TempDb(
        std::env::temp_dir().join(format!("breakeven-bench-store-{}.db", std::process::id())),
    );
    let backend = Sqlite::open(&file.0, SqliteOptions::default()).expect("database opens");
    // About the size of an encoded scenario with an owned deployment.
    let body = vec![0x2a; 400];
    for i in 0..SCENARIOS {
        let mut tags = vec![format!("quarter-{}", i % 4)];
        if i % 10 == 0 {
            tags.push("reviewed".into());
        }
        let fields = ScenarioFields {
            name: format!("{} scenario {i:05}", ["chatbot", "search", "agents"][i % 3]),
            team: format!("team-{}", i % 8),
            tags,
            description: "a saved scenario for the benchmark".into(),
            body: body.clone(),
        };
        backend
            .create(
                &format!("scn_{i:016x}"),
                &fields,
                1_700_000_000_000 + i as i64,
            )
            .expect("seed");
    }
    let store = Store::new(backend);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let query = |name: &str, key, offset| ListQuery {
        name_contains: name.into(),
        order: Order {
            key,
            descending: false,
        },
        offset,
        limit: 50,
        ..Default::default()
    };
    let cases = [
        (
            "name contains, by creation, first page",
            query("search", OrderKey::CreateTime, 0),
        ),
        (
            "name contains, by name, page 40",
            query("agents", OrderKey::Name, 2000),
        ),
        (
            "name contains, no match",
            query("nothing like it", OrderKey::CreateTime, 0),
        ),
        (
            "name contains + tag + team, first page",
            ListQuery {
                tag: "reviewed".into(),
                team: "team-2".into(),
                ..query("chatbot", OrderKey::CreateTime, 0)
            },
        ),
    ];
    let mut group = c.benchmark_group("list 10,000 saved scenarios");
    for (name, q) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(store.list(black_box(q.clone())))
                    .expect("list")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, list_scenarios);
criterion_main!(benches);
