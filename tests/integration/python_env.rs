//! A throwaway Python virtual environment with one package from the registry, for the tests
//! that drive outside Python tools (vip-client, Boutiques, ro-crate-py, maturin, pre-commit)
//! and for the benches that compare with vip-client (`peer`, `failures`), which include this
//! file with `#[path]` (a bench is its own crate).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python 3 interpreter on PATH.
pub fn find_python() -> Option<PathBuf> {
    ["python3", "python"].into_iter().find_map(|name| {
        let out = Command::new(name).arg("--version").output().ok()?;
        let version = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success() && version.starts_with("Python 3")).then(|| PathBuf::from(name))
    })
}

/// The interpreter of the virtual environment at `venv`.
pub fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// A throwaway virtual environment in `tmp` with `package` installed from the registry: its
/// Python, or why there is none (a test then says "skipped" with the reason, or fails under
/// `CI=true`).
pub fn python_with(package: &str, tmp: &Path) -> Result<PathBuf, String> {
    let python = find_python().ok_or("no python3 on PATH")?;
    let venv = tmp.join("venv");
    let made = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !made.status.success() {
        return Err(format!(
            "`{} -m venv` failed (is the venv module installed?)\n{}",
            python.display(),
            output_text(&made)
        ));
    }
    let python = venv_python(&venv);
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            package,
        ])
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !installed.status.success() {
        return Err(format!(
            "cannot install {package} from the package registry (offline?)\n{}",
            output_text(&installed)
        ));
    }
    Ok(python)
}

/// A finished command's stdout and stderr, for a failure's message.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
