//! The run's settings: `execution` (scheduling, limits, retries) and where each item's
//! results go on VIP (`results.location`).
//!
//! The settings do not depend on the inputs and get defaults here, so what a run reads is
//! always complete. `results.location` is rendered per item, so its check runs once per item.

use std::time::Duration;

use serde_saphyr::Location;

use super::findings::{Findings, Repeats};
use crate::duration;
use crate::manifest::diagnostic::ManifestDiagnostic;
use crate::manifest::model::Manifest;
use crate::manifest::validated::{
    DEFAULT_MAX_JOBS, DEFAULT_MAX_OUTAGE, DEFAULT_RESULTS_LOCATION, DEFAULT_STALLED_AFTER,
    DEFAULT_TRANSFERS, ExecutionSettings, MAX_TRANSFERS, default_retry_on,
};
use crate::vip::failure::{self, FailureClass};
use crate::vip::rules;

/// The execution settings of `m`, defaults filled in.
pub(super) fn check(out: &mut Findings, m: &Manifest) -> ExecutionSettings {
    let e = &m.execution;
    let mut settings = ExecutionSettings {
        max_parallel: 1,
        max_jobs: DEFAULT_MAX_JOBS,
        poll_interval: Duration::from_secs(30),
        timeout: Duration::from_secs(24 * 3600),
        retries: 0,
        kill_on_timeout: e.kill_on_timeout.unwrap_or(true),
        retry_on: default_retry_on(),
        stalled_after: DEFAULT_STALLED_AFTER,
        max_outage: DEFAULT_MAX_OUTAGE,
        transfers: DEFAULT_TRANSFERS,
    };
    if let Some(p) = &e.max_parallel {
        match u32::try_from(p.value) {
                Ok(n) if (1..=1000).contains(&n) => settings.max_parallel = n,
                _ => out.error(p.referenced, format!("max_parallel must be between 1 and 1000, not {}", p.value), "out of range",
                    "VIP's default quota is 1 running execution per user; ask VIP support to raise yours before raising this"),
            }
    }
    if let Some(j) = &e.max_jobs {
        match j.value {
                1..=100_000 => settings.max_jobs = j.value,
                _ => out.error(j.referenced, format!("max_jobs must be between 1 and 100000, not {}", j.value), "out of range",
                    "VIP's engine refuses workflows over a few hundred jobs; split the values with `matrix` for separate executions"),
            }
    }
    if let Some(t) = &e.transfers {
        match u32::try_from(t.value) {
                Ok(n) if (1..=MAX_TRANSFERS).contains(&n) => settings.transfers = n,
                _ => out.error(
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
            _ => out.error(
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
        (
            "stalled_after",
            &e.stalled_after,
            Duration::from_secs(1),
            &mut settings.stalled_after,
        ),
    ] {
        let Some(value) = value else { continue };
        match duration::parse(&value.value) {
                Ok(d) if d >= min => *target = d,
                Ok(_) => out.push(
                    ManifestDiagnostic::error(format!("{field} must be at least {}", duration::format(min)))
                        .at_location(out.file, value.referenced)
                        .label("too short")
                        .help("VIP executions take minutes to hours; poll every 30s or more"),
                ),
                Err(problem) => out.push(
                    ManifestDiagnostic::error(format!("invalid {field}: {problem}"))
                        .at_location(out.file, value.referenced)
                        .label("not a duration")
                        .help("write a number with a unit: `ms`, `s`, `m`, `h` or `d`, e.g. `30s`, `5m`, `24h`, `1h30m`"),
                ),
            }
    }
    if let Some(r) = &e.retry_on {
        settings.retry_on = retry_classes(out, &r.value);
    }
    settings
}

/// The classes `execution.retry_on` names: class names, `infrastructure`, `all`.
fn retry_classes(out: &mut Findings, names: &[serde_saphyr::Spanned<String>]) -> Vec<FailureClass> {
    let mut classes = Vec::new();
    for name in names {
        match name.value.trim() {
            "all" => classes.extend(failure::ALL),
            "infrastructure" => classes.extend(failure::INFRASTRUCTURE),
            other => {
                if let Ok(c) = other.parse::<FailureClass>() {
                    classes.push(c);
                } else {
                    let mut known: Vec<&str> = failure::ALL.iter().map(|c| c.name()).collect();
                    known.extend(["infrastructure", "all"]);
                    let help = match crate::manifest::suggest::did_you_mean(
                        other,
                        known.iter().copied(),
                    ) {
                        Some(s) => {
                            format!("did you mean `{s}`? The classes are: {}", known.join(", "))
                        }
                        None => format!("the classes are: {}", known.join(", ")),
                    };
                    out.error(
                        name.referenced,
                        format!("unknown failure class `{other}` in retry_on"),
                        "not a failure class",
                        help,
                    );
                }
            }
        }
    }
    classes.sort();
    classes.dedup();
    classes
}

/// Checks one item's rendered `results.location`, written at `at`.
pub(super) fn check_results_location(
    out: &mut Findings,
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
            .at_location(out.file, at)
            .help(format!("e.g. `{DEFAULT_RESULTS_LOCATION}`"));
        out.repeated(repeats, "results-location", d);
    }
}
