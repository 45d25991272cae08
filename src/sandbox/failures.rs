//! The failures the sandbox can inject, named as a client meets them on VIP
//! (docs/vip.md#jobs, #simulator): the kinds ([`FailureKind`]), a seeded mix of them
//! ([`FailureMix`], `vip-run sandbox --failures SPEC`), the record of what was injected
//! ([`Injection`]), GASW's exit-code names, and the seeded draws.
//!
//! Three sources decide a failure, each with its own random stream so that none shifts
//! another (and none shifts the execution ids):
//!
//! - an execution kind is drawn once per created execution, from a stream derived from the
//!   seed and the execution's rank, so the n-th execution's fate depends on nothing else;
//! - `saturated` and `engine_error` are drawn once per `POST /executions`, in arrival order;
//! - `slow_upload` is drawn once per raw upload that brings bytes, in the order they end.
//!
//! What each execution kind does to an execution lives in the scheduler (`scheduler/fates`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize, Serializer};

/// A failure VIP can show, by what a client sees of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The tool failed: `ERROR`, exit 50 (sometimes 6, 41 or 32).
    Application,
    /// An input could not be fetched: `ERROR`, exit 1, 40 or 42.
    InputDownload,
    /// The wrapper could not set itself up on the worker: `ERROR`, exit 20–25.
    Setup,
    /// The worker's disk or the job's streams failed: `ERROR`, exit 7 or 8.
    Worker,
    /// A result could not be stored: `ERROR`, exit 2, 30, 31 or 33–36.
    ResultUpload,
    /// The container image could not be pulled: `ERROR`, exit 52.
    Container,
    /// VIP's container settings for the pipeline are wrong: `ERROR`, exit 51 or 53.
    Platform,
    /// A token for external storage could not be refreshed: `ERROR`, exit 60 or 61.
    Token,
    /// An exit code VIP cannot name: `ERROR`, exit -1 (`UNDEFINED`).
    Unknown,
    /// Jobs held for an operator (`ERROR_HELD`, `STALLED_HELD`): Running until killed.
    Held,
    /// Jobs the grid lost (`STALLED`): Running until killed.
    Stalled,
    /// Every task `QUEUED` for good: Running until killed.
    Hung,
    /// Finished, every job `COMPLETED`, but a required output missing from `returnedFiles`.
    OutputsMissing,
    /// Finished, then deleted at once as if on the portal: 8015 from then on.
    Cleaned,
    /// Killed on the portal when it would have ended; unfinished jobs `CANCELLED`, exit 9.
    Killed,
    /// `POST /executions` refused with 2003 (engine saturated); nothing created.
    Saturated,
    /// `POST /executions` refused with 2004 (the engine failed to launch); nothing created.
    EngineError,
    /// A raw upload answered 400/8000 "too long" while the file still arrives.
    SlowUpload,
}

impl FailureKind {
    /// Every kind, in the order specs and records list them.
    pub const ALL: [FailureKind; 18] = [
        Self::Application,
        Self::InputDownload,
        Self::Setup,
        Self::Worker,
        Self::ResultUpload,
        Self::Container,
        Self::Platform,
        Self::Token,
        Self::Unknown,
        Self::Held,
        Self::Stalled,
        Self::Hung,
        Self::OutputsMissing,
        Self::Cleaned,
        Self::Killed,
        Self::Saturated,
        Self::EngineError,
        Self::SlowUpload,
    ];

