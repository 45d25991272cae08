//! A table of broken manifests: each must exit 3 and point at the right line and column
//! with the right message and help.

use std::fmt::Write as _;

use crate::support::{HEAD, Test};

struct Case {
    name: &'static str,
    manifest: Vec<u8>,
    files: Vec<(&'static str, Vec<u8>)>,
    /// `file:line:column` expected in the diagnostic.
    at: &'static str,
    message: &'static str,
    help: &'static str,
}

fn case(
    name: &'static str,
    manifest: impl Into<Vec<u8>>,
    at: &'static str,
    message: &'static str,
    help: &'static str,
) -> Case {
    Case {
        name,
        manifest: manifest.into(),
        files: Vec::new(),
        at,
        message,
        help,
    }
}

fn with_head(body: &str) -> String {
    format!("{HEAD}{body}")
}

fn cases() -> Vec<Case> {
    let mut big_matrix = String::from(HEAD);
    big_matrix.push_str("matrix:\n");
    for axis in ["a", "b", "c"] {
        let values: Vec<String> = (0..30).map(|i| format!("v{i}")).collect();
        let _ = writeln!(big_matrix, "  {axis}: [{}]", values.join(", "));
    }
    let mut bomb = with_head("vars:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let _ = writeln!(
            bomb,
            "  l{i}: &l{i} [{}]",
            vec![format!("*l{}", i - 1); 10].join(", ")
        );
    }
    let deep = with_head(&format!(
        "vars:\n  x: {}{}\n",
        "[".repeat(20_000),
        "]".repeat(20_000)
    ));
    let mut huge = with_head("description: |\n");
    while huge.len() < 5 * 1024 * 1024 {
        huge.push_str("  lorem ipsum dolor sit amet, consectetur adipiscing elit\n");
    }
    let mut latin1 = HEAD.as_bytes().to_vec();
    latin1.extend_from_slice(b"description: caf\xe9\n");

