//! `collect:` and `vip-run collect`: each finished item's small table merged into one study
//! table, through the real binary after real runs against the sandbox; the items' variables
//! first, items without the file listed, files whose columns disagree refused, the offline
//! checks pointing into the manifest.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;
use vip_run::sandbox::{Config, World, default_world_yaml};

use crate::run::DEMO;
use crate::support::{HEAD, SandboxHandle, Test};

/// A sandbox whose Hello returns `stats.csv`, a CSV whose rows quote the message it was given.
fn stats_sandbox() -> SandboxHandle {
    let yaml = default_world_yaml()
        .replace(
            "greeting: { kind: greeting, message: message, repeat: repeat, shout: shout, measure: input_file }",
            r#"greeting: { kind: text, template: "region,note\nleft,\"{message}\"\nright,plain\n" }"#,
        )
        .replace("path-template: hello.txt", "path-template: stats.csv");
    let world = World::from_yaml(&yaml).expect("the changed world is valid");
    SandboxHandle::start(Config {
        world,
        exec_duration: Duration::from_millis(100),
        quota: Some(4),
        ..Config::default()
    })
}

/// Hello on two subjects at one site whose name holds a comma, with `message` and `collect`.
fn hello(message: &str, collect: &str) -> String {
    format!(
        "{HEAD}matrix:\n  subject: [sub-01, sub-02]\n  site: [\"Lyon, FR\"]\ninputs:\n  input_file: in.txt\n  message: \"{message}\"\nresults:\n  download: \"results/{{{{ subject }}}}\"\nexecution:\n  max_parallel: 4\n  poll_interval: 1s\ncollect:\n{collect}"
    )
}

/// CQUEST (a tarball holding `quantification.csv`, unpacked) on `subjects`, collected into
/// `results/quantification.csv`.
fn cquest(subjects: &[&str]) -> Test {
    let mut t = Test::new()
        .manifest(&format!(
            "version: 1\nname: mrs\npipeline_id: CQUEST/0.6\ngroup: CQUEST\nmatrix:\n  subject: [{}]\ninputs:\n  zipped_folder: basis.zip\n  parameter_file: params.txt\n  data_file: \"data/{{{{ subject }}}}.mrui\"\nresults:\n  download: \"results/{{{{ subject }}}}\"\nexecution:\n  max_parallel: 4\n  poll_interval: 1s\ncollect:\n  - from: quantification.csv\n    to: results/quantification.csv\n",
            subjects.join(", ")
        ))
        .file("basis.zip", "basis")
        .file("params.txt", "te 30");
    for s in subjects {
        t = t.file(&format!("data/{s}.mrui"), format!("signal of {s}"));
    }
    t
}

/// What `collect` should write from the items' own files: each one's rows, led by its key and
/// its subject.
fn expected_from_items(t: &Test, subjects: &[&str]) -> String {
    let mut out = String::new();
    for (i, s) in subjects.iter().enumerate() {
        let file = std::fs::read_to_string(
            t.dir()
                .join(format!("results/{s}/results/quantification.csv")),
        )
        .unwrap();
        let mut lines = file.lines();
        let header = lines.next().unwrap();
        if i == 0 {
            writeln!(out, "item,subject,{header}").unwrap();
        }
        for line in lines {
            writeln!(out, "{s},{s},{line}").unwrap();
        }
    }
    out
}

fn read(t: &Test, path: &str) -> String {
    std::fs::read_to_string(t.dir().join(path)).unwrap()
}

#[test]
fn a_sandbox_cohort_collects_each_items_table_under_its_key_and_variables() {
    let subjects = ["sub-01", "sub-02"];
    let t = cquest(&subjects);
    // The run's end merges the table, says so in its summary, and links it from the report.
    let run = t.run_with(&["--sandbox", "run", "study.yaml"]);
    run.code(0)
        .stdout_has("wrote results/quantification.csv: 10 rows from 2 items");
    let at_run_end = read(&t, "results/quantification.csv");
    assert_eq!(at_run_end, expected_from_items(&t, &subjects));
    let html = read(&t, ".vip-run/sandbox/mrs/report.html");
    assert!(
        html.contains("quantification.csv"),
        "the report links the table"
    );
    std::fs::remove_file(t.dir().join("results/quantification.csv")).unwrap();
    let out = t.run_with(&["--sandbox", "collect", "study.yaml"]);
    out.code(0)
        .stdout_has("wrote results/quantification.csv: 10 rows from 2 items");
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "one line per table:\n{}",
        out.stdout
    );
    let table = read(&t, "results/quantification.csv");
    assert_eq!(table, expected_from_items(&t, &subjects));
    assert!(
        table.starts_with("item,subject,Metabolite,Concentration (mM),CRLB (%)\n"),
        "{table}"
    );

    // Without --sandbox it reads the real runs' state, which has none: nothing is written,
    // and the table of the try-out is left as it is.
    let real = t.run_with(&["collect", "study.yaml"]);
    real.code(0).stdout_has(
        "nothing written to results/quantification.csv: no item finished yet; 2 items not finished",
    );
    assert_eq!(read(&t, "results/quantification.csv"), table);
}