    /// The name in specs, world files and records (`input_download`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::InputDownload => "input_download",
            Self::Setup => "setup",
            Self::Worker => "worker",
            Self::ResultUpload => "result_upload",
            Self::Container => "container",
            Self::Platform => "platform",
            Self::Token => "token",
            Self::Unknown => "unknown",
            Self::Held => "held",
            Self::Stalled => "stalled",
            Self::Hung => "hung",
            Self::OutputsMissing => "outputs_missing",
            Self::Cleaned => "cleaned",
            Self::Killed => "killed",
            Self::Saturated => "saturated",
            Self::EngineError => "engine_error",
            Self::SlowUpload => "slow_upload",
        }
    }

    /// Whether it happens to an execution (drawn once per created execution), rather than
    /// to a request (`saturated`, `engine_error`, `slow_upload`).
    pub fn is_execution(self) -> bool {
        !matches!(self, Self::Saturated | Self::EngineError | Self::SlowUpload)
    }

    /// Whether it refuses a `POST /executions` (`saturated`, `engine_error`).
    pub fn is_launch(self) -> bool {
        matches!(self, Self::Saturated | Self::EngineError)
    }

    /// The exit codes of this class in GASW's table (docs/vip.md#jobs), the usual one first;
    /// empty for the kinds that end no job with `ERROR`.
    pub fn exit_codes(self) -> &'static [i64] {
        match self {
            Self::Application => &[50, 6, 41, 32],
            Self::InputDownload => &[1, 40, 42],
            Self::Setup => &[20, 21, 22, 23, 24, 25],
            Self::Worker => &[7, 8],
            Self::ResultUpload => &[2, 30, 31, 33, 34, 35, 36],
            Self::Container => &[52],
            Self::Platform => &[51, 53],
            Self::Token => &[60, 61],
            Self::Unknown => &[-1],
            _ => &[],
        }
    }

    /// The kinds' names, for messages: `application, input_download, …`.
    fn valid_names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FailureKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown failure kind `{s}`; the kinds are: {}",
                    Self::valid_names()
                )
            })
    }
}

/// VIP's name of a GASW exit code (`exitMessage`), from VIP's `GaswExitCode` enum
/// (docs/vip.md#jobs); `UNDEFINED` for a code it does not know.
pub(crate) fn exit_message(code: i64) -> &'static str {
    match code {
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
        _ => "UNDEFINED",
    }
}

/// How often each kind happens: a rate per kind, between 0 and 1. Written
/// `application=0.05,held=0.02`; the execution kinds' rates add up to 1 at most (an
/// execution draws at most one), and so do `saturated` and `engine_error` (a launch draws at
/// most one). Rates are kept by kind, so two specs listing the same rates in another order
/// are the same mix and draw the same failures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureMix {
    rates: BTreeMap<FailureKind, f64>,
}

impl FailureMix {
    /// Reads a spec: `KIND=RATE` items separated by commas (an empty spec is no failure).
    pub fn parse(spec: &str) -> Result<FailureMix, String> {
        let mut rates = BTreeMap::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (kind, rate) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: write KIND=RATE, e.g. application=0.05"))?;
            let kind: FailureKind = kind.trim().parse()?;
            let rate: f64 = rate
                .trim()
                .parse()
                .ok()
                .filter(|r: &f64| (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("`{item}`: the rate must be a number between 0 and 1"))?;
            if rates.insert(kind, rate).is_some() {
                return Err(format!("`{kind}` is given twice"));
            }
        }
        let mix = FailureMix { rates };
        let executions = mix.sum(FailureKind::is_execution);
        if executions > 1.0 + 1e-9 {
            return Err(format!(
                "the execution kinds' rates add up to {executions}, more than 1: an execution \
                 draws at most one of them"
            ));
        }
        let launches = mix.sum(FailureKind::is_launch);
        if launches > 1.0 + 1e-9 {
            return Err(format!(
                "saturated and engine_error add up to {launches}, more than 1: a launch draws \
                 at most one of them"
            ));
        }
        Ok(mix)
    }

    /// The rate of `kind` (0 when the mix does not name it).
    pub fn rate(&self, kind: FailureKind) -> f64 {
        self.rates.get(&kind).copied().unwrap_or(0.0)
    }

    /// Whether the mix injects nothing.
    pub fn is_empty(&self) -> bool {
        self.rates.values().all(|r| *r == 0.0)
    }

    fn sum(&self, which: impl Fn(FailureKind) -> bool) -> f64 {
        self.rates
            .iter()
            .filter(|(k, _)| which(**k))
            .map(|(_, r)| r)
            .sum()
    }

