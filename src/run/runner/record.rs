//! What a run leaves for people and tools: `run.json` (what was run, with what, and what came
//! of it) and the `JUnit` cases (one per item).

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::files::write_atomically;
use crate::manifest::expand::hex;
use crate::report::junit::JunitCase;
use crate::time;

use super::{Outcome, Runner};

impl Runner<'_> {
    pub(super) fn junit_cases(&self, outcomes: &[(String, Outcome)]) -> Vec<JunitCase> {
        outcomes
            .iter()
            .map(|(key, o)| {
                let seconds = self.current(key).map_or(0.0, |a| {
                    let end = a.history.last().map_or(a.launched_at, |h| h.1);
                    #[allow(clippy::cast_precision_loss)]
                    let s = (end - a.launched_at).max(0) as f64 / 1000.0;
                    s
                });
                let failure = match o {
                    Outcome::Failed(why) => Some((
                        why.lines().next().unwrap_or("failed").to_owned(),
                        why.clone(),
                    )),
                    Outcome::TimedOut => Some((
                        "timed out".to_owned(),
                        format!(
                            "took longer than {}",
                            crate::duration::format(self.v.execution.timeout)
                        ),
                    )),
                    Outcome::DoneWithProblems(p) => {
                        Some(("outputs not downloaded".to_owned(), p.clone()))
                    }
                    Outcome::InProgress => Some((
                        "not finished".to_owned(),
                        "still queued or running on VIP".to_owned(),
                    )),
                    Outcome::NotLaunched => Some((
                        "not launched".to_owned(),
                        "the run stopped before launching it".to_owned(),
                    )),
                    Outcome::Blocked { why, .. } => Some(("blocked".to_owned(), why.clone())),
                    Outcome::Done => None,
                };
                JunitCase {
                    name: key.clone(),
                    seconds,
                    failure,
                }
            })
            .collect()
    }

    /// `run.json`: what was run, with what, and what came of it.
    pub(super) fn write_record(&self, outcomes: &[(String, Outcome)]) -> Result<(), Error> {
        let manifest_sha = hex(&Sha256::digest(
            std::fs::read(&self.v.file.path).unwrap_or_default(),
        ));
        let items: Vec<Json> = self
            .v
            .items
            .iter()
            .zip(outcomes)
            .map(|(item, (_, outcome))| {
                let state = self.item_state(&item.key);
                json!({
                    "key": item.key,
                    "fingerprint": item.fingerprint,
                    "inputs": self.wire_inputs(item),
                    "result": match outcome {
                        Outcome::Done => "finished".to_owned(),
                        Outcome::DoneWithProblems(_) => "finished, outputs missing".to_owned(),
                        Outcome::Failed(_) => "failed".to_owned(),
                        Outcome::TimedOut => "timed out".to_owned(),
                        Outcome::InProgress => "in progress".to_owned(),
                        Outcome::NotLaunched => "not launched".to_owned(),
                        Outcome::Blocked { .. } => "blocked".to_owned(),
                    },
                    "executions": state.attempts.iter().map(|a| json!({
                        "id": a.execution_id,
                        "name": a.name,
                        "launched_at": time::rfc3339(a.launched_at),
                        "statuses": a.history.iter().map(|(s, t)| json!({"status": s, "seen_at": time::rfc3339(*t)})).collect::<Vec<_>>(),
                        "timed_out": a.timed_out,
                    })).collect::<Vec<_>>(),
                    "outputs": state.outputs.iter().map(|o| json!({
                        "remote": o.remote,
                        "local": o.local,
                        "size": o.size,
                        "downloaded": o.done,
                        "problem": o.problem,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let record = json!({
            "manifest": self.v.file.display,
            "manifest_sha256": manifest_sha,
            "vip_run_version": env!("CARGO_PKG_VERSION"),
            "server": self.conn.server,
            "pipeline": self.v.pipeline_id,
            "written_at": time::rfc3339(time::now_ms()),
            "items": items,
        });
        let text = serde_json::to_string_pretty(&record).expect("records serialise");
        Ok(write_atomically(&self.paths.record, text.as_bytes())?)
    }
}
