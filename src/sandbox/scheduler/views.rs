//! What VIP shows of a run, at a given instant: the `jobs` map as the tasks move through
//! QUEUED, RUNNING and their end, the status, the full Execution and the list summaries, and
//! the logs with VIP's sentinel texts. Reading only: every change of state is in the parent.

use std::time::Instant;

use indexmap::IndexMap;

use super::fates::Fate;
use super::task_state::{TaskState, Tasks};
use super::{Phase, Run, Scheduler};
use crate::sandbox::errors::ApiError;
use crate::sandbox::outputs;
use crate::sandbox::world::World;
use crate::vip::wire::{Execution, ExecutionStatus, Job};

impl Scheduler {
    /// The jobs map of a running run at `at`: `{}` while the engine submits, then QUEUED,
    /// then each job RUNNING until its turn to end, spread over the run's duration, and
    /// then as its fate says (a job queued for good stays QUEUED; a job the portal will
    /// cancel runs until the run would have ended).
    pub(super) fn tasks_at(run: &Run, since: Instant, at: Instant) -> Tasks {
        let elapsed = at.saturating_duration_since(since).as_secs_f64();
        let d = run.duration.as_secs_f64().max(1e-9);
        if elapsed < d * 0.1 {
            return None;
        }
        // Job counts are capped far below 2^52: the conversions are exact.
        #[allow(clippy::cast_precision_loss)]
        let n = run.jobs.len() as f64;
        Some(
            run.jobs
                .iter()
                .enumerate()
                .map(|(i, job)| {
                    #[allow(clippy::cast_precision_loss)]
                    let done_at = d * (0.2 + 0.8 * (i as f64 + 1.0) / n);
                    if elapsed < d * 0.2 || job.fate == Fate::StaysQueued {
                        TaskState::Queued
                    } else if job.fate == Fate::Cancelled {
                        if elapsed + 1e-9 >= d {
                            TaskState::Cancelled
                        } else {
                            TaskState::Running
                        }
                    } else if elapsed + 1e-9 >= done_at {
                        match &job.fate {
                            Fate::Fails(code) => TaskState::Error(*code),
                            Fate::Held(state) => *state,
                            _ => TaskState::Completed,
                        }
                    } else {
                        TaskState::Running
                    }
                })
                .collect(),
        )
    }

    pub(super) fn tasks(run: &Run, now: Instant) -> Tasks {
        match &run.phase {
            Phase::Queued => None,
            Phase::Running { since } => Self::tasks_at(run, *since, now),
            Phase::Settled { tasks, .. } => tasks.clone(),
        }
    }

    /// The status VIP shows.
    pub(super) fn status(run: &Run) -> ExecutionStatus {
        match &run.phase {
            Phase::Queued => ExecutionStatus::Ready,
            Phase::Running { .. } => ExecutionStatus::Running,
            Phase::Settled { status, .. } => status.clone(),
        }
    }

