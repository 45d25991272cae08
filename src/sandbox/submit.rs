//! `POST /executions`'s checks, in VIP's order (docs/vip.md#input-rules), each failing with
//! VIP's code and status, and the expansion of the accepted inputs into jobs (cross product,
//! with `vip:dot` inputs paired, docs/vip.md#lists). Nothing here changes state: the scheduler
//! creates the run from the [`Launch`] this returns.

use axum::http::StatusCode;
use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::data::{Area, DataTree};
use super::errors::{ApiError, INPUT_CHARS_CAUSE, NAME_CAUSE};
use super::outputs::JobValues;
use super::world::{Level, RESULTS_DIRECTORY, World, overridden_inputs};
use crate::vip::rules;

/// The default of the hidden `results-directory` input.
const DEFAULT_RESULTS: &str = "/vip/Home";

/// CARMIN's status labels: a `status` in the body must be one of them.
const CARMIN_STATUSES: &[&str] = &[
    "Initializing",
    "Ready",
    "Running",
    "Finished",
    "InitializationFailed",
    "ExecutionFailed",
    "Unknown",
    "Killed",
];

/// An accepted launch.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub(crate) pipeline: usize,
    pub(crate) name: String,
    /// What the engine records: one string per input.
    pub(crate) recorded: IndexMap<String, Value>,
    /// One entry per job.
    pub(crate) jobs: Vec<JobValues>,
    /// The normalised results directory (a VIP path).
    pub(crate) results: String,
}

/// A parsed `POST /executions` body: name, pipeline id, input values, results location.
pub(crate) type Body = (String, String, Map<String, Value>, Option<String>);

/// Running-or-queued counts, for the capacity checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) platform: usize,
    pub(crate) platform_max: usize,
    pub(crate) user: usize,
    pub(crate) user_quota: u32,
}

/// Java's `toString()` of a JSON value, as VIP stringifies inputs. `None` for a null,
/// which VIP trips over (500).
fn java_string(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => java_number(n),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(java_string).collect();
            format!("[{}]", parts?.join(", "))
        }
        Value::Object(m) => {
            let parts: Option<Vec<String>> = m
                .iter()
                .map(|(k, v)| java_string(v).map(|v| format!("{k}={v}")))
                .collect();
            format!("{{{}}}", parts?.join(", "))
        }
    })
}

fn java_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = f.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let s = format!("{f:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_owned()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}

/// A scalar body field Jackson reads as a String: strings, numbers and booleans coerce;
/// arrays and objects make the body unreadable.
fn string_field(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(ApiError::spring(StatusCode::BAD_REQUEST)),
    }
}

/// Step 1: the body parses, `status` (if any) is a CARMIN label, and the three required
/// fields are there. Returns (name, pipeline id, input values, results location).
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Body, ApiError> {
    let malformed = || ApiError::spring(StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(bytes).map_err(|_| malformed())?;
    let Value::Object(body) = body else {
        return Err(malformed());
    };
    match body.get("status") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if CARMIN_STATUSES.contains(&s.as_str()) => {}
        Some(_) => return Err(malformed()),
    }
    let name = string_field(&body, "name")?;
    let pipeline = string_field(&body, "pipelineIdentifier")?;
    let inputs = match body.get("inputValues") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err(malformed()),
    };
    let results = string_field(&body, "resultsLocation")?;
    let name = name.ok_or_else(|| ApiError::null_field("name"))?;
    let pipeline = pipeline.ok_or_else(|| ApiError::null_field("pipelineIdentifier"))?;
    let inputs = inputs.ok_or_else(|| ApiError::null_field("inputValues"))?;
    Ok((name, pipeline, inputs, results))
}

