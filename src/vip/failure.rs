//! Why a job or an execution failed, as a class a user (and the retry policy) can act on: VIP's
//! job wrapper ends every task with an exit code (docs/vip.md#exit-codes), and the other
//! signals (held or stalled tasks, a time limit, outputs missing, an execution cleaned on VIP)
//! are classes of their own.
//!
//! *Infrastructure* classes are worth relaunching as they are; `application` comes from the
//! tool, the data or the parameters, and a relaunch repeats it on the grid's time; `platform`
//! needs VIP's support.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::wire::{Job, JobClass};

/// A failure class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// An input could not be fetched from grid storage (exit 1, 40, 42).
    InputDownload,
    /// The wrapper could not set itself up on the worker (exit 20–25).
    Setup,
    /// The worker's disk or logs failed (exit 7, 8).
    Worker,
    /// A result could not be stored (exit 2, 30–36 but 32).
    ResultUpload,
    /// The container image could not be pulled (exit 52).
    Container,
    /// An external storage token could not be refreshed (exit 60, 61).
    Token,
    /// The grid lost the job, or VIP holds it for an operator (exit 10; held or stalled
    /// tasks; a jobs map that stopped changing; VIP lost track of the execution).
    Stalled,
    /// Killed on VIP by someone else (exit 9, or the execution `Killed`).
    Killed,
    /// Over the manifest's `execution.timeout`.
    TimedOut,
    /// Ended without an output its descriptor (or `results.expect`) declares (exit 3).
    OutputsMissing,
    /// The tool itself failed: its data or parameters (exit 6, 50, 32, 37, 41).
    Application,
    /// The pipeline's container settings are wrong on VIP (exit 51, 53): contact VIP.
    Platform,
    /// The execution was cleaned (deleted) on VIP before it was done with.
    Cleaned,
    /// Anything else (exit -1, an exit code vip-run does not know, no exit code).
    Unknown,
}

/// Every class, in the order they are documented.
pub const ALL: [FailureClass; 14] = [
    FailureClass::InputDownload,
    FailureClass::Setup,
    FailureClass::Worker,
    FailureClass::ResultUpload,
    FailureClass::Container,
    FailureClass::Token,
    FailureClass::Stalled,
    FailureClass::Killed,
    FailureClass::TimedOut,
    FailureClass::OutputsMissing,
    FailureClass::Application,
    FailureClass::Platform,
    FailureClass::Cleaned,
    FailureClass::Unknown,
];

/// The infrastructure classes: the grid's, not the tool's.
pub const INFRASTRUCTURE: [FailureClass; 6] = [
    FailureClass::InputDownload,
    FailureClass::Setup,
    FailureClass::Worker,
    FailureClass::ResultUpload,
    FailureClass::Container,
    FailureClass::Token,
];

