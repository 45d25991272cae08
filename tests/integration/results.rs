//! The results next to a recipe are that recipe's, as written now: outputs belong to the
//! execution they came from (checked byte for byte against VIP's copy), a relaunch replaces
//! them, two manifests or two projects never share results, and "finished" means home (a
//! full disk or a folder that cannot be written is a local error, exit 6, never VIP's).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::{self, SandboxHandle, Test};

const DEMO: &str = "sandbox-demo-key";

fn manifest(name: &str, message: &str) -> String {
    format!(
        "version: 1\nname: {name}\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [s1, s2]\ninputs:\n  input_file: in.txt\n  message: \"{message} {{{{ subject }}}}\"\n"
    )
}

fn sha(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:x}", Sha256::digest(bytes))
}

/// The sandbox's own copy of the VIP file `remote` (its data folder mirrors the namespace).
fn on_vip(sb: &SandboxHandle, remote: &str) -> PathBuf {
    let tail = remote.trim_start_matches("/vip/Home/");
    support::walk(sb.sandbox().data_dir())
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.to_string_lossy().ends_with(tail))
        .unwrap_or_else(|| panic!("{remote} is not in the sandbox"))
}

/// run.json's record of `item`.
fn record_of(t: &Test, name: &str, item: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(t.dir().join(format!(".vip-run/{name}/run.json"))).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    record["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == item)
        .unwrap()
        .clone()
}

/// run.json's outputs of `item`: (execution id, remote, local, sha256).
fn recorded(t: &Test, name: &str, item: &str) -> Vec<(String, String, PathBuf, String)> {
    record_of(t, name, item)["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["execution"].as_str().unwrap_or_default().to_owned(),
                o["remote"].as_str().unwrap().to_owned(),
                t.dir().join(o["local"].as_str().unwrap()),
                o["sha256"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The current execution of `item` in run.json.
fn execution_of(t: &Test, name: &str, item: &str) -> String {
    record_of(t, name, item)["executions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every output of `item` is on disk as the execution on VIP wrote it.
fn home_as_on_vip(t: &Test, sb: &SandboxHandle, name: &str, item: &str) {
    let current = execution_of(t, name, item);
    let outputs = recorded(t, name, item);
    assert!(!outputs.is_empty(), "{item}: no outputs recorded");
    for (execution, remote, local, recorded_sha) in outputs {
        assert_eq!(
            execution, current,
            "{item}: {remote} is of another execution"
        );
        let vip = sha(&on_vip(sb, &remote));
        assert_eq!(sha(&local), vip, "{item}: {} is not VIP's", local.display());
        assert_eq!(
            recorded_sha, vip,
            "{item}: the record's checksum is not VIP's"
        );
    }
}

/// The manifest `study` ("Hi" to s1 and s2) with its input, pointed at `sb`.
fn hi_study(sb: &SandboxHandle) -> Test {
    Test::new()
        .manifest(&manifest("study", "Hi"))
        .file("in.txt", "x\n")
        .against(sb, DEMO)
}

fn posts(sb: &SandboxHandle) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/executions") && r.status == 200)
        .count()
}

#[test]
fn changed_parameters_bring_the_new_executions_outputs_and_set_the_old_aside() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hi_study(&sb);
    t.run_with(&["run", "study.yaml"]).code(0);
    let file = t.dir().join("results/study/s1/hello.txt");
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("Hi s1"));
    let first = execution_of(&t, "study", "s1");
    // Same size, other bytes: the new execution's outputs must replace these.
    std::fs::write(t.dir().join("study.yaml"), manifest("study", "Yo")).unwrap();
    t.run_with(&["run", "study.yaml"]).code(0);
    assert_ne!(execution_of(&t, "study", "s1"), first);
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("Yo s1"));
    home_as_on_vip(&t, &sb, "study", "s1");
    home_as_on_vip(&t, &sb, "study", "s2");
    // The old outputs are kept apart, never mixed with the new.
    let aside = support::walk(&t.dir().join(".vip-run/study/superseded"));
    assert!(
        aside
            .iter()
            .any(|p| p.contains(&first) && p.ends_with("hello.txt")),
        "{aside:?}"
    );
}

#[test]
fn an_altered_or_missing_output_is_fetched_again_by_download_and_by_run() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hi_study(&sb);
    t.run_with(&["run", "study.yaml"]).code(0);
    let file = t.dir().join("results/study/s1/hello.txt");
    let size = std::fs::metadata(&file).unwrap().len();
    // Corrupted, same size.
    std::fs::write(&file, vec![b'#'; usize::try_from(size).unwrap()]).unwrap();
    std::fs::remove_file(t.dir().join("results/study/s2/hello.txt")).unwrap();
    t.run_with(&["download", "study.yaml"]).code(0);
    home_as_on_vip(&t, &sb, "study", "s1");
    home_as_on_vip(&t, &sb, "study", "s2");
    std::fs::write(&file, vec![b'#'; usize::try_from(size).unwrap()]).unwrap();
    t.run_with(&["run", "study.yaml"]).code(0);
    home_as_on_vip(&t, &sb, "study", "s1");
    assert_eq!(posts(&sb), 2, "nothing is launched again");
}

#[test]
fn two_manifests_of_one_folder_keep_their_own_results() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = Test::new()
        .file("a.yaml", manifest("first", "Hi"))
        .file("b.yaml", manifest("second", "Yo"))
        .file("in.txt", "x\n")
        .against(&sb, DEMO);
    t.run_with(&["run", "a.yaml"]).code(0);
    t.run_with(&["run", "b.yaml"]).code(0);
    let a = std::fs::read_to_string(t.dir().join("results/first/s1/hello.txt")).unwrap();
    let b = std::fs::read_to_string(t.dir().join("results/second/s1/hello.txt")).unwrap();
    assert!(a.starts_with("Hi s1"), "{a}");
    assert!(b.starts_with("Yo s1"), "{b}");
    home_as_on_vip(&t, &sb, "second", "s1");

    // Pointed at the same folder: validate refuses the pair, and a run refuses a folder
    // holding another manifest's outputs before launching anything.
    let shared = "results:\n  download: results/first/{{ item }}\n";
    std::fs::write(t.dir().join("b.yaml"), manifest("second", "Yo") + shared).unwrap();
    std::fs::write(t.dir().join("a2.yaml"), manifest("first2", "Hi") + shared).unwrap();
    t.run_with(&["validate", "a2.yaml", "b.yaml"])
        .code(3)
        .stderr_has("give one of them another results.download");
    let before = posts(&sb);
    t.run_with(&["run", "b.yaml"])
        .code(2)
        .stderr_has("holds the results of another manifest");
    assert_eq!(posts(&sb), before);
    assert!(
        std::fs::read_to_string(t.dir().join("results/first/s1/hello.txt"))
            .unwrap()
            .starts_with("Hi s1")
    );
}

