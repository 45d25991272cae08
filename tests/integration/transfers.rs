//! Uploads and downloads run several at a time (`--transfers`), an item is launched
//! as soon as its own inputs are on VIP, and each file costs at most one call besides its
//! transfer. Checked in the sandbox's request log, which records every call, in the order
//! the calls ended, with how many requests were being handled at once.

use std::collections::BTreeMap;
use std::time::Duration;

use vip_run::sandbox::{Config, LoggedRequest};

use crate::run::DEMO;
use crate::support::{SandboxHandle, Test};

const ITEMS: usize = 8;

/// Eight items, each with a file of its own, all launched at once.
fn eight_inputs(sb: &SandboxHandle) -> Test {
    let subjects: Vec<String> = (1..=ITEMS).map(|i| format!("s{i}")).collect();
    let mut t = Test::new().manifest(&format!(
        "version: 1\nname: many\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: \"in-{{{{ subject }}}}.txt\"\n  message: \"hi {{{{ subject }}}}\"\nresults:\n  download: \"out/{{{{ subject }}}}\"\nexecution:\n  max_parallel: {ITEMS}\n  poll_interval: 1s\n",
        subjects.join(", ")
    ));
    for s in &subjects {
        t = t.file(
            &format!("in-{s}.txt"),
            format!("input of {s}\n").repeat(1000),
        );
    }
    t.against(sb, DEMO)
}

/// Every call costs `latency`, so calls made one after another cannot overlap.
fn slow_sandbox(latency_ms: u64) -> SandboxHandle {
    SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(200),
        latency: Duration::from_millis(latency_ms),
        quota: Some(u32::try_from(ITEMS).unwrap()),
        ..Config::default()
    })
}

fn is_upload(r: &LoggedRequest) -> bool {
    r.method == "PUT" && r.path.starts_with("/rest/path/") && r.body_len > 0
}

fn query_is(r: &LoggedRequest, action: &str) -> bool {
    r.query.as_deref() == Some(&format!("action={action}"))
}

/// The most transfers (uploads, downloads of content) the sandbox handled at once.
fn most_transfers_at_once(sb: &SandboxHandle) -> usize {
    sb.requests()
        .iter()
        .map(|r| r.transfers_in_flight)
        .max()
        .unwrap_or(0)
}

#[test]
fn uploads_overlap_with_transfers_4_and_not_with_transfers_1() {
    let sb = slow_sandbox(40);
    eight_inputs(&sb)
        .run_with(&[
            "--progress",
            "plain",
            "run",
            "study.yaml",
            "--transfers",
            "4",
        ])
        .code(0);
    // Eight files, each transfer held 40 ms by the sandbox's latency: four go at once.
    let most = most_transfers_at_once(&sb);
    assert!(
        most >= 3,
        "transfers hardly overlapped: at most {most} at once"
    );

    let sb = slow_sandbox(40);
    let t = eight_inputs(&sb);
    t.run_with(&[
        "--progress",
        "plain",
        "run",
        "study.yaml",
        "--transfers",
        "1",
    ])
    .code(0)
    .stderr_has("uploaded");
    // Other calls (folders, launches, size checks) may go alongside, but bytes move for one
    // file at a time.
    let most = most_transfers_at_once(&sb);
    assert_eq!(most, 1, "one transfer at a time, yet {most} at once");
    for i in 1..=ITEMS {
        assert!(
            t.dir().join(format!("out/s{i}")).is_dir(),
            "s{i} not downloaded"
        );
    }
}

#[test]
fn an_item_is_launched_as_soon_as_its_own_input_is_on_vip() {
    let sb = slow_sandbox(40);
    let t = eight_inputs(&sb);
    t.run_with(&[
        "--progress",
        "plain",
        "run",
        "study.yaml",
        "--transfers",
        "1",
    ])
    .code(0);
    let log = sb.requests();
    let first_launch = log
        .iter()
        .position(|r| r.method == "POST" && r.path == "/rest/executions")
        .expect("a launch");
    let last_upload = log.iter().rposition(is_upload).expect("an upload");
    assert!(
        first_launch < last_upload,
        "the first launch (call {first_launch}) waited for every upload (the last ended as call {last_upload})"
    );
    assert_eq!(log.iter().filter(|r| is_upload(r)).count(), ITEMS);
}

