//! EstimatorService through the generated client against a real server.

mod common;

use breakeven::estimator::calibrate;
use breakeven::estimator::{MeasuredPoint, Metric};
use breakeven::grpc::pb;
use breakeven::grpc::pb::estimator_service_client::EstimatorServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

const MEASUREMENTS: &str = include_str!("data/measured_throughput.csv");

async fn estimator(server: &common::TestServer) -> EstimatorServiceClient<Channel> {
    EstimatorServiceClient::new(server.channel().await)
}

fn request(
    model: &str,
    gpu: &str,
    weights: pb::Precision,
    input: u32,
    output: u32,
    concurrency: u32,
) -> pb::EstimateThroughputRequest {
    pb::EstimateThroughputRequest {
        model_id: model.into(),
        gpu_id: gpu.into(),
        weight_precision: weights.into(),
        workload: Some(pb::Workload {
            input_tokens: input,
            output_tokens: output,
            concurrency,
        }),
        ..Default::default()
    }
}

/// Llama 3.1 70B in FP8 on H100 SXM, 1000 tokens in and 300 out, at the
/// concurrency the server picks.
fn llama_70b_fp8_on_h100() -> pb::EstimateThroughputRequest {
    request(
        "llama-3.1-70b",
        "h100-sxm",
        pb::Precision::Fp8,
        1000,
        300,
        0,
    )
}

/// The fields named by an INVALID_ARGUMENT status's BadRequest details.
fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .expect("BadRequest details")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

fn assert_positive(name: &str, value: f64) {
    assert!(value.is_finite() && value > 0.0, "{name} = {value}");
}

/// Measured rows of the public table whose id starts with `prefix`, as
/// Calibrate takes them.
fn measured_rows(prefix: &str) -> Vec<pb::MeasuredPoint> {
    let points: Vec<MeasuredPoint> = calibrate::parse_csv(MEASUREMENTS)
        .expect("measurement table parses")
        .into_iter()
        .filter(|p| p.id.starts_with(prefix) && p.metric == Metric::OutputTokensPerSecondPerGpu)
        .collect();
    assert!(points.len() >= 4, "{prefix}: {} rows", points.len());
    points
        .into_iter()
        .map(|p| pb::MeasuredPoint {
            id: p.id,
            model_id: p.model,
            gpu_id: p.gpu,
            weight_precision: pb::Precision::from(p.weight_precision).into(),
            kv_cache_precision: pb::Precision::from(p.kv_precision).into(),
            tensor_parallel: p.tensor_parallel,
            input_tokens: p.input_tokens,
            output_tokens: p.output_tokens,
            concurrency: p.concurrency,
            metric: pb::MeasuredMetric::OutputTokensPerSecondPerGpu.into(),
            value: p.value,
        })
        .collect()
}

#[tokio::test]
async fn an_estimate_reports_throughput_memory_parallelism_and_cost() {
    let server = common::TestServer::start().await;
    let e = estimator(&server)
        .await
        .estimate_throughput(llama_70b_fp8_on_h100())
        .await
        .unwrap()
        .into_inner();

    assert_positive("output tokens/s/GPU", e.output_tokens_per_second_per_gpu);
    assert!(e.total_tokens_per_second_per_gpu > e.output_tokens_per_second_per_gpu);
    assert_positive("ttft", e.ttft_seconds);
    assert_positive("tpot", e.tpot_seconds);
    assert!((e.tokens_per_second_per_user * e.tpot_seconds - 1.0).abs() < 1e-9);
    assert!(e.concurrency >= 1);

    let memory = e.memory.expect("memory breakdown");
    // 70.6 B parameters at one byte each.
    assert!(
        (memory.weights_gb - 70.6).abs() < 0.5,
        "{}",
        memory.weights_gb
    );
    // 80 layers × (K and V) × 8 KV heads × 128 dims × 1 byte (FP8 KV, the
    // default with FP8 weights).
    assert_eq!(memory.kv_bytes_per_token, 163_840.0);
    assert!(memory.weights_gb_per_gpu < memory.usable_gb_per_gpu);
    assert_positive("kv capacity", memory.kv_capacity_tokens);
    assert!(memory.max_concurrent_sequences >= e.concurrency);

    // 70.6 GB of weights leave too little KV cache on one 80 GB GPU.
    assert_eq!(e.tensor_parallel, 2);
    assert_ne!(e.bound(), pb::Bound::Unspecified);
    assert!(e.meets_targets, "no targets were set");
    assert_eq!(e.calibration, "default");
    assert_positive("expected error", e.expected_error);
    assert_positive("cost per M output", e.cost_per_million_output_tokens_usd);
    assert_positive("cost per M total", e.cost_per_million_total_tokens_usd);
    assert!(e.cost_per_million_total_tokens_usd < e.cost_per_million_output_tokens_usd);
}

