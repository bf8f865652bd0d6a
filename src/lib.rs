//! breakeven: whether, and when, serving an open-weight LLM on your own GPUs
//! costs less than paying an API per token.
//!
//! # Layout
//! - [`catalog`]: GPU profiles, model architectures and dated API prices,
//!   loaded from data files and validated at start-up.
//! - [`grpc`]: the gRPC edge; the only place that names generated types.
//! - [`server`]: assembles the services, logging and shutdown around a
//!   listener.
//! - [`error`]: the domain error every module returns.

pub mod catalog;
pub mod error;
pub mod estimator;
pub mod grpc;
pub mod montecarlo;
pub mod server;
pub mod speed;
pub mod store;
pub mod tco;

pub use error::{Error, Result};
