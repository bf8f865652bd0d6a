//! The work engine: what runs in the background of every replica, apart
//! from the gRPC edge. [`JobRunner`] claims batch items from the store
//! under leases, runs them through an [`ItemWork`] the edge supplies (which
//! knows the wire form of a run's inputs), keeps the leases alive and
//! records each outcome fenced on its attempt. It works the same on the
//! SQLite file of one server and on a PostgreSQL database that several
//! replicas share. On a shared database it also spreads large simulations
//! across the replicas ([`Splitter`], [`SliceRunner`]).

mod job_runner;
mod slices;

pub use job_runner::{ItemWork, JobRunner, RunnerOptions};
pub use slices::{SliceRunner, SliceWork, Splitter};
