//! Launching: the item's own results folder, its inputs as VIP receives them, and the one
//! `POST /executions` that is never retried blindly (quota refusals wait; an ambiguous failure
//! is resolved by name).

use std::time::Instant;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::error::Error;
use crate::manifest::{InputWire, Item, ValueKind};
use crate::report::run::Event;
use crate::time;
use crate::vip::Meaning;
use crate::vip::wire::CreateExecution;

use super::{QUOTA_WAIT, Runner, attempt_name, results_dir};
use crate::run::state::Attempt;

impl Runner<'_> {
    /// The inputs as VIP receives them: local files replaced by their uploaded paths.
    pub(super) fn wire_inputs(&self, item: &Item) -> IndexMap<String, Json> {
        let one = |v: &crate::manifest::Value| -> Json {
            match &v.kind {
                ValueKind::LocalFile { path, .. } => Json::String(
                    self.remote_inputs
                        .get(path)
                        .cloned()
                        .unwrap_or_else(|| v.text.clone()),
                ),
                _ => Json::String(v.text.clone()),
            }
        };
        item.inputs
            .iter()
            .map(|(k, w)| {
                let value = match w {
                    InputWire::One(v) => one(v),
                    InputWire::List(vs) => Json::Array(vs.iter().map(one).collect()),
                };
                (k.clone(), value)
            })
            .collect()
    }

    /// Launches `item`; returns false when the quota says to wait. A launch whose answer was
    /// lost, and whose look-up failed too, is looked up again first: a failed call here parks
    /// the item, and the item must not be launched twice.
    pub(super) async fn launch(&mut self, item: &Item) -> Result<bool, Error> {
        let attempt = self.item_state(&item.key).attempts.len();
        let name = attempt_name(item, attempt);
        if let Some((lost, since)) = self.unresolved.get(&item.key).cloned() {
            let found = self.find_by_name(&lost, since).await?;
            self.unresolved.remove(&item.key);
            if let Some(execution) = found {
                self.record_launch(item, lost, since, execution)?;
                return Ok(true);
            }
        }
        let results = results_dir(item, &name);
        self.ensure_dir(&results).await?;
        let body = CreateExecution {
            name: Some(name.clone()),
            pipeline_identifier: Some(self.v.pipeline_id.clone()),
            input_values: Some(self.wire_inputs(item)),
            results_location: Some(results),
        };
        let submitted = time::now_ms();
        let execution = match self.conn.client.create_execution(&body).await {
            Ok(e) => Some(e),
            Err(e) if matches!(e.meaning(), Meaning::QuotaFull | Meaning::PlatformFull) => {
                self.quota_until = Some(Instant::now() + QUOTA_WAIT);
                if self.waiting_reported {
                    return Ok(false);
                }
                self.waiting_reported = true;
                self.emit(&Event::Waiting {
                    item: item.key.clone(),
                    reason: if e.meaning() == Meaning::QuotaFull {
                        "your quota of running executions on VIP is full".into()
                    } else {
                        "VIP's platform-wide limit of running executions is reached".into()
                    },
                });
                return Ok(false);
            }
            Err(e) if e.is_unreachable() => {
                // Ambiguous: the execution may exist. Look it up by name before anything else;
                // until that look-up succeeds, the item is not launched again.
                self.unresolved
                    .insert(item.key.clone(), (name.clone(), submitted));
                let found = self.find_by_name(&name, submitted).await?;
                self.unresolved.remove(&item.key);
                found
            }
            Err(e) => {
                let message = format!("VIP refused the launch: {e}");
                self.launch_error.insert(item.key.clone(), message.clone());
                self.emit(&Event::ItemFinished {
                    item: item.key.clone(),
                    result: format!("failed: {message}"),
                    execution: None,
                });
                return Ok(true);
            }
        };
        let Some(execution) = execution else {
            // Not created: the next cycle launches again.
            self.note(&format!(
                "{}: the launch did not reach VIP; trying again",
                item.key
            ));
            return Ok(true);
        };
        self.record_launch(item, name, submitted, execution)?;
        Ok(true)
    }

    /// Records `execution` as `item`'s new attempt, named `name`, submitted at `submitted`.
    fn record_launch(
        &mut self,
        item: &Item,
        name: String,
        submitted: i64,
        execution: crate::vip::wire::Execution,
    ) -> Result<(), Error> {
        let status = execution.status.to_string();
        let state = self.state.item_mut(&item.key).expect("reconciled");
        state.attempts.push(Attempt {
            execution_id: execution.identifier.clone(),
            name: name.clone(),
            launched_at: submitted,
            status: status.clone(),
            history: vec![(status, time::now_ms())],
            ..Attempt::default()
        });
        state.outputs.clear();
        self.waiting_reported = false;
        self.save()?;
        self.emit(&Event::Launched {
            item: item.key.clone(),
            execution: execution.identifier,
            name,
        });
        Ok(())
    }
}
