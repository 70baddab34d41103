//! The virtual valve board: a board that speaks verger's serial protocol
//! (`docs/valve-board.md`) on a pseudo-terminal exactly as its firmware would, so that the
//! sprayer drives it through the same `/dev/tty…` path as a real one.
//!
//! It answers `SET` and `ALL_OFF` with `ACK`, `HEARTBEAT` with `STATUS`, and every refused
//! frame with `NAK` (the reason and, when readable, the sequence number); it counts CRC
//! errors; its watchdog closes every output when no valid frame came for a period and
//! stays tripped until the next `SET`. Every output change is logged with the instant it
//! happened, and the spray at the nozzles follows each change a valve latency later.
//!
//! [`BoardCore`] is all of that as a pure state machine on injected instants (bytes in,
//! reply bytes out; a tick for the watchdog); [`VirtualBoard`] is the thin task that feeds
//! it from the pty and writes its replies back.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use verger::tty::Tty;

use crate::device_thread::DeviceThread;
use verger::valve_board::{
    encode_into, BoardMessage, FrameError, HostDecoder, HostMessage, NakReason, Outputs, Section,
    Status, DEFAULT_WATCHDOG_PERIOD, MAX_SECTIONS,
};

/// How the virtual board is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualBoardConfig {
    /// Sections the board has, 1 to 16: a `SET` listing more is refused (`NAK`, bad
    /// section) and changes nothing.
    pub sections: u8,
    /// The watchdog period (reported in `STATUS`): no valid frame for this long and every
    /// output closes. Zero: a board without a watchdog.
    pub watchdog: Duration,
    /// From an output switching to the spray starting or stopping at the nozzle (the
    /// valve's own delay), for [`VirtualBoard::sprays`].
    pub valve_latency: Duration,
}

impl Default for VirtualBoardConfig {
    /// Two sections, the firmware's default watchdog (300 ms), 0.3 s valves.
    fn default() -> Self {
        VirtualBoardConfig {
            sections: 2,
            watchdog: DEFAULT_WATCHDOG_PERIOD,
            valve_latency: Duration::from_millis(300),
        }
    }
}

/// What changed an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A `SET` from the host.
    Set,
    /// An `ALL_OFF` from the host.
    AllOff,
    /// The board's watchdog expired.
    Watchdog,
}

/// One output switching (or changing duty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputChange {
    /// When: the frame's last byte was read, or the watchdog fired.
    pub at: Instant,
    /// The section, 0 first.
    pub section: usize,
    /// Its new state.
    pub state: Section,
    /// What changed it.
    pub cause: Cause,
}

/// Spray at one section's nozzles: from an output opening (or changing duty) to it
/// closing (or changing duty), both a valve latency later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spray {
    /// The section, 0 first.
    pub section: usize,
    /// When liquid starts to leave the nozzle.
    pub from: Instant,
    /// When it stops; `None` while it still sprays.
    pub to: Option<Instant>,
    /// The PWM duty, percent.
    pub duty: u8,
}

/// The board's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoardStats {
    /// Valid frames received (good CRC, known type, good content).
    pub frames_ok: u64,
    /// Frames refused for a bad CRC (the counter `STATUS` reports, wrapping).
    pub crc_errors: u32,
    /// `NAK`s sent.
    pub naks: u64,
    /// `HEARTBEAT`s received.
    pub heartbeats: u64,
    /// Times the watchdog tripped.
    pub watchdog_trips: u64,
    /// When the last valid frame's last byte was read.
    pub last_frame: Option<Instant>,
}

/// The board's firmware as a pure state machine: bytes from the host in (with the instant
/// they were read), reply bytes out; [`BoardCore::on_tick`] when the watchdog deadline
/// ([`BoardCore::watchdog_deadline`]) has come.
#[derive(Debug)]
pub struct BoardCore {
    config: VirtualBoardConfig,
    decoder: HostDecoder,
    outputs: Outputs,
    tripped: bool,
    /// When the watchdog expires; `None`: disarmed (no valid frame since it last fired).
    watchdog_at: Option<Instant>,
    mute: bool,
    stats: BoardStats,
    log: Vec<OutputChange>,
    /// The outputs from the start and after each change, with the instant they came into
    /// force.
    history: Vec<(Instant, Outputs)>,
}