#[test]
fn an_items_results_folder_is_made_while_its_input_uploads() {
    // Calls held 200 ms each: a folder made after the upload's size check would be told
    // apart from one made beside the upload by a whole round trip.
    let sb = slow_sandbox(200);
    let t = eight_inputs(&sb);
    t.run_with(&["--progress", "plain", "run", "study.yaml", "--detach"])
        .code(0);
    let log = sb.requests();
    let results: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.method == "PUT"
                && r.body_len == 0
                && r.path.starts_with("/rest/path/vip/Home/vip-run/many/many-")
        })
        .map(|(n, _)| n)
        .collect();
    // One folder per item, as before: made earlier, not more often.
    assert_eq!(results.len(), ITEMS, "{log:#?}");
    for s in 1..=ITEMS {
        let input = format!("in-s{s}.txt");
        let checked = log
            .iter()
            .position(|r| query_is(r, "properties") && r.path.ends_with(&input))
            .expect("the input's size check");
        let made = results
            .iter()
            .copied()
            .find(|&n| log[n].path.contains(&format!("many-s{s}-")))
            .expect("the item's results folder");
        assert!(
            made < checked,
            "s{s}: its results folder (call {made}) was made after its input's size check (call {checked}), a round trip more before its launch"
        );
    }
    // Each launch then costs its POST alone: no folder made between an item's size check
    // and its launch.
    let last_check = log
        .iter()
        .rposition(|r| query_is(r, "properties"))
        .expect("size checks");
    assert!(
        !log[last_check..]
            .iter()
            .any(|r| r.method == "PUT" && r.body_len == 0),
        "a folder made after the last size check: {:#?}",
        &log[last_check..]
    );
}

#[test]
fn each_file_costs_one_call_besides_its_transfer_and_v_counts_them() {
    let sb = slow_sandbox(0);
    let t = eight_inputs(&sb);
    let out = t.run_with(&["-v", "--progress", "plain", "run", "study.yaml"]);
    out.code(0);
    let log = sb.requests();
    // Uploads: the PUT, then one size check; nothing else about the file itself.
    let uploads: Vec<&LoggedRequest> = log.iter().filter(|r| is_upload(r)).collect();
    assert_eq!(uploads.len(), ITEMS);
    for put in &uploads {
        let about: Vec<&LoggedRequest> = log.iter().filter(|r| r.path == put.path).collect();
        assert_eq!(about.len(), 2, "{}: {about:#?}", put.path);
    }
    // The inputs folder: made once, listed at most once.
    let folder = uploads[0].path.rsplit_once('/').unwrap().0;
    let on_folder: Vec<&LoggedRequest> = log.iter().filter(|r| r.path == folder).collect();
    assert!(on_folder.len() <= 2, "{on_folder:#?}");
    // Downloads: the content GET only; sizes come from one listing of each results folder.
    let fetched: Vec<&LoggedRequest> = log.iter().filter(|r| query_is(r, "content")).collect();
    assert_eq!(fetched.len(), ITEMS);
    for get in &fetched {
        let about = log.iter().filter(|r| r.path == get.path).count();
        assert_eq!(about, 1, "{} asked about besides its download", get.path);
    }
    let listings = log.iter().filter(|r| query_is(r, "list")).count();
    assert!(
        listings <= ITEMS + 6,
        "{listings} listings for {ITEMS} items"
    );
    let props = log.iter().filter(|r| query_is(r, "properties")).count();
    assert_eq!(props, ITEMS, "properties beyond one size check per upload");
    assert_eq!(log.iter().filter(|r| query_is(r, "exists")).count(), 0);

    // `-v` ends with the calls by kind, as the sandbox saw them.
    let told: BTreeMap<String, u64> = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("calls: "))
        .filter_map(|l| {
            let (n, kind) = l.trim_start().split_once("  ")?;
            Some((kind.to_owned(), n.parse().ok()?))
        })
        .collect();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for r in &log {
        let path = r.path.strip_prefix("/rest").unwrap_or(&r.path);
        let pairs: Vec<(&str, &str)> = r
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let empty_put = r.method == "PUT" && r.body_len == 0;
        let kind = vip_run::vip::client::call_kind(&r.method, path, &pairs, empty_put);
        *seen.entry(kind).or_default() += 1;
    }
    seen.insert("in all".into(), log.len() as u64);
    assert_eq!(told, seen, "stderr:\n{}", out.stderr);
}

#[test]
fn download_fetches_several_items_at_once_and_leaves_no_part_files() {
    let sb = slow_sandbox(20);
    let t = eight_inputs(&sb);
    t.run_with(&["--progress", "plain", "run", "study.yaml", "--detach"])
        .code(0);
    std::thread::sleep(Duration::from_millis(1500));
    let out = t.run_with(&[
        "--progress",
        "plain",
        "download",
        "study.yaml",
        "--transfers",
        "4",
    ]);
    out.code(0);
    let files = crate::support::walk(&t.dir().join("out"));
    assert!(
        files.iter().all(|f| std::path::Path::new(f)
            .extension()
            .is_none_or(|e| e != "part")),
        "{files:?}"
    );
    let most = sb
        .requests()
        .iter()
        .filter(|r| query_is(r, "content"))
        .map(|r| r.transfers_in_flight)
        .max()
        .unwrap_or(0);
    assert!(most >= 2, "downloads never overlapped");
    assert!(most <= 4, "{most} downloads at once with --transfers 4");
    for i in 1..=ITEMS {
        out.stderr_has(&format!("s{i}: finished"));
    }
}

