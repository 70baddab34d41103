//! `verger record`: the raw byte stream of a device, written to a file with arrival
//! times, so that `verger-gnss --file` (or any reader of this format) replays it with
//! its original timing.
//!
//! - [`format`](mod@format): the file format (`verger record v1`), written and read,
//!   free of I/O; the one description of it.
//! - [`RecordFramer`]: the recorder's policy, free of I/O: arrivals in, records out.
//!   Records are cut at line ends: bytes after the last `\n` of a read are held back
//!   until their line is complete, so headers start at line starts and line-oriented
//!   tools see the NMEA lines whole. A partial line is written anyway once it is older
//!   than [`HOLD`] or longer than [`MAX_PARTIAL`] (binary streams, a stalled receiver);
//!   only then does a header follow data on the same line.
//! - [`run`]: the recorder task. The file is flushed every [`FLUSH_EVERY`] and on
//!   SIGINT/SIGTERM (held bytes are written first, then the file is synced). A recorder
//!   killed hard loses at most the last unflushed records.

pub mod format;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::source::{self, ReaderOptions, SourceEvent, SourceSpec};

/// Longest a partial line is held back.
pub const HOLD: Duration = Duration::from_millis(100);
/// Largest partial line held back.
pub const MAX_PARTIAL: usize = 4096;
/// How often the file is flushed.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Turns arrivals into records, free of I/O: bytes in, file bytes out.
#[derive(Debug, Default)]
pub struct RecordFramer {
    pending: Vec<u8>,
    /// Arrival of the oldest held byte.
    pending_since: Option<Duration>,
    /// Arrival of the newest held byte.
    pending_last: Duration,
    records: u64,
    bytes: u64,
}

impl RecordFramer {
    pub fn new() -> RecordFramer {
        RecordFramer::default()
    }

    /// Bytes that arrived `at` after the start; appends what is ready to `out`.
    pub fn push(&mut self, bytes: &[u8], at: Duration, out: &mut Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.pending.extend_from_slice(bytes);
        self.pending_last = at;
        if let Some(pos) = self.pending.iter().rposition(|&b| b == b'\n') {
            let rest = self.pending.split_off(pos + 1);
            let complete = std::mem::replace(&mut self.pending, rest);
            self.write_record(&complete, at, out);
            self.pending_since = (!self.pending.is_empty()).then_some(at);
        } else if self.pending_since.is_none() {
            self.pending_since = Some(at);
        }
        if self.pending.len() >= MAX_PARTIAL {
            self.flush(out);
        }
    }

    /// When held bytes must be written even without their line end.
    pub fn deadline(&self) -> Option<Duration> {
        self.pending_since.map(|t| t + HOLD)
    }

    /// Write the held bytes now (deadline passed, or the recording ends).
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.write_record(&pending, self.pending_last, out);
        }
        self.pending_since = None;
    }

    fn write_record(&mut self, data: &[u8], at: Duration, out: &mut Vec<u8>) {
        format::write_record(at, data, out);
        self.records += 1;
        self.bytes += data.len() as u64;
    }

    /// Records and data bytes written so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.records, self.bytes)
    }
}

/// The first line of a recording of `spec` starting now.
pub fn file_header(spec: &SourceSpec) -> String {
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format::FileHeader {
        source: spec.to_string(),
        started_unix,
    }
    .line()
}

/// What a recording came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSummary {
    pub records: u64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Output { path: PathBuf, source: io::Error },
    #[error("source failed: {0}")]
    Source(String),
}

