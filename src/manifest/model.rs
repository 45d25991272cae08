//! The raw manifest model: what the YAML says, with source locations, before any checking.
//!
//! Everything here is a faithful serde image of the file (format version 1): unknown keys are
//! rejected by serde, and every value a later check may complain about is wrapped in
//! [`Spanned`] so the complaint can point at its line and column. Meaning (defaults, templates,
//! expansion, VIP's rules) is given in `check/`, not here. The JSON Schema in `schemas/`
//! is generated from these types.

use std::fmt;

use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use secrecy::SecretString;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

pub use super::table_format::TableFormat;

/// A `vip-run` manifest (format version 1): one recipe of VIP executions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "vip-run manifest")]
pub struct Manifest {
    /// Manifest format version. Only `1` exists.
    #[schemars(with = "u32", range(min = 1, max = 1))]
    pub version: Spanned<u64>,
    /// Name of the recipe: prefix of execution names and name of the state folder.
    /// Letters, digits, `_` and `-` only.
    #[schemars(
        with = "String",
        regex(pattern = r"^[A-Za-z0-9_-]+$"),
        length(max = 64)
    )]
    pub name: Spanned<String>,
    /// Free text, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The VIP pipeline to run, as `Name/version` (e.g. `CQUEST/0.6`), as listed by `vip-run pipelines`.
    #[schemars(with = "String", regex(pattern = r"^[^/]+/[^/]+$"))]
    pub pipeline_id: Spanned<String>,
    /// The VIP application group the pipeline requires (checked against your groups before launch).
    #[schemars(with = "String", length(min = 1))]
    pub group: Spanned<String>,
    /// Where the API key comes from. Default: `{ env: VIP_API_KEY }`.
    #[serde(default)]
    #[schemars(with = "Option<ApiKeySource>")]
    pub api_key: Option<Spanned<ApiKeySource>>,
    /// VIP's REST base URL. Default: `https://vip.creatis.insa-lyon.fr/rest`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub server: Option<Spanned<String>>,
    /// Constants for templates: available as `vars.NAME` and as `NAME`.
    #[serde(default)]
    #[schemars(with = "Option<IndexMap<String, serde_json::Value>>")]
    pub vars: Option<Spanned<IndexMap<String, serde_json::Value>>>,
    /// One execution per combination of these variables (cross product, then `exclude`,
    /// then `include`, as in GitHub Actions).
    #[serde(default)]
    #[schemars(with = "Option<Matrix>")]
    pub matrix: Option<Spanned<Matrix>>,
    /// One execution per CSV row (a file relative to the manifest: the header row names the
    /// variables and the first column names the item), or per matching file with
    /// `{ files: "data/sub-{subject}/anat/sub-{subject}_T1w.nii.gz" }`.
    #[serde(default)]
    #[schemars(with = "Option<Foreach>")]
    pub foreach: Option<Spanned<Foreach>>,
    /// Pipeline parameter → value. Strings are templates. A list is passed to VIP as a list
    /// (one execution with several jobs).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, InputValue>")]
    pub inputs: IndexMap<String, Spanned<InputValue>>,
    /// Where results go, on VIP and locally.
    #[serde(default)]
    pub results: Results,
    /// Tables to gather: each names a small table every item returns (`from`) and the study
    /// table they merge into (`to`), one row per row of each finished item's file, the item's
    /// key and variables first. Written at the end of a run and by `vip-run collect`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<CollectEntry>>")]
    pub collect: Option<Spanned<Vec<Spanned<CollectEntry>>>>,
    /// How executions are scheduled and watched.
    #[serde(default)]
    pub execution: Execution,
    /// Who is told when a run starts, ends, fails or stalls: a list of channels
    /// (`- healthchecks: {…}`, `- webhook: {…}`, `- email: {…}`). A notification never fails,
    /// blocks or slows a run beyond a bound; what cannot be delivered is sent by the next run.
    #[serde(default)]
    #[schemars(with = "Option<Vec<Channel>>")]
    pub notify: Option<Spanned<Vec<Spanned<Channel>>>>,
}

