//! A run's outputs written into the data tree, where VIP's engine would leave them: only
//! the jobs that completed (without the output an `outputs_missing` failure withholds), one
//! sub-folder per job when there are several, the run folder created as needed.

use std::fs;

use indexmap::IndexMap;

use super::Run;
use super::fates::Fate;
use super::task_state::TaskState;
use crate::sandbox::data::DataTree;
use crate::sandbox::outputs::{self, Content};
use crate::sandbox::world::{OutputRecipe, User, World};
use crate::vip::rules;

/// Writes the outputs of the jobs that completed; returns output id → VIP paths (only the
/// ids that got files). VIP's folder layout: one sub-folder per job when there are several.
pub(super) fn write_outputs(
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
            // `outputs_missing`: the job completes without this file.
            if matches!(&job.fate, Fate::LosesOutput(id) if *id == output.id) {
                continue;
            }
            let fallback;
            let recipe = if let Some(r) = pipeline.outputs.get(&output.id) {
                r
            } else {
                fallback = OutputRecipe::Text {
                    template: format!("{} (output `{}`, job {{job}})\n", pipeline.id, output.id),
                };
                &fallback
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
/// directory is open (docs/vip.md#outputs); the sandbox does, as the run's own folder needs it.
fn write_file(
    data: &DataTree,
    owner: usize,
    user: &User,
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
        Content::Noise { size, seed } => {
            let mut file = fs::File::create(&path)?;
            outputs::write_noise(&mut file, *size, *seed)
        }
    }
}