#[test]
fn values_holding_the_delimiter_are_quoted_and_a_tsv_table_is_written_with_tabs() {
    let sb = stats_sandbox();
    let t = Test::new()
        .manifest(&hello(
            "hello, {{ subject }}",
            "  - from: stats.csv\n    to: results/study.csv\n  - name: notes\n    from: \"*.csv\"\n    to: results/study.tsv\n",
        ))
        .file("in.txt", "hello\n")
        .against(&sb, DEMO);
    t.run_with(&["run", "study.yaml"]).code(0);
    assert_eq!(
        read(&t, "results/sub-01/stats.csv"),
        "region,note\nleft,\"hello, sub-01\"\nright,plain\n"
    );
    let out = t.run_with(&["collect", "study.yaml"]);
    out.code(0)
        .stdout_has("wrote results/study.csv: 4 rows from 2 items\n")
        .stdout_has("wrote results/study.tsv (notes): 4 rows from 2 items\n");
    assert_eq!(
        read(&t, "results/study.csv"),
        "item,subject,site,region,note\n\
         \"sub-01-Lyon, FR\",sub-01,\"Lyon, FR\",left,\"hello, sub-01\"\n\
         \"sub-01-Lyon, FR\",sub-01,\"Lyon, FR\",right,plain\n\
         \"sub-02-Lyon, FR\",sub-02,\"Lyon, FR\",left,\"hello, sub-02\"\n\
         \"sub-02-Lyon, FR\",sub-02,\"Lyon, FR\",right,plain\n"
    );
    assert_eq!(
        read(&t, "results/study.tsv"),
        "item\tsubject\tsite\tregion\tnote\n\
         sub-01-Lyon, FR\tsub-01\tLyon, FR\tleft\thello, sub-01\n\
         sub-01-Lyon, FR\tsub-01\tLyon, FR\tright\tplain\n\
         sub-02-Lyon, FR\tsub-02\tLyon, FR\tleft\thello, sub-02\n\
         sub-02-Lyon, FR\tsub-02\tLyon, FR\tright\tplain\n"
    );

    let json = t.run_with(&["--output", "json", "collect", "study.yaml"]);
    json.code(0);
    let lines = json.json_lines();
    assert_eq!(lines.len(), 1, "one JSON object:\n{}", json.stdout);
    let tables = lines[0]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    assert_eq!(tables[0]["table"], "results/study.csv");
    assert_eq!(tables[0]["name"], Value::Null);
    assert_eq!(tables[1]["name"], "notes");
    assert_eq!(tables[0]["rows"], 4);
    assert_eq!(tables[0]["items"], 2);
    assert_eq!(tables[0]["written"], true);
    assert_eq!(tables[0]["missing"], serde_json::json!([]));
}

#[test]
fn a_finished_item_without_the_file_is_listed_and_the_table_written_without_it() {
    let sb = SandboxHandle::quick(Duration::from_millis(100));
    let subjects = ["sub-01", "sub-02", "sub-03"];
    let t = cquest(&subjects).against(&sb, DEMO);
    t.run_with(&["run", "study.yaml"]).code(0);
    // The unpacked copy goes; the archive, the recorded output, stays: the item is still
    // finished and home, its table is not.
    std::fs::remove_file(t.dir().join("results/sub-02/results/quantification.csv")).unwrap();
    let out = t.run_with(&["collect", "study.yaml"]);
    out.code(1).stdout_has(
        "wrote results/quantification.csv: 10 rows from 2 items; 1 finished item had no quantification.csv: sub-02\n",
    );
    assert_eq!(
        read(&t, "results/quantification.csv"),
        expected_from_items(&t, &["sub-01", "sub-03"])
    );
    let json = t.run_with(&["--output", "json", "collect", "study.yaml"]);
    json.code(1);
    assert_eq!(
        json.json_lines()[0]["tables"][0]["missing"],
        serde_json::json!(["sub-02"])
    );

    // An empty file is listed too; a header alone is a table of no rows.
    std::fs::write(
        t.dir().join("results/sub-02/results/quantification.csv"),
        "",
    )
    .unwrap();
    let header = read(&t, "results/sub-01/results/quantification.csv")
        .lines()
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(
        t.dir().join("results/sub-03/results/quantification.csv"),
        format!("{header}\n"),
    )
    .unwrap();
    t.run_with(&["collect", "study.yaml"]).code(1).stdout_has(
        "wrote results/quantification.csv: 5 rows from 2 items; 1 finished item's file was empty: sub-02\n",
    );
}

