//! The sandbox's fixtures: users, groups, pipelines and platform settings, the YAML format
//! they are written in (`vip-run sandbox --world FILE`), and the lookups the routes make.
//! The default world is itself such a file (`builtin`), so the format is exercised on every
//! start; `consistency` holds the checks that make a world file's mistakes readable, and
//! `descriptors` what VIP derives from a pipeline's Boutiques descriptor.
//!
//! The format, key by key:
//!
//! ```yaml
//! users:                     # each: email, api_key, password, level, groups, quota (default 1)
//!   - { email: a@b.c, api_key: k, password: p, level: Beginner, groups: [G], quota: 1 }
//! groups:                    # type APPLICATION or RESOURCE; public: listed by GET /pipelines?public
//!   - { name: G, type: APPLICATION, public: false }
//! external_platforms:        # optional: prefixes accepted in File inputs (`pilotGirder:…`)
//!   - { identifier: pilotGirder, type: GIRDER, description: Girder, url: "https://…" }
//! data: { staging_delay: 0s, delete_delay: 0s }          # optional
//! engine: { max_jobs_per_workflow: 500 }                 # optional
//! pipelines:
//!   - id: Name/version
//!     visible: true          # false: hidden, answered like an unknown pipeline (8007)
//!     groups: [G]            # application groups: who sees and may launch it
//!     resource_groups: [R]   # a launch needs one of these too, else 8000
//!     fail_when: { input: message, contains: FAIL, stderr: "Error: …" }   # optional
//!                            # also `kind: input_download` (any execution kind, or saturated /
//!                            # engine_error; default application) and `times: 1` (only the
//!                            # first N matching launches fail)
//!     slow_when: { input: message, contains: SLOW, factor: 5 }            # optional
//!     extra_returned: [/vip/Home/x]   # optional test hook: paths added to returnedFiles
//!                            # (tarball members may be `../x`, `/abs` or `name -> target`)
//!     logs: { stdout: "… {input_id} …", stderr: "…" }   # per job; {id} is the job's value
//!     outputs:               # optional: a recipe per output-files id (default: a text file)
//!       out1: { kind: text, template: "… {input_id} …" }
//!       out2: { kind: tarball, members: [a.csv, dir/b.txt] }
//!       out3: { kind: sized, size: 16000000 }
//!       out4: { kind: greeting, message: m, repeat: r, shout: s, measure: f }
//!     descriptor: { name: …, tool-version: …, inputs: […], output-files: […], custom: {…} }
//! ```

mod builtin;
mod consistency;
mod descriptors;

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::failures::FailureKind;
use crate::vip::wire::Descriptor;

pub use builtin::{default_world, default_world_yaml};
pub(crate) use descriptors::{RESULTS_DIRECTORY, overridden_inputs, required_outputs};

/// Who exists, what they may do, and what there is to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    /// Accounts.
    pub users: Vec<User>,
    /// Application and resource groups.
    pub groups: Vec<Group>,
    /// Storages accepted as `<identifier>:<id>` File inputs.
    #[serde(default)]
    pub external_platforms: Vec<ExternalPlatform>,
    /// Data-module timings.
    #[serde(default)]
    pub data: DataSettings,
    /// Workflow-engine limits.
    #[serde(default)]
    pub engine: EngineSettings,
    /// The pipeline catalogue.
    pub pipelines: Vec<PipelineDef>,
}

/// A VIP account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The login.
    pub email: String,
    /// The static API key.
    pub api_key: String,
    /// For `POST /authenticate`.
    pub password: String,
    /// Beginners cannot write in group folders.
    pub level: Level,
    /// Every group the user belongs to, of either type.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Running (or queued) executions allowed at once.
    #[serde(default = "one")]
    pub quota: u32,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// VIP's account levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Level {
    /// New accounts: no writes in group folders.
    Beginner,
    /// Regular users.
    Advanced,
    /// Application developers (treated like Advanced).
    Developer,
    /// Administrators (treated like Advanced: the admin API is not simulated).
    Administrator,
}

/// A group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// As shown in `/vip/<name> (group)`.
    pub name: String,
    /// APPLICATION or RESOURCE.
    #[serde(rename = "type")]
    pub kind: GroupKind,
    /// Its pipelines are listed by `GET /pipelines?public`.
    #[serde(default)]
    pub public: bool,
}

/// VIP's two kinds of group (docs/vip.md#groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum GroupKind {
    /// Grants seeing and launching applications.
    #[serde(rename = "APPLICATION")]
    Application,
    /// Grants computing resources.
    #[serde(rename = "RESOURCE")]
    Resource,
}

/// An external storage (`GET /externalPlatforms`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalPlatform {
    /// The prefix of `<identifier>:<id>` references.
    pub identifier: String,
    /// `GIRDER`, `SHANOIR`…
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Where it lives.
    #[serde(default)]
    pub url: Option<String>,
}

/// Data-module timings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    /// How long VIP takes to stage a file before a download starts (over 45 s: 8000).
    #[serde(default, deserialize_with = "duration")]
    pub staging_delay: Duration,
    /// How long a deleted path stays visible after `DELETE` answered 204.
    #[serde(default, deserialize_with = "duration")]
    pub delete_delay: Duration,
}

/// Workflow-engine limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Beyond this many jobs, the engine refuses the launch (8000).
    #[serde(default = "default_max_jobs")]
    pub max_jobs_per_workflow: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_jobs_per_workflow: default_max_jobs(),
        }
    }
}

fn default_max_jobs() -> usize {
    500
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    crate::duration::parse(&text).map_err(serde::de::Error::custom)
}

