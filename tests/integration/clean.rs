//! `clean` deletes exactly the manifest's own uploaded inputs and downloaded
//! results on VIP (and, with `--executions`, its finished executions), nothing of another
//! manifest's or of the user's other files; it asks first; a later run re-uploads what it
//! needs and downloads nothing twice; `results.clean` and `plan` show and do the same.

use std::time::Duration;

use secrecy::SecretString;
use vip_run::sandbox::Config;
use vip_run::vip::{Client, ClientConfig};

use crate::support::{SandboxHandle, Test};

pub const DEMO: &str = "sandbox-demo-key";

/// A sandbox whose deletions take effect 1 s after VIP answers, as VIP's do (queued).
pub fn slow_delete_sandbox() -> SandboxHandle {
    let text =
        vip_run::sandbox::default_world_yaml().replace("delete_delay: 0s", "delete_delay: 1s");
    assert!(
        text.contains("delete_delay: 1s"),
        "the default world changed shape"
    );
    SandboxHandle::start(Config {
        world: vip_run::sandbox::World::from_yaml(&text).unwrap(),
        exec_duration: Duration::from_millis(300),
        ..Config::default()
    })
}

/// `name`'s manifest: Hello on `subjects`, sub-02 failing when `fail` is set.
pub fn manifest(name: &str, subjects: &[&str], fail: bool, extra: &str) -> String {
    let message = if fail {
        "\"{% if subject == 'sub-02' %}FAIL{% else %}hi{% endif %} {{ subject }}\""
    } else {
        "\"hi {{ subject }}\""
    };
    format!(
        "version: 1\nname: {name}\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: data/{{{{ subject }}}}.txt\n  message: {message}\nresults:\n  download: results/{{{{ subject }}}}\n{extra}execution:\n  max_parallel: 3\n  poll_interval: 1s\n",
        subjects.join(", ")
    )
}

pub fn client(sb: &SandboxHandle) -> Client {
    Client::new(&ClientConfig::new(sb.url()), &SecretString::from(DEMO)).unwrap()
}

pub fn exists(sb: &SandboxHandle, path: &str) -> bool {
    sb.block_on(client(sb).exists(path)).unwrap()
}

/// Every file below `path` on VIP.
fn files_below(sb: &SandboxHandle, path: &str) -> Vec<String> {
    let c = client(sb);
    let mut out = Vec::new();
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        if !sb.block_on(c.exists(&dir)).unwrap() {
            continue;
        }
        for e in sb.block_on(c.list(&dir)).unwrap() {
            if e.is_directory == Some(true) {
                pending.push(e.path);
            } else {
                out.push(e.path);
            }
        }
    }
    out.sort();
    out
}

fn count(
    sb: &SandboxHandle,
    method: &str,
    pred: impl Fn(&vip_run::sandbox::LoggedRequest) -> bool,
) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == method && pred(r))
        .count()
}

pub fn downloads(sb: &SandboxHandle) -> usize {
    count(sb, "GET", |r| {
        r.query
            .as_deref()
            .is_some_and(|q| q.contains("action=content"))
    })
}

fn uploads(sb: &SandboxHandle) -> usize {
    count(sb, "PUT", |r| r.path.contains("/inputs/data/"))
}

fn launches(sb: &SandboxHandle) -> usize {
    count(sb, "POST", |r| r.path.ends_with("/executions"))
}

fn study(sb: &SandboxHandle, name: &str, subjects: &[&str], fail: bool, extra: &str) -> Test {
    let mut t = Test::new().manifest(&manifest(name, subjects, fail, extra));
    for s in ["sub-01", "sub-02", "sub-03"] {
        t = t.file(&format!("data/{s}.txt"), format!("data of {s}\n"));
    }
    t.against(sb, DEMO)
}

