//! The pipeline's own rules: every Boutiques constraint of `BET/1.0.0` and
//! `Denoise/2.1` in the sandbox, valid and invalid, checked by `validate --online` before
//! anything is uploaded, each message at the input's line and naming the items it hits.

use std::time::Duration;

use crate::support::{SandboxHandle, Test};

const DEMO: &str = "sandbox-demo-key";

fn sandbox() -> SandboxHandle {
    SandboxHandle::quick(Duration::from_millis(300))
}

pub(crate) fn bet(inputs: &str) -> String {
    format!(
        "version: 1\nname: bet\npipeline_id: BET/1.0.0\ngroup: Demo\ninputs:\n  in_file: t1.nii\n{inputs}"
    )
}

pub(crate) fn denoise(inputs: &str) -> String {
    format!(
        "version: 1\nname: dn\npipeline_id: Denoise/2.1\ngroup: Demo\ninputs:\n  input_file: t1.nii\n{inputs}"
    )
}

struct Case {
    name: &'static str,
    manifest: String,
    /// Exit code: 0 valid (maybe with a warning), 3 refused.
    code: i32,
    /// `file:line:column`, the message and the rule's label, all in stderr.
    expect: &'static [&'static str],
}

#[test]
fn every_boutiques_rule_is_checked_before_launch_with_its_line() {
    let sb = sandbox();
    let cases = vec![
        Case {
            name: "in range",
            manifest: bet("  frac: 0.3\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "range bounds are inclusive",
            manifest: bet("  frac: 1\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "above maximum",
            manifest: bet("  frac: 1.5\n"),
            code: 3,
            expect: &[
                "study.yaml:7:9",
                "`frac` is 1.5, outside its range: it must be ≥ 0 and ≤ 1",
                "BET/1.0.0: `maximum`",
            ],
        },
        Case {
            name: "below minimum",
            manifest: bet("  frac: -0.1\n"),
            code: 3,
            expect: &["study.yaml:7:9", "`minimum`"],
        },
        Case {
            name: "exclusive minimum",
            manifest: bet("  vertical_gradient: -1\n"),
            code: 3,
            expect: &[
                "study.yaml:7:22",
                "must be > -1 and < 1",
                "`exclusive-minimum`",
            ],
        },
        Case {
            name: "exclusive maximum",
            manifest: bet("  vertical_gradient: 1\n"),
            code: 3,
            expect: &["`exclusive-maximum`"],
        },
        Case {
            name: "inside an exclusive range",
            manifest: bet("  vertical_gradient: 0.99\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "integer list of the right length",
            manifest: bet("  center: [10, 20, 30]\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "list too short warns (VIP iterates lists)",
            manifest: bet("  center: [10, 20]\n"),
            code: 0,
            expect: &[
                "warning",
                "study.yaml:7:11",
                "`center` has 2 values, but the descriptor wants exactly 3",
                "`min-list-entries`",
            ],
        },
        Case {
            name: "list too long warns",
            manifest: bet("  center: [1, 2, 3, 4]\n"),
            code: 0,
            expect: &["warning", "`max-list-entries`"],
        },
        Case {
            name: "integer list element",
            manifest: bet("  center: [1, 2.5, 3]\n"),
            code: 3,
            expect: &["`center` expects a whole number, not `2.5`"],
        },
        Case {
            name: "one of a mutually exclusive group",
            manifest: bet("  robust: true\n  eye_cleanup: false\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "two of a mutually exclusive group",
            manifest: bet("  robust: true\n  surfaces: true\n"),
            code: 3,
            expect: &[
                "study.yaml:8:13",
                "`robust` and `surfaces` are mutually exclusive (group `variations`)",
                "`mutually-exclusive`",
            ],
        },
        Case {
            name: "a value choice",
            manifest: denoise("  method: median\n  estimate_noise: true\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "not a value choice",
            manifest: denoise("  method: bilateral\n  estimate_noise: true\n"),
            code: 3,
            expect: &[
                "study.yaml:7:11",
                "`method` is `bilateral`, which is not one of its choices: `nlmeans`, `gaussian`, `median`",
                "`value-choices`",
            ],
        },
        Case {
            name: "requires-inputs met",
            manifest: denoise("  method: nlmeans\n  patch_size: 3\n  estimate_noise: true\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "requires-inputs missing",
            manifest: denoise("  patch_size: 3\n  estimate_noise: true\n"),
            code: 3,
            expect: &[
                "study.yaml:7:15",
                "`patch_size` requires `method`",
                "`requires-inputs`",
            ],
        },
        Case {
            name: "disables-inputs with the flag false",
            manifest: denoise("  mask: t1.nii\n  auto_mask: false\n  estimate_noise: true\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "disables-inputs broken",
            manifest: denoise("  mask: t1.nii\n  auto_mask: true\n  estimate_noise: true\n"),
            code: 3,
            expect: &[
                "study.yaml:8:14",
                "`mask` disables `auto_mask`: they cannot be given together",
                "`disables-inputs`",
            ],
        },
        Case {
            name: "one-is-required met by a value",
            manifest: denoise("  noise_level: 0.2\n"),
            code: 0,
            expect: &[],
        },
        Case {
            name: "one-is-required with the flag false",
            manifest: denoise("  estimate_noise: false\n"),
            code: 3,
            expect: &[
                "one of `noise_level`, `estimate_noise` is required (group `noise`), and none is given",
                "`one-is-required`",
            ],
        },
        Case {
            name: "exclusive minimum of 0",
            manifest: denoise("  noise_level: 0\n"),
            code: 3,
            expect: &["study.yaml:7:16", "must be > 0"],
        },
        Case {
            name: "all-or-none half given warns",
            manifest: denoise("  estimate_noise: true\n  atlas_image: t1.nii\n"),
            code: 0,
            expect: &[
                "warning",
                "group `atlas` takes all of `atlas_image`, `atlas_labels` or none",
                "`all-or-none`",
            ],
        },
    ];
    let mut failures = Vec::new();
    for case in cases {
        let out = Test::new()
            .manifest(&case.manifest)
            .file("t1.nii", "voxels\n")
            .against(&sb, DEMO)
            .args(&["validate", "--online", "study.yaml"])
            .run();
        let ok = out.code == case.code && case.expect.iter().all(|e| out.stderr.contains(e));
        if !ok {
            failures.push(format!(
                "--- {} (want exit {}, {:?}): exit {}\n{}",
                case.name, case.code, case.expect, out.code, out.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_rule_broken_by_matrix_items_names_them_and_nothing_is_launched() {
    let sb = sandbox();
    let manifest = "version: 1\nname: bet\npipeline_id: BET/1.0.0\ngroup: Demo\nmatrix:\n  subject: [sub-01, sub-02, sub-03]\n  frac: [0.5, 1.2]\ninputs:\n  in_file: t1.nii\n  output_name: \"{{ subject }}\"\n  frac: \"{{ frac }}\"\n";
    let out = Test::new()
        .manifest(manifest)
        .file("t1.nii", "voxels\n")
        .against(&sb, DEMO)
        .args(&["run", "study.yaml"])
        .run();
    out.code(3)
        .stderr_has("`frac` is 1.2, outside its range: it must be ≥ 0 and ≤ 1 in item `sub-01-1.2`")
        .stderr_has("(and 2 more")
        // At the matrix value that made it, not at the input's line every item shares.
        .stderr_has("study.yaml:7:15")
        .stderr_has("`frac` takes `frac` = `1.2` from here")
        .stderr_has("nothing was uploaded or launched");
    assert!(
        !sb.requests()
            .iter()
            .any(|r| r.method == "POST" || r.method == "PUT"),
        "nothing may be uploaded or launched"
    );
}

#[test]
fn a_rule_broken_by_a_csv_value_points_at_its_row() {
    let sb = sandbox();
    let manifest = "version: 1\nname: bet\npipeline_id: BET/1.0.0\ngroup: Demo\nforeach: subjects.csv\ninputs:\n  in_file: t1.nii\n  output_name: \"{{ subject }}\"\n  frac: \"{{ frac }}\"\n";
    let out = Test::new()
        .manifest(manifest)
        .file(
            "subjects.csv",
            "subject,frac\nsub-01,0.5\nsub-02,0.4\nsub-03,7\n",
        )
        .file("t1.nii", "voxels\n")
        .against(&sb, DEMO)
        .args(&["validate", "--online", "study.yaml"])
        .run();
    out.code(3)
        .stderr_has("`frac` is 7, outside its range")
        .stderr_has("in item `sub-03`")
        .stderr_has("subjects.csv:4:1")
        .stderr_has("`frac` takes `frac` = `7` from here");
}

#[test]
fn pipeline_and_init_show_the_rules_and_every_listed_id_is_accepted() {
    let sb = sandbox();
    Test::new()
        .against(&sb, DEMO)
        .args(&["pipeline", "Denoise/2.1"])
        .run()
        .code(0)
        .stdout_has("rules (checked before launch):")
        .stdout_has("method          one of `nlmeans`, `gaussian`, `median`")
        .stdout_has("patch_size      ≥ 1 and ≤ 9; requires `method`")
        .stdout_has("mask            disables `auto_mask`")
        .stdout_has("this or `estimate_noise` is required (group `noise`)");
    let out = Test::new()
        .against(&sb, DEMO)
        .args(&["--output", "json", "pipeline", "BET/1.0.0"])
        .run();
    out.code(0);
    let center = out.json_lines()[0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "center")
        .cloned()
        .unwrap();
    assert_eq!(center["rules"], serde_json::json!(["exactly 3 values"]));

    // `init` writes the rules as comments and placeholders that obey them, and writes one
    // member of a one-is-required group: only the CHANGE-ME path is left to fix.
    let t = Test::new()
        .against(&sb, DEMO)
        .args(&["init", "Denoise/2.1", "-o", "study.yaml"]);
    t.run().code(0);
    let text = std::fs::read_to_string(t.dir().join("study.yaml")).unwrap();
    assert!(
        text.contains("  #   rules: ≥ 1 and ≤ 9; requires `method`\n  # patch_size: 5\n"),
        "{text}"
    );
    assert!(text.contains("  # method: \"nlmeans\"\n"), "{text}");
    assert!(text.contains("\n  noise_level: 1\n"), "{text}");
    let online = t.run_with(&["--force", "--output", "json"]);
    online.code(0);
    let v = Test::new()
        .file("study.yaml", &text)
        .against(&sb, DEMO)
        .args(&["validate", "--online", "study.yaml"])
        .run();
    v.code(3)
        .stderr_has("1 problem")
        .stderr_has("/vip/Home/CHANGE-ME/input_file");

    // Every id `pipelines` lists is one `pipeline` accepts; a malformed one is refused
    // before any call, without an invented version.
    let listed = Test::new()
        .against(&sb, DEMO)
        .args(&["--output", "json", "pipelines"])
        .run();
    for p in listed.json_lines() {
        let id = p["identifier"].as_str().unwrap();
        Test::new()
            .against(&sb, DEMO)
            .args(&["pipeline", id])
            .run()
            .code(0);
    }
    let before = sb.requests().len();
    let out = Test::new()
        .against(&sb, DEMO)
        .args(&["init", "Denoise"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("`Name/version`"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("/0."),
        "no invented version: {}",
        out.stderr
    );
    assert_eq!(sb.requests().len(), before, "no call for a malformed id");
}

#[test]
fn a_descriptor_without_recipes_runs_with_its_path_template() {
    // Denoise/2.1 has no output recipe in the world file (any Boutiques descriptor is
    // accepted) and a path template with value keys and stripped extensions.
    let sb = sandbox();
    let t = Test::new()
        .manifest(&denoise("  estimate_noise: true\n  method: median\n"))
        .file("t1.nii", "voxels\n")
        .against(&sb, DEMO);
    t.run_with(&["run", "study.yaml"]).code(0);
    let out = t.dir().join("results/dn/main/t1_denoised.nii.gz");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("Denoise/2.1 (output `denoised`, job 1)"),
        "{text}"
    );
}
