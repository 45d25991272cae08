//! What a failure kind does to each job of an execution (docs/vip.md#jobs): which task
//! status it ends in and with which exit code, and what it writes on stderr, in the manner
//! of VIP's job wrapper (GASW): `[ERROR] …` lines, then `Exiting with return value N`.
//!
//! A trigger's failure is fixed (the kind's usual code, `ERROR_HELD`, the first required
//! output); a drawn one takes its details from the execution's own generator.

use rand::Rng;
use rand::rngs::StdRng;

use super::task_state::TaskState;
use crate::sandbox::failures::FailureKind;
use crate::sandbox::outputs::{self, JobValues};
use crate::sandbox::world::{PipelineDef, RESULTS_DIRECTORY, User, required_outputs};

/// What one job of a run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fate {
    /// `COMPLETED`, exit 0, its outputs written.
    Completes,
    /// `COMPLETED`, exit 0, but this output is neither written nor returned.
    LosesOutput(String),
    /// `ERROR` with this exit code.
    Fails(i64),
    /// Once its time has come, this held or stalled state, until the run is killed.
    Held(TaskState),
    /// `RUNNING` until the run would have ended, then `CANCELLED` (the run is Killed).
    Cancelled,
    /// `QUEUED` for good.
    StaysQueued,
}

impl Fate {
    /// Whether the run cannot end while this job is there (held, stalled, queued for good).
    pub(super) fn is_open(&self) -> bool {
        matches!(self, Self::Held(_) | Self::StaysQueued)
    }
}

/// How a failure's details are chosen.
pub(super) enum Choice<'r> {
    /// A trigger's: always the same.
    Usual,
    /// The mix's: from the execution's own generator.
    Seeded(&'r mut StdRng),
}

impl Choice<'_> {
    /// An exit code of `kind`'s class: the usual one, or a seeded one (for `application`,
    /// 50 seven times in ten).
    fn code(&mut self, kind: FailureKind) -> i64 {
        let codes = kind.exit_codes();
        match self {
            Self::Usual => codes[0],
            Self::Seeded(rng) => {
                if kind == FailureKind::Application && rng.random_bool(0.7) {
                    codes[0]
                } else if kind == FailureKind::Application {
                    codes[rng.random_range(1..codes.len())]
                } else {
                    codes[rng.random_range(0..codes.len())]
                }
            }
        }
    }

    fn held(&mut self) -> TaskState {
        let stalled = match self {
            Self::Seeded(rng) => rng.random_bool(0.5),
            Self::Usual => false,
        };
        if stalled {
            TaskState::StalledHeld
        } else {
            TaskState::ErrorHeld
        }
    }

    fn output(&mut self, outputs: &[String]) -> Option<String> {
        match self {
            Self::Usual => outputs.first().cloned(),
            Self::Seeded(_) if outputs.is_empty() => None,
            Self::Seeded(rng) => Some(outputs[rng.random_range(0..outputs.len())].clone()),
        }
    }
}

/// Which of `n` jobs a drawn failure hits: each one in two, at least one.
pub(super) fn pick_jobs(rng: &mut StdRng, n: usize) -> Vec<bool> {
    if n == 1 {
        return vec![true];
    }
    let mut hits: Vec<bool> = (0..n).map(|_| rng.random_bool(0.5)).collect();
    if !hits.contains(&true) {
        let one = rng.random_range(0..n);
        hits[one] = true;
    }
    hits
}

/// What a job's failure needs to know to be written down.
pub(super) struct Context<'a> {
    pub(super) pipeline: &'a PipelineDef,
    pub(super) user: &'a User,
    /// The run folder (a VIP path).
    pub(super) folder: &'a str,
    /// The tool's own error, for an `application` failure.
    pub(super) tool_error: &'a str,
}

