//! A manifest checked offline (loaded, expanded, validated) and online (pre-flight against
//! VIP). It is the only thing a launching runner can be built from, so nothing reaches
//! `POST /executions` unchecked; `plan` and `lock` use it too.

use crate::error::Error;
use crate::manifest::Validated;
use crate::report::diagnostics::Printer;

use super::Connection;
use super::preflight::{self, Preflight, PreflightError};

/// A manifest that passed the offline and the online checks, with what pre-flight learnt.
#[derive(Debug)]
pub struct Checked<'a> {
    manifest: &'a Validated,
    conn: &'a Connection,
    preflight: Preflight,
}

impl<'a> Checked<'a> {
    /// Runs pre-flight for `manifest` over `conn`, printing its problems and warnings.
    pub async fn check(
        manifest: &'a Validated,
        conn: &'a Connection,
        printer: &Printer,
    ) -> Result<Self, Error> {
        match preflight::check(manifest, conn).await {
            Ok(preflight) => {
                printer.print(&preflight.warnings, &manifest.secrets);
                Ok(Self {
                    manifest,
                    conn,
                    preflight,
                })
            }
            Err(PreflightError::Problems {
                diagnostics,
                access,
            }) => {
                printer.print(&diagnostics, &manifest.secrets);
                let n = diagnostics.iter().filter(|d| d.is_error()).count();
                Err(Error::Preflight {
                    message: format!(
                        "{} failed the checks against VIP: {n} problem{}; nothing was uploaded or launched",
                        manifest.file.display,
                        if n == 1 { "" } else { "s" }
                    ),
                    access,
                })
            }
            Err(PreflightError::Fatal(e)) => Err(e),
        }
    }

    /// The checked manifest.
    pub fn manifest(&self) -> &'a Validated {
        self.manifest
    }

    /// The connection it was checked over.
    pub fn connection(&self) -> &'a Connection {
        self.conn
    }

    /// What pre-flight learnt.
    pub fn preflight(&self) -> &Preflight {
        &self.preflight
    }

    /// VIP's direct-transfer size limit, when the server said.
    pub fn download_cap(&self) -> Option<u64> {
        self.preflight
            .platform
            .as_ref()
            .and_then(|p| p.max_size_direct_transfer)
    }
}
