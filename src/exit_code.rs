//! The process exit codes, in one place (listed in the README and in `--help`).

/// Every item finished (and was downloaded); or the command did what it was asked.
pub const SUCCESS: i32 = 0;
/// Some item failed, was killed or timed out.
pub const FAILED: i32 = 1;
/// The command line is wrong.
pub const USAGE: i32 = 2;
/// A manifest is invalid (or a file it names is).
pub const INVALID_MANIFEST: i32 = 3;
/// The API key, a group membership or a permission is missing or wrong.
pub const AUTH: i32 = 4;
/// VIP is unreachable, or failing after retries.
pub const UNREACHABLE: i32 = 5;
/// This machine refused to store results or the run's files: a full disk, a folder that
/// cannot be written, a read-only file system (the path is named). Launching stopped;
/// what runs on VIP is kept, and the next run picks it up.
pub const LOCAL: i32 = 6;
/// Another vip-run is running this manifest (a `run` or `download` with `--if-running fail`,
/// or a `cancel` or `clean`): nothing was done; try again when it is over.
pub const BUSY: i32 = 7;
/// `plan --detailed-exitcode`: the plan has changes to make.
pub const PLAN_CHANGES: i32 = 2;
/// Interrupted (Ctrl-C, SIGINT): 128 + 2, the shells' convention.
pub const INTERRUPTED: i32 = 130;
/// Stopped by SIGTERM (`timeout`, systemd, a batch scheduler): 128 + 15, as a shell reports a
/// process the signal killed, though this one saved its state and reported first.
pub const TERMINATED: i32 = 143;

/// The table printed in `--help` and the README.
pub const TABLE: &str = "\
Exit codes:
  0    success: every item finished (and was downloaded)
  1    some item failed, was killed or timed out
  2    usage error
  3    a manifest is invalid
  4    authentication, group or permission problem
  5    VIP unreachable or failing after retries, or its certificate not trusted
  6    local storage problem: results or state could not be written (disk full, no permission)
  7    busy: another vip-run is running this manifest (run and download skip instead, exit 0,
       unless --if-running fail)
  130  interrupted (Ctrl-C)
  143  stopped by SIGTERM (state saved, summary and reports written)";
