//! A fluent builder for running the real binary in a scratch folder.

use std::path::PathBuf;

use assert_cmd::Command;
use tempfile::TempDir;

/// A scratch folder with files, and a command line to run in it.
pub struct Test {
    dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// What the binary did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary folder"),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Writes `contents` to `path` (relative to the scratch folder), creating folders.
    pub fn file(self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
        self
    }

    /// Writes `study.yaml`.
    pub fn manifest(self, contents: &str) -> Self {
        self.file("study.yaml", contents)
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| (*s).to_owned()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The arguments given so far (e.g. `--server URL`).
    pub fn extra_args(&self) -> &[String] {
        &self.args
    }

    /// Runs with `args` added to this run only.
    pub fn run_with(&self, args: &[&str]) -> Output {
        let mut cmd = Command::cargo_bin("vip-run").unwrap();
        cmd.current_dir(self.dir.path())
            .args(&self.args)
            .args(args)
            .env_remove("VIP_API_KEY")
            .env("VIP_RUN_STATE_HOME", self.state_home())
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The scratch folder.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The registry the runs of this test share (`VIP_RUN_STATE_HOME`, set for every run of
    /// the binary): in the scratch folder, never the user's own.
    pub fn state_home(&self) -> PathBuf {
        state_home(self.dir.path())
    }

    pub fn run(&self) -> Output {
        self.run_with(&[])
    }
}

impl Output {
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}:\n{}",
            self.stderr
        );
        self
    }

    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}:\n{}",
            self.stdout
        );
        self
    }

    /// The JSON objects printed on stdout, one per line.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// The registry folder of a test whose scratch folder is `dir` (see [`Test::state_home`]);
/// for the tests that start the binary on their own.
pub fn state_home(dir: &std::path::Path) -> PathBuf {
    dir.join(".state-home")
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A minimal valid manifest head, to which tests append.
pub const HEAD: &str = "version: 1\nname: study\npipeline_id: Hello/1.0\ngroup: Demo\n";

/// A sandbox serving on loopback for the length of a test, on its own runtime.
pub struct SandboxHandle {
    runtime: Option<tokio::runtime::Runtime>,
    sandbox: Option<vip_run::sandbox::Sandbox>,
    url: String,
}

impl SandboxHandle {
    pub fn start(config: vip_run::sandbox::Config) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(vip_run::sandbox::Sandbox::start(
                config,
                ([127, 0, 0, 1], 0).into(),
            ))
            .expect("the sandbox starts");
        let url = sandbox.base_url();
        Self {
            runtime: Some(runtime),
            sandbox: Some(sandbox),
            url,
        }
    }

    /// The default world, with executions that take `exec`.
    pub fn quick(exec: std::time::Duration) -> Self {
        Self::start(vip_run::sandbox::Config {
            exec_duration: exec,
            ..vip_run::sandbox::Config::default()
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The sandbox itself (its test hooks).
    pub fn sandbox(&self) -> &vip_run::sandbox::Sandbox {
        self.sandbox.as_ref().unwrap()
    }

    pub fn requests(&self) -> Vec<vip_run::sandbox::LoggedRequest> {
        self.sandbox.as_ref().unwrap().requests()
    }

    /// The calls made since the `from`th, as `METHOD path?query`.
    pub fn calls_since(&self, from: usize) -> Vec<String> {
        self.requests()[from..]
            .iter()
            .map(|r| {
                format!(
                    "{} {}?{}",
                    r.method,
                    r.path,
                    r.query.as_deref().unwrap_or("")
                )
            })
            .collect()
    }

    /// Runs `f` on the sandbox's runtime (for tests that use the client directly).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().unwrap().block_on(f)
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let (Some(rt), Some(sb)) = (self.runtime.take(), self.sandbox.take()) {
            rt.block_on(sb.shutdown());
        }
    }
}

impl Test {
    /// Points the command at `sandbox` with `key` in `VIP_API_KEY`.
    pub fn against(self, sandbox: &SandboxHandle, key: &str) -> Self {
        self.env("VIP_API_KEY", key)
            .args(&["--server", sandbox.url()])
    }
}

/// Every file below `dir`, recursively.
pub fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// The `.part` files (downloads that did not end) below `dir`.
pub fn part_files(dir: &std::path::Path) -> Vec<String> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            std::path::Path::new(p)
                .extension()
                .is_some_and(|e| e == "part")
        })
        .collect()
}

/// A run of the binary started in the background on a test's folder (as the demo user,
/// without colour), its stderr collected line by line so the child never blocks on a pipe.
pub struct Background {
    pub child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Background {
    pub fn start(t: &Test, args: &[&str]) -> Self {
        Self::start_with_stdout(t, args, std::process::Stdio::null())
    }

    /// Like [`Background::start`], with stdout sent to `stdout` (a file, to read the summary).
    pub fn start_with_stdout(t: &Test, args: &[&str], stdout: std::process::Stdio) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vip-run"))
            .current_dir(t.dir())
            .args(t.extra_args())
            .args(args)
            .env("VIP_API_KEY", vip_run::sandbox::DEMO_KEY)
            .env("VIP_RUN_STATE_HOME", t.state_home())
            .env("NO_COLOR", "1")
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&lines);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    /// Waits until stderr has a line containing `marker`.
    pub fn wait_for(&self, marker: &str, within: std::time::Duration) {
        self.wait_for_lines(marker, 1, within);
    }

    /// Waits until stderr has `times` lines containing `marker` (panics if the run ends or
    /// the time runs out first).
    pub fn wait_for_lines(&self, marker: &str, times: usize, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let seen = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(marker))
                .count();
            if seen >= times {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never saw {marker:?} {times} time(s):\n{}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for the run to end: its exit code and stderr.
    pub fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        // Let the reader catch the last lines.
        std::thread::sleep(std::time::Duration::from_millis(100));
        (status.code().unwrap_or(-1), self.stderr())
    }
}

/// The inputs folder on VIP of manifest `name` run in `t`'s folder: its project's own,
/// named by the key recorded in its state folder.
pub fn inputs_root(t: &Test, name: &str) -> String {
    let key = std::fs::read_to_string(t.dir().join(format!(".vip-run/{name}/project")))
        .expect("a project key after a run");
    format!("/vip/Home/vip-run/{name}/{}/inputs", key.trim())
}