#[test]
fn clean_deletes_only_what_this_manifest_put_there_and_a_rerun_copes() {
    let sb = slow_delete_sandbox();
    // The user's own file, and another manifest's run, both on the same account.
    let mine = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(mine.path(), "mine\n").unwrap();
    sb.block_on(client(&sb).upload(mine.path(), "/vip/Home/mine.txt"))
        .unwrap();
    let other = study(&sb, "other", &["sub-01"], false, "");
    other.run_with(&["study.yaml"]).code(0);
    let others_before = files_below(&sb, "/vip/Home/vip-run/other");
    assert!(others_before.len() >= 2, "{others_before:?}");

    let t = study(&sb, "study", &["sub-01", "sub-02", "sub-03"], true, "");
    t.run_with(&["study.yaml"]).code(1);
    let results_before = files_below(&sb, "/vip/Home/vip-run/study");
    let failed_results: Vec<&String> = results_before
        .iter()
        .filter(|p| p.contains("study-sub-02-"))
        .collect();

    // Off a terminal, without --yes: it shows what it would delete, deletes nothing, exit 2.
    let refused = t.run_with(&["clean", "study.yaml"]);
    refused
        .code(2)
        .stdout_has("will delete on VIP 3 folders (")
        .stdout_has(&crate::support::inputs_root(&t, "study"))
        .stdout_has("results of sub-01")
        .stdout_has("results of sub-03")
        .stdout_has("keeping results of sub-02")
        .stderr_has("--yes");
    assert_eq!(files_below(&sb, "/vip/Home/vip-run/study"), results_before);

    let done = t.run_with(&["clean", "study.yaml", "--yes"]);
    done.code(0).stdout_has("deleted 3 folders (");
    // It waited for VIP's queued deletions: gone the moment it returns.
    assert!(!exists(&sb, &crate::support::inputs_root(&t, "study")));
    let left = files_below(&sb, "/vip/Home/vip-run/study");
    // Only the failed item's results (never downloaded) remain.
    assert_eq!(left.iter().collect::<Vec<_>>(), failed_results, "{left:?}");
    assert!(exists(&sb, "/vip/Home/mine.txt"));
    assert_eq!(files_below(&sb, "/vip/Home/vip-run/other"), others_before);
    // Local results are untouched.
    assert!(t.dir().join("results/sub-01/hello.txt").is_file());

    // A second clean finds nothing.
    t.run_with(&["clean", "study.yaml"])
        .code(0)
        .stdout_has("nothing to delete on VIP");

    // A re-run after the clean: nothing downloaded twice; the failed item is not retried
    // (retries: 0), so nothing is launched and no input is needed.
    let (d, l) = (downloads(&sb), launches(&sb));
    t.run_with(&["study.yaml"]).code(1);
    assert_eq!(downloads(&sb), d, "nothing downloaded twice");
    assert_eq!(launches(&sb), l);

    // A new subject: its input is uploaded again, it runs, only its outputs come home.
    let t2 = t
        .file(
            "study.yaml",
            manifest("study", &["sub-01", "sub-02", "sub-03", "sub-04"], true, ""),
        )
        .file("data/sub-04.txt", "data of sub-04\n");
    let (d, u) = (downloads(&sb), uploads(&sb));
    t2.run_with(&["study.yaml"])
        .code(1)
        .stdout_has("3 finished");
    assert_eq!(uploads(&sb), u + 1, "sub-04's input re-uploaded");
    assert_eq!(downloads(&sb), d + 1, "only sub-04's output downloaded");
    assert!(t2.dir().join("results/sub-04/hello.txt").is_file());
}

#[test]
fn clean_executions_deletes_the_items_finished_executions_only() {
    let sb = slow_delete_sandbox();
    let other = study(&sb, "other", &["sub-01"], false, "");
    other.run_with(&["study.yaml"]).code(0);
    let t = study(&sb, "study", &["sub-01", "sub-02"], true, "");
    t.run_with(&["study.yaml"]).code(1);
    let names = |sb: &SandboxHandle| -> Vec<String> {
        let mut n: Vec<String> = sb
            .block_on(client(sb).executions(500))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&sb).len(), 3);
    let out = t.run_with(&["clean", "study.yaml", "--executions", "--yes"]);
    out.code(0)
        .stdout_has("execution of sub-01")
        .stdout_has("1 execution");
    let left = names(&sb);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().any(|n| n.starts_with("other-sub-01-")));
    // The failed one cannot be deleted on VIP and is not the clean's to delete.
    assert!(left.iter().any(|n| n.starts_with("study-sub-02-")));
    // --executions alone keeps the folders.
    assert!(exists(&sb, &crate::support::inputs_root(&t, "study")));
    // A re-run knows sub-01 is home: nothing launched or downloaded.
    let (d, l) = (downloads(&sb), launches(&sb));
    t.run_with(&["study.yaml"]).code(1);
    assert_eq!((downloads(&sb), launches(&sb)), (d, l));
}

#[test]
fn results_clean_cleans_after_a_successful_run_and_plan_shows_cleanable_space() {
    let sb = slow_delete_sandbox();
    let t = study(&sb, "study", &["sub-01", "sub-02"], false, "");
    t.run_with(&["study.yaml"]).code(0);
    let plan = t.run_with(&["plan", "study.yaml"]);
    plan.code(0).stdout_has("cleanable on VIP: 3 folders (");
    // With results.clean, a successful run leaves nothing behind on VIP.
    let t2 = study(&sb, "tidy", &["sub-01", "sub-02"], false, "  clean: true\n");
    let out = t2.run_with(&["study.yaml"]);
    out.code(0).stderr_has("results.clean: deleted 3 folders");
    assert!(files_below(&sb, "/vip/Home/vip-run/tidy").is_empty());
    assert!(t2.dir().join("results/sub-02/hello.txt").is_file());
    // …and a failed run cleans nothing.
    let t3 = study(
        &sb,
        "failing",
        &["sub-01", "sub-02"],
        true,
        "  clean: true\n",
    );
    t3.run_with(&["study.yaml"]).code(1);
    assert!(exists(&sb, &crate::support::inputs_root(&t3, "failing")));
}
