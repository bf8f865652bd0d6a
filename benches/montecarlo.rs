//! Speed of the Monte Carlo engine: `cargo bench --bench montecarlo`.
//! `breakeven speed --paths 1000000` prints the 1,000,000 × 60 figure, and
//! `benches/numpy/compare.sh` sets it against a NumPy implementation of the
//! same run (see `benches/README.md`).

use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use breakeven::catalog::Catalog;
use breakeven::estimator::Calibration;
use breakeven::montecarlo::{Settings, simulate};
use breakeven::speed::{BENCH_SCENARIO, bench_stochastic};
use breakeven::tco::{self, Basis, Scenario};

fn montecarlo(c: &mut Criterion) {
    let catalog = Catalog::embedded().expect("catalogue");
    let calibration = Calibration::defaults();
    let scenario = Scenario::from_toml(BENCH_SCENARIO).expect("scenario");
    let plan = tco::plan(&catalog, &scenario, &calibration, "").unwrap();
    let stochastic = bench_stochastic();
    let paths = 20_000;
    let settings = Settings {
        paths,
        seed: 1,
        antithetic: true,
        basis: Basis::ProfitAndLoss,
        tornado_paths: 0,
        finance: None,
    };
    let mut group = c.benchmark_group("montecarlo");
    group.sample_size(10);
    group.throughput(Throughput::Elements(paths * 60));
    group.bench_function("20,000 paths x 60 months (elements = path-months)", |b| {
        b.iter(|| {
            simulate(
                &plan,
                &stochastic,
                &settings,
                &AtomicBool::new(false),
                |_| {},
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, montecarlo);
criterion_main!(benches);
