//! The virtual GNSS receiver: a track ([`crate::track`]) or a synthetic drive
//! ([`crate::drive`]) served as NMEA on a pseudo-terminal, which the unmodified
//! `verger-gnss --serial LINK` opens as its receiver's serial port.
//!
//! A source first becomes a [`Replay`] (pure: every epoch's bytes with its offset in GNSS
//! time from the first epoch, and the truth path); [`VirtualReceiver`] then writes epoch
//! `i` at `start + offset_i / speed` on the real clock. Each write is scheduled against
//! that absolute instant, never as a sleep after the previous one, so the replay does
//! not drift: a late write (a busy machine) makes that epoch late, not the ones after it.
//! `--speed 60` thus sends a one-hour 10 Hz track in a minute.
//!
//! Like a USB serial adapter the pty buffers what the program has not read yet; when
//! its buffer is full (nobody reads) the receiver waits, and the lateness shows in
//! [`Progress::max_late`].

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use verger::orchard::Frame;
use verger::tty::Tty;

use crate::device_thread::DeviceThread;
use crate::drive::Drive;
use crate::nmea_out::EpochQuality;
use crate::track::{Track, TrackOptions};

/// Default epoch rate of the receiver, Hz.
pub const DEFAULT_RATE_HZ: f64 = 10.0;

/// One epoch of the true path: where the antenna really was (for a drive, without the
/// GNSS noise; for a track, what the track says), and what the receiver said of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TruthPoint {
    /// GNSS (UTC) time, microseconds since 1970-01-01T00:00:00Z.
    pub time_us: i64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Course over ground, degrees true.
    pub course_deg: f64,
    /// Speed over ground, m/s.
    pub speed_mps: f64,
    /// The quality the receiver sent for this epoch.
    pub quality: EpochQuality,
}

/// One burst of bytes of the receiver, and what it stands for.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledEpoch {
    /// Offset from the first epoch, in GNSS time (divided by the speed-up on the clock).
    pub at: Duration,
    /// The bytes, as written to the pty.
    pub bytes: Vec<u8>,
    /// The epoch's GNSS time, if it has one.
    pub time_us: Option<i64>,
    /// Its quality, if it completes a receiver epoch.
    pub quality: Option<EpochQuality>,
    /// Distance along the truth path up to this epoch, metres.
    pub distance_m: f64,
}

/// What a receiver sends, epoch by epoch, and the truth path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// The bursts, in order of their offsets.
    pub epochs: Vec<ScheduledEpoch>,
    /// The truth path.
    pub truth: Vec<TruthPoint>,
}

impl Replay {
    /// GNSS time from the first epoch to the last.
    pub fn duration(&self) -> Duration {
        self.epochs.last().map_or(Duration::ZERO, |e| e.at)
    }

    /// Length of the truth path, metres.
    pub fn distance_m(&self) -> f64 {
        self.epochs.last().map_or(0.0, |e| e.distance_m)
    }
}

/// Distance (metres) and bearing (degrees true) from one (lat, lon) to another, on the
/// local frame of the first: exact to well under a millimetre over a few hundred metres.
pub(crate) fn step(from: (f64, f64), to: (f64, f64)) -> (f64, f64) {
    let c = Frame::new(from.0, from.1).to_local(to.0, to.1);
    (
        c.x.hypot(c.y),
        c.x.atan2(c.y).to_degrees().rem_euclid(360.0),
    )
}

/// What the receiver serves.
#[derive(Clone, Debug)]
pub enum Source {
    /// A recorded track.
    Track(Track),
    /// A synthetic drive along a map's alleys.
    Drive(Drive),
}

impl Source {
    /// The epochs and the truth path for `config`.
    pub fn replay(&self, config: &ReceiverConfig) -> Replay {
        match self {
            Source::Track(track) => track.replay(&config.track),
            Source::Drive(drive) => drive.replay(config.rate_hz),
        }
    }
}

/// How the receiver runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReceiverConfig {
    /// Epochs per second of a synthetic drive (tracks keep their own rate), Hz.
    pub rate_hz: f64,
    /// Speed-up: N times faster than real time.
    pub speed: f64,
    /// How position-only tracks are written (`track_quality`...).
    pub track: TrackOptions,
}

impl Default for ReceiverConfig {
    /// 10 Hz, real time, RTK fixed.
    fn default() -> Self {
        ReceiverConfig {
            rate_hz: DEFAULT_RATE_HZ,
            speed: 1.0,
            track: TrackOptions::default(),
        }
    }
}

