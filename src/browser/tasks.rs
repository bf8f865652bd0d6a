//! Runs started from the browser, followed while they run.
//!
//! A run started from a page goes on in the background (it is kept like
//! any other run when it finishes); the page that follows it polls its
//! task here for progress and is sent on to the run when it is done. Tasks
//! live in this replica's memory only: the run itself is in the store, and
//! a task page on another replica says the task is unknown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Browser-started runs in progress at once on this server; more are
/// refused until one finishes.
pub const MAX_RUNNING: usize = 8;
/// How long a finished task is remembered.
const KEEP_FINISHED: Duration = Duration::from_secs(60 * 60);

/// Where a task stands.
#[derive(Debug, Clone)]
pub enum State {
    /// Running; paths done and in all for a simulation, (0, 0) otherwise.
    Running { done: u64, total: u64 },
    /// Finished and kept as this run.
    Done(String),
    /// Failed: the API's status.
    Failed(tonic::Status),
}

#[derive(Debug, Clone)]
pub struct Task {
    /// The team that started it; `None` without tokens.
    pub team: Option<String>,
    pub scenario_id: String,
    /// "projection", "break-even" or "simulation".
    pub kind: String,
    pub started: Instant,
    pub state: State,
    finished: Option<Instant>,
}

#[derive(Debug, Default, Clone)]
pub struct Tasks(Arc<Mutex<HashMap<String, Task>>>);

impl Tasks {
    /// Registers a task and returns its id, or `None` when
    /// [`MAX_RUNNING`] are running.
    pub fn start(&self, team: Option<String>, scenario_id: &str, kind: &str) -> Option<String> {
        let mut tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|_, t| t.finished.is_none_or(|at| at.elapsed() < KEEP_FINISHED));
        let running = tasks
            .values()
            .filter(|t| matches!(t.state, State::Running { .. }))
            .count();
        if running >= MAX_RUNNING {
            return None;
        }
        let id = format!("task_{}", super::session::random_hex(8));
        tasks.insert(
            id.clone(),
            Task {
                team,
                scenario_id: scenario_id.to_string(),
                kind: kind.to_string(),
                started: Instant::now(),
                state: State::Running { done: 0, total: 0 },
                finished: None,
            },
        );
        Some(id)
    }

    /// Records progress or the end of task `id`.
    pub fn update(&self, id: &str, state: State) {
        let mut tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = tasks.get_mut(id) {
            if !matches!(state, State::Running { .. }) {
                task.finished = Some(Instant::now());
            }
            task.state = state;
        }
    }

    /// Task `id` if `team` may see it: the team that started it, or anyone
    /// on a server without tokens.
    pub fn get(&self, id: &str, team: Option<&str>) -> Option<Task> {
        let tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tasks
            .get(id)
            .filter(|t| team.is_none() || t.team.as_deref() == team)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_seen_by_their_team_and_limited_while_running() {
        let tasks = Tasks::default();
        let id = tasks
            .start(Some("a".into()), "scn_1", "projection")
            .unwrap();
        assert!(tasks.get(&id, Some("a")).is_some());
        assert!(tasks.get(&id, Some("b")).is_none());
        assert!(tasks.get("task_unknown", Some("a")).is_none());
        tasks.update(&id, State::Done("run_1".into()));
        assert!(matches!(
            tasks.get(&id, Some("a")).unwrap().state,
            State::Done(run) if run == "run_1"
        ));
        let running: Vec<_> = (0..MAX_RUNNING)
            .map(|_| tasks.start(None, "scn_1", "simulation").unwrap())
            .collect();
        assert!(tasks.start(None, "scn_1", "simulation").is_none());
        tasks.update(&running[0], State::Failed(tonic::Status::not_found("x")));
        assert!(tasks.start(None, "scn_1", "simulation").is_some());
    }
}
