//! The valve board: what the driver asks of it ([`Board`]), the two real kinds behind it,
//! and the protocol's pure codec (re-exported from [`verger::valve_board`]).
//!
//! - [`SerialBoard`] (`serial.rs`): verger's framed protocol (`docs/valve-board.md`):
//!   `SET`/`HEARTBEAT`/`ALL_OFF` out, `ACK`/`STATUS`/`NAK` back, read by a task that keeps
//!   [`BoardHealth`] up to date; the board closes everything by itself when the host falls
//!   silent for its watchdog period.
//! - [`LcRelayBoard`] (`relay.rs`): the CH340 "LC" USB relay boards: on/off only, nothing
//!   comes back, no watchdog.
//! - `health.rs`: the host's view of a serial board (answering, tripped, NAKs...) as a pure
//!   state machine on injected instants.
//!
//! [`open`] opens either from the `[board]` settings ([`BoardSettings`]) and closes every
//! output at once; [`AnyBoard`] spares the driver generics. Every board also hands out an
//! [`EmergencyOff`]: "close everything", written without async or locks, for a panic hook.
//! Dropping a board writes the same "close everything" (best effort) before closing the
//! port.

mod health;
mod relay;
mod serial;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use verger::config::{Problem, Validate};

pub use relay::LcRelayBoard;
pub use serial::SerialBoard;
pub use verger::valve_board::*;

/// What the driver wants of one section (closed, or on at a PWM duty 1..=100).
pub type Output = verger::valve_board::Section;

/// Which kind of valve board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardKind {
    /// verger's framed serial protocol (`docs/valve-board.md`): acknowledgements, status,
    /// PWM duty, a board-side watchdog.
    Serial,
    /// A CH340 "LC" USB relay board: on/off relays, no feedback, no watchdog.
    LcRelay,
}

impl BoardKind {
    /// The baud rate unless configured: 115200 for `serial`, 9600 (all they speak) for
    /// `lc_relay`.
    pub fn default_baud(self) -> u32 {
        match self {
            BoardKind::Serial => 115_200,
            BoardKind::LcRelay => 9_600,
        }
    }
}

impl std::fmt::Display for BoardKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BoardKind::Serial => "serial",
            BoardKind::LcRelay => "lc_relay",
        })
    }
}

/// Which board and where (the sprayer's `[board]` settings table).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSettings {
    /// `serial` (verger's framed protocol, docs/valve-board.md) or `lc_relay` (CH340 relay boards).
    pub kind: BoardKind,
    /// The device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...
    pub port: std::path::PathBuf,
    /// Baud rate; default 115200 for serial, 9600 for lc_relay.
    #[serde(default)]
    pub baud: Option<u32>,
}

impl BoardSettings {
    /// The baud rate in force: the configured one, else the kind's default.
    pub fn baud(&self) -> u32 {
        self.baud.unwrap_or(self.kind.default_baud())
    }
}

