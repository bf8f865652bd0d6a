//! The gRPC edge: generated types, handlers and conversions.
//!
//! With the command line's client (`crate::cli`), the only module that names
//! generated (`pb`) types or `tonic::Status`.
//! Handlers convert the request into domain values, call the domain and
//! convert the answer back; they hold no business logic.

mod catalog;
mod compare_runs;
mod convert;
mod estimator;
mod execute;
mod export;
mod job_items;
mod jobs;
mod page;
mod report;
mod runs;
mod scenarios;
mod simulate;
mod simulation;
mod status;
mod tenant;
mod workbook;

pub use catalog::CatalogApi;
pub(crate) use catalog::custom_file;
pub use estimator::EstimatorApi;
pub use execute::{Recomputed, recompute};
pub use job_items::{ItemExecutor, SliceExecutor};
pub use jobs::JobApi;
pub use report::report_of;
pub use runs::RunApi;
pub use scenarios::{ScenarioApi, seed_examples};
pub use simulate::{simulation_paths, simulations_running};
pub use simulation::SimulationApi;
/// A scenario as the API carries it → the domain's, with field errors.
pub use simulation::scenario as domain_scenario;

/// Code generated from `proto/breakeven/v1/*.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("breakeven.v1");

    /// The encoded descriptors of every breakeven service, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/breakeven_descriptor.bin"));
}
