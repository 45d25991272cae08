//! From the raw model to a checked, expanded manifest: every offline check, every item.
//!
//! Checks collect diagnostics instead of stopping at the first, so a user fixes a manifest in
//! one round. Values are converted to VIP's spellings here (booleans `true`/`false`, decimal
//! numbers) and checked against VIP's character rules, so what `validate` accepts is what
//! VIP would accept, as far as can be known without asking it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;
use serde_saphyr::{Location, Spanned};
use sha2::{Digest, Sha256};
use tera::Context;

use super::api_key::{DEFAULT_KEY_VARIABLE, KeySource, expand_tilde};
use super::diagnostic::{ManifestDiagnostic, ManifestErrors, SourceFile};
use super::duration;
use super::expand::{self, Assignment, RESERVED, hex, is_identifier, scalar_text};
use super::load as loader;
use super::model::{ApiKeySource, Download, InputValue, Manifest, Scalar, TaggedKeySource};
use super::template::{TemplateError, TemplateId, Templates, is_template};
use crate::vip::rules;

/// VIP's public server.
pub const DEFAULT_SERVER: &str = "https://vip.creatis.insa-lyon.fr/rest";
/// Default `results.location`.
pub const DEFAULT_RESULTS_LOCATION: &str = "/vip/Home/vip-run/{{ name }}";
/// Default `results.download`.
pub const DEFAULT_DOWNLOAD: &str = "results/{{ item }}";
/// The limit on items unless `--max-items` says otherwise.
pub const DEFAULT_MAX_ITEMS: usize = 10_000;
/// Longest manifest name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest item key kept whole in an execution name.
const MAX_KEY_IN_NAME: usize = 60;

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
}

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

    fn canonical(&self) -> serde_json::Value {
        let text = |v: &Value| match &v.kind {
            ValueKind::LocalFile { upload, .. } => format!("upload:{upload}"),
            _ => v.text.clone(),
        };
        match self {
            Self::One(v) => serde_json::Value::String(text(v)),
            Self::List(vs) => vs
                .iter()
                .map(|v| serde_json::Value::String(text(v)))
                .collect(),
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
    /// SHA-256 of the pipeline id and resolved inputs (hex).
    pub fingerprint: String,
    /// `<name>-<key>-<fp6>`, valid for VIP.
    pub execution_name: String,
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
    /// Whether the manifest names the key's source (else it is the default variable).
    pub api_key_explicit: bool,
    /// `server`, when the manifest sets it.
    pub server: Option<String>,
    /// Scheduling.
    pub execution: ExecutionSettings,
    /// `results.extract`.
    pub extract: bool,
    /// The items, in expansion order.
    pub items: Vec<Item>,
    /// Where `pipeline_id` is written.
    pub pipeline_location: Location,
    /// Where `group` is written.
    pub group_location: Location,
    /// Where each input is written in the manifest.
    pub input_locations: IndexMap<String, Location>,
    /// Warnings found on the way.
    pub warnings: Vec<ManifestDiagnostic>,
    /// Secrets found in the text, to scrub from anything printed.
    pub secrets: Vec<String>,
}

/// Loads, parses, checks and expands the manifest at `path`.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Validated, ManifestErrors> {
    let fail = |diagnostics| ManifestErrors {
        manifest: path.display().to_string(),
        diagnostics,
    };
    let source =
        loader::read(path, loader::MAX_MANIFEST_BYTES, "manifest").map_err(|d| fail(vec![d]))?;
    let manifest = loader::parse(&source).map_err(fail)?;
    let dir = path
        .parent()
        .map_or(Path::new("."), |p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .to_path_buf();
    let mut checker = Checker {
        file: &source.file,
        dir: &dir,
        diags: Vec::new(),
        local: HashMap::new(),
        canonical_dir: None,
    };
    let validated = checker.check(&manifest, options);
    let diags = checker.diags;
    match validated {
        Some(mut v) if !diags.iter().any(ManifestDiagnostic::is_error) => {
            v.warnings = diags;
            v.secrets = source.secrets;
            Ok(v)
        }
        _ => Err(fail(diags)),
    }
}

struct Checker<'a> {
    file: &'a SourceFile,
    dir: &'a Path,
    diags: Vec<ManifestDiagnostic>,
    /// What each distinct input text names on disk (a 10,000-item matrix names the same
    /// few files over and over: one look each).
    local: HashMap<String, Local>,
    /// The manifest's folder, resolved once.
    canonical_dir: Option<PathBuf>,
}

