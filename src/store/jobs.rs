//! Batch jobs and their items.
//!
//! A job is stored whole with its items when submitted. Each item holds
//! the encoded scenario it runs, so a job never depends on later edits of
//! the scenarios it came from. An item leaves `Pending` exactly once: the
//! transaction that records its outcome also inserts its run, and only
//! succeeds while the item is still pending. A process killed mid-item
//! committed nothing for it, so the item runs again after a restart.

use crate::error::{Error, Result};

/// Most items in one job.
pub const MAX_ITEMS: usize = 1000;
/// Longest job name, in characters.
pub const MAX_JOB_NAME_CHARS: usize = 200;

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
}

impl ItemState {
    pub fn name(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Succeeded => "succeeded",
            ItemState::Failed => "failed",
            ItemState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ItemState::Pending,
            ItemState::Succeeded,
            ItemState::Failed,
            ItemState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.name() == text)
    }
}

/// One item of a job to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// What it runs, for people: the scenario and any sweep values.
    pub label: String,
    pub scenario_id: String,
    pub scenario_revision: u32,
    /// The encoded scenario to run.
    pub scenario: Vec<u8>,
}

/// A job to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub name: String,
    pub team: String,
    /// How every item runs, encoded.
    pub options: Vec<u8>,
    pub items: Vec<NewItem>,
}

impl NewJob {
    /// Checks the limits every backend keeps.
    pub fn validate(&self) -> Result<()> {
        if self.name.chars().count() > MAX_JOB_NAME_CHARS {
            return Err(Error::invalid(
                "name",
                format!("must be at most {MAX_JOB_NAME_CHARS} characters"),
            ));
        }
        if self.items.is_empty() {
            return Err(Error::invalid("items", "a batch needs at least one item"));
        }
        if self.items.len() > MAX_ITEMS {
            return Err(Error::invalid(
                "items",
                format!(
                    "a batch holds at most {MAX_ITEMS} items, got {}",
                    self.items.len()
                ),
            ));
        }
        Ok(())
    }
}

/// One item as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub index: u32,
    pub label: String,
    pub state: ItemState,
    pub run_id: Option<String>,
    /// Why it failed; empty otherwise.
    pub error: String,
}

/// A job as stored, with counts by item state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJob {
    /// `job_` and 16 hex digits.
    pub id: String,
    pub name: String,
    pub team: String,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// Unix milliseconds, UTC.
    pub created_at: i64,
    pub updated_at: i64,
    pub total: u32,
    pub pending: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub cancelled_items: u32,
    /// Empty unless asked for.
    pub items: Vec<StoredItem>,
}

impl StoredJob {
    /// Nothing left to run.
    pub fn finished(&self) -> bool {
        self.pending == 0
    }
}

/// An item waiting to run, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingItem {
    pub job_id: String,
    pub index: u32,
    pub team: String,
    pub scenario_id: String,
    pub scenario_revision: u32,
    pub scenario: Vec<u8>,
    /// The job's run options, encoded.
    pub options: Vec<u8>,
}

/// How an item ended. The run is boxed: it is large beside a failure's
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    Succeeded(Box<super::StoredRun>),
    Failed(String),
}

/// The not-found error for an unknown job id.
pub fn job_not_found(id: &str) -> Error {
    Error::NotFound(format!("no job has id {id:?}"))
}

/// The id of the run an item produces: fixed by the job and position, so
/// the same item can never be kept twice.
pub fn item_run_id(job_id: &str, index: u32) -> String {
    let hash = crate::digest::fnv1a(job_id.bytes().chain(index.to_le_bytes()));
    format!("run_{hash:016x}")
}