#[test]
fn two_projects_with_one_name_share_no_upload_execution_or_result() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let one = Test::new()
        .manifest(&manifest("bet", "Hi"))
        .file("in.txt", "a".repeat(2000))
        .against(&sb, DEMO);
    let two = Test::new()
        .manifest(&manifest("bet", "Hi"))
        .file("in.txt", "b".repeat(2500))
        .against(&sb, DEMO);
    one.run_with(&["run", "study.yaml"]).code(0);
    let plan = two.run_with(&["--output", "json", "plan", "study.yaml"]);
    plan.code(0);
    assert!(!plan.stdout.contains("\"keep\""), "{}", plan.stdout);
    two.run_with(&["run", "study.yaml"])
        .code(0)
        .stderr_has("uploaded");
    assert_ne!(
        execution_of(&one, "bet", "s1"),
        execution_of(&two, "bet", "s1")
    );
    assert_eq!(posts(&sb), 4);
    home_as_on_vip(&two, &sb, "bet", "s1");
    // Each project's input is its own on VIP.
    let inputs: Vec<String> = support::walk(sb.sandbox().data_dir())
        .into_iter()
        .filter(|p| p.ends_with("/inputs/in.txt"))
        .collect();
    assert_eq!(inputs.len(), 2, "{inputs:?}");
    let sizes: Vec<u64> = inputs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    assert!(sizes.contains(&2000) && sizes.contains(&2500), "{sizes:?}");
}

