//! VIP's JSON, as it travels (docs/vip.md#errors, #endpoints): the one set of types the client
//! reads and the sandbox writes, so the two cannot disagree.
//!
//! Field order is VIP's (the Python client depends on it for error bodies), every key VIP
//! always writes is written even when null, and reading is lenient: unknown fields are
//! ignored and fields VIP may omit default.
//!
//! One file, a little over the usual size, on purpose: it is the whole contract between
//! client and simulator, and reading it in one place is what keeps the two in step.

use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An error body: exactly `errorCode` then `errorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// VIP's error code (8000…, 2000…).
    pub error_code: i64,
    /// The message, usually ending in ` (Error code N)`.
    pub error_message: String,
}

/// `GET /platform`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(clippy::struct_field_names)]
pub struct Platform {
    /// `VIP`.
    #[serde(rename = "platformName", default)]
    pub platform_name: Option<String>,
    /// Every error code with its raw template.
    #[serde(rename = "APIErrorCodesAndMessages", default)]
    pub api_error_codes_and_messages: Vec<ErrorBody>,
    /// `["https"]`.
    #[serde(rename = "supportedTransferProtocols", default)]
    pub supported_transfer_protocols: Vec<String>,
    /// `["Processing", "Data"]`.
    #[serde(rename = "supportedModules", default)]
    pub supported_modules: Vec<String>,
    /// The cap on `GET /executions?limit=`.
    #[serde(rename = "defaultLimitListExecutions", default)]
    pub default_limit_list_executions: Option<u64>,
    /// Support address.
    #[serde(default)]
    pub email: Option<String>,
    /// Free text.
    #[serde(rename = "platformDescription", default)]
    pub platform_description: Option<String>,
    /// Always null on VIP.
    #[serde(rename = "minAuthorizedExecutionTimeout", default)]
    pub min_authorized_execution_timeout: Option<i64>,
    /// Always null on VIP.
    #[serde(rename = "maxAuthorizedExecutionTimeout", default)]
    pub max_authorized_execution_timeout: Option<i64>,
    /// `["playExecution"]`.
    #[serde(rename = "unsupportedMethods", default)]
    pub unsupported_methods: Vec<String>,
    /// The download cap, in bytes.
    #[serde(rename = "maxSizeDirectTransfer", default)]
    pub max_size_direct_transfer: Option<u64>,
    /// Always null.
    #[serde(rename = "defaultStudy", default)]
    pub default_study: Option<String>,
    /// `"0.3"`.
    #[serde(rename = "supportedAPIVersion", default)]
    pub supported_api_version: Option<String>,
    /// OIDC providers (opaque).
    #[serde(rename = "oidcLoginProviders", default)]
    pub oidc_login_providers: Vec<Value>,
}

/// `POST /authenticate` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthenticateRequest {
    /// The account's e-mail.
    pub username: Option<String>,
    /// The password.
    pub password: Option<String>,
}

/// `POST /authenticate` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateResponse {
    /// The header to send the key in (`apikey`).
    pub http_header: String,
    /// The key.
    pub http_header_value: String,
}

/// A pipeline parameter's type as VIP names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterType {
    /// A VIP path or an external reference.
    File,
    /// Text.
    String,
    /// `true` / `false`.
    Boolean,
    /// An integer.
    Int64,
    /// A number.
    Double,
    /// A list (element type only in the Boutiques descriptor).
    List,
    /// Anything else VIP may send one day.
    Other(String),
}

impl ParameterType {
    /// VIP's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::File => "File",
            Self::String => "String",
            Self::Boolean => "Boolean",
            Self::Int64 => "Int64",
            Self::Double => "Double",
            Self::List => "List",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for ParameterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ParameterType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ParameterType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "File" => Self::File,
            "String" => Self::String,
            "Boolean" => Self::Boolean,
            "Int64" => Self::Int64,
            "Double" => Self::Double,
            "List" => Self::List,
            _ => Self::Other(s),
        })
    }
}

/// One input parameter of a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// The key to use in `inputValues` (the Boutiques input id).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ParameterType,
    /// Whether it may be left out.
    #[serde(default)]
    pub is_optional: bool,
    /// Always false on VIP.
    #[serde(default)]
    pub is_returned_value: bool,
    /// The default VIP fills in, if any (any JSON value).
    #[serde(default)]
    pub default_value: Value,
    /// Free text (may hold HTML).
    #[serde(default)]
    pub description: Option<String>,
}

impl Parameter {
    /// The default, if there really is one (old servers sent a Velocity placeholder).
    pub fn default(&self) -> Option<&Value> {
        match &self.default_value {
            Value::Null => None,
            Value::String(s) if s == "$input.getDefaultValue()" => None,
            other => Some(other),
        }
    }
}

/// A pipeline: in the list (`parameters` empty) or in detail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// `Name/version`: key everything on this.
    pub identifier: String,
    /// The Boutiques name.
    pub name: String,
    /// HTML description (null in the list).
    #[serde(default)]
    pub description: Option<String>,
    /// The Boutiques tool-version.
    pub version: String,
    /// Inputs only.
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// Always true on VIP.
    #[serde(default)]
    pub can_execute: Option<bool>,
}

/// An execution's status (docs/vip.md#statuses). Never fails to parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    /// Queued in the engine: pending.
    Ready,
    /// CARMIN's "not started" (VIP never sends it): pending.
    Initializing,
    /// At least one job active.
    Running,
    /// Done, outputs final.
    Finished,
    /// Failed.
    ExecutionFailed,
    /// CARMIN's launch failure (VIP never sends it): failed.
    InitializationFailed,
    /// Killed.
    Killed,
    /// VIP lost track.
    Unknown,
    /// Anything else: treated as pending, with a warning.
    Other(String),
}

impl ExecutionStatus {
    /// VIP's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ready => "Ready",
            Self::Initializing => "Initializing",
            Self::Running => "Running",
            Self::Finished => "Finished",
            Self::ExecutionFailed => "ExecutionFailed",
            Self::InitializationFailed => "InitializationFailed",
            Self::Killed => "Killed",
            Self::Unknown => "Unknown",
            Self::Other(s) => s,
        }
    }

    /// Whether the execution will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Finished | Self::ExecutionFailed | Self::InitializationFailed | Self::Killed
        )
    }

    /// Whether it has not started running yet.
    pub fn is_pending(&self) -> bool {
        matches!(self, Self::Ready | Self::Initializing | Self::Other(_))
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ExecutionStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ExecutionStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from(s.as_str()))
    }
}

/// VIP's spelling of a status, read without a serde round trip (the runner reads stored
/// statuses many times a cycle). Never fails: an unknown spelling is `Other`.
impl From<&str> for ExecutionStatus {
    fn from(s: &str) -> Self {
        match s {
            "Ready" => Self::Ready,
            "Initializing" => Self::Initializing,
            "Running" => Self::Running,
            "Finished" => Self::Finished,
            "ExecutionFailed" => Self::ExecutionFailed,
            "InitializationFailed" => Self::InitializationFailed,
            "Killed" => Self::Killed,
            "Unknown" => Self::Unknown,
            _ => Self::Other(s.to_owned()),
        }
    }
}

/// The latest task of one invocation (docs/vip.md#jobs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// A `TaskStatus` name (`QUEUED`, `RUNNING`, `COMPLETED`, `ERROR`…).
    pub status: String,
    /// The exit code, once there is one.
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// Free text.
    #[serde(default)]
    pub exit_message: Option<String>,
}

/// How a task status counts in progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobClass {
    /// Submitted or queued.
    Pending,
    /// Running (or being replicated, rescheduled, killed).
    Active,
    /// Completed.
    Done,
    /// Error.
    Failed,
    /// Stalled or held.
    Stalled,
    /// Cancelled or deleted.
    Cancelled,
    /// Unknown string.
    Other,
}

impl Job {
    /// The class of this job's status.
    pub fn class(&self) -> JobClass {
        match self.status.as_str() {
            "SUCCESSFULLY_SUBMITTED" | "QUEUED" => JobClass::Pending,
            "RUNNING" | "REPLICATE" | "REPLICATING" | "REPLICATED" | "RESCHEDULE" | "KILL"
            | "KILL_REPLICA" => JobClass::Active,
            "COMPLETED" => JobClass::Done,
            "ERROR" | "ERROR_FINISHING" | "ERROR_RESUBMITTING" => JobClass::Failed,
            "STALLED"
            | "STALLED_FINISHING"
            | "STALLED_RESUBMITTING"
            | "ERROR_HELD"
            | "STALLED_HELD"
            | "UNHOLD_ERROR"
            | "UNHOLD_STALLED" => JobClass::Stalled,
            "CANCELLED" | "CANCELLED_REPLICA" | "DELETED" | "DELETED_REPLICA" => {
                JobClass::Cancelled
            }
            _ => JobClass::Other,
        }
    }
}

/// An execution, full or summary: every key present, in VIP's order, nulls written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// `workflow-…`.
    pub identifier: String,
    /// As submitted (null or missing: empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// `Name/version` (null or missing: empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub pipeline_identifier: String,
    /// Always 0.
    #[serde(default)]
    pub timeout: Option<i64>,
    /// The status.
    pub status: ExecutionStatus,
    /// What the engine recorded (empty in summaries).
    #[serde(default, deserialize_with = "null_as_default")]
    pub input_values: IndexMap<String, Value>,
    /// Output id → VIP paths; null until Finished/Killed unless partial outputs exist.
    /// Another shape (`[]`, as other CARMIN servers send) reads as no outputs listed.
    #[serde(default, deserialize_with = "lenient_returned_files")]
    pub returned_files: Option<IndexMap<String, Vec<String>>>,
    /// Always null.
    #[serde(default)]
    pub study_identifier: Option<String>,
    /// Always null.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Submission time, epoch milliseconds.
    #[serde(default)]
    pub start_date: Option<i64>,
    /// Always null.
    #[serde(default)]
    pub end_date: Option<i64>,
    /// Always null in responses.
    #[serde(default)]
    pub results_location: Option<String>,
    /// Invocation id → latest task (absent on servers before 4.4; null or odd: none).
    #[serde(default, deserialize_with = "lenient_jobs")]
    pub jobs: IndexMap<String, Job>,
}

/// A null where a value is expected reads as the type's default.
fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `returnedFiles`: VIP's map of lists; any other shape is read as "none listed" rather
/// than making the whole execution unreadable.
fn lenient_returned_files<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<IndexMap<String, Vec<String>>>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(match value {
        Value::Null => None,
        Value::Array(a) if a.is_empty() => Some(IndexMap::new()),
        other => serde_json::from_value(other).ok(),
    })
}

/// `jobs`: VIP's map of tasks; another shape reads as no jobs shown.
fn lenient_jobs<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, Job>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// `POST /executions` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateExecution {
    /// Execution name (`^[0-9A-Za-z_ -]+$`).
    pub name: Option<String>,
    /// `Name/version`.
    pub pipeline_identifier: Option<String>,
    /// Parameter → string, boolean, or list of strings.
    pub input_values: Option<IndexMap<String, Value>>,
    /// Where outputs go (default `/vip/Home`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_location: Option<String>,
}

/// `PUT /executions/{id}/delete` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteExecution {
    /// Also delete the outputs (required).
    pub delete_files: Option<bool>,
}

/// A data path's properties (docs/vip.md#properties).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathProperties {
    /// Absolute VIP path.
    pub path: String,
    /// Epoch seconds (day precision for files).
    #[serde(default)]
    pub last_modification_date: Option<i64>,
    /// Null for a missing path.
    #[serde(default)]
    pub is_directory: Option<bool>,
    /// False only from `properties` on a missing path.
    #[serde(default = "yes")]
    pub exists: bool,
    /// Bytes for files; entry count for directories.
    #[serde(default)]
    pub size: Option<u64>,
    /// Always null.
    #[serde(default)]
    pub execution_id: Option<String>,
    /// Guessed from the extension.
    #[serde(default)]
    pub mime_type: Option<String>,
}

fn yes() -> bool {
    true
}

impl PathProperties {
    /// What `?action=properties` answers for a path that does not exist (200, `exists: false`).
    pub fn missing(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            last_modification_date: None,
            is_directory: None,
            exists: false,
            size: None,
            execution_id: None,
            mime_type: None,
        }
    }
}

/// `GET /path/…?action=exists`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Exists {
    /// Whether the path exists.
    pub exists: bool,
}

/// `PUT /path/…` with `application/carmin+json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Base64Upload {
    /// `File` or `Archive` (case-insensitive).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The content, base64.
    pub base64_content: Option<String>,
    /// Ignored by VIP.
    #[serde(default)]
    pub md5: Option<String>,
}