/// Where the API key comes from. Give exactly one of `env`, `file` or `literal`, or a bare
/// string with `VipSession`'s meaning (an existing file, else a set environment variable, else the key itself).
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
pub enum ApiKeySource {
    /// A bare string, resolved as the VIP Python client does (file, then variable, then literal).
    Bare(#[schemars(with = "String")] SecretString),
    /// `{ env: NAME }`, `{ file: PATH }` or `{ literal: KEY }`.
    Tagged(TaggedKeySource),
}

/// A tagged API key source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum TaggedKeySource {
    /// The name of an environment variable holding the key.
    Env(String),
    /// A file holding the key (`~` is expanded, surrounding white space trimmed).
    File(String),
    /// The key itself. Allowed, but a manifest is usually version-controlled: prefer `env` or `file`.
    Literal(#[schemars(with = "String")] SecretString),
}

impl<'de> Deserialize<'de> for ApiKeySource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = ApiKeySource;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`{ env: NAME }`, `{ file: PATH }`, `{ literal: KEY }` or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ApiKeySource, E> {
                Ok(ApiKeySource::Bare(SecretString::from(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ApiKeySource, A::Error> {
                TaggedKeySource::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ApiKeySource::Tagged)
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// `foreach:`: a CSV file, or a cohort of files found by a pattern.
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
pub enum Foreach {
    /// A CSV file (relative to the manifest): one item per row.
    Csv(String),
    /// `{ files: PATTERN }`: one item per matching file.
    Files(FilesForeach),
}

/// `foreach: { files: PATTERN }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilesForeach {
    /// A glob relative to the manifest (`*`, `**`, `?`, `[...]`) in which `{name}` captures
    /// part of one path segment; the captures (and `file`, the matched path) become the
    /// item's variables and the captures joined by `-` its key.
    #[schemars(with = "String", length(min = 1))]
    pub files: Spanned<String>,
}

impl<'de> Deserialize<'de> for Foreach {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ForeachVisitor;
        impl<'de> Visitor<'de> for ForeachVisitor {
            type Value = Foreach;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CSV file or `{ files: PATTERN }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Foreach, E> {
                Ok(Foreach::Csv(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Foreach, A::Error> {
                FilesForeach::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Foreach::Files)
            }
        }
        deserializer.deserialize_any(ForeachVisitor)
    }
}

/// A scalar as written in YAML: the value of a matrix variable or of an input.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A string (a template, where templates apply).
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// A number, kept as written (`08`, `010`, `1e3`, `1.50`): VIP receives this text, keys
    /// and templates use it, and typed checks parse it (`load` puts the source text back;
    /// until then it is the parsed value's spelling).
    Number(String),
    /// `.inf` or `.nan`: never a valid value.
    NotFinite,
    /// `null`, `~` or nothing: never valid where a value is required.
    Null,
}

impl JsonSchema for Scalar {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A string, a number or a boolean.",
            "type": ["string", "number", "integer", "boolean"]
        })
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, a number or a boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(if v.is_finite() {
            Scalar::Number(v.to_string())
        } else {
            Scalar::NotFinite
        })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// The value of one pipeline input: a scalar, or a list of scalars (each with its location).
#[derive(Debug)]
pub enum InputValue {
    /// One value.
    Scalar(Scalar),
    /// Several values: VIP runs one job per element (one execution).
    List(Vec<Spanned<Scalar>>),
}

impl JsonSchema for InputValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "InputValue".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let scalar = generator.subschema_for::<Scalar>();
        json_schema!({
            "description": "A value (strings are templates: local file, /vip/ path, platformId:id, or text), or a list of values.",
            "anyOf": [scalar, {"type": "array", "items": scalar}]
        })
    }
}

impl<'de> Deserialize<'de> for InputValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputVisitor;
        impl<'de> Visitor<'de> for InputVisitor {
            type Value = InputValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number, a boolean or a list of them")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InputValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Scalar>>()? {
                    items.push(item);
                }
                Ok(InputValue::List(items))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InputValue, E> {
                ScalarVisitor.visit_str(v).map(InputValue::Scalar)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<InputValue, E> {
                ScalarVisitor.visit_string(v).map(InputValue::Scalar)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<InputValue, E> {
                ScalarVisitor.visit_bool(v).map(InputValue::Scalar)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<InputValue, E> {
                ScalarVisitor.visit_i64(v).map(InputValue::Scalar)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<InputValue, E> {
                ScalarVisitor.visit_u64(v).map(InputValue::Scalar)
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<InputValue, E> {
                ScalarVisitor.visit_i128(v).map(InputValue::Scalar)
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<InputValue, E> {
                ScalarVisitor.visit_u128(v).map(InputValue::Scalar)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<InputValue, E> {
                ScalarVisitor.visit_f64(v).map(InputValue::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<InputValue, E> {
                Ok(InputValue::Scalar(Scalar::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<InputValue, E> {
                Ok(InputValue::Scalar(Scalar::Null))
            }
        }
        deserializer.deserialize_any(InputVisitor)
    }
}

/// One `include` or `exclude` entry: variable → value.
pub type MatrixEntry = Spanned<IndexMap<String, Spanned<Scalar>>>;

/// One matrix variable: its name and its values, each with its location.
pub type Axis = (Spanned<String>, Spanned<Vec<Spanned<Scalar>>>);

/// `matrix:`: variables with their lists of values, plus optional `include` / `exclude`.
#[derive(Debug, Default)]
pub struct Matrix {
    /// Variable name (with its location) → values (the list and each value with its location).
    pub axes: Vec<Axis>,
    /// Combinations removed after the cross product.
    pub exclude: Vec<MatrixEntry>,
    /// Combinations extended or added after `exclude`.
    pub include: Vec<MatrixEntry>,
}

impl JsonSchema for Matrix {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Matrix".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let scalar = generator.subschema_for::<Scalar>();
        let entry = json_schema!({
            "type": "object",
            "additionalProperties": scalar,
            "minProperties": 1
        });
        json_schema!({
            "description": "Variables, each with a list of values: one execution per combination. `exclude` removes combinations; `include` extends or adds them (GitHub Actions semantics).",
            "type": "object",
            "properties": {
                "include": {"type": "array", "items": entry.clone(), "description": "Combinations to extend or add."},
                "exclude": {"type": "array", "items": entry, "description": "Combinations to remove."}
            },
            "additionalProperties": {"type": "array", "items": scalar, "minItems": 1},
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
        })
    }
}

impl<'de> Deserialize<'de> for Matrix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MatrixVisitor;
        impl<'de> Visitor<'de> for MatrixVisitor {
            type Value = Matrix;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of variable names to lists of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Matrix, A::Error> {
                let mut matrix = Matrix::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "include" => matrix.include = map.next_value()?,
                        "exclude" => matrix.exclude = map.next_value()?,
                        _ => {
                            let values = map.next_value()?;
                            matrix.axes.push((key, values));
                        }
                    }
                }
                Ok(matrix)
            }
        }
        deserializer.deserialize_map(MatrixVisitor)
    }
}

/// `results.download`: a folder template, or `false` for no download.
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
pub enum Download {
    /// A local folder (a template, relative to the manifest).
    Folder(String),
    /// `false`: leave results on VIP; `true`: the default folder.
    Enabled(bool),
}

impl<'de> Deserialize<'de> for Download {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DownloadVisitor;
        impl Visitor<'_> for DownloadVisitor {
            type Value = Download;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a local folder or `false`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Download, E> {
                Ok(Download::Folder(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Download, E> {
                Ok(Download::Enabled(v))
            }
        }
        deserializer.deserialize_any(DownloadVisitor)
    }
}

/// `results:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Results {
    /// `resultsLocation` on VIP (a template). Default: `/vip/Home/vip-run/{{ name }}`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub location: Option<Spanned<String>>,
    /// Local folder for each item's outputs (a template, relative to the manifest), or `false`.
    /// Default: `results/{{ name }}/{{ item }}` (two manifests of one folder never share it).
    #[serde(default)]
    #[schemars(with = "Option<Download>")]
    pub download: Option<Spanned<Download>>,
    /// Unpack tarball outputs (refusing entries that would escape the folder). Default: `true`.
    #[serde(default)]
    pub extract: Option<bool>,
    /// Files every item must return besides the descriptor's non-optional outputs: names or
    /// globs (`*`, `?`, `**`), templates like the other fields (`{{ item }}.nii.gz`,
    /// `stats/*.csv`), matched against the returned files' names and, after the download,
    /// against the item's folder (unpacked archives included). An item without one fails
    /// with class `outputs_missing`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub expect: Option<Vec<Spanned<String>>>,
    /// After every successful run, delete on VIP what `vip-run clean` would: the uploaded
    /// inputs and the results folders of items downloaded and size-checked. Default: `false`.
    #[serde(default)]
    pub clean: Option<bool>,
}

/// One `collect:` entry: a table each item returns, and the study table it merges into.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectEntry {
    /// What the table is, for people (messages and `--output json`). Default: `to`.
    #[serde(default)]
    pub name: Option<String>,
    /// The file each item returns: a name or glob (`*`, `?`, `**`), a template like the other
    /// fields (`{{ item }}_stats.csv`), matched against the end of the paths in the item's
    /// download folder (unpacked archives included), as `results.expect` is. `.csv` is read
    /// as CSV, `.tsv` and `.tab` as TSV, each also gzip-compressed (`.csv.gz`).
    #[schemars(with = "String", length(min = 1))]
    pub from: Spanned<String>,
    /// The study table to write, relative to the manifest: `.csv` (comma-separated) or
    /// `.tsv` (tab-separated).
    #[schemars(with = "String", regex(pattern = r"\.([Cc][Ss][Vv]|[Tt][Ss][Vv])$"))]
    pub to: Spanned<String>,
    /// How to read the items' files when their names do not say (`stats.txt`): `csv` or
    /// `tsv`. Given, it applies to every file `from` matches.
    #[serde(default)]
    #[schemars(with = "Option<TableFormat>")]
    pub format: Option<Spanned<TableFormat>>,
}

/// `execution:`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// Executions running at once (VIP's default per-user quota is 1). Default: 1.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub max_parallel: Option<Spanned<u64>>,
    /// Most jobs one execution may have: a list given to a parameter makes one execution
    /// whose jobs iterate over the values (lists crossed, `vip:dot` inputs paired), and VIP's
    /// engine refuses a workflow over its limit, which it does not publish. Default: 500.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 100_000))]
    pub max_jobs: Option<Spanned<u64>>,
    /// How often to ask VIP for news, e.g. `30s`, `2m`. Default: `30s`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^\s*([0-9]+\s*(ms|s|m|h|d)\s*)+$")
    )]
    pub poll_interval: Option<Spanned<String>>,
    /// Time allowed per execution, e.g. `24h`, `90m`. Default: `24h`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^\s*([0-9]+\s*(ms|s|m|h|d)\s*)+$")
    )]
    pub timeout: Option<Spanned<String>>,
    /// Relaunch a failed execution up to this many times. Default: 0.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(max = 10))]
    pub retries: Option<Spanned<u64>>,
    /// Failure classes worth a relaunch (within `retries`): class names (`input_download`,
    /// `setup`, `worker`, `result_upload`, `container`, `token`, `stalled`, `killed`,
    /// `timed_out`, `outputs_missing`, `application`, `platform`, `cleaned`, `unknown`),
    /// `infrastructure` for the first six, or `all`. Default: `[infrastructure, stalled,
    /// timed_out]`: not `application`, whose relaunch repeats the same crash.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub retry_on: Option<Spanned<Vec<Spanned<String>>>>,
    /// How long an execution may stay Running with its jobs unchanged and none of them
    /// running (queued forever, held, stalled) before vip-run kills it as `stalled`, e.g.
    /// `6h`. Running jobs are bounded by `timeout`. Default: `6h`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^\s*([0-9]+\s*(ms|s|m|h|d)\s*)+$")
    )]
    pub stalled_after: Option<Spanned<String>>,
    /// Kill an execution on VIP when it times out (VIP ignores the launch's own timeout, so
    /// left alone it would keep its slot). Default: true.
    #[serde(default)]
    pub kill_on_timeout: Option<bool>,
    /// How long `run` waits out VIP being unreachable before it stops (exit 5, state kept
    /// for the next run), e.g. `1h`, `30m`. `--max-outage` overrides it. Default: `1h`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex(pattern = r"^\s*([0-9]+\s*(ms|s|m|h|d)\s*)+$")
    )]
    pub max_outage: Option<Spanned<String>>,
    /// Uploads and downloads at once (1 to 32); `--transfers` overrides it. Default: 4.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 32))]
    pub transfers: Option<Spanned<u64>>,
}

