//! `plan`, the command: what a run would do, asked of the tracker's own decisions
//! ([`Tracker::next`], [`Tracker::planned_uploads`]) rather than re-stated, so `plan` and
//! `run` cannot drift apart.

use std::path::Path;

use crate::error::Error;
use crate::report::plan::{Action, ActionKind, Preview, Subject};

use super::Settings;
use super::checked::Checked;
use super::runner::{Next, UploadNeed};
use super::session::{Access, Session};

/// `plan MANIFEST`: what a run would do, changing nothing.
pub async fn plan(settings: &Settings, path: &Path) -> Result<Preview, Error> {
    let relaunch = &settings.relaunch;
    let session = Session::open(settings, path, Access::Read)?;
    let v = &session.manifest;
    super::check_relaunch(v, relaunch)?;
    session
        .connect(async |conn| {
            let checked = Checked::check(v, conn, &settings.printer()).await?;
            let tracker = session.look(conn, true).await?;
            let mut actions = Vec::new();
            for (local, remote, need) in tracker.planned_uploads().await? {
                actions.push(Action {
                    kind: if matches!(need, UploadNeed::Upload { .. }) {
                        ActionKind::Upload
                    } else {
                        ActionKind::Keep
                    },
                    item: None,
                    subject: Subject::Input { local, remote },
                });
            }
            let current: std::collections::HashMap<String, super::state::Attempt> =
                tracker.current_executions().into_iter().collect();
            let descriptor = &checked.preflight().descriptor;
            for item in &v.items {
                let attempt = current.get(&item.key);
                // An execution of several jobs says so (a list given to a parameter,
                // docs/vip.md#lists).
                let jobs = Some(crate::manifest::jobs::of_item(item, Some(descriptor)))
                    .filter(|j| j.count > 1);
                let (kind, subject) = match (tracker.next(item), attempt) {
                    (Next::Launch { attempt: n }, Some(a)) => (
                        ActionKind::Relaunch,
                        Subject::Again {
                            execution: a.execution_id.clone(),
                            status: a.status.clone(),
                            timed_out: a.timed_out,
                            asked: tracker.relaunch_pending(item),
                            attempt: n,
                            retries: v.execution.retries,
                            jobs,
                            class: tracker.failure_class(a),
                        },
                    ),
                    (Next::Download, Some(a)) => (
                        ActionKind::Download,
                        Subject::Outputs {
                            execution: a.execution_id.clone(),
                            folder: item.download.clone().unwrap_or_default(),
                        },
                    ),
                    (_, Some(a)) => (
                        ActionKind::Reuse,
                        Subject::Current {
                            execution: a.execution_id.clone(),
                            status: a.status.clone(),
                            timed_out: a.timed_out,
                            failure: a
                                .failure
                                .as_ref()
                                .map(crate::vip::failure::Verdict::headline),
                            class: tracker.failure_class(a),
                            not_retried: tracker.not_retried(&item.key),
                        },
                    ),
                    // Never launched: a first launch (the only thing `next` can say of it).
                    (_, None) => (
                        ActionKind::Launch,
                        Subject::First {
                            name: item.execution_name.clone(),
                            jobs,
                        },
                    ),
                };
                actions.push(Action {
                    kind,
                    item: Some(item.key.clone()),
                    subject,
                });
            }
            // What `vip-run clean` would free now (read-only: properties and lists).
            let cleanable = super::clean::survey(
                conn,
                v,
                tracker.state(),
                super::clean::What::from_flags(false, false, false),
            )
            .await?;
            Ok(Preview {
                policy: crate::report::text::retry_policy(&v.execution),
                manifest: v.file.display.clone(),
                actions,
                cleanable: Some(cleanable).filter(|c| !c.targets.is_empty()),
            })
        })
        .await
}
