//! How a command that stopped on an error ends its JSON output: one last `summary` object,
//! as every command's output ends, so a script reading stdout alone learns that it failed,
//! why, and with which exit code. The error itself is printed on stderr by the caller.

use std::io::Write;

use serde_json::json;

use crate::time;

/// Writes the `summary` object of `command` (`null` when the command line is too wrong to
/// name one), which stopped with `error` (and its `help`, when there is one) and exits with
/// `exit_code`. The text is the error's own, which never holds the key.
pub fn render_json(
    out: &mut dyn Write,
    command: Option<&str>,
    exit_code: i32,
    error: &str,
    help: Option<&str>,
) -> std::io::Result<()> {
    let record = json!({
        "event": "summary",
        "command": command,
        "ok": false,
        "exit_code": exit_code,
        "error": error,
        "help": help,
        "at": time::rfc3339(time::now_ms()),
    });
    writeln!(out, "{record}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_command_ends_with_one_summary_object() {
        let mut out = Vec::new();
        render_json(
            &mut out,
            Some("run"),
            4,
            "the key is refused",
            Some("check it"),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], "summary");
        assert_eq!(v["command"], "run");
        assert_eq!(v["ok"], false);
        assert_eq!(v["exit_code"], 4);
        assert_eq!(v["error"], "the key is refused");
        assert_eq!(v["help"], "check it");
    }
}
