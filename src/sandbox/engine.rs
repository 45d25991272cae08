//! The executions and their clock, standing for VIP's workflow engine: runs are created
//! Running (or Ready when the engine's slots are full), and every request first applies the
//! transitions that have fallen due since the last one (`advance`), in time order: a run
//! ends after its duration (Finished, or `ExecutionFailed` when a job fails), which frees a
//! slot for the oldest queued run. No background ticker: the state is a function of the
//! seed, the requests and the time they arrive.

use std::fs;
use std::time::{Duration, Instant, SystemTime};

use indexmap::IndexMap;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::clock;
use super::data::DataTree;
use super::errors::ApiError;
use super::outputs::{self, Content, JobValues};
use super::submit::Launch;
use super::world::{OutputRecipe, World};
use crate::vip::rules;
use crate::vip::wire::{Execution, ExecutionStatus, Job};

/// The engine's settings (from `Config`).
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    pub(crate) exec_duration: Duration,
    pub(crate) failure_rate: f64,
    pub(crate) engine_slots: usize,
    pub(crate) platform_max: usize,
    pub(crate) quota: Option<u32>,
    pub(crate) seed: u64,
}

/// One job's task as `jobs` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    Queued,
    Running,
    Completed,
    Error,
    Cancelled,
}

impl TaskState {
    fn name(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Error => "ERROR",
            Self::Cancelled => "CANCELLED",
        }
    }

    fn exit_code(self) -> Option<i64> {
        match self {
            Self::Completed => Some(0),
            Self::Error => Some(1),
            _ => None,
        }
    }
}

/// The `jobs` map: empty until the engine has submitted the tasks.
pub(crate) type Tasks = Option<Vec<TaskState>>;

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
pub(crate) struct Engine {
    config: EngineConfig,
    rng: StdRng,
    runs: Vec<Run>,
}

impl Engine {
    pub(crate) fn new(config: EngineConfig) -> Self {
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

    /// The jobs map of a running run at `at`: `{}` while the engine submits, then QUEUED,
    /// then each job RUNNING until its turn to end, spread over the run's duration.
    fn tasks_at(run: &Run, since: Instant, at: Instant) -> Tasks {
        let elapsed = at.saturating_duration_since(since).as_secs_f64();
        let d = run.duration.as_secs_f64().max(1e-9);
        if elapsed < d * 0.1 {
            return None;
        }
        if elapsed < d * 0.2 {
            return Some(vec![TaskState::Queued; run.jobs.len()]);
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
                    if elapsed + 1e-9 >= done_at {
                        if job.fails {
                            TaskState::Error
                        } else {
                            TaskState::Completed
                        }
                    } else {
                        TaskState::Running
                    }
                })
                .collect(),
        )
    }

    fn tasks(run: &Run, now: Instant) -> Tasks {
        match &run.phase {
            Phase::Queued => None,
            Phase::Running { since } => Self::tasks_at(run, *since, now),
            Phase::Settled { tasks, .. } => tasks.clone(),
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
        let marker = |t: &Option<super::world::Trigger>, job: &JobValues| {
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

    /// The status VIP shows.
    fn status(run: &Run) -> ExecutionStatus {
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
                                exit_message: None,
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
            TaskState::Queued => None,
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
            TaskState::Error => Some(if stderr {
                format!(
                    "{}{}\n",
                    outputs::fill(&logs.stderr, &job.values, i + 1),
                    job.failure
                )
            } else {
                full_out
            }),
        }
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

/// Writes the outputs of the jobs that completed; returns output id → VIP paths (only the
/// ids that got files). VIP's folder layout: one sub-folder per job when there are several.
fn write_outputs(
    run: &Run,
    tasks: Option<&[TaskState]>,
    world: &World,
    data: &DataTree,
) -> IndexMap<String, Vec<String>> {
    let mut returned: IndexMap<String, Vec<String>> = IndexMap::new();
    let Some(tasks) = tasks else {
        return returned;
    };
    let pipeline = &world.pipelines[run.pipeline];
    let user = &world.users[run.owner];
    let several = run.jobs.len() > 1;
    for (i, (job, task)) in run.jobs.iter().zip(tasks).enumerate() {
        if *task != TaskState::Completed {
            continue;
        }
        for output in &pipeline.descriptor().output_files {
            let Some(recipe) = pipeline.outputs.get(&output.id) else {
                continue;
            };
            let measured = match recipe {
                OutputRecipe::Greeting { measure, .. } => job
                    .values
                    .get(measure)
                    .filter(|v| rules::is_vip_path(v))
                    .and_then(|v| data.locate(run.owner, user, v).ok())
                    .and_then(|l| DataTree::file_size(&l)),
                _ => None,
            };
            let content = outputs::render(recipe, &job.values, i + 1, measured);
            let name = outputs::file_name(pipeline, &output.id, &job.values);
            let vip = if several {
                format!("{}/{:03}/{name}", run.folder, i + 1)
            } else {
                format!("{}/{name}", run.folder)
            };
            if write_file(data, run.owner, user, &vip, &content).is_ok() {
                returned.entry(output.id.clone()).or_default().push(vip);
            }
        }
    }
    if !pipeline.extra_returned.is_empty() {
        returned
            .entry("extra".to_owned())
            .or_default()
            .extend(pipeline.extra_returned.iter().cloned());
    }
    returned
}

/// Writes one output file, creating its folders. Whether VIP creates a missing results
/// directory is open (vip-api.md §5.3); the sandbox does, as the run's own folder needs it.
fn write_file(
    data: &DataTree,
    owner: usize,
    user: &super::world::User,
    vip: &str,
    content: &Content,
) -> std::io::Result<()> {
    let located = data
        .locate(owner, user, vip)
        .map_err(|_| std::io::Error::other("not writable"))?;
    let path = located
        .fs
        .ok_or_else(|| std::io::Error::other("not a file path"))?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    match content {
        Content::Bytes(bytes) => fs::write(&path, bytes),
        Content::Zeros(size) => fs::File::create(&path)?.set_len(*size),
    }
}
