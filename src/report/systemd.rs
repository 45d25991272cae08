//! The systemd units `vip-run systemd` writes for a manifest: a oneshot `.service` that runs
//! it at low priority with the key handed over by `LoadCredential=`, and a `.timer` that
//! starts it on a calendar (`Persistent=true`, a randomised delay). Pure text, so its content
//! is snapshot-tested.

use std::fmt::Write as _;
use std::path::Path;

/// What the units are made of.
#[derive(Debug, Clone)]
pub struct Units<'a> {
    /// The manifest's `name` (the units are `vip-run-<name>.*`).
    pub name: &'a str,
    /// The pipeline, for the description.
    pub pipeline: &'a str,
    /// The vip-run binary, absolute.
    pub exe: &'a Path,
    /// The manifest, absolute.
    pub manifest: &'a Path,
    /// The key file systemd hands over, absolute.
    pub key_file: &'a Path,
    /// `OnCalendar=`.
    pub on_calendar: &'a str,
    /// `RandomizedDelaySec=`, in seconds.
    pub randomized_delay: u64,
    /// The vip-run that wrote them.
    pub version: &'a str,
}

/// The name of the credential the key is handed over as.
pub const CREDENTIAL: &str = "vip-api-key";

impl Units<'_> {
    /// The units' common name, `vip-run-<name>`.
    pub fn unit(&self) -> String {
        format!("vip-run-{}", self.name)
    }

    /// A unit's first lines: where it comes from, and its `[Unit]` description.
    fn header(&self, description: &str) -> String {
        format!(
            "# Written by vip-run {} for {}; `vip-run systemd` writes it again.\n[Unit]\nDescription={description}\n",
            self.version,
            self.manifest.display()
        )
    }

    /// The `.service`.
    pub fn service(&self) -> String {
        let dir = self.manifest.parent().unwrap_or(Path::new("/"));
        let mut s = self.header(&format!("vip-run: {} ({})", self.name, self.pipeline));
        let _ = writeln!(s, "Documentation=man:vip-run(1)");
        let _ = writeln!(s, "Wants=network-online.target");
        let _ = writeln!(s, "After=network-online.target");
        let _ = writeln!(s);
        let _ = writeln!(s, "[Service]");
        // One run to its end per start; the timer does not start another while it runs.
        let _ = writeln!(s, "Type=oneshot");
        let _ = writeln!(s, "WorkingDirectory={}", quote(&dir.display().to_string()));
        // systemd copies the key into the service's own credentials folder (mode 0400, this
        // service only): it is never in the unit, the environment or the command line.
        let _ = writeln!(s, "LoadCredential={CREDENTIAL}:{}", self.key_file.display());
        // Plain lines for the journal; a manifest already running is skipped (exit 0).
        let _ = writeln!(
            s,
            "ExecStart={} --progress plain --api-key-file ${{CREDENTIALS_DIRECTORY}}/{CREDENTIAL} run --if-running skip {}",
            quote(&self.exe.display().to_string()),
            quote(&self.manifest.display().to_string())
        );
        // Waiting on VIP for hours is the job: no start timeout. SIGTERM (stop, shutdown)
        // makes vip-run save its state and report (exit 143); what runs on VIP goes on and
        // the next start takes it up.
        let _ = writeln!(s, "TimeoutStartSec=infinity");
        let _ = writeln!(s, "TimeoutStopSec=2min");
        // Low priority: the machine is a lab's, and the work is on VIP.
        let _ = writeln!(s, "Nice=10");
        let _ = writeln!(s, "CPUSchedulingPolicy=batch");
        let _ = writeln!(s, "IOSchedulingClass=idle");
        s
    }

    /// The `.timer`.
    pub fn timer(&self) -> String {
        let mut s = self.header(&format!("vip-run: {} on a schedule", self.name));
        let _ = writeln!(s);
        let _ = writeln!(s, "[Timer]");
        let _ = writeln!(s, "OnCalendar={}", self.on_calendar);
        // A start missed while the machine was off happens at boot.
        let _ = writeln!(s, "Persistent=true");
        // Spread the lab's recipes (and VIP's load) over a while.
        let _ = writeln!(s, "RandomizedDelaySec={}", self.randomized_delay);
        let _ = writeln!(s, "Unit={}.service", self.unit());
        let _ = writeln!(s);
        let _ = writeln!(s, "[Install]");
        let _ = writeln!(s, "WantedBy=timers.target");
        s
    }
}

/// A path for a unit file's command line: quoted when it holds a space, `%` doubled
/// (systemd's specifier character), `$` doubled (its variable character).
fn quote(path: &str) -> String {
    let escaped = path.replace('%', "%%").replace('$', "$$");
    if escaped.contains([' ', '\t', '"', '\'']) {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// What `vip-run systemd` prints: the files, and how to install them.
pub fn render(
    out: &mut dyn std::io::Write,
    unit: &str,
    files: &[std::path::PathBuf],
    format: super::OutputFormat,
) -> std::io::Result<()> {
    match format {
        super::OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::json!({
                "event": "systemd",
                "unit": unit,
                "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            })
        ),
        super::OutputFormat::Human => {
            for f in files {
                writeln!(out, "wrote {}", f.display())?;
            }
            let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            writeln!(
                out,
                "install for your user (runs while you are logged out once `loginctl enable-linger` is set):\n  mkdir -p ~/.config/systemd/user && cp {} ~/.config/systemd/user/\n  systemctl --user daemon-reload && systemctl --user enable --now {unit}.timer\n  loginctl enable-linger \"$USER\"\nwatch it: systemctl --user list-timers {unit}.timer; journalctl --user -u {unit}.service",
                list.join(" ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_systemd() {
        assert_eq!(quote("/srv/study/a.yaml"), "/srv/study/a.yaml");
        assert_eq!(quote("/srv/my study/a.yaml"), "\"/srv/my study/a.yaml\"");
        assert_eq!(quote("/srv/100%/$x"), "/srv/100%%/$$x");
    }
}
