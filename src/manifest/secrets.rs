//! Keeping the API key, and the secrets of `notify:`, out of diagnostics.
//!
//! A manifest may hold its key (`api_key: { literal: … }` or a bare string), a webhook's or a
//! ping's URL (`url:`, whose path is its token), or a password it is refused for. Error snippets
//! quote nearby lines, and serde messages sometimes quote values, so before any diagnostic
//! is built the key's text is found by a plain line scan (it must work on files that do not
//! even parse) and masked in the copy of the source that diagnostics quote; the scanned
//! values are also kept so rendered text can be scrubbed once more.

/// What stands in for a masked secret.
pub const MASK: char = '*';

/// Finds where a key may be written: the value of any `literal:` key, a bare `api_key:`
/// scalar that names no variable or file, and every value under `api_key:` (flow or block
/// form) except those of `env:` and `file:`, so even a misspelt tag (`literall:`) is masked;
/// and under a top-level `notify:`, every `url:` and `password:` value.
pub fn scan(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut offset = 0;
    // Indentation of an `api_key:` whose block mapping we are inside.
    let mut block: Option<usize> = None;
    // Whether we are inside the top-level `notify:` (block or flow form).
    let mut notify = false;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line.trim();
        if indent == 0 && !content.is_empty() && !content.starts_with(['#', '-']) {
            notify = find_key(line, "notify").is_some_and(|_| line.starts_with("notify"));
        }
        if notify {
            for (key, start, end) in key_values(line) {
                if key == "url" || key == "password" {
                    found.push((offset + start, offset + end));
                }
            }
        }
        if let Some(parent) = block {
            if content.is_empty() || content.starts_with('#') {
                offset += line.len();
                continue;
            }
            if indent <= parent {
                block = None;
            }
        }
        let mut entries = key_values(line);
        if block.is_some() {
            for (key, start, end) in entries.drain(..) {
                if key != "env" && key != "file" {
                    found.push((offset + start, offset + end));
                }
            }
        }
        for (key, start, end) in entries {
            if key == "literal" {
                found.push((offset + start, offset + end));
            } else if key == "api_key" {
                let value = &line[start..end];
                let names_source = value.contains('/')
                    || value.starts_with('~')
                    || value
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !names_source {
                    found.push((offset + start, offset + end));
                }
            }
        }
        // `api_key:` opening a flow mapping or a block.
        if let Some(pos) = find_key(line, "api_key") {
            let after = line[pos..].trim_start();
            if after.starts_with('{') {
                let open = line.len() - after.len();
                let close = after.find('}').map_or(line.len(), |c| open + c);
                for (key, start, end) in key_values(&line[open + 1..close]) {
                    if key != "env" && key != "file" {
                        found.push((offset + open + 1 + start, offset + open + 1 + end));
                    }
                }
            } else if after.is_empty() || after.starts_with('#') {
                block = Some(indent);
            }
        }
        offset += line.len();
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// The byte offset just after `key:` in `line`, when `key` stands there as a whole word.
fn find_key(line: &str, key: &str) -> Option<usize> {
    let mut search = 0;
    while let Some(pos) = line[search..].find(key) {
        let start = search + pos;
        search = start + key.len();
        let before_ok = line[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after = line[search..].trim_start_matches(['"', '\'']);
        if before_ok && let Some(rest) = after.trim_start().strip_prefix(':') {
            return Some(line.len() - rest.len());
        }
    }
    None
}

/// Every `key: scalar` in `line` (block or flow), as (key, value start, value end).
fn key_values(line: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b':'
            && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\n')
        {
            let key_end = i;
            let key_start = line[..key_end]
                .char_indices()
                .rev()
                .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '"' || c == '\''))
                .map_or(0, |(p, c)| p + c.len_utf8());
            let key = line[key_start..key_end]
                .trim_matches(['"', '\''])
                .to_owned();
            if let Some((s, e)) = scalar_bounds(&line[i + 1..]) {
                out.push((key, i + 1 + s, i + 1 + e));
            }
        }
        i += 1;
    }
    out
}

/// The byte range of the scalar at the start of `value` (after `key:`), quotes excluded;
/// nothing when the value is a mapping, a list or absent.
fn scalar_bounds(value: &str) -> Option<(usize, usize)> {
    let lead = value.len() - value.trim_start().len();
    let v = &value[lead..];
    let first = v.chars().next()?;
    match first {
        '[' => {
            let end = v.find(']').unwrap_or(v.trim_end().len());
            (end > 1).then_some((lead + 1, lead + end))
        }
        '{' | '\n' | '\r' | '#' | '|' | '>' | '&' | '*' | '!' => None,
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
    fn masks_misspelt_tags_and_block_forms() {
        let text = "api_key: { literall: K4-secret, env: VAR }\napi_key:\n  litral: K5-secret\n  env: VAR2\nname: x\n";
        let (masked, secrets) = mask(text);
        assert_eq!(secrets, ["K4-secret", "K5-secret"]);
        assert!(
            masked.contains("env: VAR }")
                && masked.contains("env: VAR2")
                && masked.contains("name: x")
        );
    }

    #[test]
    fn masks_notify_urls_and_passwords_only_under_notify() {
        let text = "server: https://vip.example/rest\nnotify:\n  - webhook: { url: https://hooks.example/T1/tok3n-a, format: slack }\n  - email:\n      host: smtp.example\n      password: \"pa55-b\"\n- healthchecks:\n    url: https://hc.example/tok3n-c\ninputs:\n  url: https://data.example/public\n";
        let (masked, secrets) = mask(text);
        assert_eq!(
            secrets,
            [
                "https://hooks.example/T1/tok3n-a",
                "pa55-b",
                "https://hc.example/tok3n-c"
            ]
        );
        assert!(!masked.contains("tok3n") && !masked.contains("pa55"));
        assert!(masked.contains("server: https://vip.example/rest"));
        assert!(masked.contains("url: https://data.example/public"));
        assert!(masked.contains("format: slack"));
    }

    #[test]
    fn leaves_other_keys_alone() {
        let (masked, secrets) = mask("literal_name: x\nmy_api_key: y\n");
        assert!(secrets.is_empty());
        assert_eq!(masked, "literal_name: x\nmy_api_key: y\n");
    }
}
