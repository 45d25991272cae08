//! Valid manifests: what `validate` expands them to.

use serde_json::{Value, json};

use crate::support::{HEAD, Test};

/// `validate --output json` on a scratch folder holding `manifest` as `study.yaml`.
fn validate_json(manifest: &str) -> crate::support::Output {
    Test::new()
        .manifest(manifest)
        .args(&["validate", "--output", "json", "study.yaml"])
        .run()
}

fn items(out: &crate::support::Output) -> Vec<Value> {
    out.json_lines()[0]["items"].as_array().unwrap().clone()
}

#[test]
fn a_single_run_has_one_item_keyed_main() {
    let out = Test::new()
        .manifest(&format!("{HEAD}inputs:\n  input_file: data/in.txt\n  message: Bonjour\n  repeat: 3\n  shout: yes\n"))
        .file("data/in.txt", "hello\n")
        .args(&["validate", "--output", "json", "study.yaml"])
        .run();
    out.code(0);
    let record = &out.json_lines()[0];
    assert_eq!(record["valid"], true);
    assert_eq!(record["pipeline"], "Hello/1.0");
    assert_eq!(record["group"], "Demo");
    assert_eq!(record["api_key_source"], "environment variable VIP_API_KEY");
    let items = items(&out);
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["key"], "main");
    assert_eq!(item["index"], 0);
    // Booleans and numbers take VIP's spellings.
    assert_eq!(
        item["inputs"],
        json!({"input_file": "data/in.txt", "message": "Bonjour", "repeat": "3", "shout": "true"})
    );
    let fp = item["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 64);
    assert_eq!(item["execution_name"], format!("study-main-{}", &fp[..6]));
    assert_eq!(item["results_location"], "/vip/Home/vip-run/study");
    assert_eq!(record["uploads"][0]["upload"], "data/in.txt");
    assert_eq!(record["uploads"][0]["size"], 6);
}

#[test]
fn the_human_summary_abbreviates_long_lists() {
    let values: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
    let out = Test::new()
        .manifest(&format!(
            "{HEAD}matrix:\n  subject: [{}]\n",
            values.join(", ")
        ))
        .args(&["validate", "study.yaml"])
        .run();
    out.code(0)
        .stdout_has("study.yaml: valid, 20 items")
        .stdout_has("pipeline    Hello/1.0 (group Demo)")
        .stdout_has("s00  study-s00-")
        .stdout_has("… and 12 more");
    assert!(!out.stdout.contains("s19"));
}

#[test]
fn anchors_and_merge_keys_are_understood() {
    let manifest = format!(
        "{HEAD}vars:\n  defaults: &defaults\n    max_parallel: 3\n    retries: 2\n  greeting: &greeting Salut\nexecution:\n  <<: *defaults\n  retries: 1\ninputs:\n  message: *greeting\n"
    );
    let out = validate_json(&manifest);
    out.code(0);
    let record = &out.json_lines()[0];
    assert_eq!(record["execution"]["max_parallel"], 3);
    assert_eq!(
        record["execution"]["retries"], 1,
        "explicit keys win over merged ones"
    );
    assert_eq!(items(&out)[0]["inputs"]["message"], "Salut");
}

#[test]
fn matrix_include_and_exclude_follow_github_actions() {
    let manifest = format!(
        "{HEAD}matrix:\n  subject: [a, b]\n  te: [30, 35]\n  exclude:\n    - {{ subject: b, te: 35 }}\n  include:\n    - {{ subject: a, note: first }}\n    - {{ subject: c, te: 40 }}\ninputs:\n  message: \"{{{{ subject }}}}-{{{{ te }}}}\"\n"
    );
    let out = validate_json(&manifest);
    out.code(0);
    let items = items(&out);
    let keys: Vec<&str> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["a-30", "a-35", "b-30", "c-40"]);
    assert_eq!(
        items[0]["variables"],
        json!({"subject": "a", "te": "30", "note": "first"}),
        "numbers as written, the text VIP receives"
    );
    assert_eq!(items[2]["variables"], json!({"subject": "b", "te": "30"}));
    assert_eq!(items[3]["inputs"]["message"], "c-40");
    let indexes: Vec<u64> = items.iter().map(|i| i["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
}

#[test]
fn csv_cohorts_with_quoted_fields() {
    let csv = "subject,site,label\nsub-01,Lyon,\"Doe, Jane\"\nsub-02,\"Saint-Étienne\",\"say \"\"hi\"\"\"\n";
    let manifest = format!(
        "{HEAD}foreach: cohort.csv\ninputs:\n  message: \"{{{{ subject }}}}@{{{{ index }}}}\"\nresults:\n  download: \"out/{{{{ item }}}}/{{{{ label }}}}\"\n"
    );
    let out = Test::new()
        .manifest(&manifest)
        .file("cohort.csv", csv)
        .args(&["validate", "--output", "json", "study.yaml"])
        .run();
    out.code(0);
    let items = items(&out);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["key"], "sub-01");
    assert_eq!(items[0]["variables"]["label"], "Doe, Jane");
    assert_eq!(items[1]["variables"]["site"], "Saint-Étienne");
    assert_eq!(items[1]["variables"]["label"], "say \"hi\"");
    assert_eq!(items[1]["inputs"]["message"], "sub-02@1");
    assert!(
        items[0]["download"]
            .as_str()
            .unwrap()
            .ends_with("out/sub-01/Doe, Jane")
    );
}

