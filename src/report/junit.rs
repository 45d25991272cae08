//! The `JUnit` XML report (`--junit`): one test suite per manifest, one test case per item,
//! so CI systems show a batch like a test run.

use std::fmt::Write as _;

/// One item's line in the `JUnit` report.
#[derive(Debug, Clone)]
pub struct JunitCase {
    /// Item key.
    pub name: String,
    /// Seconds from launch to the end.
    pub seconds: f64,
    /// `None` when it passed; else the failure's message and details.
    pub failure: Option<(String, String)>,
}

fn xml_escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// A `JUnit` XML report: one test suite (the manifest), one test case per item.
pub fn junit(suite: &str, cases: &[JunitCase]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let total: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<testsuites name=\"vip-run\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">\n",
        cases.len(),
        xml_escape(suite),
        cases.len()
    );
    for case in cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(suite),
            xml_escape(&case.name),
            case.seconds
        );
        match &case.failure {
            None => out.push_str("/>\n"),
            Some((message, details)) => {
                let _ = write!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(message),
                    xml_escape(details)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_and_counts() {
        let xml = junit(
            "study",
            &[
                JunitCase {
                    name: "a<1>".into(),
                    seconds: 1.5,
                    failure: None,
                },
                JunitCase {
                    name: "b".into(),
                    seconds: 2.0,
                    failure: Some((
                        "ExecutionFailed".into(),
                        "Error: \"boom\" & more\u{1}".into(),
                    )),
                },
            ],
        );
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("name=\"a&lt;1&gt;\""));
        assert!(xml.contains("Error: &quot;boom&quot; &amp; more</failure>"));
    }
}
