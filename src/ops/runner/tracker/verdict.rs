//! Judging an execution: why it failed (a class from its jobs' exit codes), whether a
//! `Finished` one returned everything it declares (docs/vip.md#exit-codes: `Finished` is not
//! proof of every output), and the watchdog over executions that no longer move (held or
//! stalled jobs, a jobs map that stopped changing while nothing runs). Pure decisions on what
//! VIP showed: the poll (`monitor`) reads, kills and records.

use std::time::Duration;

use crate::manifest::jobs::{ListInput, Role};
use crate::manifest::{InputWire, Item};
use crate::ops::glob;
use crate::ops::state::{Attempt, FailedJob, Verdict};
use crate::vip::failure::FailureClass;
use crate::vip::wire::{Descriptor, Execution, ExecutionStatus, JobClass};

/// Why `e`, an execution of `item` that ended without finishing whole, failed: the class of
/// the job that decides (see [`FailureClass::rank`]), with every job that did not succeed.
pub(crate) fn judge_failure(
    item: Option<&Item>,
    descriptor: Option<&Descriptor>,
    e: &Execution,
) -> Verdict {
    let mut jobs: Vec<FailedJob> = e
        .jobs
        .iter()
        .filter_map(|(id, j)| {
            FailureClass::of_job(j).map(|class| FailedJob {
                job: id.clone(),
                status: j.status.clone(),
                exit_code: j.exit_code,
                class,
                values: item
                    .map(|i| job_values(i, id, descriptor))
                    .unwrap_or_default(),
            })
        })
        .collect();
    jobs.sort_by_key(|j| j.job.parse::<u64>().unwrap_or(u64::MAX));
    let decisive = jobs.iter().min_by_key(|j| j.class.rank());
    let class = match (decisive, &e.status) {
        // Killed on VIP: its unfinished jobs were cancelled, and that is the news.
        (_, ExecutionStatus::Killed) if jobs.iter().all(|j| j.class == FailureClass::Killed) => {
            FailureClass::Killed
        }
        (Some(j), _) => j.class,
        (None, ExecutionStatus::Killed) => FailureClass::Killed,
        (None, _) => FailureClass::Unknown,
    };
    let exit_code = decisive
        .filter(|j| j.class == class)
        .and_then(|j| j.exit_code)
        .filter(|c| *c != 0);
    let detail = match (&e.status, e.jobs.is_empty()) {
        (ExecutionStatus::Killed, _) if class == FailureClass::Killed => {
            Some("killed on VIP (not by this run)".to_owned())
        }
        (_, true) => Some(format!(
            "VIP showed no jobs for this {} execution",
            e.status
        )),
        _ => None,
    };
    Verdict {
        class,
        exit_code,
        jobs,
        missing: Vec::new(),
        detail,
    }
}

/// The verdict on `e`, an execution of `item` that ended: why it failed (`ExecutionFailed`,
/// `InitializationFailed`, `Killed`), or, `Finished`, the outputs it lacks of `required` and
/// `results.expect`; `None` for one that finished whole, or has not ended. The poll judges
/// an end it sees, and adoption one found ended after the state was lost, by this one rule.
pub(crate) fn judge_end(
    item: Option<&Item>,
    descriptor: Option<&Descriptor>,
    required: &[String],
    e: &Execution,
) -> Option<Verdict> {
    match e.status {
        ExecutionStatus::ExecutionFailed
        | ExecutionStatus::InitializationFailed
        | ExecutionStatus::Killed => Some(judge_failure(item, descriptor, e)),
        ExecutionStatus::Finished => {
            let missing = missing_returned(item?, required, e);
            if missing.is_empty() {
                return None;
            }
            let mut v = judge_failure(item, descriptor, e);
            v.class = FailureClass::OutputsMissing;
            v.exit_code = None;
            v.detail = Some("VIP says Finished, but the results are not complete".to_owned());
            v.missing = missing;
            Some(v)
        }
        _ => None,
    }
}