/// One job as planned: its fate, and what it writes when it ends badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Planned {
    pub(super) fate: Fate,
    /// The lines it writes on stderr after the tool's own (empty when it completes).
    pub(super) failure: String,
    /// Whether the tool ran (its stdout and stderr are in the logs).
    pub(super) ran: bool,
}

/// The fates of a run's jobs under `kind` (none: every job completes), `hits` saying which
/// jobs it strikes; and the output withheld by `outputs_missing`. `None` when the pipeline
/// cannot show `kind` (`outputs_missing` without a required output).
pub(super) fn plan(
    kind: Option<FailureKind>,
    hits: &[bool],
    choice: &mut Choice<'_>,
    jobs: &[JobValues],
    ctx: &Context<'_>,
) -> Option<(Vec<Planned>, Option<String>)> {
    let completes = || Planned {
        fate: Fate::Completes,
        failure: String::new(),
        ran: true,
    };
    let Some(kind) = kind else {
        return Some((jobs.iter().map(|_| completes()).collect(), None));
    };
    let mut withheld = None;
    let code = (!kind.exit_codes().is_empty()).then(|| choice.code(kind));
    if kind == FailureKind::OutputsMissing {
        let required: Vec<String> = required_outputs(ctx.pipeline.descriptor())
            .map(|o| o.id.clone())
            .collect();
        withheld = Some(choice.output(&required)?);
    }
    let planned = jobs
        .iter()
        .zip(hits)
        .enumerate()
        .map(|(i, (values, hit))| {
            if kind == FailureKind::Hung {
                return Planned {
                    fate: Fate::StaysQueued,
                    failure: String::new(),
                    ran: false,
                };
            }
            if !hit {
                return completes();
            }
            match kind {
                FailureKind::Held | FailureKind::Stalled => {
                    let state = if kind == FailureKind::Held {
                        choice.held()
                    } else {
                        TaskState::Stalled
                    };
                    // A held task shows its last attempt's log; a stalled one has none.
                    let (failure, ran) = gasw_log(1, values, i, jobs.len(), ctx);
                    Planned {
                        fate: Fate::Held(state),
                        failure,
                        ran,
                    }
                }
                FailureKind::OutputsMissing => Planned {
                    fate: Fate::LosesOutput(withheld.clone().unwrap_or_default()),
                    failure: String::new(),
                    ran: true,
                },
                FailureKind::Killed => Planned {
                    fate: Fate::Cancelled,
                    failure: String::new(),
                    ran: true,
                },
                FailureKind::Cleaned => completes(),
                _ => {
                    let code = code.unwrap_or(-1);
                    let (failure, ran) = gasw_log(code, values, i, jobs.len(), ctx);
                    Planned {
                        fate: Fate::Fails(code),
                        failure,
                        ran,
                    }
                }
            }
        })
        .collect();
    Some((planned, withheld))
}

/// The job's first File input value (what it downloads first), or its first value.
fn first_input(values: &JobValues, ctx: &Context<'_>) -> String {
    let files = ctx
        .pipeline
        .descriptor()
        .inputs
        .iter()
        .filter(|i| i.kind == "File" && i.id != RESULTS_DIRECTORY);
    files
        .filter_map(|i| values.get(&i.id))
        .chain(values.values())
        .next()
        .cloned()
        .unwrap_or_default()
}

/// A VIP path as the grid's file catalogue names it (the logical file name).
fn lfn(vip: &str, user: &User) -> String {
    let account: String = user
        .email
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let base = "/grid/biomed/creatis/vip/data";
    if let Some(rest) = vip.strip_prefix("/vip/Home") {
        return format!("lfn:{base}/users/{account}{rest}");
    }
    if let Some(rest) = vip.strip_prefix("/vip/")
        && let Some((group, rest)) = rest.split_once(" (group)")
    {
        return format!("lfn:{base}/groups/{group}{rest}");
    }
    vip.to_owned()
}

