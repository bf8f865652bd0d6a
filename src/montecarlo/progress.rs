//! Progress of a run, reported while the work goes on: about every 5% of
//! the paths, whatever the size of the run or the number of threads.
//!
//! Chunks count their paths a batch at a time on a shared [`Board`], and
//! the merging publishes running estimates there after each wave. A
//! reporting thread, woken when the count passes another 5%, hands both to
//! the caller's callback, so that neither the chunks nor the merging wait
//! on it (a callback may block, e.g. on a full stream).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::{self, Thread};
use std::time::Duration;

use super::aggregate::Aggregate;

/// Reports between the first (no paths yet) and the last (all of them).
const REPORTS: u64 = 20;

/// A progress report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Paths computed.
    pub paths_done: u64,
    pub paths_total: u64,
    /// Paths the running estimates cover: the first ones, merged in order
    /// (chunks merge a wave at a time, so this trails `paths_done`).
    pub estimate_paths: u64,
    /// Running estimates over those paths (0 while there are none).
    pub mean_npv_savings: f64,
    pub p_self_host_cheaper: f64,
}

/// What the work and the reporting share.
#[derive(Debug, Default)]
pub struct Board {
    computed: AtomicU64,
    /// Paths between reports; 0 for a run nobody watches.
    step: u64,
    /// The reporting thread, once it runs.
    reporter: OnceLock<Thread>,
    /// Set when the work is over.
    finished: AtomicBool,
    estimates: Mutex<Estimates>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Estimates {
    paths: u64,
    mean_npv_savings: f64,
    p_self_host_cheaper: f64,
}

impl Board {
    /// A board for a run no one reports on.
    pub fn quiet() -> Self {
        Self::default()
    }

    /// Counts `n` more paths computed, and wakes the reporter when they
    /// pass another step.
    #[inline]
    pub fn add(&self, n: u64) {
        let before = self.computed.fetch_add(n, Ordering::Relaxed);
        if self.step > 0
            && (before + n) / self.step > before / self.step
            && let Some(reporter) = self.reporter.get()
        {
            reporter.unpark();
        }
    }

    /// Publishes the estimates of the paths merged so far.
    pub fn publish(&self, merged: &Aggregate) {
        if self.step == 0 {
            return;
        }
        *self
            .estimates
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Estimates::of(merged);
    }
}

/// Tells the reporter, when dropped, that the work is over.
struct Finish<'a>(&'a Board);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::Release);
        if let Some(reporter) = self.0.reporter.get() {
            reporter.unpark();
        }
    }
}

impl Estimates {
    fn of(a: &Aggregate) -> Self {
        Self {
            paths: a.paths,
            mean_npv_savings: a.npv_savings.mean,
            p_self_host_cheaper: a.p_self_host_cheaper(),
        }
    }

    fn report(self, paths_done: u64, paths_total: u64) -> Progress {
        Progress {
            paths_done,
            paths_total,
            estimate_paths: self.paths,
            mean_npv_savings: self.mean_npv_savings,
            p_self_host_cheaper: self.p_self_host_cheaper,
        }
    }
}

/// Runs `work` for `paths` paths on the calling thread, with `progress`
/// called from a reporting thread: once as the work starts, then each time
/// another twentieth of the paths is computed, and, if the work succeeds,
/// once more with all paths and the final estimates. Reports come in order
/// of strictly increasing `paths_done`.
pub fn reporting<E>(
    paths: u64,
    mut progress: impl FnMut(Progress) + Send,
    work: impl FnOnce(&Board) -> Result<Aggregate, E>,
) -> Result<Aggregate, E> {
    let board = Board {
        step: paths.div_ceil(REPORTS).max(1),
        ..Board::default()
    };
    let (outcome, mut progress) = thread::scope(|s| {
        let board = &board;
        let reporter = s.spawn(move || {
            progress(Estimates::default().report(0, paths));
            let mut reported = 0;
            while !board.finished.load(Ordering::Acquire) {
                let done = board.computed.load(Ordering::Relaxed);
                if done / board.step > reported / board.step && done < paths {
                    let estimates = *board
                        .estimates
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    progress(estimates.report(done, paths));
                    reported = done;
                }
                // Woken by the chunks at each step and at the end; the
                // timeout only guards against a wake-up missed.
                thread::park_timeout(Duration::from_millis(100));
            }
            progress
        });
        // Set before any chunk runs, so that no step goes unwoken.
        let _ = board.reporter.set(reporter.thread().clone());
        let outcome = {
            // Ends the reporting however the work ends, a panic included
            // (the scope waits for the reporter before it unwinds).
            let _finish = Finish(board);
            work(board)
        };
        let progress = reporter
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (outcome, progress)
    });
    let total = outcome?;
    progress(Estimates::of(&total).report(total.paths, paths));
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_come_every_twentieth_in_order_then_the_total() {
        let paths = 1_000;
        let (tx, rx) = std::sync::mpsc::channel();
        let total = reporting::<()>(
            paths,
            move |p| tx.send(p).unwrap(),
            |board| {
                assert_eq!(rx.recv().unwrap().paths_done, 0);
                let mut merged = Aggregate::new(1);
                for step in 1..20 {
                    // A step in two parts: the report comes once it is whole.
                    board.add(20);
                    board.add(30);
                    let p = rx.recv().unwrap();
                    assert_eq!(p.paths_done, step * 50);
                    assert_eq!(p.estimate_paths, (step - 1) * 50);
                    merged.paths = step * 50;
                    merged.cheaper_over_horizon = step * 10;
                    board.publish(&merged);
                }
                board.add(50);
                merged.paths = paths;
                merged.cheaper_over_horizon = 250;
                Ok(merged)
            },
        )
        .unwrap();
        let last = rx.recv().unwrap();
        assert_eq!(total.paths, paths);
        assert_eq!((last.paths_done, last.paths_total), (paths, paths));
        assert_eq!(
            (last.estimate_paths, last.p_self_host_cheaper),
            (paths, 0.25)
        );
    }

    #[test]
    fn a_panic_in_the_work_ends_the_reporting_too() {
        let outcome = std::panic::catch_unwind(|| {
            reporting::<()>(100, |_| {}, |_| panic!("the work failed"))
        });
        assert!(outcome.is_err());
    }

    #[test]
    fn a_failed_run_ends_without_a_last_report() {
        let mut seen = Vec::new();
        let outcome = reporting(
            100,
            |p| seen.push(p.paths_done),
            |board| {
                board.add(50);
                Err("cancelled")
            },
        );
        assert_eq!(outcome.unwrap_err(), "cancelled");
        assert_eq!(seen.first(), Some(&0));
        assert!(!seen.contains(&100), "{seen:?}");
    }
}