/// What `e`, a `Finished` execution of `item`, did not return: each of `required` (the
/// descriptor's non-optional output ids) with no file, or with fewer files than the execution
/// had jobs; and, for an item that downloads nothing, each `results.expect` pattern no
/// returned file matches (an item that downloads is checked on disk, after its download).
pub(crate) fn missing_returned(item: &Item, required: &[String], e: &Execution) -> Vec<String> {
    let empty = indexmap::IndexMap::new();
    let returned = e.returned_files.as_ref().unwrap_or(&empty);
    let jobs = e.jobs.len().max(1);
    let mut missing = Vec::new();
    for id in required {
        let n = returned.get(id).map_or(0, Vec::len);
        if n == 0 {
            missing.push(format!("output `{id}`"));
        } else if n < jobs {
            missing.push(format!("output `{id}` ({n} of {jobs} jobs returned it)"));
        }
    }
    if item.download.is_none() {
        let paths: Vec<&str> = returned.values().flatten().map(String::as_str).collect();
        for pattern in &item.expect {
            if !paths.iter().any(|p| glob::matches_tail(pattern, p)) {
                missing.push(format!("`{pattern}`"));
            }
        }
    }
    missing
}

/// The `results.expect` patterns that no file under `folder` matches (unpacked archives
/// included; the saved logs are not results).
pub(crate) fn missing_on_disk(item: &Item, folder: &std::path::Path) -> Vec<String> {
    if item.expect.is_empty() {
        return Vec::new();
    }
    let mut files = Vec::new();
    collect_files(folder, folder, &mut files);
    item.expect
        .iter()
        .filter(|pattern| !files.iter().any(|f| glob::matches_tail(pattern, f)))
        .map(|pattern| format!("`{pattern}`"))
        .collect()
}

fn collect_files(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let partial = std::path::Path::new(&rel)
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("part"));
        if rel == "logs" || partial {
            continue;
        }
        if path.is_dir() {
            collect_files(root, &path, out);
        } else {
            out.push(rel);
        }
    }
}

/// The list elements job `job` of `item`'s execution ran on (`input[i] = value`). VIP's
/// engine iterates over the lists in input order, the `vip:dot` inputs paired as one
/// dimension where the first of them stands, the last dimension varying fastest
/// (docs/vip.md#lists); a `list: true` input goes whole to every job. How VIP numbers the
/// jobs is not documented: the names say which element vip-run expects, a guide, not proof.
pub(crate) fn job_values(item: &Item, job: &str, descriptor: Option<&Descriptor>) -> Vec<String> {
    let Ok(mut rest) = job.parse::<usize>() else {
        return Vec::new();
    };
    let jobs = crate::manifest::jobs::of_item(item, descriptor);
    // Dimensions: the inputs each one picks an element of.
    let mut dims: Vec<Vec<&ListInput>> = Vec::new();
    let mut paired_at: Option<usize> = None;
    for l in &jobs.lists {
        match l.role {
            Role::Crossed => dims.push(vec![l]),
            Role::Paired => {
                if let Some(at) = paired_at {
                    dims[at].push(l);
                } else {
                    paired_at = Some(dims.len());
                    dims.push(vec![l]);
                }
            }
            Role::Whole => {}
        }
    }
    let mut picks = vec![0; dims.len()];
    for (d, dim) in dims.iter().enumerate().rev() {
        let n = dim[0].len.max(1);
        picks[d] = rest % n;
        rest /= n;
    }
    if rest > 0 || dims.iter().all(|d| d[0].len <= 1) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (dim, pick) in dims.iter().zip(picks) {
        for l in dim {
            if let Some(InputWire::List(values)) = item.inputs.get(&l.name)
                && let Some(v) = values.get(pick)
            {
                let text = v.text.rsplit('/').next().unwrap_or(&v.text);
                out.push(format!("{}[{pick}] = {text}", l.name));
            }
        }
    }
    out
}

/// A digest of `e`'s jobs map: what changes when any task moves.
pub(crate) fn jobs_digest(e: &Execution) -> String {
    let mut digest = String::new();
    for (id, j) in &e.jobs {
        digest.push_str(id);
        digest.push(':');
        digest.push_str(&j.status);
        if let Some(c) = j.exit_code {
            digest.push_str(&c.to_string());
        }
        digest.push(';');
    }
    digest
}