impl FailureClass {
    /// The name in manifests and JSON (`input_download`).
    pub fn name(self) -> &'static str {
        match self {
            Self::InputDownload => "input_download",
            Self::Setup => "setup",
            Self::Worker => "worker",
            Self::ResultUpload => "result_upload",
            Self::Container => "container",
            Self::Token => "token",
            Self::Stalled => "stalled",
            Self::Killed => "killed",
            Self::TimedOut => "timed_out",
            Self::OutputsMissing => "outputs_missing",
            Self::Application => "application",
            Self::Platform => "platform",
            Self::Cleaned => "cleaned",
            Self::Unknown => "unknown",
        }
    }

    /// The name in sentences (`input download`).
    pub fn words(self) -> &'static str {
        match self {
            Self::InputDownload => "input download",
            Self::ResultUpload => "result upload",
            Self::TimedOut => "timed out",
            Self::OutputsMissing => "outputs missing",
            other => other.name(),
        }
    }

    /// Whether the grid, not the tool, failed.
    pub fn is_infrastructure(self) -> bool {
        INFRASTRUCTURE.contains(&self)
    }

    /// What to do about it, in a few words.
    pub fn advice(self) -> &'static str {
        match self {
            Self::InputDownload
            | Self::Setup
            | Self::Worker
            | Self::ResultUpload
            | Self::Container
            | Self::Token => "the grid failed, not the tool: a relaunch usually succeeds",
            Self::Stalled => "the job stalled or was held on the grid: a relaunch usually helps",
            Self::Killed => "it was killed on VIP",
            Self::TimedOut => "it took longer than execution.timeout",
            Self::OutputsMissing => {
                "it ended without an output it declares: check its logs; a relaunch usually repeats it"
            }
            Self::Application => {
                "the tool failed on its data or parameters: check its stderr; a relaunch repeats it"
            }
            Self::Platform => {
                "the pipeline is broken on VIP's side: contact VIP support (vip-support@creatis.insa-lyon.fr)"
            }
            Self::Cleaned => "it was deleted on VIP: relaunch it with --relaunch",
            Self::Unknown => "VIP did not say why",
        }
    }

    /// The class of a job's exit code (docs/vip.md#exit-codes); `None` for 0.
    pub fn of_exit_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => return None,
            1 | 40 | 42 => Self::InputDownload,
            2 | 30 | 31 | 33..=36 => Self::ResultUpload,
            3 => Self::OutputsMissing,
            6 | 32 | 37 | 41 | 50 => Self::Application,
            7 | 8 => Self::Worker,
            9 => Self::Killed,
            10 => Self::Stalled,
            20..=25 => Self::Setup,
            51 | 53 => Self::Platform,
            52 => Self::Container,
            60 | 61 => Self::Token,
            _ => Self::Unknown,
        })
    }

    /// The class of a job that did not succeed: by its exit code, else by its task status;
    /// `None` for a job that completed or has not ended.
    pub fn of_job(job: &Job) -> Option<Self> {
        if let Some(class) = job.exit_code.and_then(Self::of_exit_code) {
            return Some(class);
        }
        match job.class() {
            JobClass::Failed => Some(Self::Unknown),
            JobClass::Stalled => Some(Self::Stalled),
            JobClass::Cancelled => Some(Self::Killed),
            _ => None,
        }
    }

    /// Of several jobs' classes, the one that decides an execution's: a relaunch repeats
    /// the execution whole, so a class a relaunch cannot mend wins over one it can, and the
    /// one that needs VIP's support over all.
    pub fn rank(self) -> u8 {
        match self {
            Self::Platform => 0,
            Self::Application => 1,
            Self::OutputsMissing => 2,
            Self::Container => 3,
            Self::Token => 4,
            Self::Setup => 5,
            Self::InputDownload => 6,
            Self::ResultUpload => 7,
            Self::Worker => 8,
            Self::Stalled => 9,
            Self::TimedOut => 10,
            Self::Cleaned => 11,
            Self::Killed => 12,
            Self::Unknown => 13,
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FailureClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown failure class `{s}`"))
    }
}

/// Why an execution failed: its class, and what showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The class that decides (see `vip::failure`).
    pub class: FailureClass,
    /// The wrapper's exit code of the job that decided, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// The jobs that did not succeed (an execution of several jobs names which).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<FailedJob>,
    /// The outputs it ended without.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// What else showed it (held on VIP, no change for a while, the time limit…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One job of a failed execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedJob {
    /// VIP's invocation id.
    pub job: String,
    /// Its task status.
    pub status: String,
    /// Its exit code, when VIP gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Its class.
    pub class: FailureClass,
    /// The list elements it ran on (`input[i] = value`), when the item gave lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl Verdict {
    /// A verdict of `class` alone, with `detail`.
    pub fn of(class: FailureClass, detail: impl Into<String>) -> Self {
        Self {
            class,
            exit_code: None,
            jobs: Vec::new(),
            missing: Vec::new(),
            detail: Some(detail.into()),
        }
    }

    /// `application (exit 50)`: the class, with the deciding exit code.
    pub fn headline(&self) -> String {
        match self.exit_code {
            Some(code) => format!("{} (exit {code})", self.class.words()),
            None => self.class.words().to_owned(),
        }
    }

    /// What showed it, in one line: the detail, the missing outputs, the failed jobs.
    pub fn explain(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = &self.detail {
            parts.push(d.clone());
        }
        if !self.missing.is_empty() {
            parts.push(format!("missing: {}", self.missing.join(", ")));
        }
        if self.jobs.len() > 1 || self.jobs.iter().any(|j| !j.values.is_empty()) {
            let shown: Vec<String> = self
                .jobs
                .iter()
                .take(5)
                .map(|j| {
                    let code = j
                        .exit_code
                        .map(|c| format!(" exit {c}"))
                        .unwrap_or_default();
                    let on = if j.values.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", j.values.join(", "))
                    };
                    format!("job {} {}{code}{on}", j.job, j.class.words())
                })
                .collect();
            let more = self.jobs.len().saturating_sub(5);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            parts.push(format!(
                "{} job{} failed: {}{more}",
                self.jobs.len(),
                if self.jobs.len() == 1 { "" } else { "s" },
                shown.join("; ")
            ));
        }
        parts.join("; ")
    }
}