/// Why the receiver cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// A setting that makes no sense.
    #[error("receiver setting `{field}` must be a finite number above 0, not {value}")]
    BadSetting {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// The pseudo-terminal could not be opened or linked.
    #[error("{}: cannot open the receiver's pseudo-terminal: {source}", link.display())]
    Pty {
        /// The link.
        link: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// Writing to the pseudo-terminal failed.
    #[error("{}: cannot write to the receiver's pseudo-terminal: {source}", link.display())]
    Write {
        /// The link.
        link: PathBuf,
        /// The system's error.
        source: io::Error,
    },
}

/// How far the receiver has got.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Epochs (bursts) written.
    pub epochs_sent: usize,
    /// Epochs in the replay.
    pub epochs_total: usize,
    /// GNSS time of the last written epoch that has one.
    pub gnss_time_us: Option<i64>,
    /// Distance along the truth path so far, metres.
    pub distance_m: f64,
    /// Quality of the last written receiver epoch.
    pub quality: Option<EpochQuality>,
    /// The latest a write came after its scheduled instant.
    pub max_late: Duration,
    /// Real time from the start to the last write.
    pub elapsed: Duration,
    /// The instant epoch offsets count from (the first epoch's scheduled instant).
    pub started: Option<Instant>,
    /// Every epoch is written.
    pub finished: bool,
}

/// A receiver on a pseudo-terminal, served by a task on a thread of its own
/// (`device_thread`), which writes each epoch within a few tens of microseconds
/// of its instant whatever the caller's runtime is doing. Once every epoch is written it stays plugged in, silent, like a receiver that lost
/// its antenna; dropping it stops the task, closes the pty (the port hangs up) and
/// removes the link.
#[derive(Debug)]
pub struct VirtualReceiver {
    link: PathBuf,
    truth: Arc<[TruthPoint]>,
    duration: Duration,
    progress: watch::Receiver<Progress>,
    start: Option<oneshot::Sender<()>>,
    /// Dropped before the link is removed.
    task: Option<DeviceThread<Result<(), ReceiverError>>>,
    /// When each epoch's last byte was written (real instants, in order).
    written: Arc<std::sync::Mutex<Vec<Instant>>>,
    /// Each epoch's quality (None: a burst that completes no receiver epoch).
    qualities: Arc<[Option<EpochQuality>]>,
    /// Held so that the slave exists before the program opens it and between its opens.
    _slave: OwnedFd,
}

impl VirtualReceiver {
    /// Opens a pty, makes `link` a symlink to its slave, and starts sending `source`'s
    /// epochs at once.
    pub fn open(
        link: &Path,
        source: &Source,
        config: &ReceiverConfig,
    ) -> Result<VirtualReceiver, ReceiverError> {
        let mut receiver = VirtualReceiver::prepare(link, source, config)?;
        receiver.start();
        Ok(receiver)
    }

