//! [`SerialBoard`]: a valve board speaking verger's framed protocol over a serial port.
//!
//! Tasks: the driver writes frames through `&mut SerialBoard` (one frame per call); one
//! reader task decodes the board's answers and feeds the [`Tracker`], whose health goes out
//! on a `watch` channel. The tracker sits behind a std `Mutex` taken for a few statements,
//! never across an await; the writer wakes the reader (`Notify`) when a frame starts a
//! wait for an answer, so the reader's timer covers it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use verger::tty::Tty;

use super::health::{Sent, Tracker};
use super::{
    check_sections, encode, open_port, Board, BoardDecoder, BoardError, BoardHealth, EmergencyOff,
    HostMessage, Output, Outputs, Section, MAX_SECTIONS,
};

/// The sequence number of the emergency `ALL_OFF` (the one number the host never uses
/// otherwise; its `ACK` matches nothing pending).
const EMERGENCY_SEQ: u16 = 0;

#[derive(Debug)]
struct Shared {
    tracker: Mutex<Tracker>,
    health: watch::Sender<BoardHealth>,
    /// A frame started a wait for an answer: the reader re-reads the deadline.
    sent: Notify,
}

impl Shared {
    fn tracker(&self) -> MutexGuard<'_, Tracker> {
        // Every tracker step is whole: a panic elsewhere leaves it consistent.
        self.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the tracker and publishes the health if it changed.
    fn update(&self, f: impl FnOnce(&mut Tracker)) {
        let health = {
            let mut tracker = self.tracker();
            f(&mut tracker);
            tracker.health().clone()
        };
        self.health.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
    }
}

/// A valve board on a serial port, verger's framed protocol (`docs/valve-board.md`).
#[derive(Debug)]
pub struct SerialBoard {
    tty: Arc<Tty>,
    port: PathBuf,
    sections: usize,
    /// The next sequence number: 1, 2, … 65535, 1, … (0 is the emergency's).
    seq: u16,
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
}

impl SerialBoard {
    /// Opens the board at `port` (raw 8N1 at `baud`) for `sections` sections, starts its
    /// reader and sends `ALL_OFF` at once. Needs a tokio runtime.
    pub async fn open(port: &Path, baud: u32, sections: usize) -> Result<SerialBoard, BoardError> {
        check_sections(sections)?;
        let tty = Arc::new(open_port(port, baud)?);
        let name = port.display().to_string();
        let shared = Arc::new(Shared {
            tracker: Mutex::new(Tracker::new(&name)),
            health: watch::Sender::new(BoardHealth::opened(super::BoardKind::Serial)),
            sent: Notify::new(),
        });
        let reader = tokio::spawn(read_answers(Arc::clone(&tty), Arc::clone(&shared)));
        let mut board = SerialBoard {
            tty,
            port: port.to_path_buf(),
            sections,
            seq: 1,
            shared,
            reader,
        };
        board.all_off().await?;
        Ok(board)
    }

    /// The port it was opened by.
    pub fn port(&self) -> &Path {
        &self.port
    }

    fn next_seq(&mut self) -> u16 {
        let seq = self.seq;
        self.seq = seq.checked_add(1).unwrap_or(1);
        seq
    }

    /// Writes the frame of `msg` (sequence number `seq`), recording it with the tracker
    /// first.
    async fn send(&mut self, seq: u16, what: Sent, msg: HostMessage) -> Result<(), BoardError> {
        self.shared.update(|t| t.on_sent(Instant::now(), seq, what));
        self.shared.sent.notify_one();
        self.tty
            .write_all(&encode(&msg))
            .await
            .map_err(|source| BoardError::Io {
                port: self.port.clone(),
                source,
            })
    }
}

/// The `SET` of `outputs` for a board of `sections` sections: every section listed, those
/// beyond `outputs` closed.
pub(super) fn set_outputs(outputs: &[Output], sections: usize) -> Result<Outputs, BoardError> {
    if outputs.len() > sections {
        return Err(BoardError::TooManyOutputs {
            given: outputs.len(),
            sections,
        });
    }
    let mut all = [Section::CLOSED; MAX_SECTIONS];
    all[..outputs.len()].copy_from_slice(outputs);
    Outputs::new(&all[..sections]).map_err(|_| BoardError::TooManySections {
        sections,
        max: MAX_SECTIONS,
    })
}

impl Board for SerialBoard {
    fn sections(&self) -> usize {
        self.sections
    }

    async fn set(&mut self, outputs: &[Output]) -> Result<(), BoardError> {
        let outputs = set_outputs(outputs, self.sections)?;
        let seq = self.next_seq();
        self.send(seq, Sent::Set, HostMessage::Set { seq, outputs })
            .await
    }

    async fn all_off(&mut self) -> Result<(), BoardError> {
        let seq = self.next_seq();
        self.send(seq, Sent::AllOff, HostMessage::AllOff { seq })
            .await
    }

    async fn heartbeat(&mut self) -> Result<(), BoardError> {
        let seq = self.next_seq();
        self.send(seq, Sent::Heartbeat, HostMessage::Heartbeat { seq })
            .await
    }

    fn health(&self) -> watch::Receiver<BoardHealth> {
        self.shared.health.subscribe()
    }

    fn emergency_off(&self) -> std::io::Result<EmergencyOff> {
        let bytes = encode(&HostMessage::AllOff { seq: EMERGENCY_SEQ });
        EmergencyOff::new(&self.tty, bytes)
    }
}

impl Drop for SerialBoard {
    /// Stops the reader and writes `ALL_OFF` (best effort, blocking at most
    /// [`super::EMERGENCY_WRITE_TIMEOUT`]) before the port closes.
    fn drop(&mut self) {
        self.reader.abort();
        if let Ok(off) = self.emergency_off() {
            off.fire();
        }
    }
}

/// Sleeps until `deadline`, forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// The reader task: decodes the board's answers into the tracker, runs its clock, and
/// ends when the device fails.
async fn read_answers(tty: Arc<Tty>, shared: Arc<Shared>) {
    let mut decoder = BoardDecoder::new();
    let mut buf = [0u8; 512];
    loop {
        let deadline = shared.tracker().deadline();
        tokio::select! {
            read = tty.read(&mut buf) => {
                let n = match read {
                    Ok(0) => {
                        tracing::warn!(port = %tty.path().display(), "valve board gone: end of stream");
                        shared.update(|t| t.on_gone("end of stream"));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(port = %tty.path().display(), "valve board gone: {e}");
                        shared.update(|t| t.on_gone(&e.to_string()));
                        return;
                    }
                    Ok(n) => n,
                };
                let now = Instant::now();
                let skipped = decoder.skipped_bytes();
                let results = decoder.push(&buf[..n]);
                let skipped = decoder.skipped_bytes() - skipped;
                shared.update(|t| t.on_read(now, results, skipped));
            }
            () = sleep_until(deadline) => shared.update(|t| t.on_tick(Instant::now())),
            () = shared.sent.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::tests::on;

    #[test]
    fn a_set_lists_every_section_closing_those_not_given() {
        let o = set_outputs(&[on(100)], 3).expect("fits");
        assert_eq!(o.sections(), [on(100), Section::CLOSED, Section::CLOSED]);
        assert_eq!(set_outputs(&[], 2).expect("fits"), Outputs::all_closed(2));
        assert!(matches!(
            set_outputs(&[on(1), on(2), on(3)], 2),
            Err(BoardError::TooManyOutputs {
                given: 3,
                sections: 2
            })
        ));
    }
}
