//! What `verger run` publishes about the programs it keeps running (`orchard.run.*`).
//! Documented in `docs/contract.md`, "Supervisor".

use serde::{Deserialize, Serialize};

use super::ContractPayload;

/// Topic (retained): every program `verger run` starts, its pid and restarts.
pub const STATUS_TOPIC: &str = "orchard.run.status";

/// The supervisor's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// It keeps the programs running (restarting those that end).
    Running,
    /// After SIGINT/SIGTERM: it stops them in order.
    Stopping,
    /// `verger run` is not running (its last words, or its testament).
    Gone,
}

impl RunState {
    /// Every state.
    pub const ALL: [RunState; 3] = [RunState::Running, RunState::Stopping, RunState::Gone];
    /// `running`, `stopping`, `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Stopping => "stopping",
            RunState::Gone => "gone",
        }
    }
}

wire_enum!(RunState, "run state");

/// One program's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramState {
    /// Started, not ended (`pid` is its process id).
    Running,
    /// It ended by itself and starts again after a wait (backoff).
    Restarting,
    /// It ended and is not started again (its restart mode, or the stop).
    Stopped,
    /// Not started here (`enabled = false`: it runs on another machine).
    Disabled,
}

impl ProgramState {
    /// Every state.
    pub const ALL: [ProgramState; 4] = [
        ProgramState::Running,
        ProgramState::Restarting,
        ProgramState::Stopped,
        ProgramState::Disabled,
    ];
    /// `running`, `restarting`, `stopped`, `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProgramState::Running => "running",
            ProgramState::Restarting => "restarting",
            ProgramState::Stopped => "stopped",
            ProgramState::Disabled => "disabled",
        }
    }
}

wire_enum!(ProgramState, "program state");

/// One program of `verger.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgramStatus {
    /// Its name in `verger.toml` (`gnss`, `map`, `dose`, `sprayer`, or another's).
    pub name: String,
    /// Its state.
    pub state: ProgramState,
    /// Its process id while `running`; else null.
    pub pid: Option<u32>,
    /// How many times it was started again after ending.
    pub restarts: u64,
    /// How its last run ended (`exit status: 1`, `signal: 9 (SIGKILL)`, or why it could
    /// not start); null if no run has ended.
    pub last_exit: Option<String>,
}

/// `orchard.run.status` (retained): the supervisor's state and every program's,
/// published on every change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStatusPayload {
    /// `running`, `stopping` or `gone`.
    pub state: RunState,
    /// Every program of `verger.toml`, in start order (the built-in components first).
    pub programs: Vec<ProgramStatus>,
    /// When `verger run` published it (RFC 3339 UTC, ms); null only in the testament.
    pub published_at: Option<String>,
}

impl ContractPayload for RunStatusPayload {
    const URI: &'static str = STATUS_TOPIC;
    const SCHEMA: &'static str = "orchard.run.status.schema.json";
    fn examples() -> Vec<Self> {
        let program = |name: &str, state, pid, restarts, last_exit: Option<&str>| ProgramStatus {
            name: name.into(),
            state,
            pid,
            restarts,
            last_exit: last_exit.map(Into::into),
        };
        let running = RunStatusPayload {
            state: RunState::Running,
            programs: vec![
                program("gnss", ProgramState::Running, Some(4121), 0, None),
                program(
                    "map",
                    ProgramState::Running,
                    Some(4388),
                    1,
                    Some("exit status: 1"),
                ),
                program(
                    "dose",
                    ProgramState::Restarting,
                    None,
                    3,
                    Some("signal: 9 (SIGKILL)"),
                ),
                program("sprayer", ProgramState::Disabled, None, 0, None),
                program(
                    "logger",
                    ProgramState::Stopped,
                    None,
                    0,
                    Some("exit status: 0"),
                ),
            ],
            published_at: Some("2026-04-14T09:12:33.120Z".into()),
        };
        let stopping = RunStatusPayload {
            state: RunState::Stopping,
            ..running.clone()
        };
        let gone = RunStatusPayload {
            state: RunState::Gone,
            programs: Vec::new(),
            published_at: None,
        };
        vec![running, stopping, gone]
    }
}