/// Record `spec` into a new file at `out` (an existing file is never overwritten) until
/// `shutdown` is cancelled or a file/stdin source ends.
pub async fn run(
    spec: SourceSpec,
    out: &Path,
    reader: ReaderOptions,
    shutdown: CancellationToken,
) -> Result<RecordSummary, RecordError> {
    let io_err = |source: io::Error| RecordError::Output {
        path: out.to_path_buf(),
        source,
    };
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .await
        .map_err(io_err)?;
    let mut file = tokio::io::BufWriter::new(file);
    file.write_all(file_header(&spec).as_bytes())
        .await
        .map_err(io_err)?;

    let mut source = source::spawn(spec.clone(), reader);
    let origin = Instant::now();
    let mut framer = RecordFramer::new();
    let mut buf = Vec::with_capacity(8192);
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut result = Ok(());
    loop {
        let hold = framer.deadline().map(|d| origin + d);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            event = source.events.recv() => match event {
                Some(SourceEvent::Data { bytes, at }) => {
                    framer.push(&bytes, at.saturating_duration_since(origin), &mut buf);
                }
                Some(SourceEvent::Opened) => tracing::info!(source = %spec, "recording"),
                Some(SourceEvent::Lost { error }) => {
                    framer.flush(&mut buf);
                    tracing::warn!(source = %spec, %error, "source lost, retrying");
                }
                Some(SourceEvent::End) | None => break,
                Some(SourceEvent::Failed { error }) => {
                    result = Err(RecordError::Source(error));
                    break;
                }
            },
            _ = sleep_until(hold.unwrap_or_else(Instant::now)), if hold.is_some() => {
                framer.flush(&mut buf);
            }
            _ = flush.tick() => {
                file.flush().await.map_err(io_err)?;
            }
        }
        if !buf.is_empty() {
            file.write_all(&buf).await.map_err(io_err)?;
            buf.clear();
        }
    }
    framer.flush(&mut buf);
    file.write_all(&buf).await.map_err(io_err)?;
    file.flush().await.map_err(io_err)?;
    file.get_ref().sync_all().await.map_err(io_err)?;
    result?;
    let (records, bytes) = framer.totals();
    Ok(RecordSummary { records, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn records_are_cut_at_line_ends_and_partial_lines_are_held() {
        let mut f = RecordFramer::new();
        let mut out = Vec::new();
        f.push(b"$GNGGA,1*00\r\n$GNR", ms(10), &mut out);
        assert_eq!(out, b"# t=0.010000 n=13\n$GNGGA,1*00\r\n");
        assert_eq!(f.deadline(), Some(ms(10) + HOLD));
        out.clear();
        f.push(b"MC,2*00\r\n", ms(12), &mut out);
        assert_eq!(out, b"# t=0.012000 n=13\n$GNRMC,2*00\r\n");
        assert_eq!(f.deadline(), None);
    }

    #[test]
    fn binary_without_line_end_is_written_on_hold_or_size() {
        let mut f = RecordFramer::new();
        let mut out = Vec::new();
        f.push(b"\xb5\x62\x01\x07", ms(1500), &mut out);
        assert!(out.is_empty());
        f.flush(&mut out);
        assert_eq!(out, b"# t=1.500000 n=4\n\xb5\x62\x01\x07");
        out.clear();
        f.push(&vec![0u8; MAX_PARTIAL + 1], ms(2000), &mut out);
        assert!(out.starts_with(format!("# t=2.000000 n={}\n", MAX_PARTIAL + 1).as_bytes()));
        assert_eq!(f.totals(), (2, 4 + MAX_PARTIAL as u64 + 1));
    }

    #[test]
    fn what_is_recorded_reads_back_as_the_same_bytes_and_times() {
        // Chunks with binary, CR LF, split lines: the format reader gives back every
        // byte in order, with record times that are the arrival times of last bytes.
        let chunks: [(&[u8], u64); 4] = [
            (b"$GPGGA,a*00\r\n$GPR", 5),
            (b"MC,b*00\r\n\xb5\x62\n\x00", 105),
            (b"tail", 150),
            (b"\r\n", 400),
        ];
        let mut f = RecordFramer::new();
        let mut file = file_header(&SourceSpec::Stdin {
            pacing: Default::default(),
        })
        .into_bytes();
        for (bytes, at) in chunks {
            f.push(bytes, ms(at), &mut file);
        }
        f.flush(&mut file);
        let mut replayed = Vec::new();
        let mut times = Vec::new();
        for item in format::read_all(&file) {
            match item {
                format::Item::Timed { t, bytes } => {
                    times.push(t.as_millis());
                    replayed.extend(bytes);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let all: Vec<u8> = chunks.iter().flat_map(|(b, _)| b.iter().copied()).collect();
        assert_eq!(replayed, all);
        assert_eq!(times, [5, 105, 400]);
    }
}
