//! [`LcRelayBoard`]: a CH340 "LC" USB relay board (4-byte commands, `docs/valve-board.md`).
//!
//! Section `i` is relay `i + 1`, on when the section is open (on, duty above 0: no PWM).
//! The board says nothing back, so the host remembers what it wrote and writes only the
//! relays that change; a failed write forgets it (the next `set` writes every relay). No
//! reader task: the health changes only when a write fails.

use std::num::NonZeroU8;
use std::path::{Path, PathBuf};

use tokio::sync::watch;
use verger::tty::Tty;

use super::{
    check_sections, lc_relay, open_port, Board, BoardError, BoardHealth, BoardKind, EmergencyOff,
    Output,
};

/// A CH340 relay board on a serial port.
#[derive(Debug)]
pub struct LcRelayBoard {
    tty: Tty,
    port: PathBuf,
    /// Per relay (relay 1 first), the state last written; `None`: unknown (before the
    /// first write, or after a failed one).
    written: Vec<Option<bool>>,
    health: watch::Sender<BoardHealth>,
}

/// The relay of section `index` (0-based): `index + 1`.
fn relay(index: usize) -> NonZeroU8 {
    // Sections are at most MAX_SECTIONS (16), checked at opening.
    NonZeroU8::new(u8::try_from(index + 1).unwrap_or(u8::MAX)).unwrap_or(NonZeroU8::MIN)
}

/// The commands that bring relays in state `written` to `wanted` (same length): one per
/// relay whose state differs or is unknown, relay 1 first.
pub(super) fn relay_commands(written: &[Option<bool>], wanted: &[bool]) -> Vec<u8> {
    (written.iter().zip(wanted).enumerate())
        .filter(|(_, (was, want))| **was != Some(**want))
        .flat_map(|(i, (_, want))| lc_relay(relay(i), *want))
        .collect()
}

/// The relay states of `outputs` on a board of `relays` relays: on when the section is
/// open; relays beyond `outputs` off.
pub(super) fn relay_states(outputs: &[Output], relays: usize) -> Result<Vec<bool>, BoardError> {
    if outputs.len() > relays {
        return Err(BoardError::TooManyOutputs {
            given: outputs.len(),
            sections: relays,
        });
    }
    Ok((0..relays)
        .map(|i| outputs.get(i).is_some_and(Output::is_open))
        .collect())
}

impl LcRelayBoard {
    /// Opens the relay board at `port` (raw 8N1 at `baud`) for `sections` relays and
    /// switches every one of them off at once. Needs a tokio runtime.
    pub async fn open(port: &Path, baud: u32, sections: usize) -> Result<LcRelayBoard, BoardError> {
        check_sections(sections)?;
        let mut board = LcRelayBoard {
            tty: open_port(port, baud)?,
            port: port.to_path_buf(),
            written: vec![None; sections],
            health: watch::Sender::new(BoardHealth::opened(BoardKind::LcRelay)),
        };
        board.all_off().await?;
        Ok(board)
    }

    /// The port it was opened by.
    pub fn port(&self) -> &Path {
        &self.port
    }

    /// Writes what brings the relays to `wanted`, remembering it once written.
    async fn write(&mut self, wanted: Vec<bool>) -> Result<(), BoardError> {
        let bytes = relay_commands(&self.written, &wanted);
        if bytes.is_empty() {
            return Ok(());
        }
        match self.tty.write_all(&bytes).await {
            Ok(()) => {
                self.written = wanted.into_iter().map(Some).collect();
                Ok(())
            }
            Err(source) => {
                self.written.fill(None);
                let port = self.port.display().to_string();
                self.health.send_modify(|h| {
                    h.answering = false;
                    h.gone = true;
                    h.last_error = Some(format!("the valve board at {port} is gone: {source}"));
                });
                Err(BoardError::Io {
                    port: self.port.clone(),
                    source,
                })
            }
        }
    }
}

impl Board for LcRelayBoard {
    fn sections(&self) -> usize {
        self.written.len()
    }

    /// Writes the relays whose state changes, nothing when none does.
    async fn set(&mut self, outputs: &[Output]) -> Result<(), BoardError> {
        let wanted = relay_states(outputs, self.sections())?;
        self.write(wanted).await
    }

    /// Writes every relay off, whatever was written before.
    async fn all_off(&mut self) -> Result<(), BoardError> {
        self.written.fill(None);
        self.write(vec![false; self.sections()]).await
    }

    /// Nothing: the board has no watchdog to feed.
    async fn heartbeat(&mut self) -> Result<(), BoardError> {
        Ok(())
    }

    fn health(&self) -> watch::Receiver<BoardHealth> {
        self.health.subscribe()
    }

    fn emergency_off(&self) -> std::io::Result<EmergencyOff> {
        let unknown = vec![None; self.sections()];
        let bytes = relay_commands(&unknown, &vec![false; self.sections()]);
        EmergencyOff::new(&self.tty, bytes)
    }
}

impl Drop for LcRelayBoard {
    /// Writes every relay off (best effort, blocking at most
    /// [`super::EMERGENCY_WRITE_TIMEOUT`]) before the port closes: the board has no
    /// watchdog to do it.
    fn drop(&mut self) {
        if let Ok(off) = self.emergency_off() {
            off.fire();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::tests::on;
    use crate::board::Section;

    #[test]
    fn only_relays_that_change_are_written() {
        let known = [Some(false), Some(true), Some(false)];
        assert_eq!(
            relay_commands(&known, &[true, true, false]),
            [0xA0, 0x01, 0x01, 0xA2]
        );
        assert_eq!(
            relay_commands(&known, &[false, false, true]),
            [0xA0, 0x02, 0x00, 0xA2, 0xA0, 0x03, 0x01, 0xA4]
        );
        assert!(relay_commands(&known, &[false, true, false]).is_empty());
    }

    #[test]
    fn unknown_relays_are_always_written() {
        assert_eq!(
            relay_commands(&[None, None], &[false, false]),
            [0xA0, 0x01, 0x00, 0xA1, 0xA0, 0x02, 0x00, 0xA2]
        );
    }

    #[test]
    fn a_relay_is_on_when_its_section_is_open() {
        let closed_at_zero = on(0);
        assert_eq!(
            relay_states(&[on(100), closed_at_zero, on(1)], 4).expect("fits"),
            [true, false, true, false]
        );
        assert_eq!(
            relay_states(&[Section::new(false, 100).expect("off at 100 %")], 1).expect("fits"),
            [false]
        );
        assert!(matches!(
            relay_states(&[on(1), on(1)], 1),
            Err(BoardError::TooManyOutputs {
                given: 2,
                sections: 1
            })
        ));
    }
}
