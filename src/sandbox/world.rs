//! The sandbox's fixtures: users, groups, pipelines and platform settings, the YAML format
//! they are written in (`vip-run sandbox --world FILE`), and the checks that make a world
//! file's mistakes readable. The default world is itself such a file
//! (`default-world.yaml`, embedded), so the format is exercised on every start.
//!
//! The default world:
//!
//! | user | key | password | level | groups | quota |
//! |---|---|---|---|---|---|
//! | `demo@sandbox.local` | `sandbox-demo-key` | `sandbox-demo-password` | Advanced | Demo, CQUEST, EGI-biomed | 1 |
//! | `guest@sandbox.local` | `sandbox-guest-key` | `sandbox-guest-password` | Beginner | Demo, EGI-biomed | 1 |
//!
//! | group | type |
//! |---|---|
//! | Demo (public) | APPLICATION |
//! | CQUEST | APPLICATION |
//! | `FreeSurfer` | APPLICATION (nobody is in it) |
//! | EGI-biomed | RESOURCE |
//!
//! | pipeline | visible | application group | inputs | outputs |
//! |---|---|---|---|---|
//! | `Hello/1.0` | yes | Demo | `input_file` File; `message` String = "Hello"; `repeat` Int64; `shout` Boolean | `greeting`: `hello.txt` (a message containing `FAIL` fails the run, `SLOW` makes it 5× longer) |
//! | `CQUEST/0.6` | yes | CQUEST | `zipped_folder` File; `parameter_file`, `data_file` File lists (`vip:dot`); `iterations` Int64 = 100; `verbose` Boolean | `results`: `results.tgz` per job |
//! | `CQUEST/0.5` | **no** | CQUEST | as 0.6 | as 0.6 |
//! | `LargeOutput/1.0` | yes | Demo | `input_file` File | `volume`: `volume.nii` (16,000,000 bytes, above the download cap); `summary`: `summary.txt` |
//! | `FreeSurfer (recon-all)/7.3.1` | yes | `FreeSurfer` | `t1_file` File; `subject_id` String; `directive` String = "-all" | `subject_dir`: `subject.tgz` |
//!
//! Every pipeline's resource group is EGI-biomed.
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
//!     slow_when: { input: message, contains: SLOW, factor: 5 }            # optional
//!     extra_returned: [/vip/Home/x]   # optional test hook: paths added to returnedFiles
//!                            # (tarball members may be `../x`, `/abs` or `name -> target`)
//!     logs: { stdout: "… {input_id} …", stderr: "…" }   # per job; {id} is the job's value
//!     outputs:               # one recipe per output-files id of the descriptor
//!       out1: { kind: text, template: "… {input_id} …" }
//!       out2: { kind: tarball, members: [a.csv, dir/b.txt] }
//!       out3: { kind: sized, size: 16000000 }
//!       out4: { kind: greeting, message: m, repeat: r, shout: s, measure: f }
//!     descriptor: { name: …, tool-version: …, inputs: […], output-files: […], custom: {…} }
//! ```

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::vip::wire::{Descriptor, Parameter, Pipeline};

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

/// VIP's two kinds of group (vip-api.md §6.1).
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
    /// Output id → how to make the file.
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
    /// For `fail_when`: what the failing job writes on stderr.
    #[serde(default)]
    pub stderr: Option<String>,
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
    /// A file of this many bytes (zeros, written sparse).
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

/// The default world's YAML: a starting point for `--world` files and test worlds.
pub fn default_world_yaml() -> &'static str {
    include_str!("default-world.yaml")
}