    /// The kind among those `which` selects that `u` (uniform in 0..1) falls on, the rates
    /// laid end to end in the kinds' order; `None` past them.
    fn pick(&self, u: f64, which: impl Fn(FailureKind) -> bool) -> Option<FailureKind> {
        let mut end = 0.0;
        for (kind, rate) in self.rates.iter().filter(|(k, _)| which(**k)) {
            end += rate;
            if u < end {
                return Some(*kind);
            }
        }
        None
    }
}

impl fmt::Display for FailureMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (kind, rate) in &self.rates {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{kind}={rate}")?;
        }
        Ok(())
    }
}

impl FromStr for FailureMix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl Serialize for FailureMix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One failure the sandbox injected: the truth a test or a bench checks a client against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Injection {
    /// The index, in [`super::Sandbox::requests`], of the request that caused it: the
    /// `POST /executions` that created the execution, or the refused `POST` or `PUT`.
    pub at_request: usize,
    /// What was injected.
    pub kind: FailureKind,
    /// The execution it happened to (none for a refused launch or an upload).
    pub execution_id: Option<String>,
    /// The execution's name (also for a refused launch).
    pub name: Option<String>,
    /// For `slow_upload`: the VIP path the file arrives at.
    pub path: Option<String>,
    /// For `outputs_missing`: the output id withheld.
    pub output: Option<String>,
    /// The jobs it touched, as `jobs` shows them once they have ended (or for good).
    pub jobs: Vec<InjectedJob>,
}

/// One job an injection touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InjectedJob {
    /// Its invocation id (the key in `jobs`).
    pub job: usize,
    /// Its `exitCode` (none while held, stalled or queued).
    pub exit_code: Option<i64>,
    /// Its task status (`ERROR`, `ERROR_HELD`, `STALLED`, `QUEUED`, `COMPLETED`, `CANCELLED`).
    pub status: String,
}

/// Mixes a seed and a stream number into a generator seed (splitmix64's finaliser).
fn mix_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of the `rank`-th execution's fate (0 for the first one created).
pub(crate) fn execution_rng(seed: u64, rank: usize) -> StdRng {
    StdRng::seed_from_u64(mix_seed(mix_seed(seed, 0xFA11_0001), rank as u64))
}

/// The seeded draws of the request-level kinds, one stream per kind of request.
#[derive(Debug)]
pub(crate) struct Signals {
    mix: FailureMix,
    launches: StdRng,
    uploads: StdRng,
}

impl Signals {
    pub(crate) fn new(seed: u64, mix: FailureMix) -> Self {
        Self {
            mix,
            launches: StdRng::seed_from_u64(mix_seed(seed, 0xFA11_0002)),
            uploads: StdRng::seed_from_u64(mix_seed(seed, 0xFA11_0003)),
        }
    }

    /// The fate of one `POST /executions`: `saturated`, `engine_error` or nothing.
    pub(crate) fn launch(&mut self) -> Option<FailureKind> {
        let u: f64 = self.launches.random();
        self.mix.pick(u, FailureKind::is_launch)
    }

    /// Whether one raw upload is answered "too long".
    pub(crate) fn upload(&mut self) -> bool {
        let u: f64 = self.uploads.random();
        u < self.mix.rate(FailureKind::SlowUpload)
    }
}

