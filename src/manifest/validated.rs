//! What a manifest becomes once every offline check passed: the types the rest of vip-run
//! reads (`run`, `report`, `cli`), and the defaults they share.
//!
//! Kept apart from the checks that build them so a reader of a [`Validated`] manifest sees its
//! shape without wading through the rules, and so the defaults (`server`, `results.*`,
//! `--max-items`) have one home that both the checks and the help texts quote.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;
use serde_saphyr::Location;

use super::api_key::KeySource;
use super::diagnostic::{ManifestDiagnostic, SourceFile};
use super::model::Scalar;
use super::table_format::TableFormat;
use crate::duration;
use crate::vip::failure::FailureClass;

/// VIP's public server.
pub const DEFAULT_SERVER: &str = "https://vip.creatis.insa-lyon.fr/rest";
/// Default `results.location`.
pub const DEFAULT_RESULTS_LOCATION: &str = "/vip/Home/vip-run/{{ name }}";
/// Default `results.download`.
pub const DEFAULT_DOWNLOAD: &str = "results/{{ name }}/{{ item }}";
/// The limit on items unless `--max-items` says otherwise.
pub const DEFAULT_MAX_ITEMS: usize = 10_000;
/// Longest manifest name.
pub const MAX_NAME_LEN: usize = 64;

/// Options for loading.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// More items than this is an error.
    pub max_items: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            max_items: DEFAULT_MAX_ITEMS,
        }
    }
}

/// How executions are scheduled, with defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionSettings {
    /// Executions running at once.
    pub max_parallel: u32,
    /// Most jobs one execution may have (`execution.max_jobs`).
    pub max_jobs: u64,
    /// Polling period.
    #[serde(serialize_with = "ser_duration")]
    pub poll_interval: Duration,
    /// Per-execution time limit.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Relaunches of a failed execution.
    pub retries: u32,
    /// Kill on timeout.
    pub kill_on_timeout: bool,
    /// The failure classes a relaunch is worth (`execution.retry_on`), in class order.
    pub retry_on: Vec<FailureClass>,
    /// How long an execution may show no change with none of its jobs running.
    #[serde(serialize_with = "ser_duration")]
    pub stalled_after: Duration,
    /// How long `run` waits out an outage of VIP before stopping.
    #[serde(serialize_with = "ser_duration")]
    pub max_outage: Duration,
    /// Uploads and downloads at once.
    pub transfers: u32,
}

/// `execution.max_jobs`'s default: VIP does not publish its engine's `maxJobsPerWorkflow`;
/// docs/vip.md#lists says to keep workflows to a few hundred jobs.
pub const DEFAULT_MAX_JOBS: u64 = 500;
/// `execution.stalled_after`'s default: VIP's grid resubmits a lost task within minutes to
/// an hour, and a task waits in a grid queue for a few hours at busy times; six hours without
/// any change and nothing running is past both, well short of a held task's days.
pub const DEFAULT_STALLED_AFTER: Duration = Duration::from_secs(6 * 3600);

/// `execution.retry_on`'s default: the grid's failures, stalls and time limits.
pub fn default_retry_on() -> Vec<FailureClass> {
    let mut classes = crate::vip::failure::INFRASTRUCTURE.to_vec();
    classes.extend([FailureClass::Stalled, FailureClass::TimedOut]);
    classes.sort();
    classes
}

/// `execution.transfers`'s default.
pub const DEFAULT_TRANSFERS: u32 = 4;
/// `execution.transfers`' (and `--transfers`') largest value.
pub const MAX_TRANSFERS: u32 = 32;

/// `execution.max_outage`'s default.
pub const DEFAULT_MAX_OUTAGE: Duration = Duration::from_secs(3600);

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with passes a reference
fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&duration::format(*d))
}

/// What kind of value an input is, as far as can be told offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ValueKind {
    /// A path in VIP's data namespace.
    VipPath,
    /// A `platformId:id` reference, passed through.
    External,
    /// A local file, to upload; `upload` is its path under the run's inputs folder on VIP.
    LocalFile {
        path: PathBuf,
        size: u64,
        upload: String,
    },
    /// Anything else: text, a number, a flag (or a local path that does not exist).
    Text,
}

/// One resolved value, as VIP will receive it (before uploads replace local paths).
#[derive(Debug, Clone, Serialize)]
pub struct Value {
    /// The text (VIP's spelling).
    pub text: String,
    /// What it is.
    #[serde(flatten)]
    pub kind: ValueKind,
}