    vec![
        case(
            "unknown top-level key",
            "version: 1\nname: study\npipline_id: Hello/1.0\ngroup: Demo\n",
            "study.yaml:3:1",
            "unknown key `pipline_id`",
            "did you mean `pipeline_id`?",
        ),
        case(
            "unknown nested key",
            with_head("execution:\n  max_paralel: 2\n"),
            "study.yaml:6:3",
            "unknown key `max_paralel`",
            "did you mean `max_parallel`?",
        ),
        case(
            "unknown api_key source",
            with_head("api_key: { envv: VIP_API_KEY }\n"),
            "study.yaml:5:12",
            "unknown key `envv`",
            "did you mean `env`?",
        ),
        case(
            "duplicate key",
            with_head("group: Other\n"),
            "study.yaml:5:1",
            "duplicate key `group`",
            "must be unique",
        ),
        case(
            "wrong type for a number",
            with_head("execution:\n  max_parallel: lots\n"),
            "study.yaml:6:17",
            "wrong type: expected a whole number",
            "write a whole number",
        ),
        case(
            "wrong type for an input",
            with_head("inputs:\n  message: { a: 1 }\n"),
            "study.yaml:6:12",
            "wrong type",
            "",
        ),
        case(
            "missing required key",
            "version: 1\nname: study\npipeline_id: Hello/1.0\n",
            "study.yaml:1:1",
            "missing required key `group` in the manifest",
            "add `group: GROUP`",
        ),
        case(
            "YAML syntax: unclosed bracket",
            with_head("inputs:\n  message: [a, b\n"),
            "study.yaml:6:12",
            "unclosed bracket",
            "check the YAML syntax",
        ),
        case(
            "YAML syntax: tab indentation",
            with_head("inputs:\n\tmessage: hi\n"),
            "study.yaml:6:2",
            "tabs disallowed",
            "never tabs",
        ),
        case(
            "bad duration unit",
            with_head("execution:\n  timeout: 3 weeks\n"),
            "study.yaml:6:12",
            "invalid timeout: `weeks` is not a unit of time",
            "`30s`, `5m`, `24h`",
        ),
        case(
            "duration without unit",
            with_head("execution:\n  poll_interval: \"30\"\n"),
            "study.yaml:6:18",
            "invalid poll_interval: `30` has a number without a unit",
            "with a unit",
        ),
        case(
            "unsupported version",
            "version: 2\nname: study\npipeline_id: Hello/1.0\ngroup: Demo\n",
            "study.yaml:1:10",
            "unsupported manifest version 2",
            "write `version: 1`",
        ),
        case(
            "invalid name",
            "version: 1\nname: my study\npipeline_id: Hello/1.0\ngroup: Demo\n",
            "study.yaml:2:7",
            "the name `my study` contains ` `",
            "e.g. `my_study`",
        ),
        case(
            "pipeline id without version",
            "version: 1\nname: study\npipeline_id: CQUEST\ngroup: Demo\n",
            "study.yaml:3:14",
            "`CQUEST` is not a valid pipeline identifier",
            "`Name/version`, with a `/` before the version, as in `CQUEST/",
        ),
        case(
            "undefined template variable",
            with_head("matrix:\n  subject: [a, b]\ninputs:\n  message: \"hi {{ subjet }}\"\n"),
            "study.yaml:8:19",
            "Variable `subjet` is not defined (and 1 more item)",
            "did you mean `subject`?",
        ),
        case(
            "template syntax error",
            with_head("inputs:\n  message: \"hi {{ name \"\n"),
            "study.yaml:6:23",
            "template error",
            "Jinja syntax",
        ),
        case(
            "unset environment variable in a template",
            with_head("inputs:\n  message: \"{{ env(\\\"VIP_RUN_NEVER_SET\\\") }}\"\n"),
            "study.yaml:6:12",
            "environment variable `VIP_RUN_NEVER_SET` is not set",
            "",
        ),
        case(
            "empty matrix variable",
            with_head("matrix:\n  subject: []\n"),
            "study.yaml:6:12",
            "matrix variable `subject` has no values",
            "at least one value",
        ),
        case(
            "exclude removes everything",
            with_head("matrix:\n  subject: [a]\n  exclude: [{ subject: a }]\n"),
            "study.yaml:6:3",
            "the matrix has no items",
            "exclude",
        ),
        case(
            "exclude names an unknown variable",
            with_head("matrix:\n  subject: [a, b]\n  exclude: [{ subjet: a }]\n"),
            "study.yaml:7:23",
            "`exclude` names `subjet`",
            "did you mean `subject`?",
        ),
        case(
            "matrix too large",
            big_matrix,
            "study.yaml:6:3",
            "the matrix expands to 27000 items, more than the limit of 10000",
            "--max-items N",
        ),
        case(
            "matrix variable shadows a var",
            with_head("vars:\n  subject: x\nmatrix:\n  subject: [a]\n"),
            "study.yaml:8:3",
            "variable `subject` is already defined in `vars`",
            "rename",
        ),
        case(
            "reserved variable name",
            with_head("matrix:\n  index: [1, 2]\n"),
            "study.yaml:6:3",
            "variable `index` is already a built-in template variable",
            "rename",
        ),
        case(
            "matrix and foreach together",
            with_head("matrix:\n  s: [a]\nforeach: rows.csv\n"),
            "study.yaml:7:10",
            "`matrix` and `foreach` cannot both be used",
            "one item per CSV row",
        ),
        case(
            "foreach file missing",
            with_head("foreach: rows.csv\n"),
            "study.yaml:5:10",
            "cannot read CSV file",
            "relative to",
        ),
        Case {
            files: vec![("rows.csv", b"subject,age\nsub-01,30\nsub-02\n".to_vec())],
            ..case(
                "CSV row with missing fields",
                with_head("foreach: rows.csv\n"),
                "rows.csv:3:1",
                "this row has 1 fields, the header has 2",
                "one value per column",
            )
        },
        Case {
            files: vec![("rows.csv", b"subject,age\nsub-01,30\nsub-01,31\n".to_vec())],
            ..case(
                "CSV repeated item key",
                with_head("foreach: rows.csv\n"),
                "rows.csv:3:1",
                "repeats `sub-01` from line 2",
                "unique",
            )
        },
        Case {
            files: vec![("rows.csv", b"subject,1age\nsub-01,30\n".to_vec())],
            ..case(
                "CSV bad column name",
                with_head("foreach: rows.csv\n"),
                "rows.csv:1:9",
                "CSV column `1age` is not a valid variable name",
                "letters, digits and `_`",
            )
        },
        case(
            "forbidden character in an input",
            with_head("inputs:\n  message: \"hi~there\"\n"),
            "study.yaml:6:12",
            "input `message` contains `~`, which VIP refuses",
            "VIP allows letters, digits",
        ),
        case(
            "@@ in an input",
            with_head("inputs:\n  message: a@@b\n"),
            "study.yaml:6:12",
            "input `message` contains `@@`",
            "use a YAML list",
        ),
        case(
            "null input",
            with_head("inputs:\n  message:\n  repeat: 2\n"),
            "study.yaml:6:10",
            "input `message` has no value",
            "remove the key",
        ),
        case(
            "empty list input",
            with_head("inputs:\n  message: []\n"),
            "study.yaml:6:12",
            "input `message` is an empty list",
            "at least one",
        ),
        case(
            "empty local file",
            with_head("inputs:\n  input_file: empty.txt\n"),
            "study.yaml:6:15",
            "the file `empty.txt` is empty",
            "folder",
        ),
        case(
            "invalid env key source",
            with_head("api_key: { env: \"not a name\" }\n"),
            "study.yaml:5:10",
            "`not a name` is not a valid environment variable name",
            "VIP_API_KEY",
        ),
        case(
            "plain http server",
            with_head("server: http://vip.example.org/rest\n"),
            "study.yaml:5:9",
            "the server URL must use https",
            "loopback",
        ),
        case(
            "results location outside /vip",
            with_head("results:\n  location: /home/me/out\n"),
            "study.yaml:6:13",
            "must be a VIP path starting with `/vip/`",
            "/vip/Home/vip-run/",
        ),
        case(
            "two items, one download folder",
            with_head("matrix:\n  s: [a, b]\nresults:\n  download: results/all\n"),
            "study.yaml:8:13",
            "items `a` and `b` both download into",
            "results/{{ item }}",
        ),
        case(
            "max_parallel zero",
            with_head("execution:\n  max_parallel: 0\n"),
            "study.yaml:6:17",
            "max_parallel must be between 1 and 1000, not 0",
            "quota",
        ),
        case(
            "transfers zero",
            with_head("execution:\n  transfers: 0\n"),
            "study.yaml:6:14",
            "transfers must be between 1 and 32, not 0",
            "keeps a link busy",
        ),
        case(
            "too many retries",
            with_head("execution:\n  retries: 11\n"),
            "study.yaml:6:12",
            "retries must be between 0 and 10, not 11",
            "",
        ),
        case(
            "YAML alias bomb",
            bomb,
            "study.yaml:",
            "aliases",
            "small shared blocks",
        ),
        case(
            "20,000-deep nesting",
            deep,
            "study.yaml:6:",
            "nested more than 64 levels deep",
            "brackets and indentation",
        ),
        case("huge file", huge, "", "larger than 4 MiB", "foreach"),
        case(
            "not UTF-8",
            latin1,
            "study.yaml:5:17",
            "not valid UTF-8: byte 0xE9",
            "save the file as UTF-8",
        ),
        case(
            "several YAML documents",
            with_head("---\nversion: 1\n"),
            "study.yaml:",
            "several YAML documents",
            "remove the `---`",
        ),
    ]
}