    /// [`VirtualReceiver::open`] without starting: nothing is written until
    /// [`VirtualReceiver::start`] (so that a program can open the port first).
    pub fn prepare(
        link: &Path,
        source: &Source,
        config: &ReceiverConfig,
    ) -> Result<VirtualReceiver, ReceiverError> {
        for (field, value) in [("rate_hz", config.rate_hz), ("speed", config.speed)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(ReceiverError::BadSetting { field, value });
            }
        }
        let replay = source.replay(config);
        VirtualReceiver::serve(link, replay, config.speed)
    }

    /// Serves a replay built elsewhere, at `speed` times real time (not started).
    pub fn serve(
        link: &Path,
        replay: Replay,
        speed: f64,
    ) -> Result<VirtualReceiver, ReceiverError> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(ReceiverError::BadSetting {
                field: "speed",
                value: speed,
            });
        }
        let pty_error = |source| ReceiverError::Pty {
            link: link.to_path_buf(),
            source,
        };
        let pair = crate::pty::open_pty(link).map_err(pty_error)?;
        let (progress_tx, progress) = watch::channel(Progress {
            epochs_total: replay.epochs.len(),
            ..Progress::default()
        });
        let (start, started) = oneshot::channel();
        let duration = replay.duration().div_f64(speed);
        let truth: Arc<[TruthPoint]> = replay.truth.into();
        let written = Arc::new(std::sync::Mutex::new(Vec::with_capacity(
            replay.epochs.len(),
        )));
        let qualities: Arc<[Option<EpochQuality>]> =
            replay.epochs.iter().map(|e| e.quality).collect();
        let (master, slave_path, log) = (pair.master, pair.slave_path, written.clone());
        let owned_link = link.to_path_buf();
        let task = DeviceThread::spawn("virtual GNSS receiver", move || {
            let tty = Tty::from_file(File::from(master), &slave_path)?;
            Ok(write_epochs(
                tty,
                owned_link,
                replay.epochs,
                speed,
                started,
                progress_tx,
                log,
            ))
        })
        .map_err(|e| {
            let _ = std::fs::remove_file(link);
            pty_error(e)
        })?;
        Ok(VirtualReceiver {
            link: link.to_path_buf(),
            truth,
            duration,
            progress,
            start: Some(start),
            task: Some(task),
            written,
            qualities,
            _slave: pair.slave,
        })
    }

    /// Starts sending (once; later calls do nothing).
    pub fn start(&mut self) {
        if let Some(start) = self.start.take() {
            let _ = start.send(());
        }
    }

    /// The path the program opens.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// When each epoch written so far had its last byte written (real instants; the
    /// `i`-th is the replay's `i`-th epoch).
    pub fn written(&self) -> Vec<Instant> {
        self.written.lock().expect("receiver's write log").clone()
    }

    /// Each epoch's quality, in the order they are written.
    pub fn qualities(&self) -> &[Option<EpochQuality>] {
        &self.qualities
    }

    /// The truth path of what is served.
    pub fn truth(&self) -> &[TruthPoint] {
        &self.truth
    }

    /// Real time the whole replay takes at the configured speed.
    pub fn expected_duration(&self) -> Duration {
        self.duration
    }

    /// How far it has got.
    pub fn progress(&self) -> Progress {
        *self.progress.borrow()
    }

    /// A watch of the progress.
    pub fn progress_watch(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Waits until `pred` holds of the progress; returns that progress (`None` if the
    /// task ended without it ever holding).
    pub async fn wait_for(&self, pred: impl Fn(&Progress) -> bool) -> Option<Progress> {
        let mut rx = self.progress.clone();
        rx.wait_for(|p| pred(p)).await.ok().map(|p| *p)
    }

    /// Waits until every epoch is written (starting it if needed); the final progress,
    /// or why writing failed.
    pub async fn wait(&mut self) -> Result<Progress, ReceiverError> {
        self.start();
        if let Some(p) = self.wait_for(|p| p.finished).await {
            return Ok(p);
        }
        let ended = match self.task.as_mut() {
            Some(task) => task.finished().await,
            None => None,
        };
        match ended {
            Some(Err(e)) => Err(e),
            _ => Ok(self.progress()),
        }
    }
}

impl Drop for VirtualReceiver {
    fn drop(&mut self) {
        self.task.take();
        let _ = std::fs::remove_file(&self.link);
    }
}

/// Sleeps until `due` to within tens of microseconds: on the runtime's timer (whole
/// milliseconds, and it can be stopped meanwhile) until shortly before, then on the
/// thread, which is the receiver's own.
async fn sleep_precisely_until(due: Instant) {
    const FINE: Duration = Duration::from_millis(2);
    if let Some(coarse) = due.checked_sub(FINE) {
        if coarse > Instant::now() {
            tokio::time::sleep_until(coarse).await;
        }
    }
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// The receiver's task: each epoch at its absolute instant.
async fn write_epochs(
    tty: Tty,
    link: PathBuf,
    epochs: Vec<ScheduledEpoch>,
    speed: f64,
    started: oneshot::Receiver<()>,
    progress: watch::Sender<Progress>,
    written: Arc<std::sync::Mutex<Vec<Instant>>>,
) -> Result<(), ReceiverError> {
    if started.await.is_err() {
        return Ok(());
    }
    let t0 = Instant::now();
    progress.send_modify(|p| p.started = Some(t0));
    for epoch in epochs {
        let due = t0 + epoch.at.div_f64(speed);
        sleep_precisely_until(due).await;
        tty.write_all(&epoch.bytes)
            .await
            .map_err(|source| ReceiverError::Write {
                link: link.clone(),
                source,
            })?;
        let now = Instant::now();
        written.lock().expect("receiver's write log").push(now);
        progress.send_modify(|p| {
            p.epochs_sent += 1;
            p.gnss_time_us = epoch.time_us.or(p.gnss_time_us);
            p.distance_m = epoch.distance_m;
            p.quality = epoch.quality.or(p.quality);
            p.max_late = p.max_late.max(now.saturating_duration_since(due));
            p.elapsed = now - t0;
        });
    }
    progress.send_modify(|p| p.finished = true);
    // Still plugged in: the master stays open (closing it would hang the port up, and
    // the program could lose the last bytes) until the receiver is dropped.
    let _tty = tty;
    std::future::pending().await
}
