//! Where a manifest's things are on VIP: each item's execution names, the project's inputs
//! folder, and each execution's results folder. Used by the run's loop, `clean`, the state's
//! migration and the provenance crate, so they agree by construction.

use crate::manifest::{Item, Validated};

/// The execution name of an item's `attempt` (0-based): retries get `-r<N>`.
pub fn attempt_name(item: &Item, attempt: usize) -> String {
    if attempt == 0 {
        item.execution_name.clone()
    } else {
        format!("{}-r{attempt}", item.execution_name)
    }
}

/// The remote folder for uploads: the project's own (see `identity`), so two projects
/// with the same `name` never write over each other's inputs.
pub fn inputs_root(v: &Validated) -> String {
    if v.project.is_empty() {
        format!("/vip/Home/vip-run/{}/inputs", v.name)
    } else {
        format!("/vip/Home/vip-run/{}/{}/inputs", v.name, v.project)
    }
}

/// The results folder of one execution: its own folder under `results.location`, so runs
/// launched in the same second never share VIP's timestamped folder.
pub fn results_dir(item: &Item, name: &str) -> String {
    format!("{}/{name}", item.results_location.trim_end_matches('/'))
}