/// Runs VIP's checks on a parsed body (steps 2–12) for the `user`th user.
pub(crate) fn check(
    world: &World,
    data: &DataTree,
    user_index: usize,
    parsed: Body,
    load: Load,
) -> Result<Launch, ApiError> {
    let (name, pipeline_id, inputs, results_location) = parsed;
    let user = &world.users[user_index];

    // 2. Every value, every list element, against the character set; a null is a crash.
    let mut values: IndexMap<String, Vec<String>> = IndexMap::new();
    for (key, value) in &inputs {
        let elements: Vec<String> = match value {
            Value::Array(items) => {
                let strings: Option<Vec<String>> = items.iter().map(java_string).collect();
                strings.ok_or_else(ApiError::internal)?
            }
            other => vec![java_string(other).ok_or_else(ApiError::internal)?],
        };
        for e in &elements {
            if e.is_empty() || rules::forbidden_input_char(e).is_some() {
                return Err(ApiError::coded(8009, &[key, INPUT_CHARS_CAUSE]));
            }
        }
        values.insert(key.clone(), elements);
    }

    // 3. resultsLocation wins over inputValues["results-directory"]; it is not checked.
    if let Some(location) = results_location {
        values.insert(RESULTS_DIRECTORY.to_owned(), vec![location]);
    }

    // 4. The name.
    if !rules::is_valid_execution_name(&name) {
        return Err(ApiError::coded(8019, &[NAME_CAUSE]));
    }

    // 5. The pipeline: well-formed, known and visible, and the caller in its group.
    if !pipeline_id.contains('/') {
        return Err(ApiError::coded(8005, &[&pipeline_id]));
    }
    let pipeline_index = world
        .pipelines
        .iter()
        .position(|p| p.id == pipeline_id && p.visible)
        .ok_or_else(|| ApiError::coded(8007, &[&pipeline_id]))?;
    let pipeline = &world.pipelines[pipeline_index];
    if !world.may_use(user, pipeline) {
        return Err(ApiError::coded(8008, &[&pipeline_id]));
    }

    // 6. Every input present, defaulted or optional; results-directory always defaulted.
    let descriptor = pipeline.descriptor();
    let mut resolved: IndexMap<String, Vec<String>> = IndexMap::new();
    for input in &descriptor.inputs {
        if let Some(v) = values.get(&input.id) {
            resolved.insert(input.id.clone(), v.clone());
        } else if let Some(default) = java_string(&input.default_value) {
            resolved.insert(input.id.clone(), vec![default]);
        } else if !input.optional && input.id != RESULTS_DIRECTORY {
            return Err(ApiError::coded(8018, &[&input.id]));
        }
    }
    let results_value = values
        .get(RESULTS_DIRECTORY)
        .cloned()
        .unwrap_or_else(|| vec![DEFAULT_RESULTS.to_owned()]);
    resolved.insert(RESULTS_DIRECTORY.to_owned(), results_value);

    // 7. Inputs VIP fills from others.
    for (target, source) in overridden_inputs(descriptor) {
        let value = resolved
            .get(&source)
            .cloned()
            .ok_or_else(|| ApiError::coded(8018, &[&source]))?;
        resolved.insert(target, value);
    }

    // 9. Capacity, platform first.
    if load.platform >= load.platform_max {
        return Err(ApiError::coded(2000, &[]));
    }
    if load.user >= load.user_quota as usize {
        return Err(ApiError::coded(2001, &[&load.user.to_string()]));
    }

    // 10. Expansion (`@@` splits, trimming), then File resolution and ACLs: all 8000.
    for elements in resolved.values_mut() {
        let split: Vec<String> = elements
            .iter()
            .flat_map(|e| {
                e.split("@@")
                    .map(|p| p.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        *elements = split;
    }
    let file_inputs: Vec<&str> = descriptor
        .inputs
        .iter()
        .filter(|i| i.kind == "File" && i.id != RESULTS_DIRECTORY)
        .map(|i| i.id.as_str())
        .collect();
    for id in &file_inputs {
        let Some(elements) = resolved.get(*id) else {
            continue;
        };
        if elements.is_empty() {
            return Err(ApiError::generic());
        }
        for e in elements {
            check_file_input(world, data, user_index, e)?;
        }
    }
    let results = check_results_directory(world, data, user_index, &resolved[RESULTS_DIRECTORY])?;

    // 11. A resource for this pipeline among the caller's resource groups.
    if !world.has_resource(user, pipeline) {
        return Err(ApiError::generic());
    }

    // 12. The engine: job expansion, dot lengths, job count.
    let jobs = expand(
        &resolved,
        &descriptor.dot_inputs(),
        world.engine.max_jobs_per_workflow,
    )?;
    if jobs.is_empty() {
        return Err(ApiError::generic());
    }

    let mut recorded: IndexMap<String, Value> = IndexMap::new();
    for (k, v) in &resolved {
        // A map keyed by input name: a list shows one element only (inferred,
        // docs/vip.md#execution).
        if let Some(last) = v.last() {
            recorded.insert(k.clone(), Value::String(last.clone()));
        }
    }
    for (k, v) in &values {
        if !recorded.contains_key(k)
            && let Some(last) = v.last()
        {
            recorded.insert(k.clone(), Value::String(last.trim().to_owned()));
        }
    }
    Ok(Launch {
        pipeline: pipeline_index,
        name,
        recorded,
        jobs,
        results,
    })
}

/// A File value: a VIP path the caller may read and that exists, or a reference to a
/// known external platform (`file:` passes untouched).
fn check_file_input(
    world: &World,
    data: &DataTree,
    user_index: usize,
    value: &str,
) -> Result<(), ApiError> {
    let user = &world.users[user_index];
    if rules::is_vip_path(value) {
        let located = data
            .locate(user_index, user, value)
            .map_err(|_| ApiError::generic())?;
        if located.area == Area::Root || !DataTree::exists(&located) {
            return Err(ApiError::generic());
        }
        return Ok(());
    }
    if rules::is_external_reference(value) {
        let prefix = value.split_once(':').map_or("", |(p, _)| p);
        if prefix == "file"
            || world
                .external_platforms
                .iter()
                .any(|p| p.identifier == prefix)
        {
            return Ok(());
        }
    }
    Err(ApiError::generic())
}

/// The results directory: one VIP path the caller may write below (it need not exist yet;
/// the sandbox creates it). External storages are not simulated, so an external results
/// directory is refused.
fn check_results_directory(
    world: &World,
    data: &DataTree,
    user_index: usize,
    elements: &[String],
) -> Result<String, ApiError> {
    let user = &world.users[user_index];
    let [value] = elements else {
        return Err(ApiError::generic());
    };
    if !rules::is_vip_path(value) {
        return Err(ApiError::generic());
    }
    let located = data
        .locate(user_index, user, value)
        .map_err(|_| ApiError::generic())?;
    let beginner_in_group = matches!(located.area, Area::Group(_)) && user.level == Level::Beginner;
    if located.area == Area::Root || beginner_in_group {
        return Err(ApiError::generic());
    }
    if let Some(fs) = &located.fs
        && fs.exists()
        && !fs.is_dir()
    {
        return Err(ApiError::generic());
    }
    Ok(located.vip)
}

/// One job per combination: every input is a list (a scalar is a list of one); `vip:dot`
/// inputs are paired element-wise (same length, else 8000) and crossed with the others.
fn expand(
    resolved: &IndexMap<String, Vec<String>>,
    dot: &[String],
    max_jobs: usize,
) -> Result<Vec<JobValues>, ApiError> {
    // Dimensions, in input order: a dot group counts once, where its first member is.
    let mut dimensions: Vec<Vec<&str>> = Vec::new();
    let mut dot_length: Option<usize> = None;
    let mut dot_placed = false;
    for (key, elements) in resolved {
        if dot.contains(key) {
            match dot_length {
                Some(n) if n != elements.len() => return Err(ApiError::generic()),
                _ => dot_length = Some(elements.len()),
            }
            if !dot_placed {
                dimensions.push(
                    resolved
                        .keys()
                        .filter(|k| dot.contains(k))
                        .map(String::as_str)
                        .collect(),
                );
                dot_placed = true;
            }
        } else {
            dimensions.push(vec![key.as_str()]);
        }
    }
    let length = |dim: &[&str]| resolved[dim[0]].len();
    // The count first, so a huge product is refused without building it.
    let total = dimensions
        .iter()
        .fold(1usize, |n, dim| n.saturating_mul(length(dim)));
    if total > max_jobs {
        return Err(ApiError::too_many_jobs(max_jobs, total));
    }
    let mut jobs: Vec<Vec<usize>> = vec![Vec::new()];
    for dim in &dimensions {
        let n = length(dim);
        let mut next = Vec::with_capacity(jobs.len() * n);
        for prefix in &jobs {
            for i in 0..n {
                let mut p = prefix.clone();
                p.push(i);
                next.push(p);
            }
        }
        jobs = next;
    }
    Ok(jobs
        .into_iter()
        .map(|picks| {
            let mut values = JobValues::new();
            for (dim, pick) in dimensions.iter().zip(picks) {
                for key in dim {
                    values.insert((*key).to_owned(), resolved[*key][pick].clone());
                }
            }
            // Keep the inputs in their original order.
            let mut ordered = JobValues::new();
            for key in resolved.keys() {
                if let Some(v) = values.get(key) {
                    ordered.insert(key.clone(), v.clone());
                }
            }
            ordered
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stringified_like_java() {
        let s = |v: Value| java_string(&v);
        assert_eq!(s(serde_json::json!(true)).unwrap(), "true");
        assert_eq!(s(serde_json::json!(5)).unwrap(), "5");
        assert_eq!(s(serde_json::json!(1.5)).unwrap(), "1.5");
        assert_eq!(s(serde_json::json!(1e-7)).unwrap(), "1.0E-7");
        assert_eq!(s(serde_json::json!(100.0)).unwrap(), "100.0");
        assert_eq!(s(serde_json::json!({"k": 1})).unwrap(), "{k=1}");
        assert!(s(Value::Null).is_none());
    }

    #[test]
    fn jobs_cross_lists_and_pair_dots() {
        let mut r: IndexMap<String, Vec<String>> = IndexMap::new();
        r.insert("a".into(), vec!["a1".into(), "a2".into()]);
        r.insert("d1".into(), vec!["x1".into(), "x2".into(), "x3".into()]);
        r.insert("s".into(), vec!["s".into()]);
        r.insert("d2".into(), vec!["y1".into(), "y2".into(), "y3".into()]);
        let jobs = expand(&r, &["d1".into(), "d2".into()], 500).unwrap();
        assert_eq!(jobs.len(), 6);
        assert_eq!(jobs[0]["a"], "a1");
        assert_eq!(jobs[0]["d1"], "x1");
        assert_eq!(jobs[0]["d2"], "y1");
        assert_eq!(jobs[4]["d1"], "x2");
        assert_eq!(jobs[4]["d2"], "y2");
        assert_eq!(jobs[4]["a"], "a2");
        assert_eq!(jobs[4].keys().collect::<Vec<_>>(), ["a", "d1", "s", "d2"]);
        r.insert("d2".into(), vec!["y1".into()]);
        assert!(expand(&r, &["d1".into(), "d2".into()], 500).is_err());
        assert_eq!(expand(&r, &[], 500).unwrap().len(), 6);
        // Over the engine's limit: refused with its message, before the jobs are built.
        let Err(ApiError::Json {
            status,
            code,
            message,
            ..
        }) = expand(&r, &[], 5)
        else {
            panic!("6 jobs over a limit of 5 must be refused");
        };
        assert_eq!((status.as_u16(), code), (400, 8000));
        assert_eq!(message, "Too many jobs (max:5, got:6) (Error code 8000)");
    }
}
