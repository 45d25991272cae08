//! One quota per account on a machine: recipes of one account (the same server and key) run
//! at once share its limit of running executions through the registry, so once VIP's first
//! refusal has shown the limit (or it is set) they take turns instead of launching into
//! VIP's 2001; a killed run's slot comes back at once; `vip-run recipes` and `status` over
//! several manifests give one line per recipe.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::run::{DEMO, sandbox};
use crate::support::{Background, SandboxHandle, Test};

/// A recipe named `name` of `items` items, one execution at a time.
fn recipe(name: &str, items: usize) -> String {
    let values: Vec<String> = (1..=items).map(|i| format!("s{i}")).collect();
    format!(
        "version: 1\nname: {name}\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: in.txt\n  message: \"{{{{ subject }}}}\"\nresults:\n  download: false\nexecution:\n  max_parallel: 1\n  poll_interval: 1s\n",
        values.join(", ")
    )
}

/// A scratch folder with two recipes of the demo user's account, `a.yaml` and `b.yaml`, of
/// `items` items each, pointed at `sb`.
fn two_recipes(sb: &SandboxHandle, items: usize) -> Test {
    Test::new()
        .file("a.yaml", recipe("rec-a", items))
        .file("b.yaml", recipe("rec-b", items))
        .file("in.txt", "hello\n")
        .against(sb, DEMO)
}

/// VIP's 2001 answers: launches refused for the account's full quota (the only refusal
/// these sandboxes give).
fn refusals(sb: &SandboxHandle) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/executions") && r.status == 400)
        .count()
}

/// Runs `a.yaml` and `b.yaml` at once, each with `args`; both must finish (exit 0).
fn run_both(t: &Test, args: &[&str]) {
    std::thread::scope(|s| {
        let runs: Vec<_> = ["a.yaml", "b.yaml"]
            .into_iter()
            .map(|m| {
                s.spawn(move || {
                    let mut all = vec!["--progress", "plain"];
                    all.extend_from_slice(args);
                    all.push(m);
                    t.run_with(&all)
                })
            })
            .collect();
        for run in runs {
            run.join().unwrap().code(0);
        }
    });
}

