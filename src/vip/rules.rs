//! VIP's own rules for names and values (docs/vip.md#pipeline-ids, #names, #values,
//! #sanitising), checked locally so that a launch never fails on something we could have seen.
//! The sandbox enforces the same functions, so client and simulator cannot drift apart.

use unicode_normalization::UnicodeNormalization;

/// Whether `host`, as a URL names it (`localhost`, `127.0.0.1`, `[::1]`), is this machine: the
/// only place plain http may go, since the API key travels in every request. `validate` and
/// the client both ask this one function. A name is loopback only when it is `localhost`
/// (any case) or a loopback address, never because it starts like one
/// (`127.0.0.1.example.org` is a remote host).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The characters VIP allows in an execution name (`^[0-9A-Za-z_ -]+$`).
pub fn is_execution_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '-')
}

/// Whether VIP accepts `name` as an execution name.
pub fn is_valid_execution_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_execution_name_char)
}

/// The characters VIP allows in an input value (`^[0-9.,A-Za-z+@/_():\[\]?&= -]+$`).
pub fn is_input_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '.' | ','
                | '+'
                | '@'
                | '/'
                | '_'
                | '('
                | ')'
                | ':'
                | '['
                | ']'
                | '?'
                | '&'
                | '='
                | ' '
                | '-'
        )
}

/// How VIP's allowed characters for input values are worded in its own error message.
pub const INPUT_VALUE_CHARS: &str = "letters, digits, space and . , - + @ / _ ( ) : [ ] ? & =";

/// The first character of `value` that VIP refuses in an input value, if any.
pub fn forbidden_input_char(value: &str) -> Option<char> {
    value.chars().find(|&c| !is_input_value_char(c))
}

/// Whether `value` is an external reference `<platformId>:<id>` (`^\w+:.*`), which VIP
/// passes to another storage platform instead of reading it from its own data namespace.
pub fn is_external_reference(value: &str) -> bool {
    match value.split_once(':') {
        Some((platform, _)) => {
            !platform.is_empty()
                && platform.len() > 1 // a one-letter prefix is a Windows drive, not a platform
                && platform.chars().all(|c| c.is_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Whether `value` is a path in VIP's data namespace.
pub fn is_vip_path(value: &str) -> bool {
    value == "/vip" || value.starts_with("/vip/")
}

/// What is wrong with a pipeline identifier, if anything: VIP splits it on the last `/`,
/// and decodes it twice, so `+` and `%` cannot survive the trip.
pub fn pipeline_id_problem(id: &str) -> Option<&'static str> {
    match id.rsplit_once('/') {
        None => Some("a pipeline identifier is `Name/version`, with a `/` before the version"),
        Some((name, version)) if name.trim().is_empty() || version.trim().is_empty() => {
            Some("both the name and the version of a pipeline identifier must be non-empty")
        }
        Some(_) if id.contains(['+', '%']) => {
            Some("VIP decodes pipeline identifiers twice, so `+` and `%` cannot be used in them")
        }
        Some(_) if id.trim() != id => {
            Some("a pipeline identifier has no leading or trailing spaces")
        }
        Some(_) => None,
    }
}

/// The name VIP stores for an uploaded file or a created folder called `name`
/// (docs/vip.md#sanitising): the base name trimmed, spaces turned into `_`, then Unicode NFKD
/// with non-ASCII dropped.
pub fn sanitize_upload_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
    base.replace(' ', "_")
        .nfkd()
        .filter(char::is_ascii)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_follow_vips_regex() {
        assert!(is_valid_execution_name("cquest-sub_01 a"));
        assert!(!is_valid_execution_name(""));
        assert!(!is_valid_execution_name("a.b"));
        assert!(!is_valid_execution_name("é"));
    }

    #[test]
    fn input_values_follow_vips_character_set() {
        assert_eq!(forbidden_input_char("/vip/Home/a b (1)/x.nii?a=b&c"), None);
        assert_eq!(forbidden_input_char("a~b"), Some('~'));
        assert_eq!(forbidden_input_char("µ"), Some('µ'));
        assert_eq!(forbidden_input_char("tab\there"), Some('\t'));
    }

    #[test]
    fn external_references_are_recognised() {
        assert!(is_external_reference("pilotGirder:5f3a"));
        assert!(!is_external_reference("C:/data/x.nii"));
        assert!(!is_external_reference("data/x.nii"));
        assert!(!is_external_reference("a b:c"));
    }

    #[test]
    fn pipeline_ids_need_a_version() {
        assert!(pipeline_id_problem("CQUEST/0.6").is_none());
        assert!(pipeline_id_problem("Freesurfer (recon-all)/7.1.1").is_none());
        assert!(pipeline_id_problem("CQUEST").is_some());
        assert!(pipeline_id_problem("CQUEST/").is_some());
        assert!(pipeline_id_problem("a+b/1").is_some());
    }

    #[test]
    fn upload_names_are_sanitised_like_vip() {
        assert_eq!(sanitize_upload_name(" my scan.nii "), "my_scan.nii");
        assert_eq!(sanitize_upload_name("dir/été.txt"), "ete.txt");
        assert_eq!(sanitize_upload_name("ø.txt"), ".txt");
    }
}