/// One channel of `notify:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(clippy::large_enum_variant)] // a handful per manifest, read once: boxing buys nothing
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Channel {
    /// A healthchecks.io-style ping URL: `<url>/start` when the run starts, `<url>` when it
    /// succeeds, `<url>/<exit code>` when it fails, `<url>/log` when an execution stalls.
    /// Default events: `[start, end]`.
    Healthchecks(Healthchecks),
    /// A JSON POST (schema `vip-run.notify/1`), or with `format: slack` (or `mattermost`)
    /// Slack's `{"text": …}`. Default events: `[failure, stall]`.
    Webhook(Webhook),
    /// A mail through an SMTP relay (STARTTLS unless `starttls: false`). Default events:
    /// `[failure, stall]`.
    Email(Email),
}

/// `notify: - healthchecks:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthchecks {
    /// The ping URL (`https://hc-ping.com/<uuid>`). Give exactly one of `url`, `url_env`,
    /// `url_file`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<SecretString>>,
    /// The environment variable holding the ping URL.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url_env: Option<Spanned<String>>,
    /// A file holding the ping URL (`~` expanded, relative to the manifest).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url_file: Option<Spanned<String>>,
    /// When to ping: `start`, `end`, `failure`, `stall`. Default: `[start, end]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `notify: - webhook:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The URL to POST to. A Slack or Mattermost hook's URL is its password: prefer
    /// `url_env` or `url_file`. Give exactly one of `url`, `url_env`, `url_file`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<SecretString>>,
    /// The environment variable holding the URL.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url_env: Option<Spanned<String>>,
    /// A file holding the URL (`~` expanded, relative to the manifest).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url_file: Option<Spanned<String>>,
    /// `json` (the `vip-run.notify/1` document, default), `slack` or `mattermost`
    /// (`{"text": …}`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub format: Option<Spanned<String>>,
    /// Extra headers, each read from an environment variable when sent, e.g.
    /// `{ Authorization: HOOK_AUTH }`.
    #[serde(default)]
    #[schemars(with = "Option<IndexMap<String, String>>")]
    pub headers_env: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// When to post: `start`, `end`, `failure`, `stall`. Default: `[failure, stall]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `notify: - email:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// The SMTP relay's host name.
    #[schemars(with = "String", length(min = 1))]
    pub host: Spanned<String>,
    /// The relay's port. Default: 587 (submission, with STARTTLS).
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub port: Option<Spanned<u64>>,
    /// Require STARTTLS (default `true`); `false` sends in clear, for a relay on this
    /// machine.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub starttls: Option<Spanned<bool>>,
    /// The sender, `vip-run@example.org` or `vip-run <vip-run@example.org>`.
    #[schemars(with = "String")]
    pub from: Spanned<String>,
    /// The recipients.
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub to: Spanned<Vec<Spanned<String>>>,
    /// The user name to log in with, if the relay wants one.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub username: Option<Spanned<String>>,
    /// The environment variable holding the password.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password_env: Option<Spanned<String>>,
    /// A file holding the password (`~` expanded, relative to the manifest).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password_file: Option<Spanned<String>>,
    /// Never allowed: read so that it can be refused pointing at its line (a password is
    /// not written in a manifest, which is usually version-controlled).
    #[serde(default)]
    #[schemars(skip)]
    pub password: Option<Spanned<SecretString>>,
    /// When to mail: `start`, `end`, `failure`, `stall`. Default: `[failure, stall]`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub events: Option<Spanned<Vec<Spanned<String>>>>,
}