/// A value's meaning on the local disk.
enum Local {
    File {
        path: PathBuf,
        size: u64,
        upload: String,
        canonical: PathBuf,
    },
    NotAFile,
}

/// A compiled value of an input or a results field.
#[derive(Clone, Copy)]
enum Spec<'m> {
    Literal(&'m str),
    Template(TemplateId),
}

struct ValueSpec<'m> {
    spec: Option<Spec<'m>>,
    owned: Option<String>,
    location: Location,
}

impl ValueSpec<'_> {
    fn text(&self, templates: &Templates, context: &Context) -> Result<String, TemplateError> {
        match (self.spec, &self.owned) {
            (Some(Spec::Template(id)), _) => templates.render(id, context),
            (Some(Spec::Literal(s)), _) => Ok(s.to_owned()),
            (None, Some(s)) => Ok(s.clone()),
            (None, None) => Ok(String::new()),
        }
    }
}

struct InputSpec<'m> {
    name: &'m str,
    list: bool,
    values: Vec<ValueSpec<'m>>,
}

/// Per-item problems, collapsed by place in the manifest and kind.
type Repeats = super::diagnostic::Repeats<(usize, &'static str)>;

impl Checker<'_> {
    fn error(
        &mut self,
        location: Location,
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
    ) {
        self.diags.push(
            ManifestDiagnostic::error(message)
                .at_location(self.file, location)
                .label(label)
                .help(help),
        );
    }

    fn warn(&mut self, location: Location, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(
            ManifestDiagnostic::warning(message)
                .at_location(self.file, location)
                .help(help),
        );
    }

    /// Records a per-item problem once per place and kind, counting the other items.
    fn repeated(
        &mut self,
        repeats: &mut Repeats,
        kind: &'static str,
        diagnostic: ManifestDiagnostic,
    ) {
        let offset = diagnostic
            .at
            .as_ref()
            .map_or(usize::MAX, |(_, s)| s.offset());
        repeats.push(&mut self.diags, (offset, kind), diagnostic);
    }

    fn finish_repeats(&mut self, repeats: &Repeats) {
        repeats.finish(&mut self.diags);
    }

    fn check(&mut self, m: &Manifest, options: &LoadOptions) -> Option<Validated> {
        self.check_header(m);
        let execution = self.check_execution(m);
        let api_key = self.check_api_key(m);
        let server = self.check_server(m);

        // Variables: reserved names, then `vars`, then matrix or CSV variables.
        let vars = m.vars.as_ref().map(|v| &v.value);
        if let Some(vars) = &m.vars {
            for name in vars.value.keys() {
                if !is_identifier(name) {
                    self.error(vars.referenced, format!("`{name}` is not a valid variable name"), "in these vars",
                        "variable names are letters, digits and `_`, not starting with a digit, so templates can use them");
                } else if RESERVED.contains(&name.as_str()) {
                    self.error(vars.referenced, format!("`{name}` is a built-in template variable and cannot be redefined in `vars`"), "in these vars", "rename the variable");
                }
            }
        }
        let taken = |name: &str| -> Option<&'static str> {
            if RESERVED.contains(&name) {
                Some("a built-in template variable")
            } else if vars.is_some_and(|v| v.contains_key(name)) {
                Some("defined in `vars`")
            } else {
                None
            }
        };
        let assignments = match (&m.matrix, &m.foreach) {
            (Some(matrix), Some(foreach)) => {
                self.error(foreach.referenced, "`matrix` and `foreach` cannot both be used", "second source of items",
                    "use `matrix` for combinations of values, or `foreach` for one item per CSV row");
                let _ = matrix;
                None
            }
            (Some(matrix), None) => expand::matrix(
                matrix,
                self.file,
                options.max_items,
                &taken,
                &mut self.diags,
            ),
            (None, Some(foreach)) => {
                let path = under(self.dir, expand_tilde(&foreach.value));
                expand::csv(
                    &path,
                    foreach,
                    self.file,
                    options.max_items,
                    &taken,
                    &mut self.diags,
                )
            }
            (None, None) => Some(expand::single()),
        };

        // Templates, compiled once.
        let mut templates = Templates::new();
        let inputs = self.compile_inputs(m, &mut templates);
        let location = m.results.location.as_ref();
        let location_spec = self.compile(
            &mut templates,
            location.map_or(DEFAULT_RESULTS_LOCATION, |l| l.value.as_str()),
            location.map_or(Location::UNKNOWN, |l| l.referenced),
        );
        let download = m.results.download.as_ref();
        let download_spec = match download.map(|d| &d.value) {
            Some(Download::Enabled(false)) => None,
            Some(Download::Folder(folder)) => Some(self.compile(
                &mut templates,
                folder,
                download.map_or(Location::UNKNOWN, |d| d.referenced),
            )),
            Some(Download::Enabled(true)) | None => Some(self.compile(
                &mut templates,
                DEFAULT_DOWNLOAD,
                download.map_or(Location::UNKNOWN, |d| d.referenced),
            )),
        };

        let assignments = assignments?;
        if self.diags.iter().any(ManifestDiagnostic::is_error) {
            return None;
        }

        let items = self.expand_items(
            m,
            &assignments,
            &templates,
            &inputs,
            &location_spec,
            download_spec.as_ref(),
        );
        let input_locations = m
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), v.referenced))
            .collect();
        Some(Validated {
            file: self.file.clone(),
            dir: self.dir.to_path_buf(),
            name: m.name.value.clone(),
            description: m.description.clone(),
            pipeline_id: m.pipeline_id.value.clone(),
            group: m.group.value.clone(),
            api_key: api_key?,
            api_key_explicit: m.api_key.is_some(),
            server,
            execution,
            extract: m.results.extract.unwrap_or(true),
            items,
            input_locations,
            pipeline_location: m.pipeline_id.referenced,
            group_location: m.group.referenced,
            warnings: Vec::new(),
            secrets: Vec::new(),
        })
    }

    fn check_header(&mut self, m: &Manifest) {
        if m.version.value != 1 {
            self.error(
                m.version.referenced,
                format!("unsupported manifest version {}", m.version.value),
                "unsupported version",
                "this vip-run reads manifest version 1: write `version: 1`, or upgrade vip-run",
            );
        }
        let name = &m.name.value;
        if name.is_empty()
            || name.len() > MAX_NAME_LEN
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            let bad = name
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'));
            let message = match bad {
                _ if name.is_empty() => "the name is empty".to_owned(),
                Some(c) => format!("the name `{name}` contains `{c}`"),
                None => format!("the name is longer than {MAX_NAME_LEN} characters"),
            };
            let fixed: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(MAX_NAME_LEN)
                .collect();
            let suggestion = if fixed.is_empty() {
                String::new()
            } else {
                format!(", e.g. `{fixed}`")
            };
            self.error(m.name.referenced, message, "invalid name",
                format!("a name uses letters, digits, `_` and `-` only (it prefixes VIP execution names and names the state folder){suggestion}"));
        }
        let id = &m.pipeline_id.value;
        if let Some(problem) = rules::pipeline_id_problem(id) {
            let help = if id.contains('/') {
                problem.to_owned()
            } else {
                format!(
                    "{problem}, e.g. `{}/0.6`; `vip-run pipelines {}` lists the versions you can run",
                    id.trim(),
                    id.trim()
                )
            };
            self.error(
                m.pipeline_id.referenced,
                format!("`{id}` is not a valid pipeline identifier"),
                "not `Name/version`",
                help,
            );
        }
        let group = &m.group.value;
        if group.trim().is_empty() || group.contains('/') || group.trim() != group {
            self.error(m.group.referenced, format!("`{group}` is not a valid group name"), "invalid group",
                "name the VIP application group as shown in the VIP portal (My Account → Groups), e.g. `CQUEST`");
        }
    }

    fn check_execution(&mut self, m: &Manifest) -> ExecutionSettings {
        let e = &m.execution;
        let mut settings = ExecutionSettings {
            max_parallel: 1,
            poll_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(24 * 3600),
            retries: 0,
            kill_on_timeout: e.kill_on_timeout.unwrap_or(false),
        };
        if let Some(p) = &e.max_parallel {
            match u32::try_from(p.value) {
                Ok(n) if (1..=1000).contains(&n) => settings.max_parallel = n,
                _ => self.error(p.referenced, format!("max_parallel must be between 1 and 1000, not {}", p.value), "out of range",
                    "VIP's default quota is 1 running execution per user; ask VIP support to raise yours before raising this"),
            }
        }
        if let Some(r) = &e.retries {
            match u32::try_from(r.value) {
                Ok(n) if n <= 10 => settings.retries = n,
                _ => self.error(
                    r.referenced,
                    format!("retries must be between 0 and 10, not {}", r.value),
                    "out of range",
                    "a pipeline that fails more than a few times needs fixing, not relaunching",
                ),
            }
        }
        for (field, value, min, target) in [
            (
                "poll_interval",
                &e.poll_interval,
                Duration::from_secs(1),
                &mut settings.poll_interval,
            ),
            (
                "timeout",
                &e.timeout,
                Duration::from_secs(1),
                &mut settings.timeout,
            ),
        ] {
            let Some(value) = value else { continue };
            match duration::parse(&value.value) {
                Ok(d) if d >= min => *target = d,
                Ok(_) => self.diags.push(
                    ManifestDiagnostic::error(format!("{field} must be at least {}", duration::format(min)))
                        .at_location(self.file, value.referenced)
                        .label("too short")
                        .help("VIP executions take minutes to hours; poll every 30s or more"),
                ),
                Err(problem) => self.diags.push(
                    ManifestDiagnostic::error(format!("invalid {field}: {problem}"))
                        .at_location(self.file, value.referenced)
                        .label("not a duration")
                        .help("write a number with a unit: `ms`, `s`, `m`, `h` or `d`, e.g. `30s`, `5m`, `24h`, `1h30m`"),
                ),
            }
        }
        settings
    }

    fn check_api_key(&mut self, m: &Manifest) -> Option<KeySource> {
        let Some(key) = &m.api_key else {
            return Some(KeySource::Env(DEFAULT_KEY_VARIABLE.into()));
        };
        let source = match &key.value {
            ApiKeySource::Tagged(TaggedKeySource::Env(name)) => {
                if !is_identifier(name) {
                    self.error(
                        key.referenced,
                        format!("`{name}` is not a valid environment variable name"),
                        "invalid variable name",
                        "name the variable that holds the key, e.g. `{ env: VIP_API_KEY }`",
                    );
                    return None;
                }
                KeySource::Env(name.clone())
            }
            ApiKeySource::Tagged(TaggedKeySource::File(path)) => KeySource::file(path, self.dir),
            ApiKeySource::Tagged(TaggedKeySource::Literal(secret)) => {
                KeySource::Literal(secret.clone())
            }
            ApiKeySource::Bare(text) => KeySource::Bare {
                text: text.clone(),
                manifest_dir: self.dir.to_path_buf(),
            },
        };
        if source.is_in_manifest() {
            self.warn(key.referenced, "the API key is written in the manifest, which is usually version-controlled",
                "keep it out of git: `api_key: { env: VIP_API_KEY }` or `api_key: { file: ~/.config/vip/key }`");
        }
        Some(source)
    }

    fn check_server(&mut self, m: &Manifest) -> Option<String> {
        let server = m.server.as_ref()?;
        let url = server.value.trim_end_matches('/');
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        let loopback = host.is_some_and(|h| {
            let h = h
                .rsplit_once(':')
                .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
                .map_or(h, |(h, _)| h);
            h == "localhost" || h.starts_with("127.") || h == "[::1]"
        });
        match host {
            None | Some("") => {
                self.error(
                    server.referenced,
                    format!("`{}` is not an http(s) URL", server.value),
                    "not a URL",
                    format!("give VIP's REST base URL, e.g. `{DEFAULT_SERVER}`"),
                );
                None
            }
            Some(_) if url.starts_with("http://") && !loopback => {
                self.error(server.referenced, "the server URL must use https", "plain http",
                    "the API key travels in every request: use https (plain http is allowed for loopback test servers only)");
                None
            }
            Some(_) => Some(url.to_owned()),
        }
    }

    fn compile<'m>(
        &mut self,
        templates: &mut Templates,
        text: &'m str,
        location: Location,
    ) -> ValueSpec<'m> {
        if !is_template(text) {
            return ValueSpec {
                spec: Some(Spec::Literal(text)),
                owned: None,
                location,
            };
        }
        match templates.add(text) {
            Ok(id) => ValueSpec {
                spec: Some(Spec::Template(id)),
                owned: None,
                location,
            },
            Err(e) => {
                let d = self.template_diagnostic(&e, text, location, None, &[]);
                self.diags.push(d);
                ValueSpec {
                    spec: None,
                    owned: None,
                    location,
                }
            }
        }
    }

    fn compile_inputs<'m>(
        &mut self,
        m: &'m Manifest,
        templates: &mut Templates,
    ) -> Vec<InputSpec<'m>> {
        let mut specs = Vec::new();
        for (name, value) in &m.inputs {
            let (list, scalars): (bool, Vec<(&Scalar, Location)>) = match &value.value {
                InputValue::Scalar(s) => (false, vec![(s, value.referenced)]),
                InputValue::List(items) => (
                    true,
                    items.iter().map(|i| (&i.value, i.referenced)).collect(),
                ),
            };
            if list && scalars.is_empty() {
                self.error(value.referenced, format!("input `{name}` is an empty list"), "empty list",
                    "VIP cannot run a list input with no values: give at least one, or remove the input");
                continue;
            }
            let mut values = Vec::new();
            for (scalar, location) in scalars {
                let spec = match scalar {
                    Scalar::Str(s) => self.compile(templates, s, location),
                    Scalar::Null => {
                        self.error(location, format!("input `{name}` has no value"), "empty value",
                            "to leave an optional input at its default, remove the key; to pass an empty string, VIP has no way: remove it");
                        continue;
                    }
                    other => {
                        if let Some(text) = scalar_text(other) {
                            ValueSpec {
                                spec: None,
                                owned: Some(text),
                                location,
                            }
                        } else {
                            self.error(
                                location,
                                format!("input `{name}` is not a finite number"),
                                "not finite",
                                "VIP takes decimal numbers only",
                            );
                            continue;
                        }
                    }
                };
                values.push(spec);
            }
            specs.push(InputSpec { name, list, values });
        }
        specs
    }

    fn template_diagnostic(
        &self,
        e: &TemplateError,
        text: &str,
        location: Location,
        item: Option<&str>,
        available: &[&str],
    ) -> ManifestDiagnostic {
        let mut d = ManifestDiagnostic::error(match item {
            Some(key) => format!("template error in item `{key}`: {}", e.message),
            None => format!("template error: {}", e.message),
        });
        let base = self.file.location_offset(location);
        let inside = base.and_then(|b| {
            let rest = &self.file.text[b..];
            let skip = if rest.starts_with(text) {
                0
            } else if (rest.starts_with('"') || rest.starts_with('\''))
                && rest[1..].starts_with(text)
            {
                1
            } else {
                return None;
            };
            e.range.map(|(s, end)| (b + skip + s, end - s))
        });
        d = match (inside, base) {
            (Some((offset, len)), _) => d.at(self.file, offset, len.max(1)),
            (None, Some(_)) => d.at_location(self.file, location),
            (None, None) => d,
        };
        d = d.label("here");
        if available.is_empty() {
            d.help("templates use Jinja syntax: `{{ variable }}`, `{{ env(\"NAME\") }}`")
        } else {
            let suggestion = e
                .message
                .split('`')
                .nth(1)
                .and_then(|w| super::suggest::did_you_mean(w, available.iter().copied()))
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            d.help(format!(
                "{suggestion}available variables: {}; function: env(\"NAME\")",
                available.join(", ")
            ))
        }
    }

    fn expand_items(
        &mut self,
        m: &Manifest,
        assignments: &[Assignment],
        templates: &Templates,
        inputs: &[InputSpec<'_>],
        location_spec: &ValueSpec<'_>,
        download_spec: Option<&ValueSpec<'_>>,
    ) -> Vec<Item> {
        let name = &m.name.value;
        let mut base = Context::new();
        base.insert("name", name);
        let mut available: Vec<String> = vec!["name".into(), "item".into(), "index".into()];
        if let Some(vars) = &m.vars {
            base.insert("vars", &vars.value);
            available.push("vars".into());
            for (k, v) in &vars.value {
                base.insert(k.clone(), v);
                available.push(k.clone());
            }
        }
        if let Some(first) = assignments.first() {
            available.extend(first.values.keys().cloned());
        }
        let available: Vec<&str> = available.iter().map(String::as_str).collect();

        let mut repeats = Repeats::default();
        let mut items = Vec::with_capacity(assignments.len());
        let mut uploads: HashMap<String, PathBuf> = HashMap::new();
        let mut downloads: HashMap<PathBuf, String> = HashMap::new();
        let mut missing: BTreeMap<usize, (String, String, Location, usize)> = BTreeMap::new();
        let mut names: HashMap<String, String> = HashMap::new();

        for (index, assignment) in assignments.iter().enumerate() {
            let mut context = base.clone();
            for (k, v) in &assignment.values {
                context.insert(k.clone(), v);
            }
            context.insert("item", &assignment.key);
            context.insert("index", &index);
            let key = assignment.key.as_str();

            let render = |checker: &mut Self,
                          repeats: &mut Repeats,
                          spec: &ValueSpec<'_>|
             -> Option<String> {
                let text = spec.text(templates, &context);
                match text {
                    Ok(t) => Some(t),
                    Err(e) => {
                        let source = spec_source(m, spec.location, checker.file);
                        let d = checker.template_diagnostic(
                            &e,
                            &source,
                            spec.location,
                            Some(key),
                            &available,
                        );
                        checker.repeated(repeats, "template", d);
                        None
                    }
                }
            };

            let mut resolved = IndexMap::new();
            for input in inputs {
                let mut values = Vec::new();
                for spec in &input.values {
                    let Some(text) = render(self, &mut repeats, spec) else {
                        continue;
                    };
                    if let Some(v) = self.check_value(
                        input.name,
                        &text,
                        spec.location,
                        key,
                        &mut repeats,
                        &mut missing,
                        &mut uploads,
                    ) {
                        values.push(v);
                    }
                }
                if values.len() == input.values.len() {
                    let wire = if input.list {
                        InputWire::List(values)
                    } else {
                        InputWire::One(values.remove(0))
                    };
                    resolved.insert(input.name.to_owned(), wire);
                }
            }
            let results_location = render(self, &mut repeats, location_spec).unwrap_or_default();
            if !results_location.is_empty() {
                self.check_results_location(
                    &results_location,
                    location_spec.location,
                    &mut repeats,
                );
            }
            let download = download_spec
                .and_then(|spec| render(self, &mut repeats, spec))
                .map(|d| {
                    let p = expand_tilde(d.trim());
                    if p.is_absolute() {
                        p
                    } else {
                        under(self.dir, p)
                    }
                });
            if let (Some(folder), Some(spec)) = (&download, download_spec)
                && let Some(other) = downloads.insert(folder.clone(), key.to_owned())
            {
                let d = ManifestDiagnostic::error(format!(
                    "items `{other}` and `{key}` both download into {}",
                    folder.display()
                ))
                .at_location(self.file, spec.location)
                .label("same folder for several items")
                .help("make `results.download` depend on the item, e.g. `results/{{ item }}`");
                self.repeated(&mut repeats, "download", d);
            }

            let fingerprint = fingerprint(&m.pipeline_id.value, &resolved);
            let execution_name = execution_name(name, key, &fingerprint);
            if let Some(other) = names.insert(execution_name.clone(), key.to_owned()) {
                self.diags.push(ManifestDiagnostic::error(format!(
                    "items `{other}` and `{key}` would get the same execution name `{execution_name}`"
                )).help("make their values differ in more than punctuation"));
            }
            items.push(Item {
                key: key.to_owned(),
                index,
                variables: assignment.values.clone(),
                inputs: resolved,
                results_location,
                download,
                fingerprint,
                execution_name,
            });
        }
        for (input, example, location, count) in missing.into_values() {
            let more = if count > 1 {
                format!(" (and {} more items)", count - 1)
            } else {
                String::new()
            };
            self.warn(location, format!("input `{input}`: no local file `{example}`{more}"),
                "if this is a File parameter, the file must exist; paths are relative to the manifest's folder");
        }
        self.finish_repeats(&repeats);
        items
    }

    #[allow(clippy::too_many_arguments)]
    fn check_value(
        &mut self,
        input: &str,
        text: &str,
        location: Location,
        key: &str,
        repeats: &mut Repeats,
        missing: &mut BTreeMap<usize, (String, String, Location, usize)>,
        uploads: &mut HashMap<String, PathBuf>,
    ) -> Option<Value> {
        let text = text.trim().to_owned();
        let item = if key == "main" {
            String::new()
        } else {
            format!(" in item `{key}`")
        };
        if text.is_empty() {
            let d = ManifestDiagnostic::error(format!("input `{input}` is empty{item}"))
                .at_location(self.file, location)
                .label("empty after rendering")
                .help("VIP refuses empty values: to leave an optional input at its default, remove it");
            self.repeated(repeats, "empty", d);
            return None;
        }
        if text.contains("@@") {
            let d = ManifestDiagnostic::error(format!("input `{input}` contains `@@`{item}"))
                .at_location(self.file, location)
                .help("VIP splits values on `@@`: use a YAML list for several values");
            self.repeated(repeats, "@@", d);
            return None;
        }
        let kind = if rules::is_vip_path(&text) {
            ValueKind::VipPath
        } else if rules::is_external_reference(&text) {
            ValueKind::External
        } else {
            match self.lookup_local(&text) {
                Local::File {
                    path,
                    size,
                    upload,
                    canonical,
                } => {
                    let (path, size, upload, canonical) =
                        (path.clone(), *size, upload.clone(), canonical.clone());
                    if let Some(bad) = rules::forbidden_input_char(&upload) {
                        let d = ManifestDiagnostic::error(format!(
                            "input `{input}`: the file name `{text}` contains `{bad}`, which VIP refuses in input values{item}"
                        ))
                        .at_location(self.file, location)
                        .help(format!("rename the file; VIP allows {}", rules::INPUT_VALUE_CHARS));
                        self.repeated(repeats, "upload-chars", d);
                        return None;
                    }
                    if size == 0 {
                        let d = ManifestDiagnostic::error(format!(
                            "input `{input}`: the file `{text}` is empty{item}"
                        ))
                        .at_location(self.file, location)
                        .help("VIP stores an empty upload as a folder: give a file with content");
                        self.repeated(repeats, "empty-file", d);
                        return None;
                    }
                    if let Some(other) = uploads.insert(upload.clone(), canonical.clone())
                        && other != canonical
                    {
                        let d = ManifestDiagnostic::error(format!(
                                "local files {} and {} would both be stored on VIP as `{upload}`",
                                other.display(),
                                canonical.display()
                            ))
                            .at_location(self.file, location)
                            .help("VIP replaces spaces with `_` and drops accents in file names: rename one of the files");
                        self.repeated(repeats, "upload-clash", d);
                        return None;
                    }
                    return Some(Value {
                        text,
                        kind: ValueKind::LocalFile { path, size, upload },
                    });
                }
                Local::NotAFile => {
                    if looks_like_path(&text) {
                        let offset = self.file.location_offset(location).unwrap_or(0);
                        missing
                            .entry(offset)
                            .or_insert_with(|| (input.to_owned(), text.clone(), location, 0))
                            .3 += 1;
                    }
                    ValueKind::Text
                }
            }
        };
        if let Some(bad) = rules::forbidden_input_char(&text) {
            let shown = if bad.is_control() {
                format!("{bad:?}")
            } else {
                format!("`{bad}`")
            };
            let d = ManifestDiagnostic::error(format!(
                "input `{input}` contains {shown}, which VIP refuses in input values{item}"
            ))
            .at_location(self.file, location)
            .label("refused by VIP")
            .help(format!("VIP allows {}", rules::INPUT_VALUE_CHARS));
            self.repeated(repeats, "chars", d);
            return None;
        }
        Some(Value { text, kind })
    }

    fn lookup_local(&mut self, text: &str) -> &Local {
        if !self.local.contains_key(text) {
            let path = expand_tilde(text);
            let path = if path.is_absolute() {
                path
            } else {
                under(self.dir, path)
            };
            let found = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    let dir = self.canonical_dir.get_or_insert_with(|| {
                        std::fs::canonicalize(self.dir).unwrap_or_else(|_| self.dir.to_path_buf())
                    });
                    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                    Local::File {
                        upload: upload_path(dir, &canonical),
                        path,
                        size: meta.len(),
                        canonical,
                    }
                }
                _ => Local::NotAFile,
            };
            self.local.insert(text.to_owned(), found);
        }
        &self.local[text]
    }

    fn check_results_location(&mut self, location: &str, at: Location, repeats: &mut Repeats) {
        let problem = if rules::is_external_reference(location) {
            None
        } else if !rules::is_vip_path(location) {
            Some("must be a VIP path starting with `/vip/` (or a `platformId:id` reference)")
        } else if location.split('/').any(|s| s == "..") || location.contains("//") {
            Some("must not contain `..` or `//`")
        } else if location.trim_end_matches('/') == "/vip" {
            Some("cannot be `/vip` itself, where VIP allows no writing")
        } else {
            None
        };
        if let Some(problem) = problem {
            let d = ManifestDiagnostic::error(format!("results.location `{location}` {problem}"))
                .at_location(self.file, at)
                .help(format!("e.g. `{DEFAULT_RESULTS_LOCATION}`"));
            self.repeated(repeats, "results-location", d);
        }
    }
}