/// The account folders in `t`'s registry.
fn accounts(t: &Test) -> Vec<PathBuf> {
    std::fs::read_dir(t.state_home().join("accounts"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// A sandbox whose quota is one execution, and two recipes of three 3 s items each. Each
/// recipe alone runs longer than VIP's quota wait (5 s) by a margin a slow start-up of the
/// other cannot eat: a recipe refused at the start and left to VIP's quota is refused again.
fn quota_of_one() -> (SandboxHandle, Test) {
    let sb = sandbox(3000, 1);
    let t = two_recipes(&sb, 3);
    (sb, t)
}

#[test]
fn two_recipes_of_one_account_share_its_quota_once_vip_has_refused_once() {
    let (sb, t) = quota_of_one();
    run_both(&t, &[]);
    let refused = refusals(&sb);
    assert!(
        refused <= 1,
        "{refused} refusals: only the first may reveal the limit"
    );
    // Every item launched once, none twice.
    assert_eq!(crate::run::posts(&sb) - refused, 6);
    // The limit VIP showed is recorded for every later run.
    let [account] = accounts(&t).try_into().unwrap();
    if refused == 1 {
        let learned: serde_json::Value =
            serde_json::from_slice(&std::fs::read(account.join("learned.json")).unwrap()).unwrap();
        assert_eq!(learned["limit"], 1, "{learned}");
        assert_eq!(learned["vip_count"], 1, "{learned}");
    }
    let about = std::fs::read_to_string(account.join("account.json")).unwrap();
    assert!(about.contains(sb.url()) && !about.contains(DEMO), "{about}");

    // One line per recipe: what this machine ran, and over several manifests.
    let listed = t.run_with(&["recipes"]);
    listed.code(0);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", listed.stdout);
    assert!(lines[0].starts_with("RECIPE "), "{}", listed.stdout);
    for name in ["rec-a", "rec-b"] {
        let line = lines.iter().find(|l| l.starts_with(name)).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[1], "finished", "{line}");
        // EXIT, ITEMS, FINISHED, FAILED, RUNNING, LEFT, then the manifest's absolute path.
        assert_eq!(&words[4..10], ["0", "3", "3", "0", "0", "0"], "{line}");
        let manifest = std::path::Path::new(words[10]);
        assert!(
            manifest.is_absolute() && manifest.ends_with(format!("{}.yaml", &name[4..])),
            "{line}"
        );
    }
    let json = t.run_with(&["--output", "json", "recipes"]);
    let records = json.json_lines();
    assert_eq!(records.len(), 2, "{}", json.stdout);
    for r in &records {
        assert_eq!(r["state"], "finished", "{r}");
        assert_eq!(r["exit_code"], 0, "{r}");
        assert_eq!(r["counts"]["finished"], 3, "{r}");
        assert_eq!(r["server"], sb.url(), "{r}");
    }
    let status = t.run_with(&["status", "a.yaml", "b.yaml"]);
    status.code(0);
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", status.stdout);
    assert!(
        lines[1].starts_with("rec-a ") && lines[1].ends_with(" a.yaml"),
        "{}",
        status.stdout
    );
    assert!(
        lines[2].starts_with("rec-b ") && lines[2].ends_with(" b.yaml"),
        "{}",
        status.stdout
    );
    // One manifest keeps its table of items.
    t.run_with(&["status", "a.yaml"])
        .code(0)
        .stdout_has("ITEM ");
}

#[test]
fn without_the_registry_the_same_recipes_meet_more_refusals() {
    let (sb, t) = quota_of_one();
    run_both(&t, &["--no-account-registry"]);
    let refused = refusals(&sb);
    assert!(refused >= 2, "{refused} refusals without the registry");
    assert_eq!(crate::run::posts(&sb) - refused, 6);
    // Nothing shared, nothing listed.
    assert!(!t.state_home().exists());
}

#[test]
fn a_limit_known_from_the_start_meets_no_refusal() {
    let sb = sandbox(300, 1);
    let t = two_recipes(&sb, 3);
    run_both(&t, &["--account-limit", "1"]);
    assert_eq!(refusals(&sb), 0);
    // Nothing was learned: VIP never refused.
    let [account] = accounts(&t).try_into().unwrap();
    assert!(!account.join("learned.json").exists());

    // The same from the account's `limit` file; a file that holds no limit stops the run
    // before anything is launched.
    std::fs::write(account.join("limit"), "lots\n").unwrap();
    let posts = crate::run::posts(&sb);
    t.run_with(&["a.yaml"])
        .code(2)
        .stderr_has("`lots` is not a limit of running executions");
    assert_eq!(crate::run::posts(&sb), posts);
    std::fs::write(account.join("limit"), "1\n").unwrap();
    let again = Test::new()
        .file("a.yaml", recipe("rec-c", 3))
        .file("b.yaml", recipe("rec-d", 3))
        .file("in.txt", "hello\n")
        .against(&sb, DEMO);
    // Another folder, the same registry (as two folders of one user would).
    let again = again.env("VIP_RUN_STATE_HOME", &t.state_home().display().to_string());
    run_both(&again, &[]);
    assert_eq!(refusals(&sb), 0);
}

#[test]
fn a_killed_run_gives_its_slot_back_at_once() {
    // Executions longer than the test: only the kill can free the slot. VIP allows two, the
    // machine one, so the waiting run's launch is taken even with the killed run's
    // execution still running on VIP.
    let sb = sandbox(120_000, 2);
    let t = two_recipes(&sb, 1);
    let limit = ["--progress", "plain", "--account-limit", "1"];
    let mut a = Background::start(&t, &[&limit[..], &["a.yaml"]].concat());
    a.wait_for("s1: launched", Duration::from_secs(30));
    let b = Background::start(&t, &[&limit[..], &["b.yaml"]].concat());
    b.wait_for(
        "s1: waiting, another recipe of this account holds the quota's slots (1 of 1)",
        Duration::from_secs(30),
    );
    // Both listed as running while they run.
    let listed = t.run_with(&["--output", "json", "recipes"]).json_lines();
    assert!(listed.iter().all(|r| r["state"] == "running"), "{listed:?}");
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    b.wait_for("s1: launched", Duration::from_secs(10));
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the slot came back after {took:?}"
    );
    assert_eq!(refusals(&sb), 0);
    // The killed run recorded no end: it is said stopped, not finished.
    let listed = t.run_with(&["--output", "json", "recipes"]).json_lines();
    let a_line = listed.iter().find(|r| r["recipe"] == "rec-a").unwrap();
    assert_eq!(a_line["state"], "stopped", "{a_line}");
    let mut b = b;
    b.child.kill().unwrap();
    b.child.wait().unwrap();
}

#[test]
fn a_sandbox_try_out_shares_nothing() {
    let t = Test::new()
        .file("a.yaml", recipe("rec-a", 1))
        .file("in.txt", "hello\n");
    t.run_with(&["--sandbox", "a.yaml"]).code(0);
    assert!(!t.state_home().exists());
    t.run_with(&["recipes"])
        .code(0)
        .stderr_has("no run of a recipe is recorded");
}

#[test]
fn the_account_options_are_checked_before_any_work() {
    let t = Test::new().file("a.yaml", recipe("rec-a", 1));
    t.run_with(&["--account-limit", "0", "a.yaml"])
        .code(2)
        .stderr_has("give a whole number from 1");
    t.run_with(&["--account-limit", "1", "--no-account-registry", "a.yaml"])
        .code(2)
        .stderr_has("cannot be used with");
    t.run_with(&["status", "--account-limit", "1", "a.yaml"])
        .code(2)
        .stderr_has("unexpected argument '--account-limit'");
    assert!(!t.state_home().exists() && !t.dir().join(".vip-run").exists());
}
