//! breakeven: whether, and when, serving an open-weight LLM on your own GPUs
//! costs less than paying an API per token.
//!
//! # Layout
//! - [`catalog`]: GPU profiles, model architectures and dated API prices,
//!   loaded from data files and validated at start-up.
//! - [`estimator`]: tokens per second per GPU from first principles,
//!   calibrated against measurements.
//! - [`tco`]: the month-by-month cost model, break-even month and volume.
//! - [`montecarlo`]: the cost model over many random paths, in parallel.
//! - [`report`]: charts (SVG, PNG) and a self-contained HTML report of
//!   the results; money, percentage and month formatting.
//! - [`store`]: saved scenarios, runs, jobs and custom entries in SQLite
//!   or PostgreSQL; the only module with SQL.
//! - [`engine`]: the work that runs beside the calls: batch items and
//!   slices of split simulations, claimed under leases.
//! - [`grpc`]: the gRPC edge; with [`cli`] and [`browser`], the only
//!   places that name generated types.
//! - [`browser`]: HTML pages over the same services, tokens and teams
//!   (`serve --http-addr`).
//! - [`auth`]: bearer tokens and the caller's team.
//! - [`catch_panic`]: a panic while serving a call becomes INTERNAL.
//! - [`server`]: assembles the services, logging, metrics and shutdown
//!   around a listener.
//! - [`metrics`]: request counts, latencies and simulation figures in the
//!   Prometheus text format.
//! - [`tls`]: the PEM files of a TLS listener, checked.
//! - [`web`]: CORS for the browser origins allowed to call over gRPC-Web.
//! - [`cli`]: the `breakeven` command's subcommands: the server, and
//!   clients of it that print tables, JSON or CSV.
//! - [`speed`]: timings of the hot paths for the `speed` command.
//! - [`error`]: the domain error every module returns.
//! - [`digest`]: the stable hash behind page tokens, etags and versions.

pub mod auth;
pub mod browser;
pub mod catalog;
pub mod catch_panic;
pub mod cli;
pub mod digest;
pub mod engine;
pub mod error;
pub mod estimator;
pub mod grpc;
pub mod metrics;
pub mod montecarlo;
pub mod report;
pub mod server;
pub mod speed;
pub mod store;
pub mod tco;
pub mod tls;
pub mod web;

pub use error::{Error, Result};