/// The original text of the scalar at `location` (for positioning template errors).
fn spec_source(m: &Manifest, location: Location, _file: &SourceFile) -> String {
    let same = |l: Location| l.line() == location.line() && l.column() == location.column();
    for value in m.inputs.values() {
        match &value.value {
            InputValue::Scalar(Scalar::Str(s)) if same(value.referenced) => return s.clone(),
            InputValue::List(items) => {
                for i in items {
                    if let Scalar::Str(s) = &i.value
                        && same(i.referenced)
                    {
                        return s.clone();
                    }
                }
            }
            InputValue::Scalar(_) => {}
        }
    }
    if let Some(l) = m.results.location.as_ref().filter(|l| same(l.referenced)) {
        return l.value.clone();
    }
    if let Some(Spanned {
        value: Download::Folder(f),
        referenced,
        ..
    }) = m.results.download.as_ref()
        && same(*referenced)
    {
        return f.clone();
    }
    String::new()
}

/// `path` relative to the manifest's folder, without a leading `./` when that folder is the
/// current one (paths in messages read as the user wrote them).
fn under(dir: &Path, path: PathBuf) -> PathBuf {
    if dir == Path::new(".") {
        path
    } else {
        dir.join(path)
    }
}

/// Whether a string that names no existing file still looks like a path to one.
fn looks_like_path(text: &str) -> bool {
    if text.contains(['/', '\\']) || text.starts_with('.') || text.starts_with('~') {
        return !text.contains(' ') || text.contains('/');
    }
    text.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (1..=5).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_alphanumeric())
            && ext.chars().any(|c| c.is_ascii_alphabetic())
    })
}

