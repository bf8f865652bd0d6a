//! How one replica spreads a model over its GPUs.
//!
//! Dense models are split by tensor parallelism. Mixture-of-experts models
//! are served three ways, and which is best depends on the model and the
//! batch:
//!
//! - **Tensor parallel** (`tp`): every weight matrix, experts included, is
//!   split across the GPUs; two all-reduces per layer. Each expert's
//!   feed-forward width is divided by the GPU count, so fine-grained
//!   experts become narrow matrix products.
//! - **Tensor-parallel attention, expert-parallel experts** (`tp_ep`):
//!   attention is split as above, whole experts are spread over the GPUs,
//!   and each MoE layer dispatches tokens to the GPUs holding their experts
//!   and combines the results (two all-to-alls) instead of all-reducing.
//! - **Data-parallel attention, expert-parallel experts** (`dp_ep`): each
//!   GPU serves its own sequences with a full copy of the attention and
//!   dense weights and keeps their KV cache alone; experts are spread as in
//!   `tp_ep`. No all-reduces; an MLA latent cache is no longer replicated
//!   on every GPU, which is why DeepSeek-style models are served this way.

use crate::catalog::Model;

/// A replica's layout over its GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    Tensor,
    TensorExpert,
    DataExpert,
}

impl Layout {
    /// Every layout, in the order a tie is broken (the simplest first).
    pub const ALL: [Layout; 3] = [Layout::Tensor, Layout::TensorExpert, Layout::DataExpert];

    /// The name scenario files and measurement tables use.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Tensor => "tp",
            Layout::TensorExpert => "tp_ep",
            Layout::DataExpert => "dp_ep",
        }
    }

    /// Reads a layout name.
    pub fn parse(name: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.name() == name)
    }

    /// Whether the layout applies to `model` on `gpus` GPUs: expert
    /// parallelism needs experts to spread, and whole experts that divide
    /// evenly over the GPUs.
    pub fn applies(self, model: &Model, gpus: u32) -> bool {
        match (self, model.moe) {
            (Layout::Tensor, _) => true,
            (_, None) => false,
            (_, Some(moe)) => gpus > 1 && moe.experts.is_multiple_of(gpus),
        }
    }

    /// Whether attention and the dense weights are split across the GPUs
    /// (rather than copied onto each).
    pub fn splits_attention(self) -> bool {
        !matches!(self, Layout::DataExpert)
    }

    /// Whether experts are spread whole (rather than each split).
    pub fn spreads_experts(self) -> bool {
        !matches!(self, Layout::Tensor)
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn names_read_back() {
        for layout in Layout::ALL {
            assert_eq!(Layout::parse(layout.name()), Some(layout));
        }
        assert_eq!(Layout::parse("pipeline"), None);
    }

    #[test]
    fn expert_layouts_need_experts_that_spread_evenly() {
        let catalog = Catalog::embedded().unwrap();
        let dense = catalog.model("llama-3.1-70b").unwrap();
        let deepseek = catalog.model("deepseek-v3").unwrap();
        assert!(Layout::Tensor.applies(dense, 8));
        assert!(!Layout::DataExpert.applies(dense, 8));
        assert!(Layout::DataExpert.applies(deepseek, 8));
        assert!(Layout::TensorExpert.applies(deepseek, 4));
        // One GPU holds every expert: nothing to spread.
        assert!(!Layout::DataExpert.applies(deepseek, 1));
        // 256 experts do not divide over 3 GPUs.
        assert!(!Layout::TensorExpert.applies(deepseek, 3));
    }
}
