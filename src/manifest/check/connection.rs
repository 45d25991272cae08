//! How vip-run will reach VIP: where the API key comes from (`api_key`) and which server it
//! is sent to (`server`).
//!
//! Together because the key decides the rules for the server: it travels in every request,
//! so plain http is refused except on loopback, and a key written in the manifest is warned
//! about. The key itself is never read here: that waits for a run.

use std::path::Path;

use super::findings::Findings;
use crate::manifest::api_key::{DEFAULT_KEY_VARIABLE, KeySource};
use crate::manifest::expand::is_identifier;
use crate::manifest::model::{ApiKeySource, Manifest, TaggedKeySource};
use crate::manifest::validated::DEFAULT_SERVER;

/// Where the key comes from (a key file or a bare value relative to `dir`, the manifest's
/// folder).
pub(super) fn api_key(out: &mut Findings, m: &Manifest, dir: &Path) -> Option<KeySource> {
    let Some(key) = &m.api_key else {
        return Some(KeySource::Env(DEFAULT_KEY_VARIABLE.into()));
    };
    let source = match &key.value {
        ApiKeySource::Tagged(TaggedKeySource::Env(name)) => {
            if !is_identifier(name) {
                out.error(
                    key.referenced,
                    format!("`{name}` is not a valid environment variable name"),
                    "invalid variable name",
                    "name the variable that holds the key, e.g. `{ env: VIP_API_KEY }`",
                );
                return None;
            }
            KeySource::Env(name.clone())
        }
        ApiKeySource::Tagged(TaggedKeySource::File(path)) => KeySource::file(path, dir),
        ApiKeySource::Tagged(TaggedKeySource::Literal(secret)) => {
            KeySource::Literal(secret.clone())
        }
        ApiKeySource::Bare(text) => KeySource::Bare {
            text: text.clone(),
            manifest_dir: dir.to_path_buf(),
        },
    };
    if source.is_in_manifest() {
        out.warn(key.referenced, "the API key is written in the manifest, which is usually version-controlled",
                "keep it out of git: `api_key: { env: VIP_API_KEY }` or `api_key: { file: ~/.config/vip/key }`");
    }
    Some(source)
}

/// The server's base URL, without a trailing `/`.
pub(super) fn server(out: &mut Findings, m: &Manifest) -> Option<String> {
    let server = m.server.as_ref()?;
    let url = server.value.trim_end_matches('/');
    let is_http = url.starts_with("https://") || url.starts_with("http://");
    // The host as the client will see it (a URL parser lowercases it and knows where it
    // ends), so that `validate` and the client apply one loopback rule.
    let parsed = is_http.then(|| reqwest::Url::parse(url).ok()).flatten();
    let host = parsed.as_ref().map(|u| u.host_str().unwrap_or(""));
    let loopback = host.is_some_and(crate::vip::rules::is_loopback_host);
    match host {
        None | Some("") => {
            out.error(
                server.referenced,
                format!("`{}` is not an http(s) URL", server.value),
                "not a URL",
                format!("give VIP's REST base URL, e.g. `{DEFAULT_SERVER}`"),
            );
            None
        }
        Some(_) if url.starts_with("http://") && !loopback => {
            out.error(server.referenced, "the server URL must use https", "plain http",
                    "the API key travels in every request: use https (plain http is allowed for loopback test servers only)");
            None
        }
        Some(_) => Some(url.to_owned()),
    }
}
