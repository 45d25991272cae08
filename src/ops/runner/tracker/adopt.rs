//! Taking up what is already on VIP: items whose inputs changed are forgotten (their
//! executions stay on VIP), and executions found by their deterministic names are adopted for
//! items the state knows nothing of (a lost state file, or a crash between a launch and the
//! save), so a re-run never launches duplicates. After an ambiguous launch, the execution is
//! looked up by name before anything else.
//!
//! Only what is ours is adopted: an execution whose name matches but whose pipeline differs
//! (or whose inputs differ, where VIP shows them: its summaries show none, so the full
//! execution is read) belongs to someone or something else. It is left alone, with a
//! warning, and never watched, downloaded or killed; the item gets its own execution.

use std::collections::HashMap;

use crate::error::Error;
use crate::manifest::Item;
use crate::report::progress::Event;
use crate::time;
use crate::vip::VipError;
use crate::vip::wire::{Execution, PathProperties};

use super::Tracker;
use crate::ops::runner::sink::Sink;
use crate::ops::runner::{attempt_name, inputs_root, results_dir};
use crate::ops::state::{Attempt, ItemState, Superseded};

/// What a first run reads alongside pre-flight (see [`first_look`]).
#[derive(Debug)]
pub struct FirstLook {
    /// VIP's list of executions.
    pub(crate) executions: Result<Vec<Execution>, VipError>,
    /// The listings of the top folders (`/vip/Home`…) that this run's folders are made in.
    pub(crate) roots: Vec<(String, Result<Vec<PathProperties>, VipError>)>,
}

/// On a first run (no state file at `paths`), the reads that taking up what is on VIP and
/// making the run's first folders will need whatever the state says, as there is none:
/// VIP's list of executions, and a listing of each top folder that the inputs' and the
/// first item's results folders are made in. Read alongside pre-flight, they cost no round
/// trip of their own; they are reads, so nothing is done on VIP before the checks pass.
/// `None` on a later run, where the state may make them unneeded.
pub async fn first_look(
    conn: &crate::ops::Connection,
    v: &crate::manifest::Validated,
    paths: &crate::ops::paths::Paths,
) -> Option<FirstLook> {
    if paths.state.exists() {
        return None;
    }
    let mut roots: Vec<String> = Vec::new();
    let uploads = v
        .items
        .iter()
        .any(|item| super::decide::local_uploads(item).next().is_some());
    let folders = uploads
        .then(|| inputs_root(v))
        .into_iter()
        .chain(v.items.first().map(|i| i.results_location.clone()));
    for folder in folders {
        let root = crate::ops::runner::transfers::folders::root_of(&folder).to_owned();
        if !roots.contains(&root) {
            roots.push(root);
        }
    }
    let client = &conn.client;
    let (executions, listings) = tokio::join!(
        client.executions(crate::vip::client::MAX_LIST_LIMIT),
        futures_util::future::join_all(roots.iter().map(|r| client.list(r)))
    );
    Some(FirstLook {
        executions,
        roots: roots.into_iter().zip(listings).collect(),
    })
}

