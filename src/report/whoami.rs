//! What `whoami` prints: the server, where the key came from, the caller's groups and how many
//! pipelines they can run; for people aligned text, for tools one JSON object.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use super::OutputFormat;

/// What `whoami` learnt.
#[derive(Debug)]
pub struct Identity {
    /// The server asked.
    pub server: String,
    /// Where the key came from (never the key).
    pub key_source: String,
    /// The caller's groups, sorted.
    pub groups: Vec<String>,
    /// How many pipelines the caller can run.
    pub pipelines: usize,
}

/// Writes what `whoami` learnt.
pub fn render(out: &mut dyn Write, id: &Identity, format: OutputFormat) -> std::io::Result<()> {
    let Identity {
        server,
        key_source,
        groups,
        pipelines,
    } = id;
    let text = match format {
        OutputFormat::Json => {
            json!({
                "server": server,
                "api_key_source": key_source,
                "key_valid": true,
                "groups": groups,
                "pipelines": pipelines,
            })
            .to_string()
                + "\n"
        }
        OutputFormat::Human => {
            let mut s = String::new();
            let _ = writeln!(s, "server      {server}");
            let _ = writeln!(s, "api key     from {key_source}: accepted");
            let _ = writeln!(
                s,
                "groups      {}",
                if groups.is_empty() {
                    "(none)".to_owned()
                } else {
                    groups.join(", ")
                }
            );
            let _ = writeln!(
                s,
                "pipelines   {pipelines} you can run (`vip-run pipelines` lists them)"
            );
            s
        }
    };
    out.write_all(text.as_bytes())?;
    out.flush()
}
