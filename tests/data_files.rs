//! Every catalogue data file in the repository loads, is plausible and
//! cites its source.

use std::path::Path;

use breakeven::catalog::{Catalog, Precision};

fn catalog() -> Catalog {
    Catalog::from_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|e| panic!("{e}"))
}

fn toml_files(dir: &str) -> usize {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count()
}

#[test]
fn the_files_on_disk_are_the_catalogue_built_in() {
    let disk = catalog();
    let embedded = Catalog::embedded().unwrap();
    assert_eq!(disk.gpus().count(), embedded.gpus().count());
    assert_eq!(
        disk.prices().entries().len(),
        embedded.prices().entries().len()
    );
    assert_eq!(disk.gpus().count(), toml_files("hardware"));
    assert_eq!(disk.models().count(), toml_files("models"));
}

#[test]
fn every_gpu_is_plausible_and_sourced() {
    let catalog = catalog();
    for id in [
        "h100-sxm",
        "h100-pcie",
        "h200",
        "b200",
        "a100-80gb",
        "a100-40gb",
        "l40s",
        "l4",
        "a10g",
        "mi300x",
        "mi325x",
        "rtx-4090",
    ] {
        catalog.gpu(id).unwrap_or_else(|e| panic!("{e}"));
    }
    for gpu in catalog.gpus() {
        assert!(
            (0.1..=10.0).contains(&gpu.memory_bandwidth_tb_s),
            "{}",
            gpu.id
        );
        assert!(
            (10.0..=5000.0).contains(&gpu.dense_tflops[&Precision::Bf16]),
            "{}",
            gpu.id
        );
        assert!((8.0..=512.0).contains(&gpu.memory_gb), "{}", gpu.id);
        for provenance in [
            &gpu.specs_provenance,
            &gpu.purchase_per_gpu.provenance,
            // Built-in GPUs carry both rental rates (custom owned-only
            // entries may leave them out).
            &gpu.rental_on_demand_per_gpu_hour
                .as_ref()
                .unwrap()
                .provenance,
            &gpu.rental_reserved_1y_per_gpu_hour
                .as_ref()
                .unwrap()
                .provenance,
            &gpu.efficiency.provenance,
        ] {
            assert!(!provenance.source.is_empty(), "{}", gpu.id);
        }
    }
}

#[test]
fn every_model_is_plausible_and_sourced() {
    let catalog = catalog();
    for id in [
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.1-405b",
        "llama-3.3-70b",
        "mistral-7b",
        "mixtral-8x7b",
        "mistral-large-2",
        "qwen2.5-72b",
        "qwen3-235b-a22b",
        "llama-4-maverick",
        "deepseek-v3",
        "deepseek-r1",
        "gpt-oss-120b",
    ] {
        catalog.model(id).unwrap_or_else(|e| panic!("{e}"));
    }
    for model in catalog.models() {
        assert!(
            model.active_params_b <= model.total_params_b,
            "{}",
            model.id
        );
        assert_eq!(
            model.moe.is_some(),
            model.active_params_b < model.total_params_b,
            "{}",
            model.id
        );
        assert!(!model.provenance.source.is_empty(), "{}", model.id);
    }
}

#[test]
fn prices_cover_the_brief_and_are_sourced() {
    let catalog = catalog();
    let ids: Vec<_> = catalog.prices().ids().collect();
    assert!(ids.len() >= 30, "only {} price ids", ids.len());
    for id in [
        "gemini-2.0-flash",
        "gpt-4o-mini",
        "claude-3.5-haiku",
        "gpt-4o",
        "claude-3.5-sonnet",
        "claude-3-opus",
        "gemini-1.5-pro",
        "gpt-4.5",
        "mistral-large",
        "deepseek-v3",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
    for price in catalog.prices().entries() {
        assert!(!price.provenance.source.is_empty(), "{}", price.id);
        assert!(
            (0.001..=1000.0).contains(&price.input_usd_per_mtok),
            "{}",
            price.id
        );
    }
    let hosted = catalog
        .prices()
        .entries()
        .iter()
        .filter(|p| p.open_weights_model.is_some())
        .count();
    assert!(hosted >= 5, "only {hosted} hosted open-weight offers");
}

#[test]
fn a_broken_data_directory_stops_loading_with_file_and_field() {
    let dir = std::env::temp_dir().join(format!("breakeven-data-{}", std::process::id()));
    // Left by an earlier test process with the same id, if it was killed.
    let _ = std::fs::remove_dir_all(&dir);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["hardware", "models", "prices"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(sub).join(path.file_name().unwrap())).unwrap();
        }
    }
    let h100 = std::fs::read_to_string(dir.join("hardware/h100-sxm.toml")).unwrap();
    std::fs::write(
        dir.join("hardware/h100-sxm.toml"),
        h100.replace(
            "memory_bandwidth_tb_s = 3.35",
            "memory_bandwidth_tb_s = 3350.0",
        ),
    )
    .unwrap();
    let err = Catalog::from_dir(&dir).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].file, "hardware/h100-sxm.toml");
    assert_eq!(err.0[0].field, "specs.memory_bandwidth_tb_s");
}
