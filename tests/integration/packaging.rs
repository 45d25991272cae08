//! The Python packaging, tried as users would: the wheel of `pyproject.toml` (maturin's `bin`
//! bindings) installed with pip, and the hooks of `.pre-commit-hooks.yaml` run by pre-commit in
//! a recipe repository. maturin and pre-commit come from `PyPI` into throwaway virtual
//! environments; without Python, git or the registry the tests say "skipped" (a failure under
//! `CI=true`, where they must run).
//!
//! Every build here is `--profile dev` and reuses the crates `cargo test` has just compiled
//! (see [`SharedTarget`]): a release build takes minutes on a small machine. pre-commit builds
//! the package from a clone of this repository's HEAD commit (plus, for `try-repo`, the
//! tracked files' uncommitted changes), so the hooks it runs are the committed ones; the
//! clone's sources are newer than the build, so cargo compiles the `vip-run` crate again
//! (not its dependencies).

#[cfg(unix)]
use std::os::unix::fs::symlink as link_dir;
#[cfg(windows)]
use std::os::windows::fs::symlink_dir as link_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tempfile::TempDir;

use crate::python_client::{find_python, output_text, python_with, venv_python};
use crate::support::{root, walk};

/// The same range as `pyproject.toml`'s build requirement.
const MATURIN: &str = "maturin>=1.9,<2";
const PRE_COMMIT: &str = "pre-commit>=4,<5";

/// A cargo target folder for the builds of maturin and pip that shares the test build's
/// compiled crates (its `deps`, `build`, `.fingerprint` and `incremental` folders, linked) but
/// not the folder cargo copies the finished executable to: maturin moves that copy away while
/// it writes the wheel (seconds, for a debug build of this size), which would pull
/// `target/debug/vip-run` from under the tests that run beside these. It lives in the target
/// folder, so cargo's copy is a hard link.
///
/// The executable in a wheel is `cargo build`'s, without the features that the
/// dev-dependencies turn on in some dependencies (tokio, hyper, rustls…) for `cargo test`. So
/// after a `cargo test` alone, as in CI, the first build here compiles those thirty-odd crates
/// in the dev profile too: 80 s on a 2-core machine.
struct SharedTarget {
    dir: TempDir,
    /// Two builds at once would write the same files in the shared `deps`.
    _alone: MutexGuard<'static, ()>,
}

static BUILDS: Mutex<()> = Mutex::new(());

impl SharedTarget {
    fn new() -> Self {
        let alone = BUILDS.lock().unwrap_or_else(PoisonError::into_inner);
        // This test binary is `<target>/debug/deps/integration-<hash>`.
        let exe = std::env::current_exe().unwrap();
        let profile = exe.parent().unwrap().parent().unwrap();
        let dir = tempfile::Builder::new()
            .prefix("packaging-")
            .tempdir_in(profile.parent().unwrap())
            .unwrap();
        let debug = dir.path().join("debug");
        std::fs::create_dir(&debug).unwrap();
        for name in ["deps", "build", ".fingerprint", "incremental"] {
            if profile.join(name).is_dir() {
                link_dir(profile.join(name), debug.join(name)).unwrap();
            }
        }
        Self { dir, _alone: alone }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Says why a test cannot run; under `CI=true` that is a failure, since CI is where the
/// packaging must be shown to work.
fn skip(why: &str) {
    let why = format!("skipped: {why}");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("{why}");
}

/// A program that pip installed next to `python` in its virtual environment.
fn script(python: &Path, name: &str) -> PathBuf {
    python.with_file_name(if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_owned()
    })
}

/// Runs `cmd`, failing the test with everything it printed unless it succeeds.
fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n{}",
        out.status,
        output_text(&out)
    );
    out
}

/// Copies `examples/hello.yaml` and its input into `to` (as `to/hello.yaml`), as a user's
/// recipe folder would hold them.
fn copy_hello(to: &Path) {
    let examples = root().join("examples");
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(examples.join("hello.yaml"), to.join("hello.yaml")).unwrap();
    for file in walk(&examples.join("data/hello")) {
        let rel = Path::new(&file).strip_prefix(&examples).unwrap();
        std::fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
        std::fs::copy(&file, to.join(rel)).unwrap();
    }
}

