//! URLs as VIP decodes them (docs/vip.md#pipeline-ids, #encoding): each path segment
//! percent-encoded on its own, `/` kept literal between segments, never `%2F`, spaces as `%20`
//! (never `+`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but the unreserved characters is encoded; `( ) :` go literally, as VIP allows.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'(')
    .remove(b')')
    .remove(b':');

/// One path segment, encoded.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// `/path` followed by the VIP path, each segment encoded, no empty segments.
pub fn data_path(vip_path: &str) -> String {
    let mut out = String::from("/path");
    for part in vip_path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(&segment(part));
    }
    out
}

/// A query string (`?k=v&…`), values encoded like segments (space `%20`, `/` `%2F`), or
/// nothing. A key alone (VIP's `?public`) is written without `=`.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&segment(key));
        if !value.is_empty() {
            out.push('=');
            out.push_str(&segment(value));
        }
    }
    out
}

/// `/pipelines/<name>/<version>`, split on the last `/`. Ids with `+` or `%` are refused:
/// VIP decodes ids twice and would mangle them.
pub fn pipeline_path(id: &str) -> Result<String, String> {
    if let Some(problem) = super::rules::pipeline_id_problem(id) {
        return Err(format!("`{id}`: {problem}"));
    }
    let (name, version) = id.rsplit_once('/').expect("checked above");
    Ok(format!("/pipelines/{}/{}", segment(name), segment(version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_paths_encode_each_segment() {
        assert_eq!(
            data_path("/vip/MR Spectroscopy (group)/data/x.nii"),
            "/path/vip/MR%20Spectroscopy%20(group)/data/x.nii"
        );
        assert_eq!(
            data_path("/vip/Home/out/02-02-2026_09:21:23/a?b#c%d&e=f;g+h"),
            "/path/vip/Home/out/02-02-2026_09:21:23/a%3Fb%23c%25d%26e%3Df%3Bg%2Bh"
        );
        assert_eq!(data_path("/vip/Home//x/"), "/path/vip/Home/x");
        assert_eq!(data_path("/vip/Home/été"), "/path/vip/Home/%C3%A9t%C3%A9");
    }

    #[test]
    fn queries_encode_spaces_and_slashes() {
        assert_eq!(
            query(&[("pipelineId", "Freesurfer (recon-all)/7.1.1")]),
            "?pipelineId=Freesurfer%20(recon-all)%2F7.1.1"
        );
        assert_eq!(query(&[("limit", "500")]), "?limit=500");
        assert_eq!(query(&[("public", "")]), "?public");
        assert_eq!(query(&[]), "");
    }

    #[test]
    fn pipeline_ids_use_the_path_form() {
        assert_eq!(
            pipeline_path("Freesurfer (recon-all)/7.1.1").unwrap(),
            "/pipelines/Freesurfer%20(recon-all)/7.1.1"
        );
        assert_eq!(pipeline_path("a/b/1.0").unwrap(), "/pipelines/a%2Fb/1.0");
        assert!(pipeline_path("CQUEST").is_err());
        assert!(pipeline_path("a+b/1").is_err());
    }
}
