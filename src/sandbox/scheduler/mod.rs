//! The executions and their clock, standing for VIP's workflow engine: runs are created
//! Running (or Ready when the engine's slots are full), and every request first applies the
//! transitions that have fallen due since the last one (`advance`), in time order: a run
//! ends after its duration (Finished, or `ExecutionFailed` when a job fails), which frees a
//! slot for the oldest queued run. No background ticker: the state is a function of the
//! seed, the requests and the time they arrive.
//!
//! This file owns the runs and every change of their state (create, advance, kill, delete,
//! rename, the test hook); `views` is what VIP shows of them, `results` writes their outputs.

mod results;
mod views;

use std::fs;
use std::time::{Duration, Instant, SystemTime};

use indexmap::IndexMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use self::results::write_outputs;
use self::views::{TaskState, Tasks};
use super::clock;
use super::data::DataTree;
use super::errors::ApiError;
use super::outputs::JobValues;
use super::submit::Launch;
use super::world::{Trigger, World};
use crate::vip::wire::ExecutionStatus;

/// The scheduler's settings (from `Config`).
#[derive(Debug, Clone)]
pub(crate) struct SchedulerConfig {
    pub(crate) exec_duration: Duration,
    pub(crate) failure_rate: f64,
    pub(crate) engine_slots: usize,
    pub(crate) platform_max: usize,
    pub(crate) quota: Option<u32>,
    pub(crate) seed: u64,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Ready: waiting for a slot.
    Queued,
    /// Running since then.
    Running { since: Instant },
    /// Settled with this status (terminal, or frozen by a test as Unknown…); `tasks` is
    /// the jobs map as it stood.
    Settled {
        status: ExecutionStatus,
        tasks: Tasks,
    },
}

#[derive(Debug, Clone)]
struct JobPlan {
    values: JobValues,
    fails: bool,
    /// What a failing job writes on stderr.
    failure: String,
}

#[derive(Debug, Clone)]
struct Run {
    id: String,
    owner: usize,
    name: String,
    pipeline: usize,
    recorded: IndexMap<String, Value>,
    jobs: Vec<JobPlan>,
    /// The run folder: `<results>/<dd-MM-yyyy_HH:mm:ss>`.
    folder: String,
    start_ms: i64,
    duration: Duration,
    phase: Phase,
    returned: Option<IndexMap<String, Vec<String>>>,
    cleaned: bool,
}

/// Every execution of the platform.
#[derive(Debug)]
pub(crate) struct Scheduler {
    config: SchedulerConfig,
    rng: StdRng,
    runs: Vec<Run>,
}

impl Scheduler {
    pub(crate) fn new(config: SchedulerConfig) -> Self {
        Self {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            runs: Vec::new(),
        }
    }

    /// The caller's quota.
    pub(crate) fn quota_of(&self, world: &World, user: usize) -> u32 {
        self.config.quota.unwrap_or(world.users[user].quota)
    }

    /// Running and queued runs: of the platform, and of `user`.
    pub(crate) fn load(&self, user: usize) -> (usize, usize) {
        let active = |r: &&Run| matches!(r.phase, Phase::Queued | Phase::Running { .. });
        let platform = self.runs.iter().filter(active).count();
        let mine = self
            .runs
            .iter()
            .filter(active)
            .filter(|r| r.owner == user)
            .count();
        (platform, mine)
    }

    /// The platform-wide cap on running and queued runs (error 2000).
    pub(crate) fn platform_max(&self) -> usize {
        self.config.platform_max
    }