#[test]
fn the_wheel_installs_a_vip_run_that_behaves_as_the_cargo_build() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let tools = tmp.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let python = match python_with(MATURIN, &tools) {
        Ok(p) => p,
        Err(why) => return skip(&format!("the wheel cannot be built: {why}")),
    };
    let wheels = tmp.path().join("wheels");
    let target = SharedTarget::new();
    succeeds(
        Command::new(script(&python, "maturin"))
            .args(["build", "--profile", "dev", "--out"])
            .arg(&wheels)
            .arg("--manifest-path")
            .arg(root().join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target.path()),
    );
    drop(target);
    let made: Vec<PathBuf> = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let wheel = &made[0];
    // One wheel for every Python 3 (`py3-none`): it holds an executable, no extension module.
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("vip_run-{}-py3-none-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );
    let built_in = started.elapsed();

    // A second environment, with nothing but the wheel: what `pip install vip-run` gives.
    let venv = tmp.path().join("user-venv");
    succeeds(
        Command::new(find_python().unwrap())
            .args(["-m", "venv"])
            .arg(&venv),
    );
    let python = venv_python(&venv);
    succeeds(
        Command::new(&python)
            .args(["-m", "pip", "install", "--no-index", "--quiet"])
            .arg("--disable-pip-version-check")
            .arg(wheel),
    );
    let metadata = succeeds(Command::new(&python).args([
        "-c",
        "import importlib.metadata as m; d = m.metadata('vip-run'); \
         print(d['Version'], d['License-Expression'], d['Requires-Python']); \
         print(*d.get_all('Classifier'), sep='\\n')",
    ]));
    let metadata = String::from_utf8_lossy(&metadata.stdout).into_owned();
    assert!(
        metadata.starts_with(&format!("{} MIT >=3.9\n", env!("CARGO_PKG_VERSION"))),
        "{metadata}"
    );
    assert!(
        metadata.contains("Topic :: Scientific/Engineering :: Medical Science Apps.\n"),
        "{metadata}"
    );

    let vip_run = script(&python, "vip-run");
    let version = succeeds(Command::new(&vip_run).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("vip-run {}\n", env!("CARGO_PKG_VERSION"))
    );

    // The README's quick start, with the installed executable.
    let work = tmp.path().join("work");
    copy_hello(&work.join("examples"));
    let ran = Command::new(&vip_run)
        .args(["--sandbox", "examples/hello.yaml"])
        .current_dir(&work)
        .env_remove("VIP_API_KEY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = output_text(&ran);
    assert_eq!(ran.status.code(), Some(0), "{text}");
    assert!(
        text.contains("examples/hello.yaml: 1 item: 1 finished"),
        "{text}"
    );
    let hello = std::fs::read_to_string(work.join("examples/results/hello/hello.txt")).unwrap();
    assert!(hello.starts_with("HELLO FROM VIP-RUN\n"), "{hello}");
    eprintln!(
        "the wheel: built in {built_in:.1?} (maturin installed), the whole test {:.1?}",
        started.elapsed()
    );
}

/// A command of the recipe repository `dir`, with the environment that makes pre-commit's pip
/// build of this package reuse the debug build, and pre-commit's cache in the test's folder.
fn in_recipes(program: &Path, dir: &Path, home: &Path, target: &SharedTarget) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env("PRE_COMMIT_HOME", home)
        .env("MATURIN_PEP517_ARGS", "--profile dev")
        .env("CARGO_TARGET_DIR", target.path())
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("NO_COLOR", "1")
        .env_remove("VIP_API_KEY");
    cmd
}

fn git(dir: &Path, args: &[&str]) -> Output {
    succeeds(Command::new("git").args(args).current_dir(dir))
}

