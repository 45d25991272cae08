//! The executions and their clock, standing for VIP's workflow engine: runs are created
//! Running (or Ready when the engine's slots are full), and every request first applies the
//! transitions that have fallen due since the last one (`advance`), in time order: a run
//! ends after its duration (Finished, or `ExecutionFailed` when a job fails), which frees a
//! slot for the oldest queued run. No background ticker: the state is a function of the
//! seed, the requests and the time they arrive.
//!
//! A run can carry an injected failure (docs/vip.md#jobs): decided at its creation by the
//! pipeline's `fail_when` trigger, else by `failure_rate`, else by the failure mix, and
//! planned job by job in `fates`. Held, stalled and hung runs never end by themselves; a
//! `cleaned` run is deleted as it finishes, a `killed` one killed as it would have ended.
//!
//! This file owns the runs and every change of their state (create, advance, kill, delete,
//! rename, the test hook); `views` is what VIP shows of them, `results` writes their outputs,
//! `fates` plans what an injected failure does to each job, `task_state` is one job's task.

mod fates;
mod results;
mod task_state;
mod views;

use std::fs;
use std::time::{Duration, Instant, SystemTime};

use std::collections::HashMap;

use indexmap::IndexMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use self::fates::{Choice, Context, Fate};
use self::results::write_outputs;
use self::task_state::{TaskState, Tasks};
use super::clock;
use super::data::DataTree;
use super::errors::ApiError;
use super::failures::{self, FailureKind, FailureMix, InjectedJob, Injection};
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
    /// The execution kinds drawn for each new run.
    pub(crate) failures: FailureMix,
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
    fate: Fate,
    /// What the job writes on stderr after the tool's own lines when it ends badly.
    failure: String,
    /// Whether the tool ran: its stdout and stderr are in the logs.
    ran: bool,
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
    /// The failure injected into it, if any.
    injected: Option<FailureKind>,
    /// For `outputs_missing`: the output id withheld.
    withheld: Option<String>,
}

impl Run {
    /// Whether it cannot end by itself: a job is held, stalled or queued for good.
    fn is_open(&self) -> bool {
        self.jobs.iter().any(|j| j.fate.is_open())
    }
}

/// Every execution of the platform.
#[derive(Debug)]
pub(crate) struct Scheduler {
    config: SchedulerConfig,
    /// The ids' stream (and `failure_rate`'s, as before the mix existed).
    rng: StdRng,
    runs: Vec<Run>,
    /// Per pipeline: the launches its `fail_when` trigger has matched so far (for `times`).
    matched: HashMap<usize, u32>,
}

