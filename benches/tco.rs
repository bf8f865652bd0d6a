//! Speed of the TCO model: `cargo bench --bench tco`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use breakeven::catalog::Catalog;
use breakeven::estimator::Calibration;
use breakeven::speed::BENCH_SCENARIO;
use breakeven::tco::{self, Basis, PathInputs, Scenario};

fn tco(c: &mut Criterion) {
    let catalog = Catalog::embedded().expect("catalogue");
    let calibration = Calibration::defaults();
    let mut scenario = Scenario::from_toml(BENCH_SCENARIO).expect("scenario");
    scenario.horizon_months = 240;
    c.bench_function("Project 240 months end to end", |b| {
        b.iter(|| {
            tco::project(
                &catalog,
                black_box(&scenario),
                &calibration,
                Basis::ProfitAndLoss,
            )
            .unwrap()
        })
    });
    let plan = tco::plan(&catalog, &scenario, &calibration, "").unwrap();
    let mut months = Vec::with_capacity(240);
    c.bench_function("per-path core, 240 months", |b| {
        b.iter(|| {
            plan.run(black_box(&PathInputs::default()), &mut months);
            black_box(&months);
        })
    });
}

criterion_group!(benches, tco);
criterion_main!(benches);