#[test]
fn the_pre_commit_hooks_refuse_a_broken_manifest_and_a_manifest_the_lock_rules_out() {
    let started = Instant::now();
    if Command::new("git").arg("--version").output().is_err() {
        return skip("pre-commit needs git, which is not on PATH");
    }
    let tmp = tempfile::tempdir().unwrap();
    let tools = tmp.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let pre_commit = match python_with(PRE_COMMIT, &tools) {
        Ok(python) => script(&python, "pre-commit"),
        Err(why) => return skip(&format!("the hooks cannot be tried: {why}")),
    };
    let home = tmp.path().join("pre-commit-home");

    // A recipe repository: two good manifests (one with an input the pipeline does not have,
    // which only the lock can tell), a broken one, and YAML that is no manifest.
    let recipes = tmp.path().join("recipes");
    let manifests = recipes.join("manifests");
    copy_hello(&manifests);
    let hello = std::fs::read_to_string(manifests.join("hello.yaml")).unwrap();
    let typo = hello
        .replace("name: hello\n", "name: typo\n")
        .replace("  repeat: 3 ", "  repet: 3  ")
        .replace("download: results/hello", "download: results/typo");
    assert!(typo.contains("  repet: 3"), "{typo}");
    std::fs::write(manifests.join("typo.yaml"), typo).unwrap();
    std::fs::write(
        manifests.join("bad.yaml"),
        "version: 1\nname: bad\npipline_id: Hello/1.0\ngroup: Demo\n",
    )
    .unwrap();
    std::fs::write(recipes.join("notes.yaml"), "title: not a manifest\n").unwrap();
    git(&recipes, &["init", "-q"]);
    git(&recipes, &["config", "user.name", "Recipe Author"]);
    git(&recipes, &["config", "user.email", "author@example.org"]);
    git(&recipes, &["config", "commit.gpgsign", "false"]);
    git(&recipes, &["add", "-A"]);
    git(&recipes, &["commit", "-q", "-m", "recipes"]);

    // As the README says to try the hooks before adopting them.
    let target = SharedTarget::new();
    let tried = in_recipes(&pre_commit, &recipes, &home, &target)
        .arg("try-repo")
        .arg(root())
        .args(["vip-run-validate", "--all-files", "--color", "never"])
        .output()
        .unwrap();
    let text = output_text(&tried);
    let tried_in = started.elapsed();
    assert_eq!(tried.status.code(), Some(1), "{text}");
    assert!(text.contains("vip-run validate...."), "{text}");
    assert!(text.contains("[manifests/bad.yaml:3:1]"), "{text}");
    assert!(text.contains("did you mean `pipeline_id`?"), "{text}");
    assert!(
        text.contains("manifests/hello.yaml: valid, 1 item"),
        "{text}"
    );
    assert!(
        text.contains("manifests/typo.yaml: valid, 1 item"),
        "{text}"
    );
    assert!(!text.contains("notes.yaml"), "not a manifest: {text}");

    // As a recipe repository adopts them: the README's snippet, with this repository's HEAD.
    let rev = git(&root(), &["rev-parse", "HEAD"]).stdout;
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: vip-run-validate\n      \
         - id: vip-run-lock-check\n        args: [manifests/hello.yaml, manifests/typo.yaml]\n",
        root().display(),
        String::from_utf8_lossy(&rev).trim()
    );
    std::fs::write(recipes.join(".pre-commit-config.yaml"), config).unwrap();
    git(&recipes, &["add", ".pre-commit-config.yaml"]);
    let run = |hook: &str, files: &[&str]| {
        let out = in_recipes(&pre_commit, &recipes, &home, &target)
            .args(["run", hook, "--color", "never"])
            .args(if files.is_empty() {
                &[][..]
            } else {
                &["--files"][..]
            })
            .args(files)
            .output()
            .unwrap();
        (out.status.code(), output_text(&out))
    };
    let (code, text) = run("vip-run-validate", &["manifests/hello.yaml", "notes.yaml"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("vip-run validate....") && text.contains("Passed"),
        "{text}"
    );
    // No lock yet: it is stale (missing) for both.
    let (code, text) = run("vip-run-lock-check", &[]);
    assert_eq!(code, Some(1), "without a lock, the check fails\n{text}");
    assert!(
        text.contains("has no entry in its folder's vip-run.lock"),
        "{text}"
    );
    let installed_in = started.elapsed();

    // The commit adds the lock: `typo.yaml`, untouched, no longer fits its pipeline.
    let locked = Command::new(env!("CARGO_BIN_EXE_vip-run"))
        .args(["--sandbox", "lock", "manifests/hello.yaml"])
        .arg("manifests/typo.yaml")
        .current_dir(&recipes)
        .output()
        .unwrap();
    assert!(locked.status.success(), "{}", output_text(&locked));
    git(&recipes, &["add", "manifests/vip-run.lock"]);
    let (code, text) = run("vip-run-lock-check", &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("[manifests/typo.yaml:16:10]"), "{text}");
    assert!(
        text.contains("`repet` is not a parameter of Hello/1.0"),
        "{text}"
    );
    assert!(text.contains("did you mean `repeat`?"), "{text}");
    assert!(
        text.contains("checked against the descriptor of Hello/1.0 locked on"),
        "hello.yaml is checked against the lock too\n{text}"
    );
    eprintln!(
        "the hooks: try-repo after {tried_in:.1?} (pre-commit installed), both hooks installed \
         and run after {installed_in:.1?}, the whole test {:.1?}",
        started.elapsed()
    );
}
