//! GPU hardware profiles: what one accelerator offers and costs.
//!
//! Files under `hardware/` are read into the private `GpuFile` and mapped
//! field by field into [`Gpu`], checking plausibility on the way.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use super::check::Checker;
use super::{Precision, Provenance, UsdFigure};

/// A GPU profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub id: String,
    pub name: String,
    pub vendor: String,
    pub architecture: String,
    pub form_factor: String,
    pub release_date: Option<NaiveDate>,
    /// Device memory in GB (10^9 bytes).
    pub memory_gb: f64,
    /// Peak memory bandwidth in TB/s.
    pub memory_bandwidth_tb_s: f64,
    /// Board power in W.
    pub tdp_w: f64,
    pub interconnect: String,
    /// GPU-to-GPU bandwidth per GPU in GB/s, bidirectional.
    pub interconnect_gb_s: f64,
    pub gpus_per_node: u32,
    /// Dense peak TFLOPS for each natively supported precision.
    pub dense_tflops: BTreeMap<Precision, f64>,
    pub specs_provenance: Provenance,
    pub purchase_per_gpu: UsdFigure,
    pub server_per_gpu: Option<UsdFigure>,
    /// Rental rates; absent for hardware that is only owned.
    pub rental_on_demand_per_gpu_hour: Option<UsdFigure>,
    pub rental_reserved_1y_per_gpu_hour: Option<UsdFigure>,
    pub efficiency: Efficiency,
}