#[test]
fn lookalike_subjects_get_distinct_valid_names() {
    let manifest = format!(
        "{HEAD}matrix:\n  subject: [\"sub.01\", sub_01, \"sub 01\", \"sub/01\", \"süb-01\", sub-01]\n"
    );
    let out = validate_json(&manifest);
    out.code(0);
    let items = items(&out);
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["execution_name"].as_str().unwrap())
        .collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 6, "{names:?}");
    for name in &names {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{name} breaks VIP's name rule"
        );
    }
    assert!(names[1].starts_with("study-sub_01-"));
    assert!(names[5].starts_with("study-sub-01-"));
}

#[test]
fn keys_that_would_collide_are_made_unique() {
    let manifest = format!("{HEAD}matrix:\n  a: [x-y, x]\n  b: [z, y-z]\n");
    let out = validate_json(&manifest);
    out.code(0);
    let keys: Vec<String> = items(&out)
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_owned())
        .collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{keys:?}");
}

#[test]
fn fingerprints_follow_the_inputs() {
    let run = |message: &str| {
        let out = Test::new()
            .manifest(&format!("{HEAD}inputs:\n  message: {message}\n"))
            .args(&["validate", "--output", "json", "study.yaml"])
            .run();
        out.code(0);
        items(&out)[0]["fingerprint"].as_str().unwrap().to_owned()
    };
    assert_eq!(run("a"), run("a"));
    assert_ne!(run("a"), run("b"));
}

#[test]
fn vars_templates_and_env_render() {
    let manifest = format!(
        "{HEAD}vars:\n  cohort: 2025\n  site: {{ city: Lyon }}\ninputs:\n  message: \"{{{{ name }}}}-{{{{ cohort }}}}-{{{{ vars.site.city }}}}-{{{{ env(\\\"VIP_RUN_TEST_VAR\\\") }}}}\"\n"
    );
    let out = Test::new()
        .manifest(&manifest)
        .env("VIP_RUN_TEST_VAR", "xyz")
        .args(&["validate", "--output", "json", "study.yaml"])
        .run();
    out.code(0);
    assert_eq!(items(&out)[0]["inputs"]["message"], "study-2025-Lyon-xyz");
}

#[test]
fn missing_local_looking_files_are_warned_about_once() {
    let manifest = format!(
        "{HEAD}matrix:\n  s: [a, b, c]\ninputs:\n  input_file: \"data/{{{{ s }}}}/in.nii\"\n"
    );
    let out = Test::new()
        .manifest(&manifest)
        .args(&["validate", "study.yaml"])
        .run();
    out.code(0)
        .stderr_has("warning: input `input_file`: no local file `data/a/in.nii` (and 2 more items)")
        .stderr_has("study.yaml:8:15");
    assert_eq!(out.stderr.matches("warning:").count(), 1);
    // --quiet keeps warnings and the summary out.
    let quiet = Test::new()
        .manifest(&manifest)
        .args(&["validate", "-q", "study.yaml"])
        .run();
    quiet.code(0);
    assert!(
        quiet.stderr.is_empty() && quiet.stdout.is_empty(),
        "{quiet:?}"
    );
}

#[test]
fn max_items_can_be_raised() {
    let values: Vec<String> = (0..120).map(|i| format!("v{i}")).collect();
    let manifest = format!("{HEAD}matrix:\n  a: [{0}]\n  b: [{0}]\n", values.join(", "));
    Test::new()
        .manifest(&manifest)
        .args(&["validate", "-q", "study.yaml"])
        .run()
        .code(3);
    Test::new()
        .manifest(&manifest)
        .args(&["validate", "-q", "--max-items", "20000", "study.yaml"])
        .run()
        .code(0);
}

#[test]
fn list_inputs_stay_lists() {
    let manifest = format!("{HEAD}inputs:\n  message: [a, 1.5, true]\n");
    let out = validate_json(&manifest);
    out.code(0);
    assert_eq!(
        items(&out)[0]["inputs"]["message"],
        json!(["a", "1.5", "true"])
    );
}

#[test]
fn completions_and_man_page_are_generated() {
    Test::new()
        .args(&["completions", "bash"])
        .run()
        .code(0)
        .stdout_has("vip-run");
    Test::new()
        .args(&["man"])
        .run()
        .code(0)
        .stdout_has(".TH vip-run");
    let help = Test::new().args(&["--help"]).run();
    help.code(0)
        .stdout_has("validate")
        .stdout_has("plan")
        .stdout_has("MANIFEST...    (short for `vip-run run MANIFEST...`)")
        .stdout_has("Exit codes:");
}

/// One loopback rule: `validate` accepts a plain-http server exactly when the client would
/// connect to it (a name that only starts like a loopback address is a remote host).
#[test]
fn validate_and_the_client_agree_on_plain_http() {
    for (url, loopback) in [
        ("http://127.0.0.1:8080/rest", true),
        ("http://127.1.2.3/rest", true),
        ("http://LOCALHOST:8080/rest", true),
        ("http://localhost/rest", true),
        ("http://[::1]:1/rest", true),
        ("http://127.0.0.1.example.org/rest", false),
        ("http://localhost.example.org/rest", false),
        ("http://0.0.0.0:8080/rest", false),
        ("http://vip.example.org/rest", false),
        ("https://vip.example.org/rest", true),
    ] {
        assert_eq!(
            vip_run::vip::client::check_base_url(url).is_ok(),
            loopback,
            "the client on {url}"
        );
        let t = Test::new().manifest(&format!("{HEAD}server: {url}\n"));
        let out = t.run_with(&["validate", "study.yaml"]);
        assert_eq!(out.code == 0, loopback, "validate on {url}: {}", out.stderr);
    }
}