#[test]
fn a_first_run_reads_what_is_on_vip_alongside_pre_flight() {
    // Calls held 200 ms each: calls sent together overlap whatever the machine's load.
    let sb = slow_sandbox(200);
    let t = eight_inputs(&sb);
    t.run_with(&["--progress", "plain", "run", "study.yaml", "--detach"])
        .code(0);
    let log = sb.requests();
    let first_write = log
        .iter()
        .position(|r| r.method != "GET")
        .expect("a folder made");
    let before: Vec<&LoggedRequest> = log[..first_write].iter().collect();
    // Pre-flight's five reads, the list of executions and the listing of /vip/Home (where
    // the run's folders are made): one round trip for all seven, and no read after it
    // before the first folder is made.
    let kinds: Vec<String> = before
        .iter()
        .map(|r| format!("{} {}", r.path, r.query.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(before.len(), 7, "{kinds:#?}");
    assert!(
        kinds.iter().any(|k| k.starts_with("/rest/executions ")),
        "{kinds:#?}"
    );
    assert!(
        kinds.iter().any(|k| k == "/rest/path/vip/Home action=list"),
        "{kinds:#?}"
    );
    // At some moment all seven were being handled at once.
    let most = before.iter().map(|r| r.in_flight).max().unwrap_or(0);
    assert!(most >= 7, "at most {most} of the seven reads at once");
    // Nothing asked twice: the run's own listing of /vip/Home is the one read then.
    let home = log
        .iter()
        .filter(|r| r.path == "/rest/path/vip/Home")
        .count();
    assert_eq!(home, 1);
    // Nor the list of executions before the first launch (a poll lists them later).
    let first_launch = log
        .iter()
        .position(|r| r.method == "POST")
        .expect("a launch");
    assert!(
        !log[first_write..first_launch]
            .iter()
            .any(|r| r.path == "/rest/executions"),
        "the list of executions was asked for again"
    );

    // A later run has a state: it reads the list only if the state leaves items unknown.
    let calls_before = sb.requests().len();
    t.run_with(&["--progress", "plain", "run", "study.yaml", "--detach"])
        .code(0);
    let again = &sb.requests()[calls_before..];
    assert!(
        again.iter().all(|r| r.method == "GET"),
        "a re-run of launched items wrote: {again:#?}"
    );
}

#[test]
fn a_download_larger_than_its_flush_step_arrives_whole_and_as_hashed() {
    use sha2::{Digest, Sha256};
    // 150 MiB: more than two of the 64 MiB steps at which a big download is flushed to disk
    // while the rest of it arrives.
    const SIZE: u64 = 150 << 20;
    let yaml = format!(
        "{}\n  - id: Big/1.0\n    visible: true\n    groups: [Demo]\n    resource_groups: [EGI-biomed]\n    outputs:\n      result: {{ kind: sized, size: {SIZE} }}\n    descriptor:\n      name: Big\n      tool-version: \"1.0\"\n      schema-version: \"0.5\"\n      description: \"Writes one large file.\"\n      command-line: \"big [IN]\"\n      inputs:\n        - {{ id: input_file, name: Input, type: File, value-key: \"[IN]\" }}\n      output-files:\n        - {{ id: result, name: Result, path-template: big.out }}\n",
        vip_run::sandbox::default_world_yaml().trim_end()
    );
    let sb = SandboxHandle::start(Config {
        world: vip_run::sandbox::World::from_yaml(&yaml).unwrap(),
        exec_duration: Duration::from_millis(200),
        max_size_direct_transfer: 2 * SIZE,
        ..Config::default()
    });
    let t = Test::new()
        .manifest(
            "version: 1\nname: big\npipeline_id: Big/1.0\ngroup: Demo\ninputs:\n  input_file: in.txt\nresults:\n  download: out\nexecution:\n  poll_interval: 1s\n",
        )
        .file("in.txt", "x\n")
        .against(&sb, DEMO);
    t.run_with(&["--progress", "plain", "run", "study.yaml"])
        .code(0);
    let got = std::fs::read(t.dir().join("out/big.out")).expect("the big output");
    assert_eq!(got.len() as u64, SIZE);
    // The same bytes as the sandbox's copy, in the same order.
    let served = crate::support::walk(sb.sandbox().data_dir())
        .into_iter()
        .find(|p| p.ends_with("/big.out"))
        .expect("the sandbox's copy");
    assert!(std::fs::read(&served).unwrap() == got, "the bytes differ");
    // The hash recorded is of what was written.
    let sha = format!("{:x}", Sha256::digest(&got));
    let state = ["state.json", "state.journal"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(t.dir().join(".vip-run/big").join(f)).ok())
        .collect::<String>();
    assert!(state.contains(&sha), "{sha} not in the state");
    let left = crate::support::part_files(&t.dir().join("out"));
    assert!(left.is_empty(), "{left:?}");
}
