//! How a channel's URL is shown: `scheme://host/…`, never its path or query, which carry
//! a hook's or a ping's token; and error text scrubbed of the secrets a channel holds.

/// `url` as messages show it: its scheme, host and port, and `/…` when it has more.
pub(crate) fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let more = u.path() != "/" || u.query().is_some() || u.fragment().is_some();
            format!(
                "{}://{host}{port}{}",
                u.scheme(),
                if more { "/…" } else { "" }
            )
        }
        Err(_) => "(a URL that does not parse)".to_owned(),
    }
}

/// `text` with every one of `secrets` (and, for a URL, its path and query on their own)
/// replaced by `…`: what a library's error may quote of a request.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "…");
        if let Ok(u) = reqwest::Url::parse(secret) {
            for part in [u.path(), u.query().unwrap_or("")] {
                if part.len() >= 4 {
                    out = out.replace(part, "/…");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_show_their_host_only() {
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T0/B0/tok3n"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            shown_url("http://127.0.0.1:8080/ping/abc?rid=1"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(shown_url("https://hc.example"), "https://hc.example");
        assert!(!shown_url("not a url tok3n").contains("tok3n"));
    }

    #[test]
    fn errors_lose_the_secrets_they_quote() {
        let url = "https://hooks.example/services/T0/tok3n";
        let said = scrub(
            "error sending request for url (https://hooks.example/services/T0/tok3n): refused; path /services/T0/tok3n",
            &[url, "pa55w0rd"],
        );
        assert!(!said.contains("tok3n"), "{said}");
        assert_eq!(
            scrub("auth pa55w0rd failed", &["pa55w0rd"]),
            "auth … failed"
        );
    }
}