/// VIP's name of a wrapper exit code (its `exitMessage`), when vip-run knows it.
pub fn exit_code_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "SUCCESS",
        1 => "ERROR_READ_GRID",
        2 => "ERROR_WRITE_GRID",
        3 => "ERROR_FILE_NOT_FOUND",
        6 => "EXECUTION_FAILED_LEGACY",
        7 => "ERROR_WRITE_LOCAL",
        8 => "ERROR_GET_STD",
        9 => "EXECUTION_CANCELED",
        10 => "EXECUTION_STALLED",
        20 => "GIRDER_CLIENT_INSTALL_FAILED",
        21 => "BOUTIQUE_INSTALL_FAILED",
        22 => "ERROR_CREATE_EXEC_DIR",
        23 => "ERROR_CD_EXEC_DIR",
        24 => "CONFIG_NOT_FOUND",
        25 => "BOUTIQUE_IMPORT_FAILED",
        30 => "ERROR_WRITE_LFN",
        31 => "ERROR_MV_FILE",
        32 => "ERROR_RESULT_FILE_EXIST",
        33 => "ERROR_UPLOAD_GIRDER",
        34 => "ERROR_UPLOAD_SHANOIR",
        35 => "FAILED_CREATE_LOCAL_UPLOAD_DIR",
        36 => "ERROR_GIRDER_MKDIR",
        37 => "ERROR_SHANOIR_UPLOAD_SUBDIR",
        40 => "ERROR_DL",
        41 => "INVALID_SHANOIR_NIFTI",
        42 => "SHANOIR_DL_FAILED",
        50 => "EXECUTION_FAILED",
        51 => "SING_INVALID_IMAGE_NAME",
        52 => "SING_IMAGE_NOT_FOUND",
        53 => "INVALID_CONTAINER_RUNTIME",
        60 => "TOKEN_REFRESH_TOO_LONG",
        61 => "TOKEN_REFRESH_ERROR",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: &str, code: Option<i64>) -> Job {
        Job {
            status: status.into(),
            exit_code: code,
            exit_message: None,
        }
    }

    #[test]
    fn every_code_of_the_table_has_its_class() {
        use FailureClass as C;
        for (code, class) in [
            (1, C::InputDownload),
            (2, C::ResultUpload),
            (3, C::OutputsMissing),
            (6, C::Application),
            (7, C::Worker),
            (8, C::Worker),
            (9, C::Killed),
            (10, C::Stalled),
            (20, C::Setup),
            (25, C::Setup),
            (30, C::ResultUpload),
            (32, C::Application),
            (36, C::ResultUpload),
            (37, C::Application),
            (40, C::InputDownload),
            (41, C::Application),
            (42, C::InputDownload),
            (50, C::Application),
            (51, C::Platform),
            (52, C::Container),
            (53, C::Platform),
            (60, C::Token),
            (61, C::Token),
            (-1, C::Unknown),
            (99, C::Unknown),
        ] {
            assert_eq!(C::of_exit_code(code), Some(class), "{code}");
        }
        assert_eq!(C::of_exit_code(0), None);
        for code in [1, 2, 3, 50, 52, 61] {
            assert!(exit_code_name(code).is_some());
        }
    }

    #[test]
    fn a_job_without_an_exit_code_is_classed_by_its_status() {
        use FailureClass as C;
        assert_eq!(C::of_job(&job("ERROR_HELD", None)), Some(C::Stalled));
        assert_eq!(C::of_job(&job("STALLED", None)), Some(C::Stalled));
        assert_eq!(C::of_job(&job("ERROR", None)), Some(C::Unknown));
        assert_eq!(C::of_job(&job("CANCELLED", None)), Some(C::Killed));
        assert_eq!(C::of_job(&job("COMPLETED", Some(0))), None);
        assert_eq!(C::of_job(&job("RUNNING", None)), None);
        assert_eq!(C::of_job(&job("ERROR", Some(50))), Some(C::Application));
    }

    #[test]
    fn names_round_trip_and_the_tool_outranks_the_grid() {
        for c in ALL {
            assert_eq!(c.name().parse::<FailureClass>(), Ok(c));
        }
        assert!(FailureClass::Application.rank() < FailureClass::InputDownload.rank());
        assert!(FailureClass::Platform.rank() < FailureClass::Application.rank());
    }
}