/// The watchdog's verdict on `e`, a `Running` execution whose attempt is `a`, at `now` (epoch
/// ms): stalled when every unfinished job is held or stalled (VIP waits for an operator, for
/// days), or when its jobs map has not changed for `bound` while none of its jobs runs
/// (queued forever; a running job is bounded by `execution.timeout` instead).
pub(crate) fn watchdog(
    item: Option<&Item>,
    descriptor: Option<&Descriptor>,
    a: &Attempt,
    e: &Execution,
    now: i64,
    bound: Duration,
) -> Option<Verdict> {
    if e.status != ExecutionStatus::Running {
        return None;
    }
    let unfinished: Vec<(&String, &crate::vip::wire::Job)> = e
        .jobs
        .iter()
        .filter(|(_, j)| {
            !matches!(
                j.class(),
                JobClass::Done | JobClass::Failed | JobClass::Cancelled
            )
        })
        .collect();
    if !unfinished.is_empty()
        && unfinished
            .iter()
            .all(|(_, j)| j.class() == JobClass::Stalled)
    {
        let mut v = judge_failure(item, descriptor, e);
        v.jobs.retain(|j| j.class == FailureClass::Stalled);
        let statuses: Vec<&str> = {
            let mut s: Vec<&str> = unfinished.iter().map(|(_, j)| j.status.as_str()).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        v.class = FailureClass::Stalled;
        v.exit_code = None;
        v.detail = Some(format!(
            "every unfinished job is held or stalled on VIP ({}) while the execution shows Running: killed",
            statuses.join(", ")
        ));
        return Some(v);
    }
    let (digest, since) = a.jobs_seen.as_ref()?;
    let bound_ms = i64::try_from(bound.as_millis()).unwrap_or(i64::MAX);
    let running = e.jobs.values().any(|j| j.class() == JobClass::Active);
    if *digest == jobs_digest(e) && !running && now - since >= bound_ms {
        let mut v = Verdict::of(
            FailureClass::Stalled,
            format!(
                "its jobs have not changed for {} and none of them runs (execution.stalled_after): killed",
                crate::duration::format(bound)
            ),
        );
        v.jobs = judge_failure(item, descriptor, e).jobs;
        return Some(v);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vip::wire::Job;

    fn execution(status: &str, jobs: &[(&str, Option<i64>)]) -> Execution {
        let mut e: Execution = serde_json::from_str(&format!(
            r#"{{"identifier":"workflow-1","name":"n","pipelineIdentifier":"P/1","status":"{status}","inputValues":{{}}}}"#
        ))
        .unwrap();
        for (i, (s, code)) in jobs.iter().enumerate() {
            e.jobs.insert(
                i.to_string(),
                Job {
                    status: (*s).to_owned(),
                    exit_code: *code,
                    exit_message: None,
                },
            );
        }
        e
    }

    #[test]
    fn the_tool_failing_decides_over_the_grid() {
        let e = execution(
            "ExecutionFailed",
            &[
                ("COMPLETED", Some(0)),
                ("ERROR", Some(1)),
                ("ERROR", Some(50)),
            ],
        );
        let v = judge_failure(None, None, &e);
        assert_eq!(v.class, FailureClass::Application);
        assert_eq!(v.exit_code, Some(50));
        assert_eq!(v.jobs.len(), 2);
        let e = execution("ExecutionFailed", &[("ERROR", Some(40))]);
        assert_eq!(
            judge_failure(None, None, &e).class,
            FailureClass::InputDownload
        );
        let e = execution("Killed", &[("COMPLETED", Some(0)), ("CANCELLED", None)]);
        assert_eq!(judge_failure(None, None, &e).class, FailureClass::Killed);
        let e = execution("ExecutionFailed", &[]);
        assert_eq!(judge_failure(None, None, &e).class, FailureClass::Unknown);
    }

    #[test]
    fn held_jobs_are_stalled_and_a_still_map_only_when_nothing_runs() {
        let a = Attempt::default();
        let held = execution("Running", &[("COMPLETED", Some(0)), ("ERROR_HELD", None)]);
        let v = watchdog(None, None, &a, &held, 0, Duration::from_secs(60)).unwrap();
        assert_eq!(v.class, FailureClass::Stalled);
        assert!(v.detail.unwrap().contains("ERROR_HELD"));
        let queued = execution("Running", &[("QUEUED", None)]);
        let mut a = Attempt {
            jobs_seen: Some((jobs_digest(&queued), 0)),
            ..Attempt::default()
        };
        assert!(watchdog(None, None, &a, &queued, 59_000, Duration::from_secs(60)).is_none());
        assert!(watchdog(None, None, &a, &queued, 60_000, Duration::from_secs(60)).is_some());
        let running = execution("Running", &[("RUNNING", None)]);
        a.jobs_seen = Some((jobs_digest(&running), 0));
        assert!(watchdog(None, None, &a, &running, 600_000, Duration::from_secs(60)).is_none());
    }
}
