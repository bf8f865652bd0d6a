//! `breakeven catalog gpus|models|prices`: the server's catalogue, every
//! page of a listing, or one entry by id. `catalog custom` is in
//! [`super::custom`], `catalog import-litellm` in [`super::litellm`].

use clap::Subcommand;

use super::exit::Failure;
use super::format::{number, usd, usd_price};
use super::output::{Cell, Output, Record, Report, Table, num, text};
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::catalog_service_client::CatalogServiceClient;

/// Entries asked for per page: the most the API gives.
const PAGE_SIZE: i32 = 500;

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Listing(Listing),
    /// Custom entries kept by the server: list, show, add, update, remove.
    #[command(subcommand)]
    Custom(super::custom::Command),
    /// Import LiteLLM's model_prices_and_context_window.json as new dated
    /// prices of the catalogue's ids, for your team only; prints what
    /// changed against the prices in force (--dry-run stores nothing).
    ImportLitellm(super::litellm::Args),
}

/// The catalogue as the server serves it, built-in and custom entries
/// alike.
#[derive(Debug, Subcommand)]
pub enum Listing {
    /// GPU profiles: memory, bandwidth, compute, rental and purchase prices.
    Gpus {
        /// Show this GPU only, e.g. h100-sxm.
        id: Option<String>,
        /// Only GPUs of this vendor (case-insensitive).
        #[arg(long, conflicts_with = "id")]
        vendor: Option<String>,
    },
    /// Open-weight model architectures.
    Models {
        /// Show this model only, e.g. llama-3.1-70b.
        id: Option<String>,
        /// Only models of this developer (case-insensitive).
        #[arg(long, conflicts_with = "id")]
        developer: Option<String>,
    },
    /// API prices in force on a date, or their dated history.
    Prices {
        /// Show the price of this catalogue id only, e.g. gpt-4o-mini.
        id: Option<String>,
        /// Prices in force on this day, YYYY-MM-DD; today (UTC) by default.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
        /// Only this provider, e.g. openai.
        #[arg(long, conflicts_with = "id")]
        provider: Option<String>,
        /// Only this model: a catalogue id, the provider's model string or
        /// an open-weight model id.
        #[arg(long, conflicts_with = "id")]
        model: Option<String>,
        /// Every dated entry that took effect by the date, not only those
        /// in force.
        #[arg(long, conflicts_with = "id")]
        history: bool,
    },
}

pub async fn run(global: &Global, out: Output, command: Command) -> Result<(), Failure> {
    match command {
        Command::Listing(listing) => list(global, out, listing).await,
        Command::Custom(command) => super::custom::run(global, out, command).await,
        Command::ImportLitellm(args) => super::litellm::run(global, out, args).await,
    }
}