    /// The full Execution.
    pub(crate) fn execution(&self, index: usize, world: &World, now: Instant) -> Execution {
        let run = &self.runs[index];
        let jobs = Self::tasks(run, now)
            .map(|tasks| {
                tasks
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        (
                            i.to_string(),
                            Job {
                                status: t.name().to_owned(),
                                exit_code: t.exit_code(),
                                exit_message: t.exit_message(),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Execution {
            identifier: run.id.clone(),
            name: run.name.clone(),
            pipeline_identifier: world.pipelines[run.pipeline].id.clone(),
            timeout: Some(0),
            status: Self::status(run),
            input_values: run.recorded.clone(),
            returned_files: run.returned.clone(),
            study_identifier: None,
            error_code: None,
            start_date: Some(run.start_ms),
            end_date: None,
            results_location: None,
            jobs,
        }
    }

    /// The caller's runs, newest first, as summaries (empty maps), at most `limit`.
    pub(crate) fn list(&self, user: usize, limit: usize, world: &World) -> Vec<Execution> {
        self.runs
            .iter()
            .rev()
            .filter(|r| r.owner == user && !r.cleaned)
            .take(limit)
            .map(|run| Execution {
                identifier: run.id.clone(),
                name: run.name.clone(),
                pipeline_identifier: world.pipelines[run.pipeline].id.clone(),
                timeout: Some(0),
                status: Self::status(run),
                input_values: IndexMap::new(),
                returned_files: Some(IndexMap::new()),
                study_identifier: None,
                error_code: None,
                start_date: Some(run.start_ms),
                end_date: None,
                results_location: None,
                jobs: IndexMap::new(),
            })
            .collect()
    }

    /// The caller's runs, deleted ones excluded.
    pub(crate) fn count(&self, user: usize) -> usize {
        self.runs
            .iter()
            .filter(|r| r.owner == user && !r.cleaned)
            .count()
    }

    /// The output files of a run, as VIP paths.
    pub(crate) fn returned_paths(&self, index: usize) -> Vec<String> {
        self.runs[index]
            .returned
            .iter()
            .flat_map(|m| m.values().flatten().cloned())
            .collect()
    }

    /// A log of the whole execution: the single job's, or a sentinel text. `Err` when the
    /// one job has no log yet.
    pub(crate) fn log(
        &self,
        index: usize,
        world: &World,
        now: Instant,
        stderr: bool,
    ) -> Result<String, ApiError> {
        let run = &self.runs[index];
        match Self::tasks(run, now) {
            None => Ok("no log found".into()),
            Some(tasks) if tasks.len() > 1 => {
                Ok("jobId is required when multiple tasks exist".into())
            }
            Some(tasks) => {
                Self::render_log(run, world, 0, tasks[0], stderr).ok_or_else(ApiError::generic)
            }
        }
    }

    /// A log of one invocation; a sentinel for an unknown one, `Err` when its task has no
    /// log yet.
    pub(crate) fn job_log(
        &self,
        index: usize,
        job: u64,
        world: &World,
        now: Instant,
        stderr: bool,
    ) -> Result<String, ApiError> {
        let run = &self.runs[index];
        let tasks = Self::tasks(run, now).unwrap_or_default();
        let Some((i, task)) = usize::try_from(job)
            .ok()
            .and_then(|i| tasks.get(i).map(|t| (i, *t)))
        else {
            return Ok(format!("no log found for job {job}"));
        };
        Self::render_log(run, world, i, task, stderr).ok_or_else(ApiError::generic)
    }

    fn render_log(
        run: &Run,
        world: &World,
        i: usize,
        task: TaskState,
        stderr: bool,
    ) -> Option<String> {
        let logs = &world.pipelines[run.pipeline].logs;
        let job = &run.jobs[i];
        let full_out = outputs::fill(&logs.stdout, &job.values, i + 1);
        match task {
            // No log file yet, or none ever (the grid lost the job).
            TaskState::Queued | TaskState::Stalled | TaskState::StalledHeld => None,
            TaskState::Running | TaskState::Cancelled => Some(if stderr {
                String::new()
            } else {
                full_out
                    .split_inclusive('\n')
                    .next()
                    .unwrap_or("")
                    .to_owned()
            }),
            TaskState::Completed => Some(if stderr {
                outputs::fill(&logs.stderr, &job.values, i + 1)
            } else {
                full_out
            }),
            // A failed job's log, and a held one's (its last attempt's): the tool's own
            // lines when it ran, then the wrapper's.
            TaskState::Error(_) | TaskState::ErrorHeld => Some(match (stderr, job.ran) {
                (true, true) => format!(
                    "{}{}",
                    outputs::fill(&logs.stderr, &job.values, i + 1),
                    job.failure
                ),
                (true, false) => job.failure.clone(),
                (false, true) => full_out,
                (false, false) => String::new(),
            }),
        }
    }
}
