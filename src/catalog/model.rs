//! Open-weight model architectures: the shapes that decide memory and compute.

use chrono::NaiveDate;
use serde::Deserialize;

use super::check::Checker;
use super::{Precision, Provenance};

/// An open-weight model architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub developer: String,
    pub license: String,
    pub release_date: NaiveDate,
    /// Total parameters in billions.
    pub total_params_b: f64,
    /// Parameters used per token in billions.
    pub active_params_b: f64,
    pub layers: u32,
    pub hidden_size: u32,
    /// Feed-forward width (per expert for MoE models).
    pub intermediate_size: u32,
    pub attention_heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub vocab_size: u32,
    pub max_context: u32,
    pub attention: Attention,
    pub native_precision: Precision,
    pub mla: Option<Mla>,
    pub moe: Option<Moe>,
    pub sliding_window: Option<SlidingWindow>,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attention {
    /// Multi-head: one KV head per query head.
    Mha,
    /// Grouped-query: query heads share fewer KV heads.
    Gqa,
    /// Multi-head latent: a compressed latent is cached instead of K and V.
    Mla,
}

impl Attention {
    pub fn name(self) -> &'static str {
        match self {
            Attention::Mha => "mha",
            Attention::Gqa => "gqa",
            Attention::Mla => "mla",
        }
    }
}

/// Multi-head latent attention dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mla {
    pub kv_lora_rank: u32,
    pub qk_rope_head_dim: u32,
}

/// Mixture-of-experts structure.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moe {
    pub experts: u32,
    pub experts_per_token: u32,
    pub shared_experts: u32,
    pub moe_layers: u32,
    /// Parameters in all routed experts of all MoE layers, billions.
    pub routed_expert_params_b: f64,
}

/// Sliding-window attention on some layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlidingWindow {
    pub tokens: u32,
    pub layers: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    id: String,
    name: String,
    developer: String,
    license: String,
    release_date: String,
    total_params_b: f64,
    active_params_b: f64,
    layers: u32,
    hidden_size: u32,
    intermediate_size: u32,
    attention_heads: u32,
    kv_heads: u32,
    head_dim: u32,
    vocab_size: u32,
    max_context: u32,
    attention: String,
    native_precision: String,
    source: String,
    as_of: String,
    notes: Option<String>,
    mla: Option<Mla>,
    moe: Option<Moe>,
    sliding_window: Option<SlidingWindow>,
}

/// Parses and checks one `models/*.toml` file.
pub(crate) fn parse(text: &str, stem: &str, check: &mut Checker) -> Option<Model> {
    let f: ModelFile = super::parse_toml(text, check)?;
    check.id("id", &f.id, Some(stem));
    for (field, value) in [
        ("name", &f.name),
        ("developer", &f.developer),
        ("license", &f.license),
    ] {
        check.non_empty(field, value);
    }
    let release_date = check.date("release_date", &f.release_date);
    check.range("total_params_b", f.total_params_b, 0.1, 3000.0, "B");
    check.range(
        "active_params_b",
        f.active_params_b,
        0.1,
        f.total_params_b.max(0.1),
        "B",
    );
    check.count("layers", f.layers.into(), 1, 256);
    check.count("hidden_size", f.hidden_size.into(), 256, 65_536);
    check.count(
        "intermediate_size",
        f.intermediate_size.into(),
        128,
        131_072,
    );
    check.count("attention_heads", f.attention_heads.into(), 1, 512);
    check.count("kv_heads", f.kv_heads.into(), 1, 512);
    check.count("head_dim", f.head_dim.into(), 32, 512);
    check.count("vocab_size", f.vocab_size.into(), 1000, 1_000_000);
    check.count("max_context", f.max_context.into(), 512, 10_000_000);
    if f.kv_heads > 0 && !f.attention_heads.is_multiple_of(f.kv_heads) {
        check.fail(
            "kv_heads",
            format!(
                "{} query heads do not divide into {} KV heads",
                f.attention_heads, f.kv_heads
            ),
        );
    }
    let attention = match f.attention.as_str() {
        "mha" => Attention::Mha,
        "gqa" => Attention::Gqa,
        "mla" => Attention::Mla,
        other => {
            check.fail(
                "attention",
                format!("{other:?} is not one of mha, gqa, mla"),
            );
            Attention::Gqa
        }
    };
    if (attention == Attention::Mla) != f.mla.is_some() {
        check.fail(
            "mla",
            "an [mla] section is required exactly when attention = \"mla\"",
        );
    }
    if attention == Attention::Mha && f.kv_heads != f.attention_heads {
        check.fail(
            "kv_heads",
            "multi-head attention has as many KV heads as query heads",
        );
    }
    let native_precision = Precision::parse(&f.native_precision).unwrap_or_else(|| {
        check.fail(
            "native_precision",
            format!("{:?} is not a known precision", f.native_precision),
        );
        Precision::Bf16
    });
    if let Some(moe) = &f.moe {
        check_moe(moe, &f, check);
    } else if (f.active_params_b - f.total_params_b).abs() > 1e-9 {
        check.fail(
            "active_params_b",
            "a dense model uses all its parameters per token",
        );
    }
    if let Some(window) = &f.sliding_window {
        check.count(
            "sliding_window.layers",
            window.layers.into(),
            1,
            f.layers.into(),
        );
        check.count(
            "sliding_window.tokens",
            window.tokens.into(),
            16,
            f.max_context.into(),
        );
    }
    if f.moe.is_none() && f.mla.is_none() {
        check_dense_param_count(&f, check);
    }
    let provenance = check.provenance("", &f.source, &f.as_of, false, f.notes.as_deref());

    Some(Model {
        id: f.id,
        name: f.name,
        developer: f.developer,
        license: f.license,
        release_date: release_date.unwrap_or_default(),
        total_params_b: f.total_params_b,
        active_params_b: f.active_params_b,
        layers: f.layers,
        hidden_size: f.hidden_size,
        intermediate_size: f.intermediate_size,
        attention_heads: f.attention_heads,
        kv_heads: f.kv_heads,
        head_dim: f.head_dim,
        vocab_size: f.vocab_size,
        max_context: f.max_context,
        attention,
        native_precision,
        mla: f.mla,
        moe: f.moe,
        sliding_window: f.sliding_window,
        provenance,
    })
}

