//! `systemd`: a manifest's `.service` and `.timer`, written where asked (rendered by
//! `report::systemd`). Offline: the manifest is checked, and the key file that
//! `LoadCredential=` will hand over must exist and be private, but is not read here.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::files::write_atomically;
use crate::manifest::api_key::KeySource;
use crate::report::systemd::Units;

use super::Settings;
use super::session::load;

/// What `vip-run systemd` is asked.
#[derive(Debug, Clone)]
pub struct SystemdOptions {
    /// `--key-file`: the key file (default: the manifest's `api_key: { file: … }`).
    pub key_file: Option<PathBuf>,
    /// `--on-calendar`.
    pub on_calendar: String,
    /// `--randomized-delay`.
    pub randomized_delay: std::time::Duration,
    /// `--dir`: where to write the units.
    pub dir: PathBuf,
}

/// Writes `path`'s units into `options.dir`: their common name, and the files.
pub fn systemd(
    settings: &Settings,
    path: &Path,
    options: &SystemdOptions,
) -> Result<(String, Vec<PathBuf>), Error> {
    let v = load(settings, path)?;
    let manifest = crate::files::absolute(path);
    let key = match (&options.key_file, &v.api_key) {
        (Some(k), _) => crate::files::absolute(k),
        (None, KeySource::File { path, .. }) => crate::files::absolute(path),
        (None, other) => {
            return Err(Error::Usage(format!(
                "{}'s API key comes from {}, which a timer does not have: give the key file systemd should hand over with --key-file PATH (a file of yours alone: chmod 600)",
                v.file.display,
                other.describe()
            )));
        }
    };
    // Refused now rather than at 3 a.m.: the service would read the copy systemd makes,
    // but a key open to others is open here too.
    KeySource::file(&key.display().to_string(), Path::new("/")).check_file()?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot tell where vip-run is installed: {e}")))?;
    let units = Units {
        name: &v.name,
        pipeline: &v.pipeline_id,
        exe: &exe,
        manifest: &manifest,
        key_file: &key,
        on_calendar: &options.on_calendar,
        randomized_delay: options.randomized_delay.as_secs(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let unit = units.unit();
    let service = options.dir.join(format!("{unit}.service"));
    let timer = options.dir.join(format!("{unit}.timer"));
    write_atomically(&service, units.service().as_bytes())?;
    write_atomically(&timer, units.timer().as_bytes())?;
    Ok((unit, vec![service, timer]))
}
