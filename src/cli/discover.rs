//! `whoami`, `pipelines` and `pipeline`: what the key gives access to.

use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;
use serde_json::json;

use crate::error::Error;
use crate::manifest::suggest;
use crate::report::OutputFormat;
use crate::run::Connection;
use crate::run::preflight::strip_html;
use crate::vip::wire::{Descriptor, DescriptorInput, Parameter, ParameterType, Pipeline};
use crate::vip::{Meaning, VipError};

use super::Cli;

/// Turns a rejected key into the access error users understand.
pub(super) fn key_error(e: VipError, conn: &Connection) -> Error {
    match e.meaning() {
        Meaning::BadKey => Error::Access {
            message: format!(
                "the API key from {} was rejected by {}",
                conn.key_source, conn.server
            ),
            help: Some("check the key in the VIP portal (My Account → API key)".into()),
        },
        Meaning::NoKey => Error::Access {
            message: format!("no API key reached {}", conn.server),
            help: Some("a proxy may be stripping the `apikey` header".into()),
        },
        _ => Error::Vip(e),
    }
}

fn print(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// `whoami`.
pub async fn whoami(cli: &Cli) -> Result<(), Error> {
    let conn = Connection::open(&cli.connect_options(), None).await?;
    let result = async {
        let groups = conn
            .client
            .groups()
            .await
            .map_err(|e| key_error(e, &conn))?;
        let pipelines = conn
            .client
            .pipelines()
            .await
            .map_err(|e| key_error(e, &conn))?;
        Ok::<_, Error>((groups, pipelines))
    }
    .await;
    let server = conn.server.clone();
    let key_source = conn.key_source.clone();
    conn.close().await;
    let (mut groups, pipelines) = result?;
    groups.sort();
    let text = match cli.output {
        OutputFormat::Json => {
            json!({
                "server": server,
                "api_key_source": key_source,
                "key_valid": true,
                "groups": groups,
                "pipelines": pipelines.len(),
            })
            .to_string()
                + "\n"
        }
        OutputFormat::Human => {
            let mut out = String::new();
            let _ = writeln!(out, "server      {server}");
            let _ = writeln!(out, "api key     from {key_source}: accepted");
            let _ = writeln!(
                out,
                "groups      {}",
                if groups.is_empty() {
                    "(none)".to_owned()
                } else {
                    groups.join(", ")
                }
            );
            let _ = writeln!(
                out,
                "pipelines   {} you can run (`vip-run pipelines` lists them)",
                pipelines.len()
            );
            out
        }
    };
    print(&text)
}

/// `pipelines [QUERY]`.
pub async fn pipelines(cli: &Cli, query: Option<&str>) -> Result<(), Error> {
    let conn = Connection::open(&cli.connect_options(), None).await?;
    let result = conn
        .client
        .pipelines()
        .await
        .map_err(|e| key_error(e, &conn));
    conn.close().await;
    let mut list = result?;
    if let Some(q) = query {
        let q = q.to_lowercase();
        list.retain(|p| p.identifier.to_lowercase().contains(&q));
    }
    list.sort_by(|a, b| a.identifier.cmp(&b.identifier));
    let text = match cli.output {
        OutputFormat::Json => list
            .iter()
            .map(|p| {
                json!({"identifier": p.identifier, "name": p.name, "version": p.version})
                    .to_string()
                    + "\n"
            })
            .collect(),
        OutputFormat::Human => {
            if list.is_empty() {
                let what = query.map_or_else(String::new, |q| format!(" matching `{q}`"));
                format!(
                    "no pipelines{what} (your groups give access to the pipelines you can run)\n"
                )
            } else {
                let width = list
                    .iter()
                    .map(|p| p.identifier.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(10);
                let mut out = format!("{:width$}  NAME\n", "PIPELINE");
                for p in &list {
                    let _ = writeln!(out, "{:width$}  {}", p.identifier, p.name);
                }
                out
            }
        }
    };
    print(&text)
}

#[derive(Serialize)]
struct ParameterRecord<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: String,
    required: bool,
    default: Option<&'a serde_json::Value>,
    description: Option<String>,
}

/// A parameter's type, with the element type of lists from the descriptor.
pub(super) fn type_name(p: &Parameter, descriptor: &Descriptor) -> String {
    if p.kind != ParameterType::List {
        return p.kind.to_string();
    }
    let element = descriptor
        .inputs
        .iter()
        .find(|i| i.id == p.name)
        .map(DescriptorInput::element_type);
    match element {
        Some(e) => format!("List<{e}>"),
        None => "List".to_owned(),
    }
}

/// Fetches a pipeline and its descriptor, turning VIP's refusals into plain errors.
pub(super) async fn fetch(conn: &Connection, id: &str) -> Result<(Pipeline, Descriptor), Error> {
    let pipeline = conn.client.pipeline(id).await;
    let pipeline = match pipeline {
        Ok(p) => p,
        Err(e) => return Err(pipeline_error(e, conn, id).await),
    };
    let descriptor = conn.client.descriptor(id).await.map_err(Error::Vip)?;
    Ok((pipeline, descriptor))
}

async fn pipeline_error(e: VipError, conn: &Connection, id: &str) -> Error {
    match e.meaning() {
        Meaning::NotInGroup => Error::Access {
            message: format!(
                "you are not a member of the application group that gives access to {id}"
            ),
            help: Some("join it in the VIP portal (My Account → Groups)".into()),
        },
        Meaning::UnknownPipeline | Meaning::InvalidPipelineId => {
            let known = conn.client.pipelines().await.unwrap_or_default();
            let close = suggest::closest(id, known.iter().map(|p| p.identifier.as_str()), 3);
            Error::Usage(if close.is_empty() {
                format!(
                    "pipeline `{id}` does not exist on {} or is not available to you; `vip-run pipelines` lists the ones you can run",
                    conn.server
                )
            } else {
                format!(
                    "pipeline `{id}` does not exist on {} or is not available to you; did you mean {}?",
                    conn.server,
                    close
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            })
        }
        Meaning::Other if matches!(e, VipError::Config(_)) => Error::Usage(e.to_string()),
        _ => key_error(e, conn),
    }
}

/// `pipeline ID`.
pub async fn pipeline(cli: &Cli, id: &str) -> Result<(), Error> {
    let conn = Connection::open(&cli.connect_options(), None).await?;
    let result = fetch(&conn, id).await;
    conn.close().await;
    let (pipeline, descriptor) = result?;
    let records: Vec<ParameterRecord<'_>> = pipeline
        .parameters
        .iter()
        .map(|p| ParameterRecord {
            name: &p.name,
            kind: type_name(p, &descriptor),
            required: !p.is_optional && p.default().is_none(),
            default: p.default(),
            description: p.description.as_deref().map(strip_html),
        })
        .collect();
    let outputs: Vec<_> = descriptor
        .output_files
        .iter()
        .map(|o| json!({"id": o.id, "name": o.name, "path_template": o.path_template}))
        .collect();
    let text = match cli.output {
        OutputFormat::Json => {
            json!({
                "identifier": pipeline.identifier,
                "name": pipeline.name,
                "version": pipeline.version,
                "description": pipeline.description.as_deref().map(strip_html),
                "parameters": records,
                "outputs": outputs,
            })
            .to_string()
                + "\n"
        }
        OutputFormat::Human => {
            let mut out = String::new();
            let _ = writeln!(out, "{}", pipeline.identifier);
            if let Some(d) = pipeline.description.as_deref().map(strip_html) {
                let _ = writeln!(out, "  {}", d.trim());
            }
            let _ = writeln!(out, "\nparameters:");
            let w_name = records
                .iter()
                .map(|r| r.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let w_type = records
                .iter()
                .map(|r| r.kind.len())
                .max()
                .unwrap_or(4)
                .max(4);
            let _ = writeln!(
                out,
                "  {:w_name$}  {:w_type$}  {:8}  {:10}  DESCRIPTION",
                "NAME", "TYPE", "REQUIRED", "DEFAULT"
            );
            for r in &records {
                let default = r.default.map_or_else(
                    || "-".to_owned(),
                    |v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                );
                let _ = writeln!(
                    out,
                    "  {:w_name$}  {:w_type$}  {:8}  {:10}  {}",
                    r.name,
                    r.kind,
                    if r.required { "yes" } else { "no" },
                    default,
                    r.description.as_deref().unwrap_or("")
                );
            }
            if !descriptor.output_files.is_empty() {
                let _ = writeln!(out, "\noutputs:");
                for o in &descriptor.output_files {
                    let _ = writeln!(out, "  {}  {}", o.id, o.path_template);
                }
            }
            out
        }
    };
    print(&text)
}