#[tokio::test]
async fn a_tpot_target_holds_at_a_lower_concurrency() {
    let server = common::TestServer::start().await;
    let mut client = estimator(&server).await;
    let free = client
        .estimate_throughput(llama_70b_fp8_on_h100())
        .await
        .unwrap()
        .into_inner();
    let target = free.tpot_seconds / 3.0;
    let tight = client
        .estimate_throughput(pb::EstimateThroughputRequest {
            targets: Some(pb::LatencyTargets {
                tpot_seconds: target,
                ..Default::default()
            }),
            ..llama_70b_fp8_on_h100()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tight.meets_targets);
    assert!(
        tight.tpot_seconds <= target,
        "{} > {target}",
        tight.tpot_seconds
    );
    assert!(tight.concurrency < free.concurrency);
    assert!(tight.output_tokens_per_second_per_gpu < free.output_tokens_per_second_per_gpu);
}

#[tokio::test]
async fn a_model_that_does_not_fit_says_how_many_gb_short() {
    let server = common::TestServer::start().await;
    let status = estimator(&server)
        .await
        .estimate_throughput(request(
            "llama-3.1-405b",
            "l4",
            pb::Precision::Bf16,
            1000,
            300,
            0,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let message = status.message();
    let (before, _) = message.split_once(" GB short").expect(message);
    let short: f64 = before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before \"GB short\": {message}"));
    assert!(short.is_finite() && short > 0.0, "{message}");
}

#[tokio::test]
async fn invalid_arguments_name_their_field() {
    let server = common::TestServer::start().await;
    let mut client = estimator(&server).await;
    let base = || {
        request(
            "llama-3.1-8b",
            "h100-sxm",
            pb::Precision::Bf16,
            1000,
            300,
            0,
        )
    };
    let workload = |input, output, concurrency| {
        Some(pb::Workload {
            input_tokens: input,
            output_tokens: output,
            concurrency,
        })
    };
    let cases: Vec<(&str, pb::EstimateThroughputRequest)> = vec![
        (
            "weight_precision",
            request(
                "llama-3.1-8b",
                "a100-80gb",
                pb::Precision::Fp8,
                1000,
                300,
                0,
            ),
        ),
        (
            "workload.input_tokens",
            pb::EstimateThroughputRequest {
                workload: workload(0, 300, 0),
                ..base()
            },
        ),
        (
            "workload.output_tokens",
            pb::EstimateThroughputRequest {
                workload: workload(1000, 0, 0),
                ..base()
            },
        ),
        (
            "workload.input_tokens",
            pb::EstimateThroughputRequest {
                // Beyond Llama 3.1's 128k context.
                workload: workload(200_000, 300, 0),
                ..base()
            },
        ),
        (
            "targets.tpot_seconds",
            pb::EstimateThroughputRequest {
                targets: Some(pb::LatencyTargets {
                    tpot_seconds: f64::NAN,
                    ..Default::default()
                }),
                ..base()
            },
        ),
        (
            "targets.ttft_seconds",
            pb::EstimateThroughputRequest {
                targets: Some(pb::LatencyTargets {
                    ttft_seconds: -1.0,
                    ..Default::default()
                }),
                ..base()
            },
        ),
        (
            "workload",
            pb::EstimateThroughputRequest {
                workload: None,
                ..base()
            },
        ),
        (
            "workload.concurrency",
            pb::EstimateThroughputRequest {
                workload: workload(1000, 300, 2_000_000),
                ..base()
            },
        ),
        (
            "tensor_parallel",
            pb::EstimateThroughputRequest {
                tensor_parallel: 3,
                ..base()
            },
        ),
        (
            "weight_precision",
            pb::EstimateThroughputRequest {
                weight_precision: 99,
                ..base()
            },
        ),
        (
            "kv_cache_precision",
            pb::EstimateThroughputRequest {
                kv_cache_precision: 99,
                ..base()
            },
        ),
        (
            "model_id",
            pb::EstimateThroughputRequest {
                model_id: String::new(),
                ..base()
            },
        ),
        (
            "gpu_id",
            pb::EstimateThroughputRequest {
                gpu_id: String::new(),
                ..base()
            },
        ),
    ];
    for (field, req) in cases {
        let status = client.estimate_throughput(req).await.unwrap_err();
        assert_eq!(violated_fields(&status), [field], "{status:?}");
    }
}

#[tokio::test]
async fn unknown_models_gpus_and_calibrations_are_not_found_and_named() {
    let server = common::TestServer::start().await;
    let mut client = estimator(&server).await;
    let base = || {
        request(
            "llama-3.1-8b",
            "h100-sxm",
            pb::Precision::Bf16,
            1000,
            300,
            0,
        )
    };
    let cases = [
        (
            "llama-9",
            pb::EstimateThroughputRequest {
                model_id: "llama-9".into(),
                ..base()
            },
        ),
        (
            "h900",
            pb::EstimateThroughputRequest {
                gpu_id: "h900".into(),
                ..base()
            },
        ),
        (
            "lab-nowhere",
            pb::EstimateThroughputRequest {
                calibration: "lab-nowhere".into(),
                ..base()
            },
        ),
    ];
    for (name, req) in cases {
        let status = client.estimate_throughput(req).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{name}: {status:?}");
        assert!(status.message().contains(name), "{}", status.message());
    }
}

#[tokio::test]
async fn a_sweep_trades_interactivity_for_throughput() {
    let server = common::TestServer::start().await;
    let target = 0.02;
    let reply = estimator(&server)
        .await
        .sweep_concurrency(pb::SweepConcurrencyRequest {
            configuration: Some(pb::EstimateThroughputRequest {
                targets: Some(pb::LatencyTargets {
                    tpot_seconds: target,
                    ..Default::default()
                }),
                ..request("llama-3.1-8b", "h100-sxm", pb::Precision::Fp8, 1000, 300, 0)
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let points = &reply.points;
    assert!(points.len() > 3, "{} points", points.len());
    assert_eq!(points[0].concurrency, 1);
    for pair in points.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(b.concurrency > a.concurrency);
        assert!(b.output_tokens_per_second_per_gpu >= a.output_tokens_per_second_per_gpu);
        assert!(b.tokens_per_second_per_user <= a.tokens_per_second_per_user);
    }
    let last = points.last().unwrap();
    assert_eq!(
        last.concurrency,
        last.memory.unwrap().max_concurrent_sequences
    );
    assert!(
        points.iter().any(|p| !p.meets_targets),
        "the target should bind somewhere on the curve"
    );

    let best = reply.best.expect("best point");
    assert!(best.meets_targets);
    assert!(best.tpot_seconds <= target);
    for p in points.iter().filter(|p| p.meets_targets) {
        assert!(
            best.output_tokens_per_second_per_gpu >= p.output_tokens_per_second_per_gpu,
            "concurrency {} beats the best",
            p.concurrency
        );
    }
}

#[tokio::test]
async fn a_scaling_curve_covers_every_model_by_size() {
    let server = common::TestServer::start().await;
    let models = server
        .catalog()
        .await
        .list_models(pb::ListModelsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .models;
    let points = estimator(&server)
        .await
        .scaling_curve(pb::ScalingCurveRequest {
            gpu_id: "h100-sxm".into(),
            weight_precision: pb::Precision::Fp8.into(),
            workload: Some(pb::Workload {
                input_tokens: 1000,
                output_tokens: 300,
                concurrency: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .points;

    let mut expected: Vec<_> = models.iter().map(|m| m.id.as_str()).collect();
    let mut seen: Vec<_> = points.iter().map(|p| p.model_id.as_str()).collect();
    expected.sort_unstable();
    seen.sort_unstable();
    assert_eq!(seen, expected, "one point per catalogue model");
    assert!(
        points
            .windows(2)
            .all(|p| p[0].total_params_b <= p[1].total_params_b)
    );
    for p in &points {
        assert!(p.active_params_b <= p.total_params_b, "{}", p.model_id);
        match (&p.estimate, p.fits) {
            (Some(e), true) => {
                assert!(p.reason.is_empty(), "{}", p.model_id);
                assert_positive(&p.model_id, e.output_tokens_per_second_per_gpu);
            }
            (None, false) => assert!(p.reason.contains("GB"), "{}: {}", p.model_id, p.reason),
            (e, fits) => panic!("{}: fits {fits} with estimate {e:?}", p.model_id),
        }
    }
    let large: Vec<_> = points
        .iter()
        .filter(|p| p.total_params_b >= 400.0)
        .collect();
    assert!(!large.is_empty(), "a 405B-class model is in the catalogue");
    let small = points.first().unwrap();
    assert!(small.fits, "{}: {}", small.model_id, small.reason);
}

#[tokio::test]
async fn a_calibration_is_kept_under_its_name_and_carries_its_error() {
    let server = common::TestServer::start().await;
    let mut client = estimator(&server).await;
    let points = measured_rows("trtllm09-h200-");
    let fitted = client
        .calibrate(pb::CalibrateRequest {
            name: "lab-h200".into(),
            points: points.clone(),
            vllm_results: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fitted.name, "lab-h200");
    assert!(
        fitted.error_after <= fitted.error_before,
        "{} -> {}",
        fitted.error_before,
        fitted.error_after
    );
    assert_positive("bandwidth scale", fitted.bandwidth_scale);
    assert_positive("compute scale", fitted.compute_scale);
    assert_positive("all-reduce latency", fitted.allreduce_latency_seconds);
    assert_eq!(fitted.residuals.len(), points.len());
    for (residual, point) in fitted.residuals.iter().zip(&points) {
        assert_eq!(residual.id, point.id);
        assert_eq!(residual.measured, point.value);
        assert_positive(&residual.id, residual.predicted);
    }

    let calibrated = client
        .estimate_throughput(pb::EstimateThroughputRequest {
            calibration: "lab-h200".into(),
            ..request("llama-2-70b", "h200", pb::Precision::Fp8, 1000, 300, 0)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(calibrated.calibration, "lab-h200");
    assert_eq!(calibrated.expected_error, fitted.error_after);
}

#[tokio::test]
async fn calibrate_refuses_the_reserved_name_and_an_empty_set() {
    let server = common::TestServer::start().await;
    let mut client = estimator(&server).await;
    let reserved = client
        .calibrate(pb::CalibrateRequest {
            name: "default".into(),
            points: measured_rows("trtllm09-h200-"),
            vllm_results: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&reserved), ["name"]);
    let empty = client
        .calibrate(pb::CalibrateRequest {
            name: "lab-empty".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&empty), ["points"]);
}

/// A result file as `vllm bench serve --save-result` writes it (per-request
/// arrays trimmed): Llama 3.1 8B, 1000 random prompts of 1024 tokens in and
/// 256 out, at most 64 in flight.
const VLLM_RESULT: &str = r#"{
  "date": "20250612-141503",
  "backend": "vllm",
  "model_id": "meta-llama/Llama-3.1-8B-Instruct",
  "tokenizer_id": "meta-llama/Llama-3.1-8B-Instruct",
  "num_prompts": 1000,
  "request_rate": "inf",
  "burstiness": 1.0,
  "max_concurrency": 64,
  "duration": 70.0,
  "completed": 1000,
  "total_input_tokens": 1024000,
  "total_output_tokens": 256000,
  "request_throughput": 14.285714,
  "request_goodput": null,
  "output_throughput": 3657.142857,
  "total_token_throughput": 18285.714286,
  "mean_ttft_ms": 142.7,
  "median_ttft_ms": 121.3,
  "std_ttft_ms": 88.1,
  "p99_ttft_ms": 431.9,
  "mean_tpot_ms": 16.9,
  "median_tpot_ms": 16.7,
  "std_tpot_ms": 1.4,
  "p99_tpot_ms": 21.2,
  "mean_itl_ms": 16.8,
  "median_itl_ms": 15.2,
  "std_itl_ms": 9.6,
  "p99_itl_ms": 48.3,
  "input_lens": [1024, 1024],
  "output_lens": [256, 256],
  "errors": ["", ""]
}"#;

fn vllm_result(json: &str) -> pb::VllmBenchmarkResult {
    pb::VllmBenchmarkResult {
        id: "vllm-h100-llama-8b-c64".into(),
        json: json.into(),
        model_id: "llama-3.1-8b".into(),
        gpu_id: "h100-sxm".into(),
        weight_precision: pb::Precision::Bf16.into(),
        kv_cache_precision: pb::Precision::Bf16.into(),
        tensor_parallel: 1,
        gpus: 0,
    }
}

#[tokio::test]
async fn a_vllm_benchmark_result_calibrates() {
    let server = common::TestServer::start().await;
    let fitted = estimator(&server)
        .await
        .calibrate(pb::CalibrateRequest {
            name: "lab-vllm".into(),
            points: Vec::new(),
            vllm_results: vec![vllm_result(VLLM_RESULT)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fitted.name, "lab-vllm");
    assert_eq!(fitted.residuals.len(), 1);
    let residual = &fitted.residuals[0];
    assert_eq!(residual.id, "vllm-h100-llama-8b-c64");
    // One GPU served it, so the measured figure is the file's throughput.
    assert!((residual.measured - 3657.142857).abs() < 1e-6);
    assert_positive("predicted", residual.predicted);
    assert!(fitted.error_after <= fitted.error_before);
}

#[tokio::test]
async fn a_vllm_result_without_output_throughput_is_refused() {
    let server = common::TestServer::start().await;
    let json = VLLM_RESULT.replace("\"output_throughput\": 3657.142857,\n", "");
    assert!(!json.contains("\"output_throughput\""));
    let status = estimator(&server)
        .await
        .calibrate(pb::CalibrateRequest {
            name: "lab-vllm".into(),
            points: Vec::new(),
            vllm_results: vec![vllm_result(&json)],
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["vllm_results[0].json"]);
}

#[tokio::test]
async fn a_calibration_survives_a_restart_of_the_server() {
    let db = common::temp_db();
    let first = common::TestServer::start_on(db.clone()).await;
    let mut client = EstimatorServiceClient::new(first.channel().await);
    let point = |id: &str, value: f64| pb::MeasuredPoint {
        id: id.into(),
        model_id: "llama-3.1-8b".into(),
        gpu_id: "h100-sxm".into(),
        weight_precision: pb::Precision::Bf16.into(),
        kv_cache_precision: pb::Precision::Bf16.into(),
        tensor_parallel: 1,
        input_tokens: 5,
        output_tokens: 200,
        concurrency: 1,
        metric: pb::MeasuredMetric::DecodeTokensPerSecondPerUser.into(),
        value,
    };
    let fitted = client
        .calibrate(pb::CalibrateRequest {
            name: "kept".into(),
            points: vec![point("a", 150.0), point("b", 155.0)],
            vllm_results: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    first.stop().await;

    let second = common::TestServer::start_on(db.clone()).await;
    let mut client = EstimatorServiceClient::new(second.channel().await);
    let estimate = client
        .estimate_throughput(pb::EstimateThroughputRequest {
            model_id: "llama-3.1-8b".into(),
            gpu_id: "h100-sxm".into(),
            workload: Some(pb::Workload {
                input_tokens: 100,
                output_tokens: 100,
                concurrency: 1,
            }),
            calibration: "kept".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(estimate.calibration, "kept");
    assert_eq!(estimate.expected_error, fitted.error_after);
    second.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// MoE layouts through the API: the layout chosen is reported, a named one
/// is honoured, and one that is unknown, does not apply or does not fit is
/// refused naming the field or the shortfall.
#[tokio::test]
async fn moe_layouts_are_chosen_reported_and_checked() {
    let server = common::TestServer::start().await;
    let mut client = estimator(&server).await;
    let mut deepseek = request("deepseek-v3", "b200", pb::Precision::Fp4, 8192, 1024, 0);
    deepseek.kv_cache_precision = pb::Precision::Fp8.into();
    deepseek.tensor_parallel = 8;
    let auto = client
        .estimate_throughput(deepseek.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(auto.layout, i32::from(pb::Layout::DataExpert));

    let mut named = deepseek.clone();
    named.layout = pb::Layout::Tensor.into();
    let tp = client
        .estimate_throughput(named)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tp.layout, i32::from(pb::Layout::Tensor));
    assert!(auto.output_tokens_per_second_per_gpu > tp.output_tokens_per_second_per_gpu);

    let dense = client
        .estimate_throughput(llama_70b_fp8_on_h100())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dense.layout, i32::from(pb::Layout::Tensor));

    let mut unknown = deepseek.clone();
    unknown.layout = 17;
    let status = client.estimate_throughput(unknown).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["layout"]);

    let mut dense_expert = llama_70b_fp8_on_h100();
    dense_expert.layout = pb::Layout::DataExpert.into();
    let status = client.estimate_throughput(dense_expert).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["layout"]);
    assert!(status.message().contains("dense"), "{status:?}");

    let mut too_big = request("deepseek-v3", "h100-sxm", pb::Precision::Fp8, 1000, 200, 0);
    too_big.tensor_parallel = 8;
    too_big.layout = pb::Layout::DataExpert.into();
    let status = client.estimate_throughput(too_big).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("short"), "{status:?}");
}