#[test]
fn every_broken_manifest_is_reported_where_it_is_broken() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in cases {
        let mut test = Test::new()
            .file("study.yaml", &case.manifest)
            .file("empty.txt", "");
        for (path, contents) in &case.files {
            test = test.file(path, contents);
        }
        let out = test.args(&["validate", "study.yaml"]).run();
        let ok = out.code == 3
            && out.stderr.contains(case.at)
            && out.stderr.contains(case.message)
            && (case.help.is_empty()
                || (out.stderr.contains("help:") && out.stderr.contains(case.help)));
        if !ok {
            failures.push(format!(
                "--- {} (expected exit 3, `{}`, `{}`, help `{}`): exit {}\n{}",
                case.name, case.at, case.message, case.help, out.code, out.stderr
            ));
        }
        // Every error ends with the one-line summary.
        if out.code == 3 && !out.stderr.contains("study.yaml is not a valid manifest") {
            failures.push(format!(
                "--- {}: no summary line\n{}",
                case.name, out.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn several_errors_in_one_manifest_are_all_reported() {
    let out = Test::new()
        .manifest("version: 2\nname: bad name\npipeline_id: NoVersion\ngroup: Demo\nexecution:\n  timeout: soon\n  max_parallel: 0\n")
        .args(&["validate", "study.yaml"])
        .run();
    out.code(3)
        .stderr_has("study.yaml:1:10")
        .stderr_has("study.yaml:2:7")
        .stderr_has("study.yaml:3:14")
        .stderr_has("study.yaml:6:12")
        .stderr_has("study.yaml:7:17")
        .stderr_has("study.yaml is not a valid manifest: 5 errors");
}

#[test]
fn every_unknown_and_missing_key_is_reported_at_once() {
    let out = Test::new()
        .manifest("version: 1\nnmae: study\npipline_id: Hello/1.0\ngroup: Demo\nexecution:\n  retrys: 2\nresults:\n  downlaod: out\n")
        .args(&["validate", "study.yaml"])
        .run();
    out.code(3)
        .stderr_has("study.yaml:2:1]")
        .stderr_has("unknown key `nmae`")
        .stderr_has("did you mean `name`?")
        .stderr_has("study.yaml:3:1]")
        .stderr_has("did you mean `pipeline_id`?")
        .stderr_has("missing required key `name` in the manifest")
        .stderr_has("study.yaml:6:3]")
        .stderr_has("did you mean `retries`?")
        .stderr_has("study.yaml:8:3]")
        .stderr_has("did you mean `download`?")
        .stderr_has("study.yaml is not a valid manifest: 6 errors");
}

#[test]
fn errors_are_also_machine_readable() {
    let out = Test::new()
        .manifest(&with_head("execution:\n  timeout: soon\n"))
        .args(&["validate", "--output", "json", "study.yaml"])
        .run();
    out.code(3);
    let records = out.json_lines();
    // The manifest's record, then the command's summary: how it ended, as every command ends.
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["event"], "summary");
    assert_eq!(records[1]["command"], "validate");
    assert_eq!(records[1]["ok"], false);
    assert_eq!(records[1]["exit_code"], 3);
    let record = &records[0];
    assert_eq!(record["valid"], false);
    let error = &record["errors"][0];
    assert_eq!(error["file"], "study.yaml");
    assert_eq!(error["line"], 6);
    assert_eq!(error["column"], 12);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("invalid timeout")
    );
    assert!(error["help"].as_str().unwrap().contains("24h"));
}

#[test]
fn a_missing_manifest_is_a_clear_error() {
    Test::new()
        .args(&["validate", "nope.yaml"])
        .run()
        .code(3)
        .stderr_has("cannot read manifest nope.yaml: no such file");
}

#[test]
fn several_manifests_are_checked_and_counted() {
    let out = Test::new()
        .file("good.yaml", HEAD)
        .file("bad.yaml", with_head("execution:\n  retries: 99\n"))
        .args(&["validate", "good.yaml", "bad.yaml"])
        .run();
    out.code(3)
        .stdout_has("good.yaml: valid, 1 item")
        .stderr_has("bad.yaml:6:12")
        .stderr_has("1 of 2 manifests are invalid");
}

#[test]
fn usage_errors_exit_2() {
    Test::new().args(&["validate"]).run().code(2);
    Test::new()
        .args(&["stauts", "study.yaml"])
        .run()
        .code(2)
        .stderr_has("unrecognized subcommand 'stauts'")
        .stderr_has("status");
    Test::new()
        .file("s.yaml", HEAD)
        .args(&["validate", "--max-items", "0", "s.yaml"])
        .run()
        .code(2);
}
