//! Speed of one throughput estimate: `cargo bench --bench estimator`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use breakeven::catalog::{Catalog, Precision};
use breakeven::estimator::{self, Calibration, Query, Targets, Workload};

fn estimate_throughput(c: &mut Criterion) {
    let catalog = Catalog::embedded().expect("catalogue");
    let calibration = Calibration::defaults();
    let query = |model: &str, gpu: &str, precision, concurrency| Query {
        model: model.into(),
        gpu: gpu.into(),
        weight_precision: precision,
        kv_precision: precision,
        tensor_parallel: 0,
        layout: None,
        workload: Workload {
            input_tokens: 1000,
            output_tokens: 300,
            concurrency,
        },
        targets: Targets {
            ttft_s: Some(2.0),
            tpot_s: Some(0.05),
        },
    };
    let cases = [
        (
            "llama-3.1-70b fp8 h100 best-within-targets",
            query("llama-3.1-70b", "h100-sxm", Precision::Fp8, 0),
        ),
        (
            "llama-3.1-70b fp8 h100 concurrency 64",
            query("llama-3.1-70b", "h100-sxm", Precision::Fp8, 64),
        ),
        // Two layouts are tried (experts spread under tensor-parallel and
        // under data-parallel attention), each searched for its best point
        // within the targets: the slowest single estimate.
        (
            "deepseek-v3 fp8 h200 best-within-targets",
            query("deepseek-v3", "h200", Precision::Fp8, 0),
        ),
    ];
    for (name, q) in cases {
        c.bench_function(&format!("estimate {name}"), |b| {
            b.iter(|| estimator::estimate(&catalog, black_box(&q), &calibration).unwrap())
        });
    }
}

criterion_group!(benches, estimate_throughput);
criterion_main!(benches);