/// An input's resolved value: one, or a list.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum InputWire {
    /// A single value.
    One(Value),
    /// A list (VIP runs one job per element).
    List(Vec<Value>),
}

impl InputWire {
    /// The values, whether one or many.
    pub fn values(&self) -> &[Value] {
        match self {
            Self::One(v) => std::slice::from_ref(v),
            Self::List(v) => v,
        }
    }
}

/// One execution to be: its identity, variables and resolved inputs.
#[derive(Debug, Clone)]
pub struct Item {
    /// Stable key (from matrix or CSV values, or `main`).
    pub key: String,
    /// Position in the expansion, from 0.
    pub index: usize,
    /// Its matrix or CSV variables.
    pub variables: IndexMap<String, Scalar>,
    /// Parameter → resolved value.
    pub inputs: IndexMap<String, InputWire>,
    /// `resultsLocation` on VIP.
    pub results_location: String,
    /// Local download folder, if downloading.
    pub download: Option<PathBuf>,
    /// SHA-256 of the pipeline id and resolved inputs (hex). Offline, local files count by
    /// their upload path; a run's identity step (`ops::identity`) folds in the project key
    /// and each local file's content, and renames the execution to match.
    pub fingerprint: String,
    /// The offline fingerprint (local files by path only), as vip-run wrote it into states
    /// before content counted: what an older state is matched against when it is migrated.
    pub path_fingerprint: String,
    /// `<name>-<key>-<fp6>`, valid for VIP.
    pub execution_name: String,
    /// `results.expect`, rendered for this item.
    pub expect: Vec<String>,
    /// Each `collect` entry's `from`, rendered for this item (in the order of
    /// [`Validated::collect`]).
    pub collect: Vec<String>,
}

/// A `collect:` entry, checked: which file of each item to read, and the study table to write.
#[derive(Debug, Clone)]
pub struct CollectTable {
    /// `name`, when given.
    pub name: Option<String>,
    /// `from` as written (each item's rendering is in [`Item::collect`]).
    pub from: String,
    /// `to`, from the manifest's folder.
    pub to: PathBuf,
    /// The table's format, from `to`'s name.
    pub write_as: TableFormat,
    /// `format`: how to read the items' files, whatever their names say.
    pub read_as: Option<TableFormat>,
}

/// A local input's content as hashed when the manifest was identified, with the size and
/// modification time it had then: while they are unchanged, the hash stands (an upload
/// need not hash the file again).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Content {
    /// Its size.
    pub size: u64,
    /// Its modification time (epoch ms).
    pub mtime: Option<i64>,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// A manifest that passed every offline check.
#[derive(Debug)]
pub struct Validated {
    /// The manifest file (text masked).
    pub file: SourceFile,
    /// Its folder: relative paths start here.
    pub dir: PathBuf,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `pipeline_id`.
    pub pipeline_id: String,
    /// `group`.
    pub group: String,
    /// Where the key comes from.
    pub api_key: KeySource,
    /// `server`, when the manifest sets it.
    pub server: Option<String>,
    /// Scheduling.
    pub execution: ExecutionSettings,
    /// `results.extract`.
    pub extract: bool,
    /// The items, in expansion order.
    pub items: Vec<Item>,
    /// The `foreach: { files: PATTERN }` pattern, when the items are files found by it (each
    /// item's `file` variable is then its file).
    pub cohort: Option<String>,
    /// `results.clean`: clean up on VIP after every successful run.
    pub clean: bool,
    /// `collect`: the study tables gathered from the items' results.
    pub collect: Vec<CollectTable>,
    /// `notify:`: the channels a run tells.
    pub notify: Vec<super::notify::ChannelSpec>,
    /// The project key (see `ops::identity`): empty until a command that reaches VIP
    /// identifies the manifest's items by content.
    pub project: String,
    /// Upload path (under the inputs folder) → the local file's content, once identified.
    pub content: std::collections::HashMap<String, Content>,
    /// Where `pipeline_id` is written.
    pub pipeline_location: Location,
    /// Where `group` is written.
    pub group_location: Location,
    /// Where each input is written in the manifest.
    pub input_locations: IndexMap<String, Location>,
    /// Where each element of a list input is written (list inputs only), so a bad element
    /// is pointed at on its own line.
    pub element_locations: IndexMap<String, Vec<Location>>,
    /// Warnings found on the way.
    pub warnings: Vec<ManifestDiagnostic>,
    /// Secrets found in the text, to scrub from anything printed.
    pub secrets: Vec<String>,
}