/// The default world (the table at the top of this module).
pub fn default_world() -> World {
    World::from_yaml(default_world_yaml()).expect("the embedded default world is valid (tested)")
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

    /// Checks cross-references and descriptors, and reads the descriptors. Called by
    /// [`World::from_yaml`]; call it again after changing a world by hand.
    pub fn check(&mut self) -> Result<(), String> {
        let mut emails = HashSet::new();
        let mut keys = HashSet::new();
        let mut group_names = HashSet::new();
        for g in &self.groups {
            if g.name.is_empty() || g.name.contains('/') || g.name.trim() != g.name {
                return Err(format!(
                    "group `{}`: a group name is non-empty, has no `/` and no surrounding spaces",
                    g.name
                ));
            }
            if !group_names.insert(g.name.as_str()) {
                return Err(format!("group `{}` is declared twice", g.name));
            }
        }
        for u in &self.users {
            if !emails.insert(u.email.as_str()) {
                return Err(format!("user `{}` is declared twice", u.email));
            }
            if u.api_key.is_empty() || u.api_key.trim() != u.api_key {
                return Err(format!(
                    "user `{}`: the api_key must be non-empty, without surrounding spaces",
                    u.email
                ));
            }
            if !keys.insert(u.api_key.as_str()) {
                return Err(format!(
                    "user `{}`: another user has the same api_key",
                    u.email
                ));
            }
            for g in &u.groups {
                if !group_names.contains(g.as_str()) {
                    return Err(format!(
                        "user `{}`: group `{g}` is not declared under `groups`",
                        u.email
                    ));
                }
            }
        }
        for p in &self.external_platforms {
            if p.identifier.len() < 2
                || !p
                    .identifier
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_')
            {
                return Err(format!(
                    "external platform `{}`: an identifier is two or more letters, digits or `_`",
                    p.identifier
                ));
            }
        }
        let mut ids = HashSet::new();
        let kinds: std::collections::HashMap<String, GroupKind> = self
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.kind))
            .collect();
        let kind_of = |name: &str| kinds.get(name).copied();
        for p in &mut self.pipelines {
            let at = format!("pipeline `{}`", p.id);
            if let Some(problem) = crate::vip::rules::pipeline_id_problem(&p.id) {
                return Err(format!("{at}: {problem}"));
            }
            if !ids.insert(p.id.clone()) {
                return Err(format!("{at} is declared twice"));
            }
            for g in &p.groups {
                match kind_of(g) {
                    Some(GroupKind::Application) => {}
                    Some(GroupKind::Resource) => {
                        return Err(format!(
                            "{at}: `{g}` is a RESOURCE group; list it under resource_groups"
                        ));
                    }
                    None => return Err(format!("{at}: group `{g}` is not declared")),
                }
            }
            for g in &p.resource_groups {
                match kind_of(g) {
                    Some(GroupKind::Resource) => {}
                    Some(GroupKind::Application) => {
                        return Err(format!(
                            "{at}: `{g}` is an APPLICATION group; list it under groups"
                        ));
                    }
                    None => return Err(format!("{at}: group `{g}` is not declared")),
                }
            }
            p.parsed = serde_json::from_value(p.descriptor.clone())
                .map_err(|e| format!("{at}: the descriptor is not a Boutiques descriptor: {e}"))?;
            check_descriptor(p).map_err(|e| format!("{at}: {e}"))?;
        }
        Ok(())
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

fn check_descriptor(p: &PipelineDef) -> Result<(), String> {
    let d = &p.parsed;
    if d.name.is_empty() || d.tool_version.is_empty() {
        return Err("the descriptor needs a `name` and a `tool-version`".into());
    }
    let mut inputs = HashSet::new();
    for input in &d.inputs {
        if !inputs.insert(input.id.as_str()) {
            return Err(format!("input `{}` is declared twice", input.id));
        }
        if !matches!(input.kind.as_str(), "File" | "String" | "Flag" | "Number") {
            return Err(format!(
                "input `{}`: type `{}` is not File, String, Flag or Number",
                input.id, input.kind
            ));
        }
    }
    let has = |id: &str| inputs.contains(id);
    for dot in d.dot_inputs() {
        if !has(&dot) {
            return Err(format!("`vip:dot` names `{dot}`, which is not an input"));
        }
    }
    for (target, source) in overridden_inputs(d) {
        if !has(&target) || !has(&source) {
            return Err(format!(
                "`vip:overriddenInputs` maps `{target}` to `{source}`: both must be inputs"
            ));
        }
    }
    for t in [&p.fail_when, &p.slow_when].into_iter().flatten() {
        if !has(&t.input) {
            return Err(format!(
                "a trigger looks at `{}`, which is not an input",
                t.input
            ));
        }
    }
    let mut outputs = HashSet::new();
    for o in &d.output_files {
        if !outputs.insert(o.id.as_str()) {
            return Err(format!("output `{}` is declared twice", o.id));
        }
        if o.path_template.is_empty() || o.path_template.contains('/') {
            return Err(format!(
                "output `{}`: the path-template must be a plain file name",
                o.id
            ));
        }
        if !p.outputs.contains_key(&o.id) {
            return Err(format!(
                "output `{}` has no recipe under `outputs` (kind: text, tarball, sized or greeting)",
                o.id
            ));
        }
    }
    for (id, recipe) in &p.outputs {
        if !outputs.contains(id.as_str()) {
            return Err(format!(
                "`outputs` has a recipe for `{id}`, which is not in the descriptor's output-files"
            ));
        }
        match recipe {
            OutputRecipe::Greeting {
                message,
                repeat,
                shout,
                measure,
            } => {
                for input in [message, repeat, shout, measure] {
                    if !has(input) {
                        return Err(format!(
                            "output `{id}`: the greeting names `{input}`, which is not an input"
                        ));
                    }
                }
            }
            // Hostile member names (`../x`, `/abs`, links) are allowed on purpose: they are
            // how tests play a misbehaving server.
            OutputRecipe::Tarball { members } => {
                if members.is_empty() || members.iter().any(String::is_empty) {
                    return Err(format!("output `{id}`: a tarball needs named members"));
                }
            }
            OutputRecipe::Text { .. } | OutputRecipe::Sized { .. } => {}
        }
    }
    Ok(())
}