/// The part of a Boutiques descriptor vip-run reads (docs/vip.md#pipelines).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Descriptor {
    /// Tool name.
    #[serde(default)]
    pub name: String,
    /// Tool version.
    #[serde(rename = "tool-version", default)]
    pub tool_version: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Inputs.
    #[serde(default)]
    pub inputs: Vec<DescriptorInput>,
    /// Outputs: their ids are the keys of `returnedFiles`.
    #[serde(rename = "output-files", default)]
    pub output_files: Vec<DescriptorOutput>,
    /// VIP extensions (`vip:dot`, `vip:overriddenInputs`…).
    #[serde(default)]
    pub custom: Value,
    /// Groups of inputs with a rule between their members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<DescriptorGroup>,
    /// Every other field, kept so that a descriptor written back (the lock file) is the one
    /// VIP served.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// A Boutiques group of inputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DescriptorGroup {
    /// Its id (`requires-inputs` may name it).
    pub id: String,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// Input ids.
    #[serde(default)]
    pub members: Vec<String>,
    /// At most one member may be given.
    #[serde(
        rename = "mutually-exclusive",
        default,
        skip_serializing_if = "is_false"
    )]
    pub mutually_exclusive: bool,
    /// At least one member must be given.
    #[serde(rename = "one-is-required", default, skip_serializing_if = "is_false")]
    pub one_is_required: bool,
    /// Every member or none.
    #[serde(rename = "all-or-none", default, skip_serializing_if = "is_false")]
    pub all_or_none: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