impl Validate for BoardSettings {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if self.port.as_os_str().is_empty() {
            problems.push(Problem::new(
                "board.port",
                "is empty: the valve board's device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/…",
            ));
        }
        if let Some(baud) = self.baud {
            if !verger::tty::BAUD_RATES.contains(&baud) {
                problems.push(Problem::new(
                    "board.baud",
                    format!(
                        "{baud} is not a supported baud rate (one of {:?})",
                        verger::tty::BAUD_RATES
                    ),
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The host's view of the board, kept up to date by the board (its reader task for a
/// serial board).
#[derive(Clone, Debug, PartialEq)]
pub struct BoardHealth {
    /// Which kind of board.
    pub kind: BoardKind,
    /// The board answers (ACK/STATUS within one watchdog period of each frame sent). Always true for lc_relay (no feedback) once opened.
    ///
    /// A serial board starts `false` and turns `true` with its first answer (the `ACK` of
    /// the `ALL_OFF` sent at opening). An lc_relay board turns `false` only when a write
    /// fails (the device is gone).
    pub answering: bool,
    /// A STATUS said the board's watchdog tripped (cleared by the next ACK of a SET).
    pub watchdog_tripped: bool,
    /// The board's own CRC error counter (last STATUS).
    pub crc_errors: u32,
    /// NAKs received since opening.
    pub naks: u64,
    /// Outputs the board confirmed (last ACK/STATUS); None for lc_relay or before the first answer.
    pub confirmed: Option<verger::valve_board::Outputs>,
    /// Last problem, in words (a NAK and its reason, the device gone, garbage...), None when fine.
    ///
    /// A serial board clears it with the next `ACK` or `STATUS` that finds the board well
    /// (not tripped).
    pub last_error: Option<String>,
    /// The device is gone (unplugged, end of stream, a read or write error): nothing more
    /// will come from this board; open the device again.
    pub gone: bool,
}

impl BoardHealth {
    /// A board of `kind` just opened: nothing heard yet (an lc_relay board, which has
    /// nothing to say, counts as answering).
    pub fn opened(kind: BoardKind) -> BoardHealth {
        BoardHealth {
            kind,
            answering: kind == BoardKind::LcRelay,
            watchdog_tripped: false,
            crc_errors: 0,
            naks: 0,
            confirmed: None,
            last_error: None,
            gone: false,
        }
    }
}

/// Why the board could not be opened or driven.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The port could not be opened; the message names it and says what to do.
    #[error("{message}")]
    Open {
        /// The configured port.
        port: PathBuf,
        /// What is wrong, in words an operator can act on.
        message: String,
    },
    /// Writing the port failed: the board is gone (unplugged, powered off...).
    #[error("the valve board at {} is gone: {source}", port.display())]
    Io {
        /// The configured port.
        port: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// More sections than a board drives.
    #[error("{sections} sections configured, a valve board drives at most {max}")]
    TooManySections {
        /// Sections asked for.
        sections: usize,
        /// The most a board drives ([`MAX_SECTIONS`]).
        max: usize,
    },
    /// No section at all.
    #[error("a valve board needs at least one section")]
    NoSections,
    /// A `set` with more outputs than the board's sections.
    #[error("{given} outputs for a valve board of {sections} sections")]
    TooManyOutputs {
        /// Outputs given.
        given: usize,
        /// The board's sections.
        sections: usize,
    },
}

/// A valve board as the driver sees it.
pub trait Board: Send + 'static {
    /// Sections the board drives (as configured by the driver).
    fn sections(&self) -> usize;
    /// Put every section in `outputs` (index = section) now: returns once the bytes are written (does not wait for the ACK).
    ///
    /// Sections beyond `outputs` are closed; more outputs than [`Board::sections`] is
    /// [`BoardError::TooManyOutputs`] and writes nothing.
    fn set(
        &mut self,
        outputs: &[Output],
    ) -> impl std::future::Future<Output = Result<(), BoardError>> + Send;
    /// Close every section now.
    fn all_off(&mut self) -> impl std::future::Future<Output = Result<(), BoardError>> + Send;
    /// Feed the board's watchdog; the driver calls it every HEARTBEAT_PERIOD when it sent nothing else.
    ///
    /// Serial: one `HEARTBEAT` (answered by `STATUS`). lc_relay: writes **nothing** (the
    /// board has no watchdog to feed and nothing to report; the line carries only changes).
    fn heartbeat(&mut self) -> impl std::future::Future<Output = Result<(), BoardError>> + Send;
    /// The board's health, kept up to date by the board's reader task.
    fn health(&self) -> watch::Receiver<BoardHealth>;
    /// A blocking "close everything" for a panic hook: writes ALL_OFF (every relay off for lc_relay) straight to a duplicate of the device's file descriptor, no async, no lock.
    fn emergency_off(&self) -> std::io::Result<EmergencyOff>;
}

/// How long [`EmergencyOff::fire`] (and dropping a board) waits at most for room in the
/// device's output buffer.
pub const EMERGENCY_WRITE_TIMEOUT: Duration = Duration::from_millis(50);

/// "Close everything", ready to be written from anywhere (a panic hook, a signal thread):
/// a duplicate of the board's device descriptor and the bytes that close every output.
#[derive(Debug)]
pub struct EmergencyOff {
    file: File,
    bytes: Vec<u8>,
}

impl EmergencyOff {
    /// Writes `bytes` on a duplicate of `tty`'s descriptor.
    fn new(tty: &verger::tty::Tty, bytes: Vec<u8>) -> std::io::Result<EmergencyOff> {
        Ok(EmergencyOff {
            file: File::from(tty.try_clone_fd()?),
            bytes,
        })
    }

    /// Writes the "close everything" bytes with a blocking write (waiting at most
    /// [`EMERGENCY_WRITE_TIMEOUT`] for room), ignoring errors: there is nothing left to do
    /// about them. May be called any number of times.
    pub fn fire(&self) {
        let _ = verger::tty::write_all_blocking(&self.file, &self.bytes, EMERGENCY_WRITE_TIMEOUT);
    }

    /// The bytes [`EmergencyOff::fire`] writes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Refuses a section count no board drives.
fn check_sections(sections: usize) -> Result<(), BoardError> {
    match sections {
        0 => Err(BoardError::NoSections),
        n if n > MAX_SECTIONS => Err(BoardError::TooManySections {
            sections: n,
            max: MAX_SECTIONS,
        }),
        _ => Ok(()),
    }
}

/// Opens the serial device of the board at `port`.
fn open_port(port: &Path, baud: u32) -> Result<verger::tty::Tty, BoardError> {
    verger::tty::Tty::open_serial(port, baud).map_err(|e| BoardError::Open {
        port: port.to_path_buf(),
        message: verger::tty::open_error("valve board", port, &e),
    })
}

/// Open the configured board for `sections` sections and close every output at once.
pub async fn open(settings: &BoardSettings, sections: usize) -> Result<AnyBoard, BoardError> {
    Ok(match settings.kind {
        BoardKind::Serial => {
            AnyBoard::Serial(SerialBoard::open(&settings.port, settings.baud(), sections).await?)
        }
        BoardKind::LcRelay => {
            AnyBoard::LcRelay(LcRelayBoard::open(&settings.port, settings.baud(), sections).await?)
        }
    })
}

/// Either board, so the driver needs no generics.
#[derive(Debug)]
pub enum AnyBoard {
    /// verger's framed protocol.
    Serial(SerialBoard),
    /// A CH340 relay board.
    LcRelay(LcRelayBoard),
}

impl AnyBoard {
    /// Which kind it is.
    pub fn kind(&self) -> BoardKind {
        match self {
            AnyBoard::Serial(_) => BoardKind::Serial,
            AnyBoard::LcRelay(_) => BoardKind::LcRelay,
        }
    }
}

impl Board for AnyBoard {
    fn sections(&self) -> usize {
        match self {
            AnyBoard::Serial(b) => b.sections(),
            AnyBoard::LcRelay(b) => b.sections(),
        }
    }

    async fn set(&mut self, outputs: &[Output]) -> Result<(), BoardError> {
        match self {
            AnyBoard::Serial(b) => b.set(outputs).await,
            AnyBoard::LcRelay(b) => b.set(outputs).await,
        }
    }

    async fn all_off(&mut self) -> Result<(), BoardError> {
        match self {
            AnyBoard::Serial(b) => b.all_off().await,
            AnyBoard::LcRelay(b) => b.all_off().await,
        }
    }

    async fn heartbeat(&mut self) -> Result<(), BoardError> {
        match self {
            AnyBoard::Serial(b) => b.heartbeat().await,
            AnyBoard::LcRelay(b) => b.heartbeat().await,
        }
    }

    fn health(&self) -> watch::Receiver<BoardHealth> {
        match self {
            AnyBoard::Serial(b) => b.health(),
            AnyBoard::LcRelay(b) => b.health(),
        }
    }

    fn emergency_off(&self) -> std::io::Result<EmergencyOff> {
        match self {
            AnyBoard::Serial(b) => b.emergency_off(),
            AnyBoard::LcRelay(b) => b.emergency_off(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A section on at `duty` percent.
    pub(crate) fn on(duty: u8) -> Section {
        Section::new(true, duty).expect("duty in range")
    }

    fn settings(toml: &str) -> Result<BoardSettings, String> {
        verger::config::from_toml_str::<BoardSettings>(toml, "board.toml")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn settings_parse_with_the_kind_s_default_baud() {
        let s = settings("kind = \"serial\"\nport = \"/dev/ttyUSB0\"\n").expect("valid");
        assert_eq!((s.kind, s.baud()), (BoardKind::Serial, 115_200));
        let s = settings("kind = \"lc_relay\"\nport = \"/dev/ttyUSB1\"\n").expect("valid");
        assert_eq!((s.kind, s.baud()), (BoardKind::LcRelay, 9_600));
        let s =
            settings("kind = \"serial\"\nport = \"/dev/ttyACM0\"\nbaud = 57600\n").expect("valid");
        assert_eq!(s.baud(), 57_600);
    }

    #[test]
    fn wrong_settings_are_refused_by_name() {
        let e = settings("kind = \"serial\"\nport = \"/dev/ttyUSB0\"\nbaud = 12345\n")
            .expect_err("baud");
        assert!(e.contains("board.baud") && e.contains("12345"), "{e}");
        let e = settings("kind = \"serial\"\nport = \"\"\n").expect_err("port");
        assert!(e.contains("board.port"), "{e}");
        let e = settings("kind = \"can\"\nport = \"/dev/ttyUSB0\"\n").expect_err("kind");
        assert!(e.contains("can"), "{e}");
        let e =
            settings("kind = \"serial\"\nport = \"/dev/x\"\nparity = \"odd\"\n").expect_err("key");
        assert!(e.contains("parity"), "{e}");
    }

    #[test]
    fn section_counts_a_board_cannot_drive_are_refused() {
        assert!(matches!(check_sections(0), Err(BoardError::NoSections)));
        assert!(check_sections(1).is_ok() && check_sections(MAX_SECTIONS).is_ok());
        let e = check_sections(17).expect_err("17");
        assert_eq!(
            e.to_string(),
            "17 sections configured, a valve board drives at most 16"
        );
    }

    #[test]
    fn a_new_health_has_heard_nothing() {
        let serial = BoardHealth::opened(BoardKind::Serial);
        assert!(!serial.answering && serial.confirmed.is_none() && serial.last_error.is_none());
        assert!(BoardHealth::opened(BoardKind::LcRelay).answering);
    }
}