#[test]
fn a_changed_input_file_is_run_again_without_a_rename() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hi_study(&sb);
    t.run_with(&["run", "study.yaml"]).code(0);
    let first = execution_of(&t, "study", "s1");
    std::fs::write(t.dir().join("in.txt"), "y\n").unwrap();
    t.run_with(&["run", "study.yaml"]).code(0);
    assert_ne!(execution_of(&t, "study", "s1"), first);
    assert_eq!(posts(&sb), 4);
    home_as_on_vip(&t, &sb, "study", "s1");
}

/// A tmpfs mounted at a folder for the length of a test (root only).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts or says why not: a skip is a failure under `CI=true`.
fn mount_or_skip(at: &Path, options: &str) -> Option<Mount> {
    let mounted = Mount::tmpfs(at, options);
    if mounted.is_none() {
        let why = "skipped: cannot mount a tmpfs here (needs root and mount rights)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("{why}");
    }
    mounted
}

#[test]
fn a_full_disk_stops_the_run_with_exit_6_and_the_next_run_fetches_what_was_not_home() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hi_study(&sb);
    let results = t.dir().join("results");
    let Some(_mount) = mount_or_skip(&results, "size=16k") else {
        return;
    };
    // Fill it: the probe (an empty file) passes, the outputs find no room.
    let filler = results.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 64 * 1024]);
    let out = t.run_with(&[
        "--output",
        "json",
        "--junit",
        "junit.xml",
        "run",
        "study.yaml",
    ]);
    out.code(6);
    let junit = std::fs::read_to_string(t.dir().join("junit.xml")).unwrap();
    assert!(junit.contains("finished on VIP, not downloaded"), "{junit}");
    let lines = out.json_lines();
    assert!(
        lines.iter().any(|l| l["event"] == "not_downloaded"),
        "{}",
        out.stdout
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["not_downloaded"], 1, "{summary}");
    assert_eq!(summary["finished"], 0, "{summary}");
    assert_eq!(posts(&sb), 1, "launching stopped");
    assert!(!out.stdout.contains("unreachable") && !out.stderr.contains("unreachable"));
    let status = t.run_with(&["--output", "json", "status", "study.yaml"]);
    let s1 = status
        .json_lines()
        .into_iter()
        .find(|l| l["item"] == "s1")
        .unwrap();
    assert_eq!(s1["downloaded"], false, "{s1}");
    t.run_with(&["status", "study.yaml"])
        .stdout_has("Finished, not downloaded");
    std::fs::remove_file(&filler).unwrap();
    t.run_with(&["run", "study.yaml"]).code(0);
    home_as_on_vip(&t, &sb, "study", "s1");
    home_as_on_vip(&t, &sb, "study", "s2");
    assert_eq!(posts(&sb), 2);
}

#[test]
fn a_results_folder_that_cannot_be_written_is_refused_before_any_launch() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hi_study(&sb);
    let results = t.dir().join("results");
    let Some(_mount) = mount_or_skip(&results, "size=64k,ro") else {
        return;
    };
    t.run_with(&["run", "study.yaml"])
        .code(6)
        .stderr_has("cannot be written")
        .stderr_has("results");
    assert_eq!(posts(&sb), 0);
}