/// A Boutiques input.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(clippy::struct_excessive_bools)] // Boutiques' own flags, one field each
pub struct DescriptorInput {
    /// The parameter name used in `inputValues`.
    pub id: String,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// `File`, `String`, `Flag`, `Number`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A list of values.
    #[serde(default)]
    pub list: bool,
    /// May be left out.
    #[serde(default)]
    pub optional: bool,
    /// An integer `Number`.
    #[serde(default)]
    pub integer: bool,
    /// The default.
    #[serde(rename = "default-value", default)]
    pub default_value: Value,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The only values allowed.
    #[serde(
        rename = "value-choices",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub value_choices: Vec<Value>,
    /// Smallest number allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest number allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// `minimum` itself is not allowed.
    #[serde(
        rename = "exclusive-minimum",
        default,
        skip_serializing_if = "is_false"
    )]
    pub exclusive_minimum: bool,
    /// `maximum` itself is not allowed.
    #[serde(
        rename = "exclusive-maximum",
        default,
        skip_serializing_if = "is_false"
    )]
    pub exclusive_maximum: bool,
    /// Fewest list elements.
    #[serde(
        rename = "min-list-entries",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub min_list_entries: Option<u64>,
    /// Most list elements.
    #[serde(
        rename = "max-list-entries",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_list_entries: Option<u64>,
    /// Inputs (or a group's id) that must be given with this one.
    #[serde(
        rename = "requires-inputs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub requires_inputs: Vec<String>,
    /// Inputs that may not be given with this one.
    #[serde(
        rename = "disables-inputs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub disables_inputs: Vec<String>,
    /// Every other field (`value-key`, `command-line-flag`…), kept as served.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// A Boutiques output.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DescriptorOutput {
    /// The key in `returnedFiles`.
    pub id: String,
    /// Human name.
    #[serde(default)]
    pub name: String,
    /// File name pattern.
    #[serde(rename = "path-template", default)]
    pub path_template: String,
    /// Every other field, kept as served.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

