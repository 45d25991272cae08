//! Taking up what is already on VIP: items whose inputs changed are forgotten (their
//! executions stay on VIP), and executions found by their deterministic names are adopted for
//! items the state knows nothing of (a lost state file, or a crash between a launch and the
//! save), so a re-run never launches duplicates. After an ambiguous launch, the execution is
//! looked up by name before anything else.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::Error;
use crate::manifest::Item;
use crate::report::run::Event;
use crate::time;
use crate::vip::VipError;
use crate::vip::wire::Execution;

use super::{Runner, attempt_name};
use crate::run::state::{Attempt, ItemState};

impl Runner<'_> {
    /// Forgets items whose inputs changed (their executions stay on VIP), and items no
    /// longer in the manifest.
    pub(super) fn reconcile_fingerprints(&mut self) {
        let keys: HashMap<&str, &Item> = self.v.items.iter().map(|i| (i.key.as_str(), i)).collect();
        let before = self.state.items().len();
        self.state
            .retain_items(|k, s| keys.get(k).is_some_and(|i| i.fingerprint == s.fingerprint));
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
    pub(super) async fn adopt_by_name(&mut self) -> Result<(), Error> {
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
        let listed = self
            .conn
            .client
            .executions(crate::vip::client::MAX_LIST_LIMIT)
            .await?;
        let by_name: HashMap<&str, &Execution> = {
            let mut m: HashMap<&str, &Execution> = HashMap::new();
            // Most recent first: keep the first seen of each name.
            for e in &listed {
                m.entry(e.name.as_str()).or_insert(e);
            }
            m
        };
        let mut adopted = Vec::new();
        for item in unknown {
            // The highest attempt found wins (a retry supersedes the failed original).
            let mut found = Vec::new();
            for n in 0..=self.v.execution.retries as usize {
                if let Some(e) = by_name.get(attempt_name(item, n).as_str()) {
                    found.push((n, (*e).clone()));
                }
            }
            if found.is_empty() {
                continue;
            }
            adopted.push((item.key.clone(), found));
        }
        for (key, found) in adopted {
            for (_, e) in found {
                let state = self.state.item_mut(&key).expect("reconciled");
                state.attempts.push(Attempt {
                    execution_id: e.identifier.clone(),
                    name: e.name.clone(),
                    launched_at: e.start_date.unwrap_or_else(time::now_ms),
                    status: e.status.to_string(),
                    history: vec![(e.status.to_string(), time::now_ms())],
                    ..Attempt::default()
                });
                self.emit(&Event::Reused {
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

    /// After an ambiguous launch: the execution named `name` created since `since`, if any.
    pub(super) async fn find_by_name(
        &self,
        name: &str,
        since: i64,
    ) -> Result<Option<Execution>, Error> {
        // Allow for clock skew between this machine and VIP.
        let skew = 10 * 60 * 1000;
        for _ in 0..3 {
            match self.conn.client.executions(50).await {
                Ok(list) => {
                    return Ok(list.into_iter().find(|e| {
                        e.name == name
                            && e.pipeline_identifier == self.v.pipeline_id
                            && e.start_date.is_none_or(|d| d >= since - skew)
                    }));
                }
                Err(e) if e.is_unreachable() => tokio::time::sleep(Duration::from_secs(1)).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Vip(VipError::Transport {
            operation: "GET /executions".into(),
            kind: crate::vip::TransportKind::Broken(
                "cannot tell whether the last launch reached VIP".into(),
            ),
        }))
    }

    /// Brings the state up to date with the manifest and with VIP's execution names.
    pub async fn prepare(&mut self) -> Result<(), Error> {
        self.reconcile_fingerprints();
        self.adopt_by_name().await
    }
}