/// `custom."vip:overriddenInputs"`: input filled by VIP → the input it is filled from.
pub(crate) fn overridden_inputs(d: &Descriptor) -> Vec<(String, String)> {
    d.custom
        .get("vip:overriddenInputs")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The hidden input VIP adds to every pipeline for `resultsLocation`.
pub(crate) const RESULTS_DIRECTORY: &str = "results-directory";

impl PipelineDef {
    /// The descriptor's inputs, as read.
    pub(crate) fn descriptor(&self) -> &Descriptor {
        &self.parsed
    }

    /// The list entry of `GET /pipelines`.
    pub(crate) fn summary(&self) -> Pipeline {
        Pipeline {
            identifier: self.id.clone(),
            name: self.parsed.name.clone(),
            description: None,
            version: self.parsed.tool_version.clone(),
            parameters: Vec::new(),
            can_execute: Some(true),
        }
    }

    /// The detail of `GET /pipelines/{name}/{version}`: inputs only, without the ones VIP
    /// fills itself, with VIP's type mapping (vip-api.md §4.3).
    pub(crate) fn detail(&self, asked_as: &str) -> Pipeline {
        let overridden: Vec<String> = overridden_inputs(&self.parsed)
            .into_iter()
            .map(|(target, _)| target)
            .collect();
        let parameters = self
            .parsed
            .inputs
            .iter()
            .filter(|i| i.id != RESULTS_DIRECTORY && !overridden.contains(&i.id))
            .map(|i| Parameter {
                name: i.id.clone(),
                kind: i.parameter_type(),
                is_optional: i.optional,
                is_returned_value: false,
                default_value: i.default_value.clone(),
                description: i.description.clone(),
            })
            .collect();
        Pipeline {
            identifier: asked_as.to_owned(),
            name: self.parsed.name.clone(),
            description: self.parsed.description.clone(),
            version: self.parsed.tool_version.clone(),
            parameters,
            can_execute: Some(true),
        }
    }

    /// The descriptor's `value-key` of an input (`[INPUT]`), for path templates.
    pub(crate) fn value_key(&self, input: &str) -> Option<&str> {
        self.descriptor
            .get("inputs")?
            .as_array()?
            .iter()
            .find(|i| i.get("id").and_then(Value::as_str) == Some(input))?
            .get("value-key")?
            .as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_world_is_the_documented_one() {
        let w = default_world();
        let ids: Vec<&str> = w.pipelines.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "Hello/1.0",
                "CQUEST/0.6",
                "CQUEST/0.5",
                "LargeOutput/1.0",
                "FreeSurfer (recon-all)/7.3.1"
            ]
        );
        let cquest05 = w.pipeline("CQUEST/0.5").unwrap();
        assert!(!cquest05.visible);
        assert_eq!(cquest05.parsed.tool_version, "0.5");
        assert_eq!(
            cquest05.parsed.dot_inputs(),
            ["data_file", "parameter_file"]
        );
        let demo = &w.users[w.user_by_key(crate::sandbox::DEMO_KEY).unwrap()];
        assert_eq!(demo.level, Level::Advanced);
        let guest = &w.users[w.user_by_key(crate::sandbox::GUEST_KEY).unwrap()];
        assert_eq!(guest.level, Level::Beginner);
        assert!(!w.may_use(guest, w.pipeline("CQUEST/0.6").unwrap()));
    }

    #[test]
    fn parameters_follow_vips_type_mapping() {
        let w = default_world();
        let detail = w.pipeline("CQUEST/0.6").unwrap().detail("CQUEST/0.6");
        let text = serde_json::to_string(&detail).unwrap();
        assert!(text.starts_with(
            r#"{"identifier":"CQUEST/0.6","name":"CQUEST","description":"Quantification of MRS signals with <b>QUEST</b>.","version":"0.6","parameters":[{"name":"zipped_folder","type":"File","isOptional":false,"isReturnedValue":false,"defaultValue":null,"description":"Basis-set archive"},{"name":"parameter_file","type":"List""#
        ), "{text}");
        assert!(text.contains(r#"{"name":"iterations","type":"Int64","isOptional":true,"isReturnedValue":false,"defaultValue":100,"#));
        assert!(text.contains(r#"{"name":"verbose","type":"Boolean","#));
    }

    #[test]
    fn world_file_mistakes_are_named() {
        let base = include_str!("default-world.yaml");
        let bad = base.replace("groups: [Demo, CQUEST, EGI-biomed]", "groups: [Demo, Nope]");
        let err = World::from_yaml(&bad).unwrap_err();
        assert!(err.contains("group `Nope` is not declared"), "{err}");
        let bad = base.replace("greeting: { kind: greeting", "greetings: { kind: greeting");
        let err = World::from_yaml(&bad).unwrap_err();
        assert!(err.contains("output `greeting` has no recipe"), "{err}");
        let err = World::from_yaml("users: []\ngroups: []\npipelines: []\nextra: 1\n").unwrap_err();
        assert!(err.contains("extra"), "{err}");
        let err = World::from_yaml("users: []\ngroups: []\npipelines:\n  - id: NoVersion\n    groups: []\n    descriptor: {}\n    outputs: {}\n").unwrap_err();
        assert!(err.contains("pipeline `NoVersion`"), "{err}");
    }

    #[test]
    fn world_files_load_and_their_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("world.yaml");
        let text = include_str!("default-world.yaml").replace("quota: 1", "quota: 3");
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
