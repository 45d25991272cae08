//! How numbers and server text are shown to people: byte sizes, and VIP's descriptions with
//! their HTML taken out.

/// Bytes for people: `1.2 MB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    #[allow(clippy::cast_precision_loss)] // display only
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Descriptions may hold HTML: keep the text.
pub fn strip_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
}

/// `word` as a POSIX shell reads it back: as it is when it holds only characters no shell
/// treats specially, else in single quotes (a `'` inside as `'\''`). For commands printed for
/// people to paste.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The failure policy of `e` in one line: what is relaunched, how often, and the watchdog.
/// `validate` and `plan` print it.
pub fn retry_policy(e: &crate::manifest::ExecutionSettings) -> String {
    use crate::vip::failure::ALL;
    let relaunched = if e.retries == 0 {
        "no relaunch (execution.retries: 0)".to_owned()
    } else {
        let on: Vec<&str> = e.retry_on.iter().map(|c| c.name()).collect();
        let not: Vec<&str> = ALL
            .iter()
            .filter(|c| !e.retry_on.contains(c))
            .map(|c| c.name())
            .collect();
        format!(
            "relaunched up to {} time{} on {}{}",
            e.retries,
            if e.retries == 1 { "" } else { "s" },
            if on.is_empty() {
                "nothing".to_owned()
            } else {
                on.join(", ")
            },
            if not.is_empty() {
                String::new()
            } else {
                format!(" (not on {})", not.join(", "))
            }
        )
    };
    format!(
        "{relaunched}; killed as stalled when its jobs are held, or unchanged for {} with none running; {} after {}",
        crate::duration::format(e.stalled_after),
        if e.kill_on_timeout {
            "killed"
        } else {
            "reported, left running,"
        },
        crate::duration::format(e.timeout),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("study.yaml"), "study.yaml");
        assert_eq!(
            shell_word("http://127.0.0.1:8080/rest"),
            "http://127.0.0.1:8080/rest"
        );
        assert_eq!(shell_word("my study.yaml"), "'my study.yaml'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn html_is_stripped_from_descriptions() {
        assert_eq!(
            strip_html("Quantification with <b>QUEST</b> &amp; co"),
            "Quantification with QUEST & co"
        );
    }
}
