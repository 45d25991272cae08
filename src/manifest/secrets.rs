//! Keeping the API key out of diagnostics.
//!
//! A manifest may hold its key (`api_key: { literal: … }` or a bare string). Error snippets
//! quote nearby lines, and serde messages sometimes quote values, so before any diagnostic
//! is built the key's text is found by a plain line scan (it must work on files that do not
//! even parse) and masked in the copy of the source that diagnostics quote; the scanned
//! values are also kept so rendered text can be scrubbed once more.

/// What stands in for a masked secret.
pub const MASK: char = '*';

/// Finds the values of `literal:` keys and of `api_key:` scalars in `text`.
pub fn scan(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        for key in ["literal", "api_key"] {
            let mut search = 0;
            while let Some(pos) = line[search..].find(key) {
                let start = search + pos;
                search = start + key.len();
                let before_ok = line[..start]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                let after = line[search..].trim_start_matches(['"', '\'']);
                let Some(value) = after.trim_start().strip_prefix(':') else {
                    continue;
                };
                if !before_ok {
                    continue;
                }
                let value_start = line.len() - value.len();
                if let Some((s, e)) = scalar_bounds(value) {
                    // A bare `api_key:` naming a variable or a file shows no secret.
                    let v = &value[s..e];
                    let names_source = v.contains('/')
                        || v.starts_with('~')
                        || v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                    if key == "literal" || !names_source {
                        found.push((offset + value_start + s, offset + value_start + e));
                    }
                }
            }
        }
        offset += line.len();
    }
    found
}

/// The byte range of the scalar at the start of `value` (after `key:`), quotes excluded;
/// nothing when the value is a mapping, a list or absent.
fn scalar_bounds(value: &str) -> Option<(usize, usize)> {
    let lead = value.len() - value.trim_start().len();
    let v = &value[lead..];
    let first = v.chars().next()?;
    match first {
        '{' | '[' | '\n' | '\r' | '#' | '|' | '>' | '&' | '*' | '!' => None,
        '"' | '\'' => {
            let end = v[1..].find(first).map_or(v.trim_end().len(), |e| e + 1);
            (end > 1).then_some((lead + 1, lead + end))
        }
        _ => {
            let end = v
                .find([',', '}', ']', '\n', '\r'])
                .unwrap_or(v.len())
                .min(v.find(" #").unwrap_or(v.len()));
            let trimmed = v[..end].trim_end().len();
            (trimmed > 0).then_some((lead, lead + trimmed))
        }
    }
}

/// Returns `text` with every scanned secret replaced by [`MASK`] characters (same length in
/// characters, so columns in diagnostics stay right), and the secrets themselves.
pub fn mask(text: &str) -> (String, Vec<String>) {
    let ranges = scan(text);
    if ranges.is_empty() {
        return (text.to_owned(), Vec::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut secrets = Vec::new();
    let mut last = 0;
    for (start, end) in ranges {
        if start < last {
            continue;
        }
        out.push_str(&text[last..start]);
        let secret = &text[start..end];
        out.extend(std::iter::repeat_n(MASK, secret.chars().count()));
        if !secret.trim().is_empty() {
            secrets.push(secret.to_owned());
        }
        last = end;
    }
    out.push_str(&text[last..]);
    (out, secrets)
}

/// Replaces each of `secrets` in `text` by `(redacted)`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.len() >= 4 {
            out = out.replace(secret.as_str(), "(redacted)");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_literal_and_bare_keys_in_every_spelling() {
        let text = "api_key: { literal: \"K1-secret\" }\napi_key: K2-secret # c\n  literal: 'K3-secret'\napi_key:\n  env: VIP_API_KEY\napi_key: MY_KEY_VAR\n";
        let (masked, secrets) = mask(text);
        assert_eq!(secrets, ["K1-secret", "K2-secret", "K3-secret"]);
        assert!(!masked.contains("secret"));
        assert!(masked.contains("env: VIP_API_KEY"));
        assert!(masked.contains("api_key: MY_KEY_VAR"));
        assert_eq!(masked.len(), text.len());
    }

    #[test]
    fn leaves_other_keys_alone() {
        let (masked, secrets) = mask("literal_name: x\nmy_api_key: y\n");
        assert!(secrets.is_empty());
        assert_eq!(masked, "literal_name: x\nmy_api_key: y\n");
    }
}