impl BoardCore {
    /// A board powered on at `now`, every output closed, watchdog disarmed until the first
    /// valid frame. Sections are capped at [`MAX_SECTIONS`].
    pub fn new(config: VirtualBoardConfig, now: Instant) -> BoardCore {
        let outputs = Outputs::all_closed(config.sections);
        BoardCore {
            config,
            decoder: HostDecoder::new(),
            outputs,
            tripped: false,
            watchdog_at: None,
            mute: false,
            stats: BoardStats::default(),
            log: Vec::new(),
            history: vec![(now, outputs)],
        }
    }

    /// Bytes from the host, read at `now`: the replies to the frames they complete. The
    /// watchdog is checked first, so a deadline passed before these bytes fires before them.
    pub fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> Vec<u8> {
        self.on_tick(now);
        let mut reply = Vec::new();
        for result in self.decoder.push(bytes) {
            let answer = match result {
                Ok(msg) => self.on_message(now, msg),
                Err(e) => self.refuse(&e),
            };
            if self.mute {
                continue;
            }
            if matches!(answer, BoardMessage::Nak { .. }) {
                self.stats.naks += 1;
            }
            encode_into(&answer, &mut reply);
        }
        reply
    }

    /// The watchdog at `now`: past its deadline, every output closes and the board is
    /// tripped until the next `SET`.
    pub fn on_tick(&mut self, now: Instant) {
        if self.watchdog_at.is_some_and(|at| now >= at) {
            self.watchdog_at = None;
            self.tripped = true;
            self.stats.watchdog_trips += 1;
            self.apply(
                now,
                Outputs::all_closed(self.config.sections),
                Cause::Watchdog,
            );
        }
    }

    /// When the watchdog fires unless a valid frame comes first; `None` when disarmed.
    pub fn watchdog_deadline(&self) -> Option<Instant> {
        self.watchdog_at
    }

    /// Stops (or resumes) answering: frames are still applied and feed the watchdog, but
    /// nothing is sent back (no `ACK`, `STATUS` or `NAK`).
    pub fn set_mute(&mut self, mute: bool) {
        self.mute = mute;
    }

    /// The outputs in force.
    pub fn outputs(&self) -> Outputs {
        self.outputs
    }

    /// Whether the watchdog tripped and no `SET` came since.
    pub fn tripped(&self) -> bool {
        self.tripped
    }

    /// The counters.
    pub fn stats(&self) -> BoardStats {
        self.stats
    }

    /// Every output change so far, in order.
    pub fn log(&self) -> &[OutputChange] {
        &self.log
    }

    /// The instant since which `pred` has held of the outputs without a break (the board's
    /// power-on if always); `None` when it does not hold now.
    pub fn since(&self, pred: impl Fn(&Outputs) -> bool) -> Option<Instant> {
        let mut since = None;
        for (at, outputs) in self.history.iter().rev() {
            if !pred(outputs) {
                break;
            }
            since = Some(*at);
        }
        since
    }

    fn on_message(&mut self, now: Instant, msg: HostMessage) -> BoardMessage {
        match msg {
            HostMessage::Set { seq, outputs } => {
                let listed = outputs.sections();
                if listed.len() > usize::from(self.config.sections) {
                    return BoardMessage::Nak {
                        seq,
                        reason: NakReason::BadSection,
                    };
                }
                let mut sections = [Section::CLOSED; MAX_SECTIONS];
                sections[..listed.len()].copy_from_slice(listed);
                let all = Outputs::new(&sections[..usize::from(self.config.sections)])
                    .expect("at most MAX_SECTIONS by construction");
                self.feed(now);
                self.tripped = false;
                self.apply(now, all, Cause::Set);
                BoardMessage::Ack {
                    seq,
                    outputs: self.outputs,
                }
            }
            HostMessage::AllOff { seq } => {
                self.feed(now);
                self.apply(
                    now,
                    Outputs::all_closed(self.config.sections),
                    Cause::AllOff,
                );
                BoardMessage::Ack {
                    seq,
                    outputs: self.outputs,
                }
            }
            HostMessage::Heartbeat { seq } => {
                self.feed(now);
                self.stats.heartbeats += 1;
                BoardMessage::Status(Status {
                    seq,
                    watchdog_period_ms: u16::try_from(self.config.watchdog.as_millis())
                        .unwrap_or(u16::MAX),
                    watchdog_tripped: self.tripped,
                    crc_errors: self.stats.crc_errors,
                    outputs: self.outputs,
                })
            }
        }
    }

