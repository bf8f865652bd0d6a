//! Kept runs: what a scenario run was computed from and what it produced.
//!
//! Inputs, outputs and key figures are opaque bytes here (the encoded
//! protobuf the gRPC edge hands over); the store knows ids, the scenario
//! and revision, the kind, the job and the time.

/// A kept run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    /// `run_` and 16 hex digits.
    pub id: String,
    pub scenario_id: String,
    pub scenario_revision: u32,
    /// The scenario's team when it ran; empty for none.
    pub team: String,
    /// "projection", "break_even" or "simulation".
    pub kind: String,
    /// Unix milliseconds, UTC.
    pub created_at: i64,
    /// The batch job that produced it, if any.
    pub job_id: Option<String>,
    pub engine_version: String,
    pub catalog_version: String,
    /// Headline figures, small enough to read in listings.
    pub key_figures: Vec<u8>,
    /// Everything the run was computed from; empty in listings.
    pub inputs: Vec<u8>,
    /// What it produced; empty in listings.
    pub output: Vec<u8>,
}

/// Filters and window of a run listing, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Runs of this scenario; empty for all.
    pub scenario_id: String,
    /// Runs of this job; empty for all.
    pub job_id: String,
    /// Runs of this kind; empty for all.
    pub kind: String,
    /// Runs of this team; empty for all.
    pub team: String,
    pub offset: u64,
    pub limit: u32,
}

/// The not-found error for an unknown run id.
pub fn run_not_found(id: &str) -> crate::error::Error {
    crate::error::Error::NotFound(format!("no run has id {id:?}"))
}
