//! The run's settings: `execution` (scheduling, limits, retries) and `results` (where each
//! item's results go on VIP and locally).
//!
//! Neither depends on the inputs; both get defaults here, so what a run reads is always
//! complete. `results.location` is rendered per item, so its check runs once per item.

use std::time::Duration;

use serde_saphyr::Location;

use super::templates::ValueSpec;
use super::{Checker, Repeats};
use crate::duration;
use crate::manifest::diagnostic::ManifestDiagnostic;
use crate::manifest::model::{Download, Manifest};
use crate::manifest::template::Templates;
use crate::manifest::validated::{
    DEFAULT_DOWNLOAD, DEFAULT_MAX_JOBS, DEFAULT_MAX_OUTAGE, DEFAULT_RESULTS_LOCATION,
    DEFAULT_TRANSFERS, ExecutionSettings, MAX_TRANSFERS,
};
use crate::vip::rules;

impl Checker<'_> {
    pub(super) fn check_execution(&mut self, m: &Manifest) -> ExecutionSettings {
        let e = &m.execution;
        let mut settings = ExecutionSettings {
            max_parallel: 1,
            max_jobs: DEFAULT_MAX_JOBS,
            poll_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(24 * 3600),
            retries: 0,
            kill_on_timeout: e.kill_on_timeout.unwrap_or(false),
            max_outage: DEFAULT_MAX_OUTAGE,
            transfers: DEFAULT_TRANSFERS,
        };
        if let Some(p) = &e.max_parallel {
            match u32::try_from(p.value) {
                Ok(n) if (1..=1000).contains(&n) => settings.max_parallel = n,
                _ => self.error(p.referenced, format!("max_parallel must be between 1 and 1000, not {}", p.value), "out of range",
                    "VIP's default quota is 1 running execution per user; ask VIP support to raise yours before raising this"),
            }
        }
        if let Some(j) = &e.max_jobs {
            match j.value {
                1..=100_000 => settings.max_jobs = j.value,
                _ => self.error(j.referenced, format!("max_jobs must be between 1 and 100000, not {}", j.value), "out of range",
                    "VIP's engine refuses workflows over a few hundred jobs; split the values with `matrix` for separate executions"),
            }
        }
        if let Some(t) = &e.transfers {
            match u32::try_from(t.value) {
                Ok(n) if (1..=MAX_TRANSFERS).contains(&n) => settings.transfers = n,
                _ => self.error(
                    t.referenced,
                    format!("transfers must be between 1 and {MAX_TRANSFERS}, not {}", t.value),
                    "out of range",
                    "the uploads and downloads run at once; 4 (the default) keeps a link busy, more helps over a slow one",
                ),
            }
        }
        if let Some(r) = &e.retries {
            match u32::try_from(r.value) {
                Ok(n) if n <= 10 => settings.retries = n,
                _ => self.error(
                    r.referenced,
                    format!("retries must be between 0 and 10, not {}", r.value),
                    "out of range",
                    "a pipeline that fails more than a few times needs fixing, not relaunching",
                ),
            }
        }
        for (field, value, min, target) in [
            (
                "poll_interval",
                &e.poll_interval,
                Duration::from_secs(1),
                &mut settings.poll_interval,
            ),
            (
                "timeout",
                &e.timeout,
                Duration::from_secs(1),
                &mut settings.timeout,
            ),
            (
                "max_outage",
                &e.max_outage,
                Duration::from_secs(1),
                &mut settings.max_outage,
            ),
        ] {
            let Some(value) = value else { continue };
            match duration::parse(&value.value) {
                Ok(d) if d >= min => *target = d,
                Ok(_) => self.diags.push(
                    ManifestDiagnostic::error(format!("{field} must be at least {}", duration::format(min)))
                        .at_location(self.file, value.referenced)
                        .label("too short")
                        .help("VIP executions take minutes to hours; poll every 30s or more"),
                ),
                Err(problem) => self.diags.push(
                    ManifestDiagnostic::error(format!("invalid {field}: {problem}"))
                        .at_location(self.file, value.referenced)
                        .label("not a duration")
                        .help("write a number with a unit: `ms`, `s`, `m`, `h` or `d`, e.g. `30s`, `5m`, `24h`, `1h30m`"),
                ),
            }
        }
        settings
    }

    /// Compiles `results.location` and `results.download` (with their defaults); `None` for
    /// the download when downloading is off.
    pub(super) fn compile_results<'m>(
        &mut self,
        m: &'m Manifest,
        templates: &mut Templates,
    ) -> (ValueSpec<'m>, Option<ValueSpec<'m>>) {
        let location = m.results.location.as_ref();
        let location_spec = self.compile(
            templates,
            location.map_or(DEFAULT_RESULTS_LOCATION, |l| l.value.as_str()),
            location.map_or(Location::UNKNOWN, |l| l.referenced),
        );
        let download = m.results.download.as_ref();
        let download_spec = match download.map(|d| &d.value) {
            Some(Download::Enabled(false)) => None,
            Some(Download::Folder(folder)) => Some(self.compile(
                templates,
                folder,
                download.map_or(Location::UNKNOWN, |d| d.referenced),
            )),
            Some(Download::Enabled(true)) | None => Some(self.compile(
                templates,
                DEFAULT_DOWNLOAD,
                download.map_or(Location::UNKNOWN, |d| d.referenced),
            )),
        };
        (location_spec, download_spec)
    }

    pub(super) fn check_results_location(
        &mut self,
        location: &str,
        at: Location,
        repeats: &mut Repeats,
    ) {
        let problem = if rules::is_external_reference(location) {
            None
        } else if !rules::is_vip_path(location) {
            Some("must be a VIP path starting with `/vip/` (or a `platformId:id` reference)")
        } else if location.split('/').any(|s| s == "..") || location.contains("//") {
            Some("must not contain `..` or `//`")
        } else if location.trim_end_matches('/') == "/vip" {
            Some("cannot be `/vip` itself, where VIP allows no writing")
        } else {
            None
        };
        if let Some(problem) = problem {
            let d = ManifestDiagnostic::error(format!("results.location `{location}` {problem}"))
                .at_location(self.file, at)
                .help(format!("e.g. `{DEFAULT_RESULTS_LOCATION}`"));
            self.repeated(repeats, "results-location", d);
        }
    }
}