    fn refuse(&mut self, e: &FrameError) -> BoardMessage {
        if matches!(e, FrameError::BadCrc { .. }) {
            self.stats.crc_errors = self.stats.crc_errors.wrapping_add(1);
        }
        BoardMessage::Nak {
            seq: e.nak_seq(),
            reason: e.nak_reason(),
        }
    }

    /// A valid frame at `now`: counted, and the watchdog starts over.
    fn feed(&mut self, now: Instant) {
        self.stats.frames_ok += 1;
        self.stats.last_frame = Some(now);
        self.watchdog_at = (!self.config.watchdog.is_zero()).then(|| now + self.config.watchdog);
    }

    fn apply(&mut self, now: Instant, new: Outputs, cause: Cause) {
        let changes: Vec<OutputChange> = (self.outputs.sections().iter())
            .zip(new.sections())
            .enumerate()
            .filter(|(_, (old, new))| old != new)
            .map(|(section, (_, state))| OutputChange {
                at: now,
                section,
                state: *state,
                cause,
            })
            .collect();
        if !changes.is_empty() {
            self.log.extend(changes);
            self.history.push((now, new));
        }
        self.outputs = new;
    }
}

/// The spray at the nozzles that output changes `log` give with valves of `latency`: one
/// interval per section opening (or changing duty while open), in the order they start.
pub fn sprays(log: &[OutputChange], latency: Duration) -> Vec<Spray> {
    let mut out: Vec<Spray> = Vec::new();
    // Per section, the index in `out` of its spray still going on.
    let mut going: [Option<usize>; MAX_SECTIONS] = [None; MAX_SECTIONS];
    for change in log {
        let Some(slot) = going.get_mut(change.section) else {
            continue;
        };
        let at = change.at + latency;
        if let Some(i) = *slot {
            if !change.state.is_open() || change.state.duty() != out[i].duty {
                out[i].to = Some(at);
                *slot = None;
            }
        }
        if change.state.is_open() && slot.is_none() {
            *slot = Some(out.len());
            out.push(Spray {
                section: change.section,
                from: at,
                to: None,
                duty: change.state.duty(),
            });
        }
    }
    out
}

/// [`VirtualBoard::wait_for`] gave up.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {timeout:?} waiting for the virtual board's outputs: {what} (outputs now {outputs:?})")]
pub struct WaitTimeout {
    /// What was awaited.
    pub what: String,
    /// How long.
    pub timeout: Duration,
    /// The outputs when it gave up.
    pub outputs: Outputs,
}

/// Raw bytes to write to the host, and who to tell once they are written.
type RawWrite = (Vec<u8>, oneshot::Sender<()>);

