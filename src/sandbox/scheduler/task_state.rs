//! One job's task as VIP's `jobs` map shows it: its `TaskState` name, its exit code and the
//! name VIP gives that code. The views read it, the fates plan it, the results follow it.

use crate::sandbox::failures;

/// One job's task as `jobs` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskState {
    Queued,
    Running,
    Completed,
    /// Failed with this exit code.
    Error(i64),
    Cancelled,
    /// Held for an operator after too many errors.
    ErrorHeld,
    /// Held for an operator after stalling too often.
    StalledHeld,
    /// Lost by the grid.
    Stalled,
}

impl TaskState {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Error(_) => "ERROR",
            Self::Cancelled => "CANCELLED",
            Self::ErrorHeld => "ERROR_HELD",
            Self::StalledHeld => "STALLED_HELD",
            Self::Stalled => "STALLED",
        }
    }

    /// The `exitCode`: 0 once completed, the wrapper's code once failed, 9 once cancelled;
    /// none while the task has not ended (held and stalled tasks have not).
    pub(super) fn exit_code(self) -> Option<i64> {
        match self {
            Self::Completed => Some(0),
            Self::Error(code) => Some(code),
            Self::Cancelled => Some(9),
            _ => None,
        }
    }

    /// The `exitMessage`: VIP's name of a failure's code (a success keeps `null`).
    pub(super) fn exit_message(self) -> Option<String> {
        match self {
            Self::Error(_) | Self::Cancelled => self
                .exit_code()
                .map(|c| failures::exit_message(c).to_owned()),
            _ => None,
        }
    }

    /// Whether the task can still change: a kill cancels it.
    pub(super) fn is_unfinished(self) -> bool {
        matches!(
            self,
            Self::Queued | Self::Running | Self::ErrorHeld | Self::StalledHeld | Self::Stalled
        )
    }
}

/// The `jobs` map: empty until the engine has submitted the tasks.
pub(super) type Tasks = Option<Vec<TaskState>>;