    /// Applies, in time order, every transition due by `now`.
    pub(crate) fn advance(&mut self, now: Instant, world: &World, data: &DataTree) {
        loop {
            let due = self
                .runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match r.phase {
                    Phase::Running { since } => Some((i, since + r.duration)),
                    _ => None,
                })
                .filter(|(_, end)| *end <= now)
                .min_by_key(|(_, end)| *end);
            let Some((index, end)) = due else { break };
            self.complete(index, end, world, data);
            self.promote(end);
        }
        self.promote(now);
    }

    /// Starts queued runs, oldest first, while the engine has free slots.
    fn promote(&mut self, at: Instant) {
        let running = self
            .runs
            .iter()
            .filter(|r| matches!(r.phase, Phase::Running { .. }))
            .count();
        let free = self.config.engine_slots.saturating_sub(running);
        for run in self
            .runs
            .iter_mut()
            .filter(|r| matches!(r.phase, Phase::Queued))
            .take(free)
        {
            run.phase = Phase::Running { since: at };
        }
    }

    /// Ends a running run at `end`: Finished, or `ExecutionFailed` if a job failed; the
    /// outputs of the jobs that completed are written.
    fn complete(&mut self, index: usize, end: Instant, world: &World, data: &DataTree) {
        let run = &self.runs[index];
        let since = match run.phase {
            Phase::Running { since } => since,
            _ => end,
        };
        let tasks = Self::tasks_at(run, since, end.max(since + run.duration));
        let failed = run.jobs.iter().any(|j| j.fails);
        let returned = write_outputs(run, tasks.as_deref(), world, data);
        let run = &mut self.runs[index];
        run.returned = if failed && returned.is_empty() {
            None
        } else {
            Some(returned)
        };
        run.phase = Phase::Settled {
            status: if failed {
                ExecutionStatus::ExecutionFailed
            } else {
                ExecutionStatus::Finished
            },
            tasks,
        };
    }

    /// Creates a run from an accepted launch: Running, or Ready when no slot is free.
    pub(crate) fn create(
        &mut self,
        launch: Launch,
        owner: usize,
        world: &World,
        now: Instant,
    ) -> usize {
        let pipeline = &world.pipelines[launch.pipeline];
        let mut id;
        loop {
            id = String::from("workflow-");
            for _ in 0..6 {
                let i = self.rng.random_range(0..62u8);
                id.push(char::from(match i {
                    0..=9 => b'0' + i,
                    10..=35 => b'A' + i - 10,
                    _ => b'a' + i - 36,
                }));
            }
            if !self.runs.iter().any(|r| r.id == id) {
                break;
            }
        }
        let marker = |t: &Option<Trigger>, job: &JobValues| {
            t.as_ref()
                .is_some_and(|t| job.get(&t.input).is_some_and(|v| v.contains(&t.contains)))
        };
        let default_failure = "Error: the job exited with code 1".to_owned();
        let mut jobs: Vec<JobPlan> = launch
            .jobs
            .into_iter()
            .map(|values| {
                let fails = marker(&pipeline.fail_when, &values);
                let failure = pipeline
                    .fail_when
                    .as_ref()
                    .and_then(|t| t.stderr.clone())
                    .filter(|_| fails)
                    .unwrap_or_else(|| default_failure.clone());
                JobPlan {
                    values,
                    fails,
                    failure,
                }
            })
            .collect();
        // A run picked to fail has at least one failing job; with several jobs, some of
        // them may still succeed and leave partial outputs.
        if self.config.failure_rate > 0.0 && self.rng.random::<f64>() < self.config.failure_rate {
            let n = jobs.len();
            let mut any = false;
            for job in &mut jobs {
                if n == 1 || self.rng.random_bool(0.5) {
                    job.fails = true;
                    any = true;
                }
            }
            if !any && let Some(last) = jobs.last_mut() {
                last.fails = true;
            }
        }
        let slow = jobs.iter().any(|j| marker(&pipeline.slow_when, &j.values));
        let factor = pipeline
            .slow_when
            .as_ref()
            .and_then(|t| t.factor)
            .unwrap_or(5);
        let duration = if slow {
            self.config.exec_duration.saturating_mul(factor)
        } else {
            self.config.exec_duration
        };
        let wall = SystemTime::now();
        let running = self
            .runs
            .iter()
            .filter(|r| matches!(r.phase, Phase::Running { .. }))
            .count();
        let phase = if running < self.config.engine_slots {
            Phase::Running { since: now }
        } else {
            Phase::Queued
        };
        self.runs.push(Run {
            id,
            owner,
            name: launch.name,
            pipeline: launch.pipeline,
            recorded: launch.recorded,
            jobs,
            folder: format!(
                "{}/{}",
                launch.results.trim_end_matches('/'),
                clock::run_folder_name(wall)
            ),
            start_ms: clock::epoch_ms(wall),
            duration,
            phase,
            returned: None,
            cleaned: false,
        });
        self.runs.len() - 1
    }

    /// Finds `id` for `user`: 8000 if unknown or someone else's, 8015 once deleted.
    pub(crate) fn find(&self, id: &str, user: usize) -> Result<usize, ApiError> {
        let index = self
            .runs
            .iter()
            .position(|r| r.id == id && r.owner == user)
            .ok_or_else(ApiError::generic)?;
        if self.runs[index].cleaned {
            return Err(ApiError::coded(8015, &[id]));
        }
        Ok(index)
    }

    /// `PUT …/kill`: Killed at once, whatever the status; jobs that had not ended are
    /// cancelled, those that had keep their outputs.
    pub(crate) fn kill(&mut self, index: usize, world: &World, data: &DataTree, now: Instant) {
        let run = &self.runs[index];
        let tasks = match &run.phase {
            Phase::Queued => None,
            Phase::Running { since } => Self::tasks_at(run, *since, now).map(|t| {
                t.into_iter()
                    .map(|s| match s {
                        TaskState::Queued | TaskState::Running => TaskState::Cancelled,
                        other => other,
                    })
                    .collect()
            }),
            Phase::Settled { tasks, .. } => tasks.clone(),
        };
        let returned = match &run.phase {
            Phase::Settled { .. } => run.returned.clone().unwrap_or_default(),
            _ => write_outputs(run, tasks.as_deref(), world, data),
        };
        let run = &mut self.runs[index];
        run.returned = Some(returned);
        run.phase = Phase::Settled {
            status: ExecutionStatus::Killed,
            tasks,
        };
        self.promote(now);
    }

    /// `PUT …/delete`: only from Finished or Killed; the run becomes Cleaned.
    pub(crate) fn delete(
        &mut self,
        index: usize,
        delete_files: bool,
        world: &World,
        data: &DataTree,
    ) -> Result<(), ApiError> {
        let run = &self.runs[index];
        if !matches!(
            Self::status(run),
            ExecutionStatus::Finished | ExecutionStatus::Killed
        ) {
            return Err(ApiError::generic());
        }
        if delete_files {
            let user = &world.users[run.owner];
            if let Ok(located) = data.locate(run.owner, user, &run.folder)
                && let Some(fs_path) = located.fs
            {
                let _ = fs::remove_dir_all(fs_path);
            }
        }
        self.runs[index].cleaned = true;
        Ok(())
    }

    /// `PUT /executions/{id}`: only the name changes.
    pub(crate) fn rename(&mut self, index: usize, name: String) {
        self.runs[index].name = name;
    }

    /// Test hook: puts a run in `status`, as VIP's engine might.
    pub(crate) fn force(
        &mut self,
        id: &str,
        status: &ExecutionStatus,
        world: &World,
        data: &DataTree,
        now: Instant,
    ) {
        self.advance(now, world, data);
        let Some(index) = self.runs.iter().position(|r| r.id == id) else {
            return;
        };
        match status {
            ExecutionStatus::Running => self.runs[index].phase = Phase::Running { since: now },
            ExecutionStatus::Ready => self.runs[index].phase = Phase::Queued,
            ExecutionStatus::Killed => self.kill(index, world, data, now),
            ExecutionStatus::Finished | ExecutionStatus::ExecutionFailed => {
                let fail = *status == ExecutionStatus::ExecutionFailed;
                let run = &mut self.runs[index];
                for job in &mut run.jobs {
                    job.fails = fail;
                }
                let since = now.checked_sub(run.duration).unwrap_or(now);
                run.phase = Phase::Running { since };
                self.complete(index, now, world, data);
            }
            other => {
                let run = &self.runs[index];
                let tasks = Self::tasks(run, now);
                self.runs[index].phase = Phase::Settled {
                    status: other.clone(),
                    tasks,
                };
            }
        }
        self.promote(now);
    }
}