/// The routed experts a token touches must account for the difference
/// between total and active parameters.
fn check_moe(moe: &Moe, f: &ModelFile, check: &mut Checker) {
    check.count("moe.experts", moe.experts.into(), 2, 1024);
    check.count(
        "moe.experts_per_token",
        moe.experts_per_token.into(),
        1,
        moe.experts.max(1).into(),
    );
    check.count("moe.moe_layers", moe.moe_layers.into(), 1, f.layers.into());
    check.range(
        "moe.routed_expert_params_b",
        moe.routed_expert_params_b,
        0.0,
        f.total_params_b,
        "B",
    );
    if moe.experts == 0 {
        return;
    }
    let always = f.total_params_b - moe.routed_expert_params_b;
    let implied_active = always
        + moe.routed_expert_params_b * f64::from(moe.experts_per_token) / f64::from(moe.experts);
    if (implied_active / f.active_params_b - 1.0).abs() > 0.10 {
        check.fail(
            "active_params_b",
            format!(
                "{} B disagrees with the {implied_active:.1} B implied by the expert counts \
                 (more than 10% apart)",
                f.active_params_b
            ),
        );
    }
}

/// For a dense transformer the parameter count follows from its shape
/// (attention projections, a gated feed-forward, embeddings); a figure more
/// than 20% away points to a typo in one of them.
fn check_dense_param_count(f: &ModelFile, check: &mut Checker) {
    let hidden = f64::from(f.hidden_size);
    let q_width = f64::from(f.attention_heads) * f64::from(f.head_dim);
    let kv_width = f64::from(f.kv_heads) * f64::from(f.head_dim);
    let attention = hidden * (2.0 * q_width + 2.0 * kv_width);
    let ffn = 3.0 * hidden * f64::from(f.intermediate_size);
    // Embeddings may be tied (one matrix) or untied (two): take the middle.
    let embeddings = 1.5 * f64::from(f.vocab_size) * hidden;
    let implied_b = (f64::from(f.layers) * (attention + ffn) + embeddings) / 1e9;
    if (implied_b / f.total_params_b - 1.0).abs() > 0.20 {
        check.fail(
            "total_params_b",
            format!(
                "{} B disagrees with the {implied_b:.1} B implied by layers, widths and \
                 vocabulary (more than 20% apart)",
                f.total_params_b
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::check::Issue;

    const MIXTRAL: &str = r#"
id = "mixtral-8x7b"
name = "Mixtral 8x7B"
developer = "Mistral AI"
license = "Apache-2.0"
release_date = "2023-12-11"
total_params_b = 46.7
active_params_b = 12.9
layers = 32
hidden_size = 4096
intermediate_size = 14336
attention_heads = 32
kv_heads = 8
head_dim = 128
vocab_size = 32000
max_context = 32768
attention = "gqa"
native_precision = "bf16"
source = "config.json"
as_of = "2023-12-11"
[moe]
experts = 8
experts_per_token = 2
shared_experts = 0
moe_layers = 32
routed_expert_params_b = 45.1
"#;

    fn load(text: &str) -> (Option<Model>, Vec<Issue>) {
        let mut issues = Vec::new();
        let model = parse(
            text,
            "mixtral-8x7b",
            &mut Checker::new("models/m.toml", &mut issues),
        );
        (model, issues)
    }

    #[test]
    fn a_consistent_moe_model_loads() {
        let (model, issues) = load(MIXTRAL);
        assert_eq!(issues, []);
        assert_eq!(model.unwrap().moe.unwrap().experts_per_token, 2);
    }

    #[test]
    fn inconsistent_shapes_are_reported() {
        let cases = [
            (
                "active_params_b = 12.9",
                "active_params_b = 39.0",
                "active_params_b",
            ),
            ("kv_heads = 8", "kv_heads = 7", "kv_heads"),
            ("attention = \"gqa\"", "attention = \"mla\"", "mla"),
            (
                "experts_per_token = 2",
                "experts_per_token = 9",
                "moe.experts_per_token",
            ),
            (
                "native_precision = \"bf16\"",
                "native_precision = \"fp12\"",
                "native_precision",
            ),
        ];
        for (from, to, field) in cases {
            let (_, issues) = load(&MIXTRAL.replacen(from, to, 1));
            assert!(
                issues.iter().any(|i| i.field == field),
                "{to}: expected an issue on {field}, got {issues:?}"
            );
        }
    }

    #[test]
    fn a_dense_parameter_count_must_match_the_shape() {
        let dense = MIXTRAL
            .split("[moe]")
            .next()
            .unwrap()
            .replace("total_params_b = 46.7", "total_params_b = 7.2")
            .replace("active_params_b = 12.9", "active_params_b = 7.2");
        let (_, issues) = load(&dense);
        assert_eq!(issues, []);
        let typo = dense.replace("hidden_size = 4096", "hidden_size = 8192");
        let (_, issues) = load(&typo);
        assert!(
            issues.iter().any(|i| i.field == "total_params_b"),
            "{issues:?}"
        );
    }
}
