//! A simulation on one machine in-process against the same run split into
//! slices through PostgreSQL: every slice computed, encoded, stored as a
//! leased task's part, read back, decoded and merged in chunk order. Run
//! with one worker (all cores, slices one after another: the pure cost of
//! splitting) and with two workers claiming slices at once, half the
//! cores each (two replicas sharing this machine). Prints the times and
//! the overhead; checks the merged result is the local one to the bit.
//!
//! `cargo bench --bench split` (10,000,000 paths × 60 months; set
//! `BENCH_PATHS` for fewer).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use breakeven::catalog::Catalog;
use breakeven::estimator::Calibration;
use breakeven::montecarlo::split::{self, SlicePart};
use breakeven::montecarlo::{Settings, simulate};
use breakeven::speed::{BENCH_SCENARIO, bench_stochastic};
use breakeven::store::{Backend, Lease, Postgres, testdb};
use breakeven::tco::{self, Basis, Scenario};

fn main() {
    let paths: u64 = std::env::var("BENCH_PATHS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(10_000_000);
    let catalog = Catalog::embedded().expect("catalogue");
    let calibration = Calibration::defaults();
    let scenario = Scenario::from_toml(BENCH_SCENARIO).expect("scenario");
    let plan = tco::plan(&catalog, &scenario, &calibration, "").unwrap();
    let stochastic = bench_stochastic();
    let settings = Settings {
        paths,
        seed: 1,
        antithetic: true,
        basis: Basis::ProfitAndLoss,
        tornado_paths: 0,
        finance: None,
    };
    let cancel = AtomicBool::new(false);
    let cores = rayon::current_num_threads();

    let start = Instant::now();
    let local = simulate(&plan, &stochastic, &settings, &cancel, |_| {}).unwrap();
    let t_local = start.elapsed();
    println!(
        "{paths} paths x 60 months, {cores} threads, in-process: {:.2} s",
        t_local.as_secs_f64()
    );

    let schema = testdb::schema();
    let db = Arc::new(Postgres::open(&schema.url, Default::default()).unwrap());
    let slices = split::slices(paths, split::SLICE_CHUNKS);
    for workers in [1usize, 2] {
        let start = Instant::now();
        let id = format!("sim_bench_{workers}");
        db.create_sim_run(&id, "bench", b"", &slices, Duration::from_secs(600))
            .unwrap();
        let mut compute = Duration::ZERO;
        let mut stored_bytes = 0usize;
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                let db = Arc::clone(&db);
                let (plan, stochastic, settings) =
                    (plan.clone(), stochastic.clone(), settings.clone());
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads((cores / workers).max(1))
                    .build()
                    .unwrap();
                std::thread::spawn(move || {
                    let lease = Lease {
                        ttl: Duration::from_secs(600),
                        ..Lease::new()
                    };
                    let (mut compute, mut bytes) = (Duration::ZERO, 0usize);
                    let cancel = AtomicBool::new(false);
                    while let Some(slice) = db.claim_slice(&lease, "bench").unwrap() {
                        let t = Instant::now();
                        let part = pool.install(|| {
                            split::run_slice(
                                &plan,
                                &stochastic,
                                &settings,
                                slice.first_chunk,
                                slice.chunks,
                                &cancel,
                            )
                            .unwrap()
                        });
                        compute += t.elapsed();
                        let encoded = part.encode();
                        bytes += encoded.len();
                        assert!(db.finish_slice(&slice.key, &encoded).unwrap());
                    }
                    (compute, bytes)
                })
            })
            .collect();
        for t in threads {
            let (c, b) = t.join().unwrap();
            compute += c;
            stored_bytes += b;
        }
        let t_merge = Instant::now();
        let parts = db
            .sim_run_parts(&id)
            .unwrap()
            .iter()
            .map(|b| SlicePart::decode(b).unwrap())
            .collect();
        let merged = split::merge(&plan, &stochastic, &settings, parts, &cancel).unwrap();
        let t_merge = t_merge.elapsed();
        db.end_sim_run(&id).unwrap();
        let total = start.elapsed();
        assert_eq!(
            format!("{merged:?}"),
            format!("{local:?}"),
            "not bit-identical"
        );
        println!(
            "split through PostgreSQL, {workers} worker(s) of {} threads, {} slices: {:.2} s \
             ({:+.1}% against in-process; slices computing {:.2} s of worker time, \
             {:.1} MB of parts stored, read back and merged in {:.2} s)",
            (cores / workers).max(1),
            slices.len(),
            total.as_secs_f64(),
            (total.as_secs_f64() / t_local.as_secs_f64() - 1.0) * 100.0,
            compute.as_secs_f64(),
            stored_bytes as f64 / 1e6,
            t_merge.as_secs_f64(),
        );
    }
}