#[test]
fn a_timed_out_execution_left_running_that_vip_finishes_later_is_picked_up() {
    let sb = SandboxHandle::quick(Duration::from_secs(4));
    let t = Test::new()
        .manifest(
            &(manifest("study", "Hi")
                + "execution:\n  timeout: 1s\n  poll_interval: 1s\n  kill_on_timeout: false\n"),
        )
        .file("in.txt", "x\n")
        .against(&sb, DEMO);
    t.run_with(&["run", "study.yaml"])
        .code(1)
        .stdout_has("TIMED OUT");
    std::thread::sleep(Duration::from_secs(5));
    let status = t.run_with(&["--output", "json", "status", "study.yaml"]);
    assert!(status.stdout.contains("Finished"), "{}", status.stdout);
    t.run_with(&["download", "study.yaml"]).code(0);
    home_as_on_vip(&t, &sb, "study", "s1");
    home_as_on_vip(&t, &sb, "study", "s2");
    assert_eq!(posts(&sb), 2, "nothing relaunched");
}

#[test]
fn cancel_says_which_items_stay_queued_here() {
    let sb = SandboxHandle::quick(Duration::from_secs(30));
    let t = Test::new()
        .manifest(&(manifest("study", "Hi") + "execution:\n  max_parallel: 1\n"))
        .file("in.txt", "x\n")
        .against(&sb, DEMO);
    t.run_with(&["run", "--detach", "study.yaml"]).code(0);
    t.run_with(&["cancel", "study.yaml"])
        .code(0)
        .stdout_has("killed 1 execution")
        .stdout_has("1 item never launched stays queued here (s2)");
    let json = t.run_with(&["--output", "json", "cancel", "study.yaml"]);
    let last = json.json_lines().pop().unwrap();
    assert_eq!(last["not_launched"], serde_json::json!(["s2"]), "{last}");
}

#[test]
fn a_try_outs_results_are_marked_said_and_set_aside_by_the_real_run() {
    let t = Test::new()
        .manifest(&manifest("study", "Hi"))
        .file("in.txt", "x\n");
    t.run_with(&["--sandbox", "run", "study.yaml"])
        .code(0)
        .stdout_has("these results are the sandbox's, simulated");
    let marker = std::fs::read_to_string(t.dir().join("results/study/s1/.vip-run-owner")).unwrap();
    assert!(marker.contains("\"sandbox\": true"), "{marker}");
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = t.against(&sb, DEMO);
    t.run_with(&["status", "study.yaml"])
        .stderr_has("has no run on VIP yet")
        .stderr_has("--sandbox try-out");
    t.run_with(&["run", "study.yaml"]).code(0);
    home_as_on_vip(&t, &sb, "study", "s1");
    let aside = support::walk(&t.dir().join(".vip-run/study/superseded"));
    assert!(
        aside
            .iter()
            .any(|p| p.contains("replaced") && p.ends_with("hello.txt")),
        "{aside:?}"
    );
    let marker = std::fs::read_to_string(t.dir().join("results/study/s1/.vip-run-owner")).unwrap();
    assert!(marker.contains("\"sandbox\": false"), "{marker}");
}