/// Achievable fractions of peak on this GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Efficiency {
    /// Fraction of spec memory bandwidth that decode reaches.
    pub memory_bandwidth: f64,
    /// Fraction of dense peak FLOPs that large GEMMs reach.
    pub compute: f64,
    pub provenance: Provenance,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GpuFile {
    id: String,
    name: String,
    vendor: String,
    architecture: String,
    form_factor: String,
    release_date: Option<String>,
    specs: SpecsFile,
    purchase: PurchaseFile,
    server: Option<PurchaseFile>,
    /// Optional: owned hardware needs no rental rates.
    rental_on_demand: Option<RentalFile>,
    rental_reserved_1y: Option<RentalFile>,
    efficiency: EfficiencyFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecsFile {
    memory_gb: f64,
    memory_bandwidth_tb_s: f64,
    tdp_w: f64,
    interconnect: String,
    interconnect_gb_s: f64,
    gpus_per_node: u32,
    dense_tflops: TflopsFile,
    source: String,
    as_of: String,
    notes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TflopsFile {
    bf16: f64,
    fp8: Option<f64>,
    int8: Option<f64>,
    fp4: Option<f64>,
    int4: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseFile {
    usd_per_gpu: f64,
    source: String,
    as_of: String,
    #[serde(default)]
    assumption: bool,
    notes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RentalFile {
    usd_per_gpu_hour: f64,
    source: String,
    as_of: String,
    #[serde(default)]
    assumption: bool,
    notes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EfficiencyFile {
    memory_bandwidth: f64,
    compute: f64,
    source: String,
    as_of: String,
    #[serde(default)]
    assumption: bool,
    notes: Option<String>,
}

/// Parses and checks one `hardware/*.toml` file. Problems go to `check`;
/// `None` means the file could not be read at all.
pub(crate) fn parse(text: &str, stem: &str, check: &mut Checker) -> Option<Gpu> {
    let file: GpuFile = super::parse_toml(text, check)?;
    check.id("id", &file.id, Some(stem));
    check.non_empty("name", &file.name);
    check.non_empty("vendor", &file.vendor);
    let release_date = file
        .release_date
        .as_deref()
        .and_then(|d| check.date("release_date", d));

    let s = &file.specs;
    check.range("specs.memory_gb", s.memory_gb, 8.0, 512.0, "GB");
    check.range(
        "specs.memory_bandwidth_tb_s",
        s.memory_bandwidth_tb_s,
        0.1,
        10.0,
        "TB/s",
    );
    check.range("specs.tdp_w", s.tdp_w, 30.0, 2000.0, "W");
    check.range(
        "specs.interconnect_gb_s",
        s.interconnect_gb_s,
        1.0,
        3600.0,
        "GB/s",
    );
    check.count("specs.gpus_per_node", s.gpus_per_node.into(), 1, 72);
    let dense_tflops = tflops(&s.dense_tflops, check);
    let specs_provenance =
        check.provenance("specs.", &s.source, &s.as_of, false, s.notes.as_deref());

    let purchase_per_gpu = purchase(&file.purchase, "purchase.", 500.0, check);
    let server_per_gpu = file
        .server
        .as_ref()
        .map(|p| purchase(p, "server.", 0.0, check));
    let on_demand = file
        .rental_on_demand
        .as_ref()
        .map(|r| rental(r, "rental_on_demand.", check));
    let reserved = file
        .rental_reserved_1y
        .as_ref()
        .map(|r| rental(r, "rental_reserved_1y.", check));
    if let (Some(reserved), Some(on_demand)) = (&reserved, &on_demand)
        && reserved.usd > on_demand.usd
    {
        check.fail(
            "rental_reserved_1y.usd_per_gpu_hour",
            format!(
                "reserved ${} is above on-demand ${}",
                reserved.usd, on_demand.usd
            ),
        );
    }

    let e = &file.efficiency;
    check.range(
        "efficiency.memory_bandwidth",
        e.memory_bandwidth,
        0.05,
        1.0,
        "",
    );
    check.range("efficiency.compute", e.compute, 0.05, 1.0, "");
    let efficiency = Efficiency {
        memory_bandwidth: e.memory_bandwidth,
        compute: e.compute,
        provenance: check.provenance(
            "efficiency.",
            &e.source,
            &e.as_of,
            e.assumption,
            e.notes.as_deref(),
        ),
    };

    Some(Gpu {
        id: file.id,
        name: file.name,
        vendor: file.vendor,
        architecture: file.architecture,
        form_factor: file.form_factor,
        release_date,
        memory_gb: s.memory_gb,
        memory_bandwidth_tb_s: s.memory_bandwidth_tb_s,
        tdp_w: s.tdp_w,
        interconnect: s.interconnect.clone(),
        interconnect_gb_s: s.interconnect_gb_s,
        gpus_per_node: s.gpus_per_node,
        dense_tflops,
        specs_provenance,
        purchase_per_gpu,
        server_per_gpu,
        rental_on_demand_per_gpu_hour: on_demand,
        rental_reserved_1y_per_gpu_hour: reserved,
        efficiency,
    })
}

/// Dense TFLOPS per precision. Lower precisions may at most double the rate
/// per halving of width (with a little slack for rounding in datasheets); a
/// larger ratio is almost always a sparse figure entered as dense. FP4 is
/// the exception: Blackwell Ultra (B300, GB300) runs dense FP4 at 6x its
/// BF16 rate, and GeForce Blackwell (RTX 5090), whose BF16 figure with FP32
/// accumulation is half rate, at 8x; so FP4 may reach 8.5x.
fn tflops(t: &TflopsFile, check: &mut Checker) -> BTreeMap<Precision, f64> {
    check.range("specs.dense_tflops.bf16", t.bf16, 10.0, 5000.0, "TFLOPS");
    let mut out = BTreeMap::from([(Precision::Bf16, t.bf16)]);
    let others = [
        (Precision::Fp8, t.fp8, "fp8", 2.2),
        (Precision::Int8, t.int8, "int8", 2.2),
        (Precision::Fp4, t.fp4, "fp4", 8.5),
        (Precision::Int4, t.int4, "int4", 4.4),
    ];
    for (precision, value, key, max_ratio) in others {
        let Some(value) = value else { continue };
        let field = format!("specs.dense_tflops.{key}");
        check.range(&field, value, 10.0, 20000.0, "TFLOPS");
        if value > t.bf16 * max_ratio {
            check.fail(
                &field,
                format!(
                    "{value} is more than {max_ratio}x the bf16 figure {}: is it a sparse figure?",
                    t.bf16
                ),
            );
        }
        out.insert(precision, value);
    }
    out
}

fn purchase(p: &PurchaseFile, prefix: &str, lo: f64, check: &mut Checker) -> UsdFigure {
    check.range(
        &format!("{prefix}usd_per_gpu"),
        p.usd_per_gpu,
        lo,
        100_000.0,
        "USD",
    );
    UsdFigure {
        usd: p.usd_per_gpu,
        provenance: check.provenance(
            prefix,
            &p.source,
            &p.as_of,
            p.assumption,
            p.notes.as_deref(),
        ),
    }
}

fn rental(r: &RentalFile, prefix: &str, check: &mut Checker) -> UsdFigure {
    check.range(
        &format!("{prefix}usd_per_gpu_hour"),
        r.usd_per_gpu_hour,
        0.05,
        30.0,
        "USD/h",
    );
    UsdFigure {
        usd: r.usd_per_gpu_hour,
        provenance: check.provenance(
            prefix,
            &r.source,
            &r.as_of,
            r.assumption,
            r.notes.as_deref(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::check::Issue;

    pub(crate) const H100: &str = r#"
id = "h100-sxm"
name = "NVIDIA H100 SXM5 80GB"
vendor = "NVIDIA"
architecture = "Hopper"
form_factor = "SXM"
[specs]
memory_gb = 80.0
memory_bandwidth_tb_s = 3.35
tdp_w = 700.0
interconnect = "NVLink 4"
interconnect_gb_s = 900.0
gpus_per_node = 8
source = "NVIDIA H100 datasheet"
as_of = "2023-07-01"
[specs.dense_tflops]
bf16 = 989.4
fp8 = 1978.9
[purchase]
usd_per_gpu = 25000.0
source = "analyst estimate"
as_of = "2023-08-01"
[rental_on_demand]
usd_per_gpu_hour = 2.99
source = "price list"
as_of = "2025-10-01"
[rental_reserved_1y]
usd_per_gpu_hour = 2.10
source = "price list"
as_of = "2025-10-01"
[efficiency]
memory_bandwidth = 0.7
compute = 0.5
source = "measurements"
as_of = "2024-01-01"
assumption = true
notes = "taken from A100 measurements"
"#;

    fn load(text: &str) -> (Option<Gpu>, Vec<Issue>) {
        let mut issues = Vec::new();
        let gpu = parse(
            text,
            "h100-sxm",
            &mut Checker::new("hardware/h100-sxm.toml", &mut issues),
        );
        (gpu, issues)
    }

    #[test]
    fn a_good_file_loads_with_its_figures() {
        let (gpu, issues) = load(H100);
        assert_eq!(issues, []);
        let gpu = gpu.unwrap();
        assert_eq!(gpu.dense_tflops[&Precision::Fp8], 1978.9);
        assert!(!gpu.dense_tflops.contains_key(&Precision::Fp4));
        assert!(gpu.efficiency.provenance.assumption);
    }

    #[test]
    fn implausible_figures_name_their_field() {
        let cases = [
            (
                "memory_bandwidth_tb_s = 3.35",
                "memory_bandwidth_tb_s = 3350.0",
                "specs.memory_bandwidth_tb_s",
            ),
            ("fp8 = 1978.9", "fp8 = 3957.8", "specs.dense_tflops.fp8"),
            (
                "usd_per_gpu_hour = 2.10",
                "usd_per_gpu_hour = 3.10",
                "rental_reserved_1y.usd_per_gpu_hour",
            ),
            (
                "memory_gb = 80.0",
                "memory_gb = 80000000000.0",
                "specs.memory_gb",
            ),
            (
                "as_of = \"2023-07-01\"",
                "as_of = \"July 2023\"",
                "specs.as_of",
            ),
            ("compute = 0.5", "compute = 50.0", "efficiency.compute"),
        ];
        for (from, to, field) in cases {
            let (_, issues) = load(&H100.replacen(from, to, 1));
            assert!(
                issues.iter().any(|i| i.field == field),
                "{to}: expected an issue on {field}, got {issues:?}"
            );
        }
    }

    #[test]
    fn unknown_and_missing_keys_are_errors() {
        let (gpu, issues) = load(&H100.replace("tdp_w = 700.0", "tdp = 700.0"));
        assert!(gpu.is_none());
        assert_eq!(issues.len(), 1);
        assert!(issues[0].reason.contains("tdp"), "{}", issues[0].reason);
    }
}