/// Where a local file goes under the run's inputs folder on VIP: its path relative to the
/// manifest, each segment named as VIP will store it; files outside the manifest's folder go
/// under `external/<hash>/`.
/// Both paths are canonical.
pub fn upload_path(canonical_dir: &Path, canonical: &Path) -> String {
    let segments: Option<Vec<String>> = canonical.strip_prefix(canonical_dir).ok().map(|rel| {
        rel.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(rules::sanitize_upload_name(&s.to_string_lossy())),
                _ => None,
            })
            .collect()
    });
    match segments {
        Some(s) if !s.is_empty() => s.join("/"),
        _ => {
            let digest = hex(&Sha256::digest(canonical.to_string_lossy().as_bytes()));
            let base = canonical
                .file_name()
                .map(|n| rules::sanitize_upload_name(&n.to_string_lossy()))
                .unwrap_or_default();
            format!("external/{}/{base}", &digest[..8])
        }
    }
}

/// SHA-256 over the pipeline id and the resolved inputs, sorted by name.
pub fn fingerprint(pipeline_id: &str, inputs: &IndexMap<String, InputWire>) -> String {
    let sorted: BTreeMap<&str, serde_json::Value> = inputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.canonical()))
        .collect();
    let canonical = serde_json::json!({ "pipeline": pipeline_id, "inputs": sorted });
    hex(&Sha256::digest(canonical.to_string().as_bytes()))
}

