//! Simulations split across replicas: a run's slices are leased tasks in
//! the shared database, like job items. The run is transient: its
//! coordinator (the replica that took the call) keeps it alive while it
//! waits, merges the parts and deletes it; a run whose coordinator stopped
//! keeping it alive is deleted, slices and all, by the next claim.

/// A slice claimed to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSlice {
    /// The run and slice, and the attempt the completion must name.
    pub key: super::LeaseKey,
    pub first_chunk: u64,
    pub chunks: u64,
    /// The run's inputs (an encoded `RunInputs`), opaque to the store.
    pub inputs: Vec<u8>,
}

/// Where a split run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRunStatus {
    /// Slices not done yet.
    pub remaining: u32,
    /// Chunks of the slices done.
    pub done_chunks: u64,
    /// Why the run failed (a slice's attempts ran out); empty otherwise.
    pub error: String,
}

/// The error for a split run that is gone (ended, or swept).
pub fn sim_run_gone(id: &str) -> crate::error::Error {
    crate::error::Error::NotFound(format!("split simulation {id} is gone"))
}

/// What a backend without split runs answers.
pub fn unsupported() -> crate::error::Error {
    crate::error::Error::FailedPrecondition(
        "simulations are split across replicas only on a shared database".into(),
    )
}