/// The execution kind the mix gives an execution, drawn from its own generator.
pub(crate) fn draw_execution(mix: &FailureMix, rng: &mut StdRng) -> Option<FailureKind> {
    let u: f64 = rng.random();
    mix.pick(u, FailureKind::is_execution)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_in_snake_case_both_ways() {
        for kind in FailureKind::ALL {
            assert_eq!(kind.to_string().parse::<FailureKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.name())
            );
        }
        assert_eq!(FailureKind::InputDownload.to_string(), "input_download");
        let err = "input-download".parse::<FailureKind>().unwrap_err();
        assert!(err.contains("`input-download`"), "{err}");
        assert!(err.contains("input_download, setup"), "{err}");
        assert_eq!(
            FailureKind::ALL.iter().filter(|k| k.is_execution()).count(),
            15
        );
    }

    #[test]
    fn every_exit_code_has_gasws_name() {
        assert_eq!(exit_message(50), "EXECUTION_FAILED");
        assert_eq!(exit_message(1), "ERROR_READ_GRID");
        assert_eq!(exit_message(9), "EXECUTION_CANCELED");
        assert_eq!(exit_message(-1), "UNDEFINED");
        for kind in FailureKind::ALL {
            for code in kind.exit_codes() {
                assert!(*code == -1 || exit_message(*code) != "UNDEFINED", "{code}");
            }
        }
    }

    #[test]
    fn mixes_parse_check_and_round_trip() {
        let mix = FailureMix::parse(
            "application=0.05,input_download=0.05,held=0.02,outputs_missing=0.02",
        )
        .unwrap();
        assert!((mix.rate(FailureKind::Held) - 0.02).abs() < 1e-12);
        assert!(mix.rate(FailureKind::Hung).abs() < 1e-12);
        assert_eq!(FailureMix::parse(&mix.to_string()).unwrap(), mix);
        assert_eq!(
            mix.to_string(),
            "application=0.05,input_download=0.05,held=0.02,outputs_missing=0.02"
        );
        // Order and spaces do not matter.
        assert_eq!(
            FailureMix::parse(
                " held=0.02, application=0.05 ,input_download=0.05,outputs_missing=0.02,"
            )
            .unwrap(),
            mix
        );
        assert!(FailureMix::parse("").unwrap().is_empty());
        assert!(FailureMix::parse("held=0").unwrap().is_empty());
        let err = FailureMix::parse("application=0.1,oops=0.2").unwrap_err();
        assert!(
            err.contains("`oops`") && err.contains("slow_upload"),
            "{err}"
        );
        let err = FailureMix::parse("held").unwrap_err();
        assert!(err.contains("KIND=RATE"), "{err}");
        for bad in ["held=1.5", "held=-0.1", "held=x", "held=NaN"] {
            let err = FailureMix::parse(bad).unwrap_err();
            assert!(err.contains("between 0 and 1"), "{bad}: {err}");
        }
        let err = FailureMix::parse("held=0.1,held=0.2").unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let err = FailureMix::parse("application=0.6,killed=0.6").unwrap_err();
        assert!(err.contains("more than 1"), "{err}");
        let err = FailureMix::parse("saturated=0.6,engine_error=0.6").unwrap_err();
        assert!(err.contains("saturated and engine_error"), "{err}");
        // Request kinds do not count against the execution kinds' total.
        assert!(FailureMix::parse("application=1,saturated=1,slow_upload=1").is_ok());
        assert_eq!(
            serde_json::to_value(&mix).unwrap(),
            serde_json::json!(mix.to_string())
        );
    }

    #[test]
    fn draws_follow_the_rates_and_the_seed() {
        let mix = FailureMix::parse("application=0.25,held=0.25,saturated=0.5").unwrap();
        let fates = |seed| {
            (0..400)
                .map(|n| draw_execution(&mix, &mut execution_rng(seed, n)))
                .collect::<Vec<_>>()
        };
        let seven = fates(7);
        assert_eq!(seven, fates(7));
        assert_ne!(seven, fates(8));
        let count = |k| seven.iter().filter(|f| **f == Some(k)).count();
        assert!((60..=140).contains(&count(FailureKind::Application)));
        assert!((60..=140).contains(&count(FailureKind::Held)));
        assert!(!seven.contains(&Some(FailureKind::Saturated)));
        let mut signals = Signals::new(7, mix);
        let launches: Vec<_> = (0..200).map(|_| signals.launch()).collect();
        let saturated = launches.iter().filter(|l| l.is_some()).count();
        assert!((60..=140).contains(&saturated), "{saturated}");
        assert!(!(0..50).any(|_| signals.upload()));
    }
}