impl Tracker<'_> {
    /// Takes VIP's list of executions, read alongside pre-flight, for `adopt_by_name`.
    pub(crate) fn take_listed(&mut self, executions: Result<Vec<Execution>, VipError>) {
        self.listed = Some(executions);
    }

    /// Forgets items whose inputs changed (their executions stay on VIP), and items no
    /// longer in the manifest.
    fn reconcile_fingerprints(&mut self) {
        let keys: HashMap<&str, &Item> = self.v.items.iter().map(|i| (i.key.as_str(), i)).collect();
        let before = self.state.items().len();
        // An item whose inputs changed starts afresh, keeping the names of its earlier
        // executions (for `clean`, which may delete their results) and its outputs (moved
        // aside when the new execution's come home, never mixed with them).
        let mut changed: Vec<(String, ItemState)> = Vec::new();
        for item in &self.v.items {
            if let Some(s) = self.state.items().get(&item.key)
                && s.fingerprint != item.fingerprint
            {
                let mut superseded = s.superseded.clone();
                superseded.extend(s.attempts.iter().map(|a| Superseded {
                    execution_id: a.execution_id.clone(),
                    name: a.name.clone(),
                    results_dir: results_dir(item, &a.name),
                    status: a.status.clone(),
                }));
                changed.push((
                    item.key.clone(),
                    ItemState {
                        fingerprint: item.fingerprint.clone(),
                        attempts: Vec::new(),
                        outputs: s.outputs.clone(),
                        superseded,
                    },
                ));
            }
        }
        for (key, fresh) in changed {
            *self.state.item_mut(&key).expect("present") = fresh;
            self.dirty = true;
        }
        self.state.retain_items(|k, _| keys.contains_key(k));
        for item in &self.v.items {
            self.state.ensure_item(&item.key, || ItemState {
                fingerprint: item.fingerprint.clone(),
                ..ItemState::default()
            });
        }
        if self.state.items().len() != before {
            self.dirty = true;
        }
    }

    /// Adopts executions found on VIP by name for items the state knows nothing of.
    async fn adopt_by_name(&mut self, sink: &mut Sink<'_>) -> Result<(), Error> {
        let unknown: Vec<&Item> = self
            .v
            .items
            .iter()
            .filter(|i| {
                self.state
                    .items()
                    .get(&i.key)
                    .is_none_or(|s| s.attempts.is_empty())
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        // Listed alongside pre-flight on a first run (see `first_look`), else now; a list
        // that failed then is asked for again here, where an outage is waited out.
        let listed = match self.listed.take() {
            Some(Ok(listed)) => listed,
            Some(Err(_)) | None => {
                self.conn
                    .client
                    .executions(crate::vip::client::MAX_LIST_LIMIT)
                    .await?
            }
        };
        // Most recent first: every execution of each name, in that order.
        let mut by_name: HashMap<&str, Vec<&Execution>> = HashMap::new();
        for e in &listed {
            by_name.entry(e.name.as_str()).or_default().push(e);
        }
        self.note_remote_inputs();
        let mut adopted = Vec::new();
        let mut warnings = Vec::new();
        for item in unknown {
            // The highest attempt found wins (a retry supersedes the failed original).
            let mut found = Vec::new();
            for n in 0..=self.v.execution.retries as usize {
                let name = attempt_name(item, n);
                for e in by_name.get(name.as_str()).into_iter().flatten() {
                    match self.foreign(item, e).await? {
                        None => {
                            found.push((n, (*e).clone()));
                            break;
                        }
                        Some(why) => warnings.push(format!(
                            "{}: execution {} on VIP is named {name} but has {why}: it is not this item's; left alone, and the item gets its own",
                            item.key, e.identifier
                        )),
                    }
                }
            }
            if found.is_empty() {
                continue;
            }
            adopted.push((item.key.clone(), found));
        }
        for message in warnings {
            sink.emit(&Event::Warning { message });
        }
        for (key, found) in adopted {
            for (_, e) in found {
                let launched_at = e.start_date.unwrap_or_else(time::now_ms);
                let mut attempt = Attempt::of(&e, e.name.clone(), launched_at);
                // An execution that ended while nobody watched is judged as the poll would
                // have judged it: its class, or its missing outputs.
                if e.status.is_terminal() {
                    attempt.failure = self.judge_adopted(&key, &e.identifier).await;
                }
                let state = self.state.item_mut(&key).expect("reconciled");
                state.attempts.push(attempt);
                sink.emit(&Event::Reused {
                    item: key.clone(),
                    execution: e.identifier.clone(),
                    name: e.name.clone(),
                    status: e.status.to_string(),
                });
            }
            self.dirty = true;
        }
        self.save_if_dirty()
    }

    /// The verdict on `id`, an execution of `key` found ended on VIP: read whole (the list's
    /// summary has no jobs or files); `None` when it finished whole, or cannot be read (then
    /// its download says what is missing).
    async fn judge_adopted(&self, key: &str, id: &str) -> Option<crate::ops::state::Verdict> {
        let e = self.conn.client.execution(id).await.ok()?;
        // Adoption comes before the lifecycle: the item is looked for in the manifest.
        let item = self.v.items.iter().find(|i| i.key == key);
        super::verdict::judge_end(item, self.descriptor.as_ref(), &self.required_outputs, &e)
    }

    /// Why `e`, named like one of `item`'s executions, is not one of them, if it is not: its
    /// pipeline, or its inputs where VIP shows them (a list input may show one element).
    async fn foreign(&self, item: &Item, e: &Execution) -> Result<Option<String>, Error> {
        if e.pipeline_identifier != self.v.pipeline_id {
            return Ok(Some(format!(
                "another pipeline ({})",
                if e.pipeline_identifier.is_empty() {
                    "none shown"
                } else {
                    &e.pipeline_identifier
                }
            )));
        }
        let full = if e.input_values.is_empty() {
            self.conn.client.execution(&e.identifier).await?
        } else {
            e.clone()
        };
        let ours = self.wire_inputs(item);
        for (key, shown) in &full.input_values {
            let Some(mine) = ours.get(key) else { continue };
            if !same_input(mine, shown) {
                return Ok(Some(format!("another value for {key}")));
            }
        }
        Ok(None)
    }

    /// Brings the state up to date with the manifest and with VIP's execution names.
    /// Adoptions and warnings are told to `sink`.
    pub(crate) async fn prepare(&mut self, sink: &mut Sink<'_>) -> Result<(), Error> {
        self.reconcile_fingerprints();
        self.reconsider_timed_out();
        let adopted = self.adopt_by_name(sink).await;
        // Items forgotten or adopted: the phases start again from the state (O(N), once).
        self.start_lifecycle();
        adopted
    }
}

impl Tracker<'_> {
    /// An execution vip-run stopped waiting for (timed out, not killed) may have gone on on
    /// VIP: each command looks at it again, so one that VIP finished since is picked up
    /// (downloaded by `run` and `download`, shown by `status`), and one still running is
    /// watched again, then timed out again if it is still over the (maybe raised) limit.
    fn reconsider_timed_out(&mut self) {
        let keys: Vec<String> = self
            .state
            .items()
            .iter()
            .filter(|(_, s)| {
                s.attempts
                    .last()
                    .is_some_and(|a| a.timed_out && !Self::status_of(a).is_terminal())
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(a) = self
                .state
                .item_mut(&key)
                .and_then(|s| s.attempts.last_mut())
            {
                a.timed_out = false;
                if a.failure
                    .as_ref()
                    .is_some_and(|v| v.class == crate::vip::failure::FailureClass::TimedOut)
                {
                    a.failure = None;
                }
                self.dirty = true;
            }
        }
    }
}

/// Whether VIP's record `shown` of an input agrees with `mine`, as sent. VIP shows strings, and
/// for a list may show one element only (inferred, docs/vip.md#execution): both readings pass.
fn same_input(mine: &serde_json::Value, shown: &serde_json::Value) -> bool {
    use serde_json::Value;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (mine, shown) {
        (Value::Array(mine), Value::Array(shown)) => shown
            .iter()
            .all(|s| mine.iter().any(|m| text(m) == text(s))),
        (Value::Array(mine), shown) => mine.iter().any(|m| text(m) == text(shown)),
        (mine, Value::Array(shown)) => shown.iter().all(|s| text(s) == text(mine)),
        (mine, shown) => text(mine) == text(shown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_agree_on_either_reading_of_lists() {
        assert!(same_input(&json!("a"), &json!("a")));
        assert!(!same_input(&json!("a"), &json!("b")));
        assert!(same_input(&json!(["a", "b"]), &json!("b")));
        assert!(same_input(&json!(["a", "b"]), &json!(["a", "b"])));
        assert!(!same_input(&json!(["a", "b"]), &json!(["c"])));
        assert!(same_input(&json!("1"), &json!(1)));
    }
}