impl DescriptorOutput {
    /// Whether the descriptor marks it `optional` (an execution may end without it).
    pub fn is_optional(&self) -> bool {
        self.rest
            .get("optional")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

impl DescriptorInput {
    /// VIP's type for one value of this input (docs/vip.md#pipelines): `Flag` is Boolean, an
    /// integer `Number` Int64, another `Number` Double.
    pub fn element_type(&self) -> ParameterType {
        match self.kind.as_str() {
            "File" => ParameterType::File,
            "String" => ParameterType::String,
            "Flag" => ParameterType::Boolean,
            "Number" if self.integer => ParameterType::Int64,
            "Number" => ParameterType::Double,
            other => ParameterType::Other(other.to_owned()),
        }
    }

    /// VIP's parameter type: `List` for a list (the element type is hidden), else
    /// [`DescriptorInput::element_type`].
    pub fn parameter_type(&self) -> ParameterType {
        if self.list {
            ParameterType::List
        } else {
            self.element_type()
        }
    }
}

impl Descriptor {
    /// The input `id`.
    pub fn input(&self, id: &str) -> Option<&DescriptorInput> {
        self.inputs.iter().find(|i| i.id == id)
    }

    /// The inputs named in `custom."vip:dot"` (paired element-wise).
    pub fn dot_inputs(&self) -> Vec<String> {
        self.custom
            .get("vip:dot")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_read_what_vip_sends() {
        let text = r#"{"identifier":"workflow-Ab12Cd","name":"cquest run 1","pipelineIdentifier":"CQUEST/0.6","timeout":0,"status":"Finished",
 "inputValues":{"zipped_folder":"/vip/Home/a.zip","iterations":"200"},
 "returnedFiles":{"results":["/vip/Home/out/02-02-2026_09:21:23/001/results.tgz"]},
 "studyIdentifier":null,"errorCode":null,"startDate":1770024083000,"endDate":null,"resultsLocation":null,
 "jobs":{"0":{"status":"COMPLETED","exitCode":0,"exitMessage":null}},"extra":1}"#;
        let e: Execution = serde_json::from_str(text).unwrap();
        assert_eq!(e.status, ExecutionStatus::Finished);
        assert!(e.status.is_terminal());
        assert_eq!(e.start_date, Some(1_770_024_083_000));
        assert_eq!(e.jobs["0"].class(), JobClass::Done);
        let summary: Execution = serde_json::from_str(
            r#"{"identifier":"w","name":"n","pipelineIdentifier":"p","timeout":0,"status":"Paused","inputValues":{},"returnedFiles":{},"studyIdentifier":null,"errorCode":null,"startDate":null,"endDate":null,"resultsLocation":null}"#,
        )
        .unwrap();
        assert_eq!(summary.status, ExecutionStatus::Other("Paused".into()));
        assert!(summary.status.is_pending());
    }

    #[test]
    fn executions_write_every_key_in_vips_order() {
        let e: Execution =
            serde_json::from_str(r#"{"identifier":"w","status":"Running"}"#).unwrap();
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"identifier":"w","name":"","pipelineIdentifier":"","timeout":null,"status":"Running","inputValues":{},"returnedFiles":null,"studyIdentifier":null,"errorCode":null,"startDate":null,"endDate":null,"resultsLocation":null,"jobs":{}}"#
        );
    }

    #[test]
    fn error_bodies_keep_their_order() {
        let body = ErrorBody {
            error_code: 8002,
            error_message: "Bad credentials".into(),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"errorCode":8002,"errorMessage":"Bad credentials"}"#
        );
    }

    #[test]
    fn parameters_with_placeholder_defaults_have_none() {
        let p: Parameter = serde_json::from_str(
            r#"{"name":"x","type":"Int64","isOptional":true,"isReturnedValue":false,"defaultValue":"$input.getDefaultValue()","description":null}"#,
        )
        .unwrap();
        assert_eq!(p.kind, ParameterType::Int64);
        assert!(p.default().is_none());
    }
}