#[derive(Debug)]
struct Shared {
    core: Mutex<BoardCore>,
    /// Bumped after every change of the core's state, for [`VirtualBoard::wait_for`].
    changed: watch::Sender<u64>,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, BoardCore> {
        // A panic while holding the lock leaves a consistent core (every step is whole).
        self.core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update<R>(&self, f: impl FnOnce(&mut BoardCore) -> R) -> R {
        let r = f(&mut self.core());
        self.changed.send_modify(|n| *n += 1);
        r
    }
}

/// A [`BoardCore`] on a pseudo-terminal, served by a task on a thread of its own
/// (`device_thread`: it reads each frame the moment it arrives, whatever the
/// caller's runtime is doing). Dropping it stops the task, closes the pty and removes the
/// link: the device is gone.
#[derive(Debug)]
pub struct VirtualBoard {
    shared: Arc<Shared>,
    config: VirtualBoardConfig,
    link: PathBuf,
    raw: mpsc::Sender<RawWrite>,
    /// Dropped before the link is removed (fields drop in order after `Drop::drop`).
    task: Option<DeviceThread<()>>,
    /// Held so that the slave exists before the host opens it and between its opens.
    _slave: OwnedFd,
}

impl VirtualBoard {
    /// Opens a pty, makes `link` a symlink to its slave (the host opens `link` as its
    /// serial port) and starts serving it. Sections must be 1 to 16.
    pub fn open(link: &Path, config: VirtualBoardConfig) -> io::Result<VirtualBoard> {
        if config.sections == 0 || usize::from(config.sections) > MAX_SECTIONS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a valve board has 1 to {MAX_SECTIONS} sections, not {}",
                    config.sections
                ),
            ));
        }
        let pair = crate::pty::open_pty(link)?;
        let shared = Arc::new(Shared {
            core: Mutex::new(BoardCore::new(config, Instant::now())),
            changed: watch::Sender::new(0),
        });
        let (raw, raw_rx) = mpsc::channel(8);
        let (master, slave_path, served) = (pair.master, pair.slave_path, Arc::clone(&shared));
        let task = DeviceThread::spawn("virtual valve board", move || {
            let tty = Tty::from_file(File::from(master), &slave_path)?;
            Ok(serve(tty, served, raw_rx))
        })
        .inspect_err(|_| {
            let _ = std::fs::remove_file(link);
        })?;
        Ok(VirtualBoard {
            shared,
            config,
            link: link.to_path_buf(),
            raw,
            task: Some(task),
            _slave: pair.slave,
        })
    }

    /// The path the host opens.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// The outputs in force now.
    pub fn outputs(&self) -> Outputs {
        self.shared.core().outputs()
    }

    /// Whether the watchdog tripped and no `SET` came since.
    pub fn tripped(&self) -> bool {
        self.shared.core().tripped()
    }

    /// Every output change so far, in order.
    pub fn log(&self) -> Vec<OutputChange> {
        self.shared.core().log().to_vec()
    }

    /// The spray at the nozzles so far, with the configured valve latency ([`sprays`]).
    pub fn sprays(&self) -> Vec<Spray> {
        sprays(self.shared.core().log(), self.config.valve_latency)
    }

    /// Waits until `pred` holds of the outputs, up to `timeout`; returns the instant it
    /// became true, taken from the board's own record (not when this wakes up), so it
    /// measures the board, not the test's scheduling. If it holds already, the instant it
    /// started to.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Outputs) -> bool,
    ) -> Result<Instant, WaitTimeout> {
        // Subscribed before the first check: a change in between wakes the loop.
        let mut changed = self.shared.changed.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                if let Some(at) = self.shared.core().since(&pred) {
                    return at;
                }
                if changed.changed().await.is_err() {
                    // The sender lives in `self.shared`: unreachable while `self` lives.
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        waited.map_err(|_| WaitTimeout {
            what: what.to_owned(),
            timeout,
            outputs: self.outputs(),
        })
    }

    /// The counters.
    pub fn stats(&self) -> BoardStats {
        self.shared.core().stats()
    }

    /// Stops (or resumes) answering: frames are still applied and feed the watchdog, but
    /// no `ACK`, `STATUS` or `NAK` goes back (a host then sees a board that does not
    /// answer).
    pub fn set_mute(&self, mute: bool) {
        self.shared.update(|core| core.set_mute(mute));
    }

    /// Writes `bytes` to the host as they are (garbage, half frames...); returns once they
    /// are written.
    pub async fn send_raw(&self, bytes: &[u8]) {
        let (done, written) = oneshot::channel();
        if self.raw.send((bytes.to_vec(), done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

impl Drop for VirtualBoard {
    fn drop(&mut self) {
        self.task.take();
        let _ = std::fs::remove_file(&self.link);
    }
}

/// Sleeps until `deadline`, forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// The board's task: bytes from the host into the core and its replies back, the watchdog
/// on time, raw writes from the test. Ends when the pty fails.
async fn serve(tty: Tty, shared: Arc<Shared>, mut raw: mpsc::Receiver<RawWrite>) {
    let mut buf = [0u8; 512];
    loop {
        let deadline = shared.core().watchdog_deadline();
        let reply = tokio::select! {
            read = tty.read(&mut buf) => match read {
                Ok(n) if n > 0 => {
                    let now = Instant::now();
                    shared.update(|core| core.on_bytes(now, &buf[..n]))
                }
                _ => return,
            },
            () = sleep_until(deadline) => {
                shared.update(|core| core.on_tick(Instant::now()));
                continue;
            }
            Some((bytes, done)) = raw.recv() => {
                let written = tty.write_all(&bytes).await;
                let _ = done.send(());
                if written.is_err() {
                    return;
                }
                continue;
            }
        };
        if !reply.is_empty() && tty.write_all(&reply).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