#[test]
fn files_whose_columns_disagree_name_the_item_and_leave_the_table_as_it_was() {
    let sb = SandboxHandle::quick(Duration::from_millis(100));
    let t = cquest(&["sub-01", "sub-02", "sub-03"]).against(&sb, DEMO);
    t.run_with(&["run", "study.yaml"]).code(0);
    t.run_with(&["collect", "study.yaml"]).code(0);
    let before = read(&t, "results/quantification.csv");

    let file = t.dir().join("results/sub-02/results/quantification.csv");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("CRLB (%)", "CRLB", 1)).unwrap();
    let out = t.run_with(&["collect", "study.yaml"]);
    out.code(1)
        .stderr_has("error: cannot merge results/quantification.csv: item `sub-02`'s results/sub-02/results/quantification.csv has the columns `Metabolite,Concentration (mM),CRLB`, but item `sub-01`'s has `Metabolite,Concentration (mM),CRLB (%)`")
        .stderr_has("help: column 3 is `CRLB` in `sub-02`'s file, `CRLB (%)` in `sub-01`'s");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert_eq!(read(&t, "results/quantification.csv"), before);
}

#[test]
fn a_failed_item_is_listed_as_not_finished() {
    let sb = stats_sandbox();
    let t = Test::new()
        .manifest(&hello(
            "{% if subject == 'sub-02' %}FAIL{% else %}hello, {{ subject }}{% endif %}",
            "  - from: stats.csv\n    to: results/study.csv\n",
        ))
        .file("in.txt", "hello\n")
        .against(&sb, DEMO);
    t.run_with(&["run", "study.yaml"]).code(1);
    let out = t.run_with(&["collect", "study.yaml"]);
    out.code(0)
        .stdout_has("wrote results/study.csv: 2 rows from 1 item; 1 item not finished\n");
    let json = t.run_with(&["--output", "json", "collect", "study.yaml"]);
    assert_eq!(
        json.json_lines()[0]["tables"][0]["unfinished"],
        serde_json::json!(["sub-02-Lyon, FR"])
    );
    assert!(
        !read(&t, "results/study.csv").contains("sub-02"),
        "{}",
        read(&t, "results/study.csv")
    );
}

#[test]
fn a_manifest_without_collect_is_a_usage_error_saying_how_to_add_one() {
    Test::new()
        .manifest(&format!("{HEAD}inputs:\n  message: hi\n"))
        .run_with(&["collect", "study.yaml"])
        .code(2)
        .stderr_has("study.yaml has no `collect:` entries")
        .stderr_has("collect: [{ from: stats.csv, to: results/stats.csv }]");
}

/// `validate` on HEAD with `rest` appended: the exit code 3 and its stderr.
fn invalid(rest: &str) -> crate::support::Output {
    let out = Test::new()
        .manifest(&format!("{HEAD}{rest}"))
        .run_with(&["validate", "study.yaml"]);
    out.code(3);
    out
}

#[test]
fn collect_is_checked_offline_pointing_into_the_manifest() {
    // HEAD is four lines: what follows starts on line 5.
    invalid("results:\n  download: false\ncollect:\n  - { from: stats.csv, to: results/s.csv }\n")
        .stderr_has(
            "`collect` reads each item's downloaded results, but `results.download` is `false`",
        )
        .stderr_has("study.yaml:6:13")
        .stderr_has("help: remove `download: false`");
    invalid("collect:\n  - { from: stats.csv, to: results/s.xlsx }\n")
        .stderr_has("`to: results/s.xlsx` is not a table vip-run writes")
        .stderr_has("study.yaml:6:28")
        .stderr_has("help: end it in `.csv`");
    invalid("collect:\n  - { from: stats.csv, to: s.csv }\n  - { from: other.csv, to: ./s.csv }\n")
        .stderr_has("two collect entries write ./s.csv")
        .stderr_has("study.yaml:7:28")
        .stderr_has("an earlier entry has `to: s.csv`");
    invalid("collect:\n  - { from: stats.txt, to: s.csv }\n")
        .stderr_has("cannot tell how to read `stats.txt`")
        .stderr_has("study.yaml:6:13")
        .stderr_has("add `format: csv`");
    invalid("collect:\n  - { from: stats.csv, to: s.csv, colour: red }\n")
        .stderr_has("unknown key `colour`")
        .stderr_has("study.yaml:6:");
    invalid("collect:\n  - { from: stats.csv, to: results/study/main/s.csv }\n")
        .stderr_has("`to` results/study/main/s.csv is inside item `main`'s download folder");
    invalid("collect:\n  - { from: ../stats.csv, to: s.csv }\n")
        .stderr_has("collect `from: ../stats.csv` must be a relative name or glob");
    // `format` says how to read what the name does not.
    Test::new()
        .manifest(&format!(
            "{HEAD}collect:\n  - {{ from: stats.txt, format: tsv, to: s.csv }}\n"
        ))
        .run_with(&["validate", "study.yaml"])
        .code(0);
}
