//! Batch jobs and their items.
//!
//! A job is stored whole with its items when submitted. Each item holds
//! the encoded scenario it runs, so a job never depends on later edits of
//! the scenarios it came from. An item leaves `Pending` exactly once: the
//! transaction that records its outcome also inserts its run, and only
//! succeeds while the item is still pending under the attempt that ran it.
//!
//! Items are leased, not owned: a runner claims an item for a while
//! ([`Lease`]: its owner and time to live, on the database's clock), which
//! bumps the item's attempt number, and keeps the lease alive with
//! heartbeats. An item whose lease ran out (its runner was killed, or
//! paused too long) is claimed again under the next attempt, and the
//! earlier runner's result is refused: completion is fenced on the
//! attempt. After [`Lease::max_attempts`] claims an item fails.

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

/// How a runner leases items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds the lease: random at every start of a runner.
    pub owner: String,
    /// How long a claim or heartbeat keeps the item, on the database's
    /// clock.
    pub ttl: std::time::Duration,
    /// Claims after which an item whose lease ran out fails instead.
    pub max_attempts: u32,
}

impl Lease {
    /// A lease with the default time to live (30 s) and attempts (5),
    /// owned by a new name: `runner_`, the process id and a random part,
    /// so an operator can tell which process holds what.
    pub fn new() -> Self {
        Self {
            owner: format!(
                "runner_{}_{}",
                std::process::id(),
                &super::new_id("r")[2..10]
            ),
            ttl: DEFAULT_LEASE_TTL,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// The time to live in whole milliseconds, at least one.
    pub fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// The error an item gets when its last lease runs out.
    pub fn abandoned(&self) -> String {
        format!(
            "abandoned after {} attempts: every runner that took it stopped or lost it",
            self.max_attempts
        )
    }
}

impl Default for Lease {
    fn default() -> Self {
        Self::new()
    }
}

/// How long a claim keeps an item unless heartbeats extend it.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// Claims of one item before it fails.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// A claimed item's key: job, position and the attempt it runs under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseKey {
    pub job_id: String,
    pub index: u32,
    pub attempt: u32,
}

/// An item claimed to run, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingItem {
    pub job_id: String,
    pub index: u32,
    /// Which claim of the item this is, from 1; its completion must name it.
    pub attempt: u32,
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

impl PendingItem {
    pub fn key(&self) -> LeaseKey {
        LeaseKey {
            job_id: self.job_id.clone(),
            index: self.index,
            attempt: self.attempt,
        }
    }
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
