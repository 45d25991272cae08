//! What every manifest command does first: load the manifest (printing its diagnostics once),
//! and open the connection for the length of the command (closing it, and the in-process
//! sandbox behind it, on every path out).

use std::path::Path;

use crate::error::Error;
use crate::manifest::{self, Validated};

use super::{Connection, Settings};

/// Loads and checks `path` offline, printing warnings (or every diagnostic when invalid).
pub fn load(settings: &Settings, path: &Path) -> Result<Validated, Error> {
    let printer = settings.printer();
    match manifest::load(path, &settings.load) {
        Ok(v) => {
            printer.print(&v.warnings, &v.secrets);
            Ok(v)
        }
        Err(errors) => {
            printer.print(&errors.diagnostics, &secrets_of(path));
            Err(Error::InvalidManifests(errors.to_string()))
        }
    }
}

/// Loads `path` (as [`load`]), finds its run files, and identifies its items by content
/// under the project key (`identity`); `record` (commands that write state) keeps the key
/// and the hashes in the state folder.
pub fn open(
    settings: &Settings,
    path: &Path,
    record: bool,
) -> Result<(Validated, super::paths::Paths), Error> {
    let mut v = load(settings, path)?;
    settings.overrides.apply(&mut v.execution);
    let paths =
        super::paths::Paths::new(&v, settings.state.state_dir.as_deref(), settings.sandbox());
    super::identity::identify(&mut v, &paths, record)?;
    say_what_is_looked_at(settings, &v, &paths);
    Ok((v, paths))
}

/// A real command on a manifest that only a `--sandbox` try-out has run says so: its state
/// (and the simulated outputs it downloaded) are the try-out's, not VIP's, so this command
/// finds nothing launched.
fn say_what_is_looked_at(settings: &Settings, v: &Validated, paths: &super::paths::Paths) {
    if settings.sandbox() || settings.quiet || paths.state.exists() {
        return;
    }
    let Some(root) = paths.dir.parent() else {
        return;
    };
    let tryout = root.join("sandbox").join(&v.name);
    if tryout.join("state.json").exists() {
        crate::report::to_stderr(&format!(
            "note: {} has no run on VIP yet ({} does not exist); {} is a --sandbox try-out's, whose executions were simulated and are gone, and whose outputs (marked sandbox in each results folder's {}) a real run moves aside",
            v.file.display,
            paths.state.display(),
            tryout.display(),
            super::disk::OWNER_FILE
        ));
    }
}

/// Refuses `key` unless it names one of `v`'s items, with a did-you-mean.
pub fn check_item(v: &Validated, key: Option<&str>) -> Result<(), Error> {
    let Some(key) = key else {
        return Ok(());
    };
    if v.items.iter().any(|i| i.key == key) {
        return Ok(());
    }
    let keys: Vec<&str> = v.items.iter().map(|i| i.key.as_str()).collect();
    let hint = manifest::suggest::did_you_mean(key, keys.iter().copied()).map_or_else(
        || format!("the items are: {}", keys.join(", ")),
        |s| format!("did you mean `{s}`?"),
    );
    Err(Error::Usage(format!(
        "{} has no item `{key}`; {hint}",
        v.file.display
    )))
}

/// Secrets to scrub from an invalid manifest's diagnostics (its text is read again: the load
/// failed, and may have failed before the secrets were known).
pub fn secrets_of(path: &Path) -> Vec<String> {
    std::fs::read(path)
        .map(|b| manifest::secrets::mask(&String::from_utf8_lossy(&b)).1)
        .unwrap_or_default()
}

/// Runs `f` with a connection for `manifest` (or none), closing it afterwards whatever `f`
/// returned.
pub async fn with_connection<T>(
    settings: &Settings,
    manifest: Option<&Validated>,
    f: impl AsyncFnOnce(&Connection) -> Result<T, Error>,
) -> Result<T, Error> {
    let conn = Connection::open(&settings.connect, manifest).await?;
    let result = f(&conn).await;
    conn.close().await;
    result
}
