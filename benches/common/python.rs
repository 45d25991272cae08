//! The vip-client side of the benches that compare with it (`peer`, `failures`): a throwaway
//! virtual environment with the package installed. Included by each bench with `#[path]`
//! (a bench is its own crate).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A throwaway virtual environment with vip-client, or why there is none.
pub fn python_with(package: &str, tmp: &Path) -> Result<PathBuf, String> {
    let python = ["python3", "python"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or("no python3 on PATH")?;
    let venv = tmp.join("venv");
    let made = Command::new(python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "`{python} -m venv` failed (is the venv module installed?)"
        ));
    }
    let python = venv.join("bin").join("python");
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
            "cannot install {package} from the package registry (offline?): {}",
            String::from_utf8_lossy(&installed.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(python)
}
