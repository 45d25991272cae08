//! What `pipelines` prints: the pipelines the caller can run, an aligned table for people or one
//! JSON object per pipeline.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::json;

use crate::vip::wire::Pipeline;

use super::OutputFormat;

/// Writes the list of pipelines (`query` as asked, for the empty case).
pub fn render(
    out: &mut dyn Write,
    list: &[Pipeline],
    query: Option<&str>,
    format: OutputFormat,
) -> std::io::Result<()> {
    let text = match format {
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
                let mut s = format!("{:width$}  NAME\n", "PIPELINE");
                for p in list {
                    let _ = writeln!(s, "{:width$}  {}", p.identifier, p.name);
                }
                s
            }
        }
    };
    out.write_all(text.as_bytes())?;
    out.flush()
}