/// `<name>-<key>-<fp6>`, with the key made valid for VIP's name rule. A key that had to be
/// changed (or shortened) gets a hash of its exact text, so distinct keys keep distinct names.
pub fn execution_name(name: &str, key: &str, fingerprint: &str) -> String {
    let mut clean: String = key
        .chars()
        .map(|c| {
            if rules::is_execution_name_char(c) && c != ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean != key || clean.len() > MAX_KEY_IN_NAME {
        clean.truncate(MAX_KEY_IN_NAME - 8);
        let digest = hex(&Sha256::digest(key.as_bytes()));
        clean = format!("{clean}_{}", &digest[..6]);
    }
    format!("{name}-{clean}-{}", &fingerprint[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_are_valid_and_distinct_for_lookalike_keys() {
        let fp = "abcdef0123";
        let a = execution_name("study", "sub.01", fp);
        let b = execution_name("study", "sub_01", fp);
        let c = execution_name("study", "sub 01", fp);
        assert!(rules::is_valid_execution_name(&a));
        assert_eq!(b, "study-sub_01-abcdef");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
        let long = execution_name("s", &"x".repeat(200), fp);
        assert!(long.len() < 80);
    }

    #[test]
    fn path_heuristics() {
        assert!(looks_like_path("data/sub-01/signal.mrui"));
        assert!(looks_like_path("basis.zip"));
        assert!(!looks_like_path("Hello"));
        assert!(!looks_like_path("1.5"));
        assert!(!looks_like_path("Hello world."));
    }
}
