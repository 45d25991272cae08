//! One typed method of the [`Client`] per call of VIP's REST dialect (docs/vip.md): the
//! platform, pipelines, executions and their logs, and the data namespace (listings,
//! folders, deletions). How a call is sent, retried and its answer read is in
//! [`super::client`]; streamed file contents are in [`super::transfer`].

use reqwest::Method;

use super::client::{Call, Client, MAX_LIST_LIMIT};
use super::encode;
use super::retry::Class;
use super::vip_error::VipError;
use super::wire::{
    CreateExecution, DeleteExecution, Descriptor, Execution, Exists, PathProperties, Pipeline,
    Platform,
};

impl Client {
    // --- platform and pipelines -------------------------------------------------------

    /// `GET /platform`.
    pub async fn platform(&self) -> Result<Platform, VipError> {
        self.json(Self::get("/platform".into(), &[])).await
    }

    /// `GET /pipelines`: the pipelines the caller may run.
    pub async fn pipelines(&self) -> Result<Vec<Pipeline>, VipError> {
        self.json(Self::get("/pipelines".into(), &[])).await
    }

    /// `GET /pipelines/{name}/{version}`: a pipeline and its input parameters.
    pub async fn pipeline(&self, id: &str) -> Result<Pipeline, VipError> {
        let path = encode::pipeline_path(id).map_err(VipError::Config)?;
        self.json(Self::get(path, &[])).await
    }

    /// `GET /pipelines?pipelineId=…`: works for any id, tells 8007 from 8008.
    pub async fn pipeline_by_query(&self, id: &str) -> Result<Pipeline, VipError> {
        self.json(Self::get("/pipelines".into(), &[("pipelineId", id)]))
            .await
    }

    /// `GET /pipelines/{name}/{version}?format=boutiques`.
    pub async fn descriptor(&self, id: &str) -> Result<Descriptor, VipError> {
        let path = encode::pipeline_path(id).map_err(VipError::Config)?;
        self.json(Self::get(path, &[("format", "boutiques")])).await
    }

    // --- executions -------------------------------------------------------------------

    /// `POST /executions`: creates and starts. Never retried (see [`super::retry`]).
    pub async fn create_execution(&self, body: &CreateExecution) -> Result<Execution, VipError> {
        self.json(Call {
            method: Method::POST,
            path: "/executions".into(),
            query: &[],
            body: Some(serde_json::to_vec(body).expect("request bodies serialise")),
            content_type: Some("application/json"),
            class: Class::Launch,
        })
        .await
    }

    /// `GET /executions/{id}`.
    pub async fn execution(&self, id: &str) -> Result<Execution, VipError> {
        self.json(Self::get(
            format!("/executions/{}", encode::segment(id)),
            &[],
        ))
        .await
    }

    /// `GET /executions?limit=N`: summaries, most recent first (`N` ≤ 500).
    /// An entry that does not decode (an unknown shape, nulls, no identifier) is skipped
    /// with a note under `-v`: one odd execution must not blind every command.
    pub async fn executions(&self, limit: u32) -> Result<Vec<Execution>, VipError> {
        let limit = limit.clamp(1, MAX_LIST_LIMIT).to_string();
        let entries: Vec<serde_json::Value> = self
            .json(Self::get("/executions".into(), &[("limit", &limit)]))
            .await?;
        Ok(decode_entries(entries))
    }

    /// `GET /executions/count`.
    pub async fn execution_count(&self) -> Result<u64, VipError> {
        let text = self
            .text(Self::get("/executions/count".into(), &[]))
            .await?;
        text.trim().parse().map_err(|_| VipError::Decode {
            operation: "GET /executions/count".into(),
            detail: format!("not a number: {text:?}"),
        })
    }

    /// `GET /executions/{id}/results`.
    pub async fn results(&self, id: &str) -> Result<Vec<PathProperties>, VipError> {
        self.json(Self::get(
            format!("/executions/{}/results", encode::segment(id)),
            &[],
        ))
        .await
    }

    /// `GET /executions/{id}/stdout` or `stderr` (`None` for VIP's "no log" sentinels).
    pub async fn log(&self, id: &str, stream: LogStream) -> Result<Option<String>, VipError> {
        let text = self
            .text(Self::get(
                format!("/executions/{}/{}", encode::segment(id), stream.as_str()),
                &[],
            ))
            .await?;
        Ok(real_log(text))
    }

    /// `GET /executions/{id}/jobs/{invocation}/stdout` or `stderr`.
    pub async fn job_log(
        &self,
        id: &str,
        invocation: u64,
        stream: LogStream,
    ) -> Result<Option<String>, VipError> {
        let text = self
            .text(Self::get(
                format!(
                    "/executions/{}/jobs/{invocation}/{}",
                    encode::segment(id),
                    stream.as_str()
                ),
                &[],
            ))
            .await?;
        Ok(real_log(text))
    }

    /// `PUT /executions/{id}/kill`.
    pub async fn kill(&self, id: &str) -> Result<(), VipError> {
        self.empty(Call {
            method: Method::PUT,
            path: format!("/executions/{}/kill", encode::segment(id)),
            query: &[],
            body: None,
            content_type: None,
            class: Class::IdempotentWrite,
        })
        .await
    }