#[test]
fn failed_and_chosen_items_are_relaunched_on_request_and_plan_shows_it() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let failing = "version: 1\nname: study\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [s1, s2]\ninputs:\n  input_file: in.txt\n  message: \"{% if subject == 's2' %}FAIL{% else %}Hi{% endif %} {{ subject }}\"\nexecution:\n  max_parallel: 2\n";
    let t = Test::new()
        .manifest(failing)
        .file("in.txt", "x\n")
        .against(&sb, DEMO);
    t.run_with(&["run", "study.yaml"])
        .code(1)
        .stdout_has("--relaunch failed");
    assert_eq!(posts(&sb), 2);
    // Nothing is relaunched unless asked (retries: 0).
    t.run_with(&["run", "study.yaml"]).code(1);
    assert_eq!(posts(&sb), 2);
    t.run_with(&["plan", "--relaunch", "failed", "study.yaml"])
        .code(0)
        .stdout_has("relaunched as asked (--relaunch)");
    let failed_before = execution_of(&t, "study", "s2");
    let finished = execution_of(&t, "study", "s1");
    t.run_with(&["run", "--relaunch", "failed", "study.yaml"])
        .code(1);
    assert_eq!(posts(&sb), 3, "only the failed item");
    assert_ne!(execution_of(&t, "study", "s2"), failed_before);
    assert_eq!(execution_of(&t, "study", "s1"), finished);
    // A chosen item, finished: a new execution whose outputs replace the old ones.
    t.run_with(&["run", "--relaunch", "s1", "study.yaml"])
        .code(1);
    assert_eq!(posts(&sb), 4);
    assert_ne!(execution_of(&t, "study", "s1"), finished);
    home_as_on_vip(&t, &sb, "study", "s1");
    let aside = support::walk(&t.dir().join(".vip-run/study/superseded"));
    assert!(aside.iter().any(|p| p.contains(&finished)), "{aside:?}");
    t.run_with(&["run", "--relaunch", "s3", "study.yaml"])
        .code(2)
        .stderr_has("--relaunch s3");
    assert_eq!(posts(&sb), 4);
}

#[test]
fn a_changed_download_folder_gets_the_outputs_already_home_without_a_transfer() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hi_study(&sb);
    t.run_with(&["run", "study.yaml"]).code(0);
    let before = sb.requests().len();
    std::fs::write(
        t.dir().join("study.yaml"),
        manifest("study", "Hi") + "results:\n  download: out/{{ item }}\n",
    )
    .unwrap();
    t.run_with(&["run", "study.yaml"]).code(0);
    let after = sb.calls_since(before);
    assert!(
        !after
            .iter()
            .any(|r| r.starts_with("POST") || r.ends_with("action=content")),
        "{after:?}"
    );
    assert!(!t.dir().join("results/study/s1/hello.txt").exists());
    for item in ["s1", "s2"] {
        home_as_on_vip(&t, &sb, "study", item);
        let (_, _, local, _) = recorded(&t, "study", item).remove(0);
        assert!(
            local.starts_with(t.dir().join("out")),
            "{}",
            local.display()
        );
    }
}

#[test]
fn clean_offers_the_results_of_superseded_executions() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hi_study(&sb);
    t.run_with(&["run", "study.yaml"]).code(0);
    let old = execution_of(&t, "study", "s1");
    let record = record_of(&t, "study", "s1");
    let old_name = record["executions"][0]["name"].as_str().unwrap().to_owned();
    let old_folder = format!("/vip/Home/vip-run/study/{old_name}");
    std::fs::write(t.dir().join("study.yaml"), manifest("study", "Yo")).unwrap();
    t.run_with(&["run", "study.yaml"]).code(0);
    assert!(crate::clean::exists(&sb, &old_folder));
    t.run_with(&["clean", "--results", "--yes", "study.yaml"])
        .code(0)
        .stdout_has(&format!("superseded {old}"));
    assert!(!crate::clean::exists(&sb, &old_folder));
    // What is home stays home.
    home_as_on_vip_locally(&t, "study", "s1");
}

/// The current outputs are on disk with their recorded checksums (VIP's copy may be gone).
fn home_as_on_vip_locally(t: &Test, name: &str, item: &str) {
    for (_, _, local, recorded_sha) in recorded(t, name, item) {
        assert_eq!(sha(&local), recorded_sha, "{}", local.display());
    }
}

#[test]
fn a_state_folder_that_cannot_be_written_is_a_local_error_before_any_launch() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hi_study(&sb);
    let state = t.dir().join(".vip-run");
    let Some(_mount) = mount_or_skip(&state, "size=64k,ro") else {
        return;
    };
    t.run_with(&["run", "study.yaml"])
        .code(6)
        .stderr_has(".vip-run");
    assert_eq!(posts(&sb), 0);
}