/// A pipeline of the catalogue, with what its runs produce.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineDef {
    /// `Name/version`.
    pub id: String,
    /// Hidden versions are answered like unknown ones.
    #[serde(default = "yes")]
    pub visible: bool,
    /// Application groups.
    pub groups: Vec<String>,
    /// Resource groups; a launch needs one of them.
    #[serde(default)]
    pub resource_groups: Vec<String>,
    /// The Boutiques descriptor, served as is by `?format=boutiques`.
    pub descriptor: Value,
    /// Output id → how to make the file; an output without one gets a short text file.
    #[serde(default)]
    pub outputs: IndexMap<String, OutputRecipe>,
    /// Per-job logs.
    #[serde(default)]
    pub logs: Logs,
    /// Jobs whose input contains a marker fail.
    #[serde(default)]
    pub fail_when: Option<Trigger>,
    /// Runs whose input contains a marker take longer.
    #[serde(default)]
    pub slow_when: Option<Trigger>,
    /// A misbehaving server, for tests: VIP paths added to `returnedFiles` (under the output
    /// id `extra`) when the run finishes, whatever they are.
    #[serde(default)]
    pub extra_returned: Vec<String>,
    /// The descriptor, read once the world is checked.
    #[serde(skip)]
    pub(crate) parsed: Descriptor,
}

/// A marker in an input value that changes how a job behaves (a deterministic test hook).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The input to look at.
    pub input: String,
    /// The marker.
    pub contains: String,
    /// For `slow_when`: how many times longer the run takes.
    #[serde(default)]
    pub factor: Option<u32>,
    /// For `fail_when`: the tool's error, which the failing job writes on stderr (an
    /// `application` failure only).
    #[serde(default)]
    pub stderr: Option<String>,
    /// For `fail_when`: how the matching jobs fail (default `application`, exit code 50).
    /// A trigger is deterministic: every matching job fails, with its kind's usual exit code
    /// (the first of [`FailureKind::exit_codes`]), `ERROR_HELD` for `held`, and the first
    /// required output for `outputs_missing`. `saturated` and `engine_error` refuse the
    /// launch itself.
    #[serde(default)]
    pub kind: Option<FailureKind>,
    /// For `fail_when`: only the first this many launches whose jobs match fail; later
    /// matching launches run normally (a relaunch that succeeds). Unset: every one.
    #[serde(default)]
    pub times: Option<u32>,
}

impl Trigger {
    /// Whether `values` (one job's) hold the marker.
    pub(crate) fn matches(&self, values: &IndexMap<String, String>) -> bool {
        values
            .get(&self.input)
            .is_some_and(|v| v.contains(&self.contains))
    }

    /// The failure it injects (`fail_when`).
    pub fn failure(&self) -> FailureKind {
        self.kind.unwrap_or(FailureKind::Application)
    }
}

/// Per-job log templates (`{input_id}` is replaced by the job's value, `{job}` by its number).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    /// Standard output.
    #[serde(default)]
    pub stdout: String,
    /// Standard error.
    #[serde(default)]
    pub stderr: String,
}

/// How a job makes one output file (named by the descriptor's `path-template`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OutputRecipe {
    /// A text file from a template (`{input_id}`, `{job}`).
    Text {
        /// The content.
        template: String,
    },
    /// A gzip tarball with these members, their content plausible for their extension.
    Tarball {
        /// Member paths inside the archive.
        members: Vec<String>,
    },
    /// A file of this many bytes of deterministic noise (not zeros), seeded by the job.
    Sized {
        /// Bytes.
        size: u64,
    },
    /// Hello's greeting: the message (capitals if `shout`) `repeat` times, then the size of
    /// the `measure` file. Each field names an input.
    Greeting {
        /// The input holding the message.
        message: String,
        /// The input holding the repeat count.
        repeat: String,
        /// The input holding the shout flag.
        shout: String,
        /// The File input whose size is reported.
        measure: String,
    },
}

impl World {
    /// Reads and checks a world file. The message names the file and what is wrong.
    pub fn load(path: &Path) -> Result<World, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the world file {}: {e}", path.display()))?;
        World::from_yaml(&text).map_err(|e| format!("world file {}: {e}", path.display()))
    }

    /// Parses and checks a world from YAML.
    pub fn from_yaml(text: &str) -> Result<World, String> {
        let mut world: World = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        world.check()?;
        Ok(world)
    }

    /// The user holding `key`.
    pub fn user_by_key(&self, key: &str) -> Option<usize> {
        self.users.iter().position(|u| u.api_key == key)
    }

    /// The pipeline `id`, visible or not.
    pub fn pipeline(&self, id: &str) -> Option<&PipelineDef> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    /// Whether `user` may see and launch `pipeline` (one of its application groups).
    pub fn may_use(&self, user: &User, pipeline: &PipelineDef) -> bool {
        pipeline.groups.iter().any(|g| user.groups.contains(g))
    }

    /// Whether `user` has a resource for `pipeline`.
    pub fn has_resource(&self, user: &User, pipeline: &PipelineDef) -> bool {
        pipeline
            .resource_groups
            .iter()
            .any(|g| user.groups.contains(g))
    }

    /// Whether `group` is public.
    pub fn is_public(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g.name == group && g.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_files_load_and_their_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("world.yaml");
        let text = default_world_yaml().replace("quota: 1", "quota: 3");
        std::fs::write(&good, text).unwrap();
        assert_eq!(World::load(&good).unwrap().users[0].quota, 3);
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "users: [").unwrap();
        let err = World::load(&bad).unwrap_err();
        assert!(
            err.starts_with(&format!("world file {}: ", bad.display())),
            "{err}"
        );
        let err = World::load(&dir.path().join("none.yaml")).unwrap_err();
        assert!(err.contains("none.yaml"), "{err}");
    }
}