impl Scheduler {
    pub(crate) fn new(config: SchedulerConfig) -> Self {
        Self {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            runs: Vec::new(),
            matched: HashMap::new(),
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
                    Phase::Running { since } if !r.is_open() => Some((i, since + r.duration)),
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

    /// Ends a running run at `end`: Finished, or `ExecutionFailed` if a job failed, or
    /// Killed when the portal cancels it; the outputs of the jobs that completed are
    /// written. A `cleaned` run is deleted at once.
    fn complete(&mut self, index: usize, end: Instant, world: &World, data: &DataTree) {
        let run = &self.runs[index];
        let since = match run.phase {
            Phase::Running { since } => since,
            _ => end,
        };
        let tasks = Self::tasks_at(run, since, end.max(since + run.duration));
        let failed = run.jobs.iter().any(|j| matches!(j.fate, Fate::Fails(_)));
        let killed = run.jobs.iter().any(|j| j.fate == Fate::Cancelled);
        let returned = write_outputs(run, tasks.as_deref(), world, data);
        let run = &mut self.runs[index];
        run.returned = if failed && !killed && returned.is_empty() {
            None
        } else {
            Some(returned)
        };
        run.phase = Phase::Settled {
            status: if killed {
                ExecutionStatus::Killed
            } else if failed {
                ExecutionStatus::ExecutionFailed
            } else {
                ExecutionStatus::Finished
            },
            tasks,
        };
        if run.injected == Some(FailureKind::Cleaned) {
            run.cleaned = true;
        }
    }

    /// The launch-level failure the pipeline's trigger gives this launch (`saturated`,
    /// `engine_error`), counted against its `times`.
    pub(crate) fn refusal(&mut self, launch: &Launch, world: &World) -> Option<FailureKind> {
        let trigger = world.pipelines[launch.pipeline].fail_when.as_ref()?;
        if !trigger.failure().is_launch() {
            return None;
        }
        self.trigger_fires(launch.pipeline, trigger, &launch.jobs)
            .then(|| trigger.failure())
    }

    /// Whether `trigger` matches one of `jobs` and, counting this launch, is still within
    /// its `times`.
    fn trigger_fires(&mut self, pipeline: usize, trigger: &Trigger, jobs: &[JobValues]) -> bool {
        if !jobs.iter().any(|j| trigger.matches(j)) {
            return false;
        }
        let seen = self.matched.entry(pipeline).or_insert(0);
        *seen += 1;
        trigger.times.is_none_or(|times| *seen <= times)
    }

    /// What befalls a new run's jobs, and the failure injected (with the output it
    /// withholds): the pipeline's trigger first, then `failure_rate`, then the mix. Only the
    /// mix's details are drawn; a trigger's and the rate's are the kind's usual ones.
    fn plan_failure(
        &mut self,
        launch: &Launch,
        owner: usize,
        world: &World,
        folder: &str,
    ) -> (Vec<fates::Planned>, Option<FailureKind>, Option<String>) {
        let pipeline = &world.pipelines[launch.pipeline];
        let n = launch.jobs.len();
        // `failure_rate` draws from the ids' stream, as it did before the mix: the same seed
        // fails the same runs.
        let by_rate = (self.config.failure_rate > 0.0
            && self.rng.random::<f64>() < self.config.failure_rate)
            .then(|| {
                let mut hits: Vec<bool> = (0..n)
                    .map(|_| n == 1 || self.rng.random_bool(0.5))
                    .collect();
                if !hits.contains(&true)
                    && let Some(last) = hits.last_mut()
                {
                    *last = true;
                }
                hits
            });
        // The mix draws for every run, from the run's own stream.
        let mut fate_rng = failures::execution_rng(self.config.seed, self.runs.len());
        let drawn = failures::draw_execution(&self.config.failures, &mut fate_rng);
        let fired = pipeline
            .fail_when
            .as_ref()
            .filter(|t| t.failure().is_execution())
            .filter(|t| self.trigger_fires(launch.pipeline, t, &launch.jobs));
        let (kind, hits, drawn_details) = if let Some(t) = fired {
            let hits = launch.jobs.iter().map(|j| t.matches(j)).collect();
            (Some(t.failure()), hits, false)
        } else if let Some(hits) = by_rate {
            (Some(FailureKind::Application), hits, false)
        } else if let Some(kind) = drawn {
            (Some(kind), fates::pick_jobs(&mut fate_rng, n), true)
        } else {
            (None, vec![false; n], false)
        };
        let tool_error = fired
            .and_then(|t| t.stderr.clone())
            .unwrap_or_else(|| "Error: the job exited with code 1".to_owned());
        let context = Context {
            pipeline,
            user: &world.users[owner],
            folder,
            tool_error: &tool_error,
        };
        let mut choice = if drawn_details {
            Choice::Seeded(&mut fate_rng)
        } else {
            Choice::Usual
        };
        if let Some((planned, withheld)) =
            fates::plan(kind, &hits, &mut choice, &launch.jobs, &context)
        {
            return (planned, kind, withheld);
        }
        // The pipeline cannot show the kind (no required output to withhold): it runs well.
        let (planned, _) = fates::plan(None, &hits, &mut choice, &launch.jobs, &context)
            .expect("a run without a failure is always planned");
        (planned, None, None)
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
        let wall = SystemTime::now();
        let folder = format!(
            "{}/{}",
            launch.results.trim_end_matches('/'),
            clock::run_folder_name(wall)
        );
        let (planned, kind, withheld) = self.plan_failure(&launch, owner, world, &folder);
        let jobs: Vec<JobPlan> = launch
            .jobs
            .into_iter()
            .zip(planned)
            .map(|(values, p)| JobPlan {
                values,
                fate: p.fate,
                failure: p.failure,
                ran: p.ran,
            })
            .collect();
        let marker =
            |t: &Option<Trigger>, job: &JobValues| t.as_ref().is_some_and(|t| t.matches(job));
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
            start_ms: clock::epoch_ms(wall),
            folder,
            duration,
            phase,
            returned: None,
            cleaned: false,
            injected: kind,
            withheld,
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
                    .map(|s| {
                        if s.is_unfinished() {
                            TaskState::Cancelled
                        } else {
                            s
                        }
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

    /// What was injected into a run, as the record shows it (`at_request` left at 0 for
    /// the caller to fill).
    pub(crate) fn injection(&self, index: usize) -> Option<Injection> {
        let run = &self.runs[index];
        let kind = run.injected?;
        let jobs = run
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(job, plan)| {
                let (exit_code, status) = match &plan.fate {
                    Fate::Completes => return None,
                    Fate::LosesOutput(_) => (Some(0), TaskState::Completed),
                    Fate::Fails(code) => (Some(*code), TaskState::Error(*code)),
                    Fate::Held(state) => (None, *state),
                    Fate::Cancelled => (Some(9), TaskState::Cancelled),
                    Fate::StaysQueued => (None, TaskState::Queued),
                };
                Some(InjectedJob {
                    job,
                    exit_code,
                    status: status.name().to_owned(),
                })
            })
            .collect();
        Some(Injection {
            at_request: 0,
            kind,
            execution_id: Some(run.id.clone()),
            name: Some(run.name.clone()),
            path: None,
            output: run.withheld.clone(),
            jobs,
        })
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
                run.injected = None;
                run.withheld = None;
                for job in &mut run.jobs {
                    job.fate = if fail {
                        Fate::Fails(50)
                    } else {
                        Fate::Completes
                    };
                    job.failure = if fail {
                        "Error: the job exited with code 1\nExiting with return value 50\n"
                            .to_owned()
                    } else {
                        String::new()
                    };
                    job.ran = true;
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