    /// `PUT /executions/{id}/delete` (only from Finished or Killed).
    pub async fn delete_execution(&self, id: &str, delete_files: bool) -> Result<(), VipError> {
        self.empty(Self::put_json(
            format!("/executions/{}/delete", encode::segment(id)),
            &DeleteExecution {
                delete_files: Some(delete_files),
            },
        ))
        .await
    }

    /// `PUT /executions/{id}`: renames (VIP applies only the name).
    pub async fn rename(&self, current: &Execution, name: &str) -> Result<Execution, VipError> {
        let mut body = current.clone();
        name.clone_into(&mut body.name);
        body.timeout = Some(0);
        self.json(Self::put_json(
            format!("/executions/{}", encode::segment(&current.identifier)),
            &body,
        ))
        .await
    }

    // --- data -------------------------------------------------------------------------

    /// `GET /path/…?action=exists`.
    pub async fn exists(&self, path: &str) -> Result<bool, VipError> {
        let answer: Exists = self
            .json(Self::get(encode::data_path(path), &[("action", "exists")]))
            .await?;
        Ok(answer.exists)
    }

    /// `GET /path/…?action=properties` (a missing path answers `exists: false`).
    pub async fn properties(&self, path: &str) -> Result<PathProperties, VipError> {
        self.json(Self::get(
            encode::data_path(path),
            &[("action", "properties")],
        ))
        .await
    }

    /// `GET /path/…?action=list`.
    pub async fn list(&self, path: &str) -> Result<Vec<PathProperties>, VipError> {
        self.json(Self::get(encode::data_path(path), &[("action", "list")]))
            .await
    }

    /// The caller's groups, from the `<Group> (group)` entries of `/vip`.
    pub async fn groups(&self) -> Result<Vec<String>, VipError> {
        let entries = self.list("/vip").await?;
        Ok(entries
            .iter()
            .filter_map(|e| {
                e.path
                    .strip_prefix("/vip/")
                    .and_then(|n| n.strip_suffix(" (group)"))
                    .map(str::to_owned)
            })
            .collect())
    }

    /// `PUT /path/…` with no body: creates one directory (its parent must exist).
    pub async fn mkdir(&self, path: &str) -> Result<(), VipError> {
        self.empty(Call {
            method: Method::PUT,
            path: encode::data_path(path),
            query: &[],
            body: Some(Vec::new()),
            content_type: None,
            class: Class::IdempotentWrite,
        })
        .await
    }

    /// Creates `path` and its missing parents, top-down, checking before creating.
    pub async fn mkdir_p(&self, path: &str) -> Result<(), VipError> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // `/vip` and its direct children exist and cannot be created.
        let mut missing_from = segments.len();
        for depth in (3..=segments.len()).rev() {
            let prefix = format!("/{}", segments[..depth].join("/"));
            if self.exists(&prefix).await? {
                break;
            }
            missing_from = depth - 1;
        }
        for depth in missing_from + 1..=segments.len() {
            self.mkdir(&format!("/{}", segments[..depth].join("/")))
                .await?;
        }
        Ok(())
    }

    /// `DELETE /path/…` (recursive, queued by VIP).
    pub async fn delete_path(&self, path: &str) -> Result<(), VipError> {
        self.empty(Call {
            method: Method::DELETE,
            path: encode::data_path(path),
            query: &[],
            body: None,
            content_type: None,
            class: Class::IdempotentWrite,
        })
        .await
    }
}

/// The entries of an execution list that decode; the others are noted and skipped.
fn decode_entries(entries: Vec<serde_json::Value>) -> Vec<Execution> {
    entries
        .into_iter()
        .filter_map(|entry| {
            let shown = entry.to_string();
            match serde_json::from_value::<Execution>(entry) {
                Ok(e) => Some(e),
                Err(why) => {
                    let short: String = shown.chars().take(160).collect();
                    tracing::info!(
                        "GET /executions: skipped an entry vip-run cannot read ({why}): {short}"
                    );
                    None
                }
            }
        })
        .collect()
}

/// Which log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStream {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// VIP answers 200 with a sentence when there is no log; those mean "none".
fn real_log(text: String) -> Option<String> {
    let t = text.trim();
    let sentinel = t == "no log found"
        || t == "jobId is required when multiple tasks exist"
        || (t.starts_with("no log found for job ") && t.len() < 40);
    (!sentinel).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_list_entries_are_skipped_not_fatal() {
        let entries: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"identifier":"w1","name":"a","status":"Running","returnedFiles":[]},
                {"identifier":"w2","name":null,"pipelineIdentifier":null,"status":"Teleported","inputValues":null,"jobs":null},
                {"identifier":null,"status":"Running"},
                {"name":"no id"},
                7,
                {"identifier":"w3","name":"b","status":"Finished"}]"#,
        )
        .unwrap();
        let ids: Vec<String> = decode_entries(entries)
            .into_iter()
            .map(|e| e.identifier)
            .collect();
        assert_eq!(ids, ["w1", "w2", "w3"]);
    }

    #[test]
    fn log_sentinels_mean_no_log() {
        assert_eq!(real_log("no log found".into()), None);
        assert_eq!(real_log("no log found for job 7".into()), None);
        assert_eq!(
            real_log("jobId is required when multiple tasks exist".into()),
            None
        );
        assert_eq!(
            real_log("[INFO] done\n".into()),
            Some("[INFO] done\n".into())
        );
    }
}