async fn list(global: &Global, out: Output, command: Listing) -> Result<(), Failure> {
    let mut client = CatalogServiceClient::new(connect(global).await?);
    match command {
        Listing::Gpus { id: Some(id), .. } => {
            let gpu = client.get_gpu(pb::GetGpuRequest { id }).await?.into_inner();
            out.show(&gpu, || gpu_report(&gpu))
        }
        Listing::Gpus { id: None, vendor } => {
            let mut all = pb::ListGpusResponse::default();
            loop {
                let page = client
                    .list_gpus(pb::ListGpusRequest {
                        vendor: vendor.clone().unwrap_or_default(),
                        page_size: PAGE_SIZE,
                        page_token: all.next_page_token.clone(),
                    })
                    .await?
                    .into_inner();
                all.gpus.extend(page.gpus);
                all.total_size = page.total_size;
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            out.show(&all, || {
                let mut report = Report::new();
                report.table(gpu_table(&all.gpus));
                report
            })
        }
        Listing::Models { id: Some(id), .. } => {
            let model = client
                .get_model(pb::GetModelRequest { id })
                .await?
                .into_inner();
            out.show(&model, || model_report(&model))
        }
        Listing::Models {
            id: None,
            developer,
        } => {
            let mut all = pb::ListModelsResponse::default();
            loop {
                let page = client
                    .list_models(pb::ListModelsRequest {
                        developer: developer.clone().unwrap_or_default(),
                        page_size: PAGE_SIZE,
                        page_token: all.next_page_token.clone(),
                    })
                    .await?
                    .into_inner();
                all.models.extend(page.models);
                all.total_size = page.total_size;
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            out.show(&all, || {
                let mut report = Report::new();
                report.table(model_table(&all.models));
                report
            })
        }
        Listing::Prices {
            id: Some(id),
            as_of,
            ..
        } => {
            let price = client
                .get_api_price(pb::GetApiPriceRequest {
                    id,
                    as_of: as_of.unwrap_or_default(),
                })
                .await?
                .into_inner();
            out.show(&price, || {
                let mut report = Report::new();
                report.table(price_table(std::slice::from_ref(&price)));
                report
            })
        }
        Listing::Prices {
            id: None,
            as_of,
            provider,
            model,
            history,
        } => {
            let mut all = pb::ListApiPricesResponse::default();
            loop {
                let page = client
                    .list_api_prices(pb::ListApiPricesRequest {
                        provider: provider.clone().unwrap_or_default(),
                        model: model.clone().unwrap_or_default(),
                        as_of: as_of.clone().unwrap_or_default(),
                        include_history: history,
                        page_size: PAGE_SIZE,
                        page_token: all.next_page_token.clone(),
                    })
                    .await?
                    .into_inner();
                all.prices.extend(page.prices);
                all.total_size = page.total_size;
                all.as_of = page.as_of;
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            out.show(&all, || {
                let mut report = Report::new();
                let what = if history { "up to" } else { "in force on" };
                report
                    .title(format!("API prices {what} {}", all.as_of))
                    .table(price_table(&all.prices));
                report
            })
        }
    }
}

/// Dense TFLOPS at a precision, if the GPU supports it natively.
fn tflops(gpu: &pb::Gpu, precision: pb::Precision) -> Cell {
    match gpu
        .peak_compute
        .iter()
        .find(|p| p.precision == i32::from(precision))
    {
        Some(p) => Cell::number(number(p.dense_tflops, 0), p.dense_tflops),
        None => Cell::text(""),
    }
}

fn usd_cell(figure: Option<&pb::UsdFigure>, shown: fn(f64) -> String) -> Cell {
    match figure {
        Some(f) => Cell::number(shown(f.usd), f.usd),
        None => Cell::text(""),
    }
}

fn gpu_table(gpus: &[pb::Gpu]) -> Table {
    let mut table = Table::new(vec![
        text("id", "id"),
        text("name", "name"),
        num("memory_gb", "memory GB"),
        num("memory_bandwidth_tb_s", "TB/s"),
        num("bf16_dense_tflops", "BF16 TFLOPS"),
        num("fp8_dense_tflops", "FP8 TFLOPS"),
        num("tdp_w", "TDP W"),
        num("rental_on_demand_per_gpu_hour", "on demand $/h"),
        num("rental_reserved_1y_per_gpu_hour", "reserved $/h"),
        num("purchase_per_gpu", "purchase"),
    ]);
    for g in gpus {
        table.push(vec![
            Cell::text(&g.id),
            Cell::text(&g.name),
            Cell::number(number(g.memory_gb, 0), g.memory_gb),
            Cell::number(number(g.memory_bandwidth_tb_s, 2), g.memory_bandwidth_tb_s),
            tflops(g, pb::Precision::Bf16),
            tflops(g, pb::Precision::Fp8),
            Cell::number(number(g.tdp_w, 0), g.tdp_w),
            usd_cell(g.rental_on_demand_per_gpu_hour.as_ref(), usd_price),
            usd_cell(g.rental_reserved_1y_per_gpu_hour.as_ref(), usd_price),
            usd_cell(g.purchase_per_gpu.as_ref(), usd),
        ]);
    }
    table
}

/// One GPU: the table row, then what the row leaves out.
fn gpu_report(g: &pb::Gpu) -> Report {
    let mut details = Record::new();
    details
        .add("vendor", "vendor", Cell::text(&g.vendor))
        .add("architecture", "architecture", Cell::text(&g.architecture))
        .add("form_factor", "form factor", Cell::text(&g.form_factor))
        .add("release_date", "released", Cell::text(&g.release_date))
        .add(
            "interconnect",
            "interconnect",
            Cell::text(format!(
                "{}, {} GB/s",
                g.interconnect,
                number(g.interconnect_gb_s, 0)
            )),
        )
        .add(
            "gpus_per_node",
            "GPUs per node",
            Cell::count(g.gpus_per_node),
        )
        .add(
            "server_per_gpu",
            "rest of server per GPU",
            usd_cell(g.server_per_gpu.as_ref(), usd),
        )
        .add(
            "specs_source",
            "specifications from",
            Cell::text(
                g.specs_provenance
                    .as_ref()
                    .map(|p| format!("{} ({})", p.source, p.as_of))
                    .unwrap_or_default(),
            ),
        );
    let mut report = Report::new();
    report
        .table(gpu_table(std::slice::from_ref(g)))
        .record(details);
    report
}

/// One model: the table row, then its architecture and where it comes
/// from, as `gpu_report` does for a GPU.
fn model_report(m: &pb::Model) -> Report {
    let mut details = Record::new();
    details
        .add("license", "licence", Cell::text(&m.license))
        .add("hidden_size", "hidden size", Cell::count(m.hidden_size))
        .add(
            "intermediate_size",
            if m.moe.is_some() {
                "feed-forward width per expert"
            } else {
                "feed-forward width"
            },
            Cell::count(m.intermediate_size),
        )
        .add(
            "attention_heads",
            "attention heads",
            Cell::text(format!(
                "{} query, {} key/value, {} wide",
                m.attention_heads, m.kv_heads, m.head_dim
            )),
        )
        .add("vocab_size", "vocabulary", Cell::count(m.vocab_size));
    if let Some(mla) = &m.mla {
        details.add(
            "mla",
            "latent attention",
            Cell::text(format!(
                "KV latent {} wide, rotary key {} wide",
                mla.kv_lora_rank, mla.qk_rope_head_dim
            )),
        );
    }
    if let Some(moe) = &m.moe {
        details.add(
            "moe",
            "experts",
            Cell::text(format!(
                "{} routed, {} per token, {} shared, on {} of {} layers; {}B in routed experts",
                moe.experts,
                moe.experts_per_token,
                moe.shared_experts,
                moe.moe_layers,
                m.layers,
                number(moe.routed_expert_params_b, 1)
            )),
        );
    }
    if let Some(window) = &m.sliding_window {
        details.add(
            "sliding_window",
            "sliding window",
            Cell::text(format!(
                "{} tokens on {} of {} layers",
                window.tokens, window.layers, m.layers
            )),
        );
    }
    if !m.custom_entry.is_empty() {
        details.add("custom_entry", "custom entry", Cell::text(&m.custom_entry));
    }
    let provenance = m.provenance.clone().unwrap_or_default();
    details.add(
        "source",
        "architecture from",
        Cell::text(format!(
            "{} ({}){}",
            provenance.source,
            provenance.as_of,
            if provenance.assumption {
                ", an assumption"
            } else {
                ""
            }
        )),
    );
    let mut report = Report::new();
    report
        .table(model_table(std::slice::from_ref(m)))
        .record(details);
    report
}

/// A precision as scenario files write it (`fp8`); empty when unset.
pub(super) fn precision_name(value: i32) -> String {
    match pb::Precision::try_from(value) {
        Ok(pb::Precision::Unspecified) | Err(_) => String::new(),
        Ok(p) => p
            .as_str_name()
            .trim_start_matches("PRECISION_")
            .to_lowercase(),
    }
}

fn model_table(models: &[pb::Model]) -> Table {
    let mut table = Table::new(vec![
        text("id", "id"),
        text("name", "name"),
        text("developer", "developer"),
        num("total_params_b", "params B"),
        num("active_params_b", "active B"),
        num("layers", "layers"),
        text("attention", "attention"),
        num("max_context", "context"),
        text("native_precision", "weights"),
        text("release_date", "released"),
    ]);
    for m in models {
        table.push(vec![
            Cell::text(&m.id),
            Cell::text(&m.name),
            Cell::text(&m.developer),
            Cell::number(number(m.total_params_b, 1), m.total_params_b),
            Cell::number(number(m.active_params_b, 1), m.active_params_b),
            Cell::count(m.layers),
            Cell::text(&m.attention),
            Cell::count(m.max_context),
            Cell::text(precision_name(m.native_precision)),
            Cell::text(&m.release_date),
        ]);
    }
    table
}

fn optional_price(value: Option<f64>) -> Cell {
    match value {
        Some(v) => Cell::number(usd_price(v), v),
        None => Cell::text(""),
    }
}

fn price_table(prices: &[pb::ApiPrice]) -> Table {
    let mut table = Table::new(vec![
        text("id", "id"),
        text("provider", "provider"),
        text("effective_date", "from"),
        text("end_date", "until"),
        num("input_usd_per_mtok", "input $/M"),
        num("output_usd_per_mtok", "output $/M"),
        num("cached_input_usd_per_mtok", "cached $/M"),
        num("context_window", "context"),
    ]);
    for p in prices {
        table.push(vec![
            Cell::text(&p.id),
            Cell::text(&p.provider),
            Cell::text(&p.effective_date),
            Cell::text(&p.end_date),
            Cell::number(usd_price(p.input_usd_per_mtok), p.input_usd_per_mtok),
            Cell::number(usd_price(p.output_usd_per_mtok), p.output_usd_per_mtok),
            optional_price(p.cached_input_usd_per_mtok),
            Cell::count(p.context_window),
        ]);
    }
    table
}