/// The lines a job failing with `code` writes on stderr, ending as GASW ends, and whether
/// the tool ran before it failed.
fn gasw_log(
    code: i64,
    values: &JobValues,
    index: usize,
    jobs: usize,
    ctx: &Context<'_>,
) -> (String, bool) {
    let input = first_input(values, ctx);
    let input_name = input.rsplit('/').next().unwrap_or(&input).to_owned();
    let output = ctx.pipeline.descriptor().output_files.first().map_or_else(
        || "results".to_owned(),
        |o| outputs::file_name(ctx.pipeline, &o.id, values),
    );
    let result = if jobs > 1 {
        format!("{}/{:03}/{output}", ctx.folder, index + 1)
    } else {
        format!("{}/{output}", ctx.folder)
    };
    let image = ctx
        .pipeline
        .descriptor
        .get("container-image")
        .and_then(|c| c.get("image"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or(&ctx.pipeline.id)
        .to_owned();
    let user = ctx.user;
    let (line, ran) = match code {
        50 | 6 => (ctx.tool_error.trim_end().to_owned(), true),
        41 => (
            format!("[ERROR] {input_name}: the Shanoir archive holds no NIfTI file"),
            false,
        ),
        32 => (
            format!(
                "[ERROR] Could not upload {output}: {} already exists",
                lfn(&result, user)
            ),
            true,
        ),
        1 => (
            format!(
                "[ERROR] Could not download {}: Connection timed out after 3 attempts",
                lfn(&input, user)
            ),
            false,
        ),
        40 => (
            format!("[ERROR] Could not download {input}: the transfer failed"),
            false,
        ),
        42 => (
            format!("[ERROR] Could not download {input_name} from Shanoir: HTTP 503"),
            false,
        ),
        20 => (
            "[ERROR] Could not install girder-client: pip exited with code 1".to_owned(),
            false,
        ),
        21 => (
            "[ERROR] Could not install Boutiques: pip exited with code 1".to_owned(),
            false,
        ),
        22 => (
            "[ERROR] Could not create the execution folder: Permission denied".to_owned(),
            false,
        ),
        23 => (
            "[ERROR] Could not enter the execution folder: No such file or directory".to_owned(),
            false,
        ),
        24 => (
            "[ERROR] The job's configuration file was not found on the worker".to_owned(),
            false,
        ),
        25 => (
            "[ERROR] Could not import Boutiques: No module named 'boutiques'".to_owned(),
            false,
        ),
        7 => (
            "[ERROR] Could not write to the worker's local disk: No space left on device"
                .to_owned(),
            false,
        ),
        8 => (
            "[ERROR] Could not retrieve the job's standard output and error".to_owned(),
            true,
        ),
        2 => (
            format!(
                "[ERROR] Could not upload {output} to {}: Connection timed out after 3 attempts",
                lfn(&result, user)
            ),
            true,
        ),
        30 => (
            format!(
                "[ERROR] Could not register {} in the file catalogue",
                lfn(&result, user)
            ),
            true,
        ),
        31 => (
            format!("[ERROR] Could not move {output} into the upload folder"),
            true,
        ),
        33 => (format!("[ERROR] Could not upload {output} to Girder"), true),
        34 => (
            format!("[ERROR] Could not upload {output} to Shanoir"),
            true,
        ),
        35 => (
            "[ERROR] Could not create the local upload folder".to_owned(),
            true,
        ),
        36 => (
            format!("[ERROR] Could not create the Girder folder for {output}"),
            true,
        ),
        52 => (
            format!("[ERROR] Could not pull the container image {image}: manifest unknown"),
            false,
        ),
        51 => (
            format!("[ERROR] Invalid Singularity image name: {image}"),
            false,
        ),
        53 => (
            "[ERROR] Invalid container runtime: the pipeline names none this worker has".to_owned(),
            false,
        ),
        60 => (
            "[ERROR] Refreshing the access token for external storage took too long".to_owned(),
            false,
        ),
        61 => (
            "[ERROR] Could not refresh the access token for external storage: invalid_grant"
                .to_owned(),
            false,
        ),
        // An end the wrapper could not name: its log stops short.
        _ => {
            return ("[ERROR] The job wrapper was interrupted\n".to_owned(), true);
        }
    };
    (format!("{line}\nExiting with return value {code}\n"), ran)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::sandbox::default_world;

    fn hello_job() -> JobValues {
        let mut values = JobValues::new();
        values.insert("input_file".into(), "/vip/Home/study/in.txt".into());
        values.insert("message".into(), "hi".into());
        values
    }

    #[test]
    fn each_kind_ends_its_jobs_as_vip_shows_them() {
        let world = default_world();
        let ctx = Context {
            pipeline: &world.pipelines[0],
            user: &world.users[0],
            folder: "/vip/Home/out/02-02-2026_09:21:23",
            tool_error: "Error: asked to fail",
        };
        let jobs = vec![hello_job()];
        let fate = |kind| {
            let (planned, withheld) =
                plan(Some(kind), &[true], &mut Choice::Usual, &jobs, &ctx).unwrap();
            (planned[0].clone(), withheld)
        };
        let (app, _) = fate(FailureKind::Application);
        assert_eq!(app.fate, Fate::Fails(50));
        assert_eq!(
            app.failure,
            "Error: asked to fail\nExiting with return value 50\n"
        );
        assert!(app.ran);
        let (download, _) = fate(FailureKind::InputDownload);
        assert_eq!(download.fate, Fate::Fails(1));
        assert_eq!(
            download.failure,
            "[ERROR] Could not download lfn:/grid/biomed/creatis/vip/data/users/demo/study/in.txt: \
             Connection timed out after 3 attempts\nExiting with return value 1\n"
        );
        assert!(!download.ran);
        assert!(
            fate(FailureKind::Container)
                .0
                .failure
                .contains("vip-run/hello:1.0")
        );
        assert_eq!(fate(FailureKind::Unknown).0.fate, Fate::Fails(-1));
        assert_eq!(
            fate(FailureKind::Held).0.fate,
            Fate::Held(TaskState::ErrorHeld)
        );
        assert_eq!(
            fate(FailureKind::Stalled).0.fate,
            Fate::Held(TaskState::Stalled)
        );
        assert_eq!(fate(FailureKind::Hung).0.fate, Fate::StaysQueued);
        assert_eq!(fate(FailureKind::Killed).0.fate, Fate::Cancelled);
        assert_eq!(fate(FailureKind::Cleaned).0.fate, Fate::Completes);
        assert_eq!(
            fate(FailureKind::OutputsMissing),
            (
                Planned {
                    fate: Fate::LosesOutput("greeting".into()),
                    failure: String::new(),
                    ran: true
                },
                Some("greeting".into())
            )
        );
        // Every code of every class has its own line.
        for kind in FailureKind::ALL {
            for code in kind.exit_codes() {
                let (log, _) = gasw_log(*code, &jobs[0], 0, 1, &ctx);
                assert!(!log.is_empty(), "{code}");
                if *code != -1 {
                    assert!(
                        log.ends_with(&format!("Exiting with return value {code}\n")),
                        "{log}"
                    );
                }
            }
        }
    }

    #[test]
    fn drawn_details_come_from_the_seed() {
        let codes = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200)
                .map(|_| Choice::Seeded(&mut rng).code(FailureKind::Application))
                .collect::<Vec<_>>()
        };
        let drawn = codes(3);
        assert_eq!(drawn, codes(3));
        let fifty = drawn.iter().filter(|c| **c == 50).count();
        assert!((110..=170).contains(&fifty), "{fifty}");
        assert!(drawn.iter().all(|c| [50, 6, 41, 32].contains(c)));
        let mut rng = StdRng::seed_from_u64(3);
        for n in 1..6 {
            assert!(pick_jobs(&mut rng, n).contains(&true));
        }
    }
}
