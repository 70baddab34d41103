//! Byte-stream sources: where raw bytes from a device come from. Shared by
//! `verger-gnss` (the GNSS receiver), `verger record` and, later, the sprayer's valve
//! board.
//!
//! A [`SourceSpec`] says which one (serial port, TCP client, UDP listener, file or
//! stdin); [`spawn`] starts a reader task that opens it, reads it and reports
//! [`SourceEvent`]s stamped with their arrival time on a bounded channel. The task owns
//! the fault handling:
//!
//! - **serial / TCP**: missing at start or lost later (USB unplugged, connection closed)
//!   is reported as [`SourceEvent::Lost`], once per outage and again only when what is
//!   wrong changes (the port appears but may not be opened, ...), in words an operator
//!   can act on ([`serial_open_error`]: the path, and how to list serial ports); the
//!   task retries with exponential backoff ([`ReaderOptions::backoff_initial`] doubling
//!   up to [`ReaderOptions::backoff_max`]) and reports [`SourceEvent::Opened`] when it
//!   is back. It never gives up (a receiver may be plugged in later); repeating the
//!   problem at a low rate is the consumer's business (`verger-gnss` does it once a
//!   minute).
//! - **UDP**: one datagram is one chunk; receive errors are transient.
//! - **file / stdin**: replayed (see [`Pacing`]), then [`SourceEvent::End`]. What
//!   timing each kind of input gets:
//!
//!   | input | timing |
//!   |---|---|
//!   | records of `verger record` (`# t=SECONDS n=LEN`, see [`crate::record::format`]) | each record when it arrived at the recorder, scaled by `speed` |
//!   | plain NMEA lines, `--file PATH` | each receiver epoch as one burst at the receiver's epoch times, scaled by `speed` ([`crate::nmea::pace`]; pauses over 5 s shortened) |
//!   | plain NMEA lines, stdin (`--file -`) | as they are read (a live pipe has its own timing) |
//!   | plain lines with `--line-rate HZ` | one line every 1/HZ s (`0`: as read) |
//!
//!   `speed` 0 hands everything on as fast as it is read. Lines starting with `#`
//!   outside a record are comments and skipped.
//!
//! A source that cannot work at all (a file that does not exist, a UDP address that
//! cannot be bound) ends with [`SourceEvent::Failed`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, Instant};

use crate::nmea::pace::{EpochPacer, Paced};
use crate::record::format;

/// Serial baud rates we accept (the standard ones a GNSS receiver offers).
pub const BAUD_RATES: [u32; 8] = [4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800];

/// Default serial baud rate.
pub const DEFAULT_BAUD: u32 = 115_200;

/// Largest chunk read at once from a serial port or TCP connection.
pub const MAX_CHUNK: usize = 4096;

/// Which byte stream to read.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// A serial device (USB or UART), e.g. `/dev/ttyUSB0`.
    Serial { path: PathBuf, baud: u32 },
    /// A TCP server to connect to (`host:port`), e.g. a receiver's Ethernet port.
    Tcp { addr: String },
    /// A UDP address to listen on (as AgOpenGPS's AgIO receives NMEA).
    Udp { bind: SocketAddr },
    /// A recorded or plain NMEA file.
    File { path: PathBuf, pacing: Pacing },
    /// Standard input (`--file -`), e.g. piped from another program.
    Stdin { pacing: Pacing },
}

impl SourceSpec {
    /// Whether the source is reopened after a loss (and missing at start is not fatal).
    pub fn reconnects(&self) -> bool {
        matches!(self, SourceSpec::Serial { .. } | SourceSpec::Tcp { .. })
    }

    /// Whether the source ends (files and stdin); the others run forever.
    pub fn is_finite(&self) -> bool {
        matches!(self, SourceSpec::File { .. } | SourceSpec::Stdin { .. })
    }
}

/// `serial:/dev/ttyUSB0@115200`, `tcp:host:port`, `udp:0.0.0.0:9999`, `file:PATH`,
/// `stdin`: the `source` field of `orchard.gnss.status`.
impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Serial { path, baud } => write!(f, "serial:{}@{baud}", path.display()),
            SourceSpec::Tcp { addr } => write!(f, "tcp:{addr}"),
            SourceSpec::Udp { bind } => write!(f, "udp:{bind}"),
            SourceSpec::File { path, .. } => write!(f, "file:{}", path.display()),
            SourceSpec::Stdin { .. } => f.write_str("stdin"),
        }
    }
}

/// How a file or stdin is replayed (the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pacing {
    /// Time scale of the timing the input gets (recorded, or the receiver's epoch
    /// times): 1 = original timing, 2 = twice as fast, 0 = as fast as possible.
    pub speed: f64,
    /// How plain lines (no `# t=` header) are paced.
    pub plain: PlainPacing,
}

impl Default for Pacing {
    /// Original timing; plain lines by the receiver's epoch times (a file's default).
    fn default() -> Self {
        Pacing {
            speed: 1.0,
            plain: PlainPacing::ReceiverTime,
        }
    }
}

/// How plain lines (no `verger record` headers) are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PlainPacing {
    /// Each receiver epoch as one burst at the receiver's own epoch times
    /// ([`crate::nmea::pace`]), scaled by `speed`: what the decoder would see live.
    ReceiverTime,
    /// As fast as they are read (a live pipe on stdin brings its own timing).
    AsRead,
    /// This many lines per second, one line at a time (`--line-rate`). The lines of one
    /// epoch then arrive 1/rate apart: above `--epoch-gap` the decoder closes epochs
    /// before their end.
    LineRate(f64),
}

impl PlainPacing {
    /// From `--line-rate` (0: as read), or the default of the input.
    fn from_line_rate(line_rate: Option<f64>, default: PlainPacing) -> PlainPacing {
        match line_rate {
            None => default,
            Some(r) if r > 0.0 => PlainPacing::LineRate(r),
            Some(_) => PlainPacing::AsRead,
        }
    }
}

/// The source flags shared by `verger-gnss` and `verger record`: exactly one source.
#[derive(Clone, Debug, clap::Args)]
pub struct SourceArgs {
    #[command(flatten)]
    pub which: WhichSource,
    /// Serial baud rate (one of 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800)
    /// [default: 115200].
    #[arg(long, value_name = "RATE", conflicts_with_all = ["tcp", "udp", "file"], value_parser = parse_baud)]
    pub baud: Option<u32>,
}

/// How a file source is replayed: flags of `verger-gnss` only (`verger record` copies
/// what it reads and has no use for them).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ReplayArgs {
    /// Time scale for replaying a recorded file: 1 = original timing, 0 = as fast as
    /// possible [default: 1].
    #[arg(long, value_name = "FACTOR", conflicts_with_all = ["serial", "tcp", "udp"], value_parser = parse_non_negative)]
    pub replay_speed: Option<f64>,
    /// Replay a plain (untimed) NMEA file at this many lines per second, one line at a
    /// time, instead of by the receiver's epoch times; 0 = as fast as read (stdin's
    /// default).
    #[arg(long, value_name = "HZ", conflicts_with_all = ["serial", "tcp", "udp"], value_parser = parse_non_negative)]
    pub line_rate: Option<f64>,
}

/// At most one of these on the command line; exactly one from the flags or, for a
/// component, its `--config` file ([`SourceSettings`]).
#[derive(Clone, Debug, clap::Args)]
#[group(id = "source", required = false, multiple = false)]
pub struct WhichSource {
    /// Serial device of the receiver, e.g. /dev/ttyUSB0 (retried until it appears).
    #[arg(long, value_name = "PATH")]
    pub serial: Option<PathBuf>,
    /// TCP server to read from, HOST:PORT (reconnected when lost).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub tcp: Option<String>,
    /// UDP address to listen on, e.g. 0.0.0.0:9999.
    #[arg(long, value_name = "ADDR")]
    pub udp: Option<SocketAddr>,
    /// Replay a file (recorded by `verger record`, or plain NMEA); `-` reads stdin.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// The message for "no source given".
const NO_SOURCE: &str =
    "a source is required: one of --serial, --tcp, --udp or --file (or `serial`, `tcp`, `udp` or `file` under [source] in the --config file)";

impl SourceArgs {
    /// The source these flags name (clap has already enforced "at most one").
    pub fn spec(&self) -> Result<SourceSpec, String> {
        self.spec_or(&SourceSettings::default(), &ReplayArgs::default())
    }

    /// The source these flags name, or else the one of `file` (a component's settings);
    /// modifiers (`baud`, and the `replay` flags) given as flags win over the file.
    pub fn spec_or(
        &self,
        file: &SourceSettings,
        replay: &ReplayArgs,
    ) -> Result<SourceSpec, String> {
        let w = &self.which;
        let flags_name_one =
            w.serial.is_some() || w.tcp.is_some() || w.udp.is_some() || w.file.is_some();
        let (serial, tcp, udp, path) = if flags_name_one {
            (&w.serial, &w.tcp, &w.udp, &w.file)
        } else {
            (&file.serial, &file.tcp, &file.udp, &file.file)
        };
        let speed = replay.replay_speed.or(file.replay_speed).unwrap_or(1.0);
        let line_rate = replay.line_rate.or(file.line_rate);
        let pacing = |default| Pacing {
            speed,
            plain: PlainPacing::from_line_rate(line_rate, default),
        };
        if let Some(path) = serial {
            Ok(SourceSpec::Serial {
                path: path.clone(),
                baud: self.baud.or(file.baud).unwrap_or(DEFAULT_BAUD),
            })
        } else if let Some(addr) = tcp {
            Ok(SourceSpec::Tcp { addr: addr.clone() })
        } else if let Some(bind) = udp {
            Ok(SourceSpec::Udp { bind: *bind })
        } else {
            match path {
                Some(path) if path.as_os_str() == "-" => Ok(SourceSpec::Stdin {
                    pacing: pacing(PlainPacing::AsRead),
                }),
                Some(path) => Ok(SourceSpec::File {
                    path: path.clone(),
                    pacing: pacing(PlainPacing::ReceiverTime),
                }),
                None => Err(NO_SOURCE.into()),
            }
        }
    }
}

/// The source in a component's `--config` file (table `[source]`): the same keys as the
/// flags, e.g. `serial = "/dev/ttyUSB0"` and `baud = 115200`.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceSettings {
    pub serial: Option<PathBuf>,
    pub tcp: Option<String>,
    pub udp: Option<SocketAddr>,
    pub file: Option<PathBuf>,
    pub baud: Option<u32>,
    pub replay_speed: Option<f64>,
    pub line_rate: Option<f64>,
}

impl SourceSettings {
    /// What makes no sense, as `(key under [source], why)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let named = [
            self.serial.is_some(),
            self.tcp.is_some(),
            self.udp.is_some(),
            self.file.is_some(),
        ];
        if named.iter().filter(|n| **n).count() > 1 {
            p.push((
                "serial",
                "name one source only (serial, tcp, udp or file)".to_owned(),
            ));
        }
        if let Some(baud) = self.baud {
            if let Err(e) = parse_baud(&baud.to_string()) {
                p.push(("baud", e));
            }
        }
        if let Some(tcp) = &self.tcp {
            if let Err(e) = parse_host_port(tcp) {
                p.push(("tcp", e));
            }
        }
        for (key, v) in [
            ("replay_speed", self.replay_speed),
            ("line_rate", self.line_rate),
        ] {
            if let Some(v) = v {
                if let Err(e) = parse_non_negative(&v.to_string()) {
                    p.push((key, e));
                }
            }
        }
        p
    }
}

fn parse_baud(s: &str) -> Result<u32, String> {
    let baud: u32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if BAUD_RATES.contains(&baud) {
        Ok(baud)
    } else {
        Err(format!(
            "{baud} is not a supported baud rate (one of {BAUD_RATES:?})"
        ))
    }
}

fn parse_non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a finite number >= 0")),
    }
}

fn parse_host_port(s: &str) -> Result<String, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}` is not HOST:PORT"))?;
    if host.is_empty() {
        return Err(format!("`{s}` has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(s.to_owned()),
        _ => Err(format!("`{port}` is not a TCP port")),
    }
}

/// What the reader task reports.
#[derive(Debug)]
pub enum SourceEvent {
    /// The source is open (again). Sent before the first data of every connection.
    Opened,
    /// Bytes, as read, with the time the read returned.
    Data { bytes: Vec<u8>, at: Instant },
    /// The port or connection is gone (or was never there); retrying in the background.
    /// Sent once per outage, and again when the reason changes.
    Lost { error: String },
    /// A file or stdin was read to its end.
    End,
    /// The source cannot be used at all; the task has ended.
    Failed { error: String },
}

/// Reader task settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ReaderOptions {
    /// First reopen delay after a loss.
    pub backoff_initial: Duration,
    /// Upper bound of the reopen delay.
    pub backoff_max: Duration,
    /// Channel capacity (chunks); the reader waits when the consumer lags.
    pub queue: usize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            queue: 64,
        }
    }
}

impl ReaderOptions {
    /// Delay before reopen attempt `attempt` (1-based) of an outage.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// The reader task; aborted when dropped.
#[derive(Debug)]
pub struct Reader {
    pub events: mpsc::Receiver<SourceEvent>,
    task: JoinHandle<()>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start reading `spec` in a task of its own.
pub fn spawn(spec: SourceSpec, options: ReaderOptions) -> Reader {
    let (tx, events) = mpsc::channel(options.queue.max(1));
    let task = tokio::spawn(async move {
        match spec {
            SourceSpec::Serial { .. } | SourceSpec::Tcp { .. } => {
                read_reconnecting(&spec, &options, &tx).await
            }
            SourceSpec::Udp { bind } => read_udp(bind, &tx).await,
            SourceSpec::File { path, pacing } => match tokio::fs::File::open(&path).await {
                Ok(file) => replay(file, pacing, &tx).await,
                Err(e) => {
                    let error = format!("cannot open {}: {e}", path.display());
                    let _ = tx.send(SourceEvent::Failed { error }).await;
                }
            },
            SourceSpec::Stdin { pacing } => replay(tokio::io::stdin(), pacing, &tx).await,
        }
    });
    Reader { events, task }
}

/// Replay any byte stream as a file is replayed (tests use an in-memory one).
pub fn spawn_replay<R>(input: R, pacing: Pacing, options: ReaderOptions) -> Reader
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let (tx, events) = mpsc::channel(options.queue.max(1));
    let task = tokio::spawn(async move { replay(input, pacing, &tx).await });
    Reader { events, task }
}

type Stream = Box<dyn AsyncRead + Send + Unpin>;

async fn open_stream(spec: &SourceSpec) -> io::Result<Stream> {
    match spec {
        SourceSpec::Serial { path, baud } => {
            use tokio_serial::SerialPortBuilderExt;
            let port = tokio_serial::new(path.to_string_lossy(), *baud)
                .timeout(Duration::from_millis(100))
                .open_native_async()
                .map_err(|e| io::Error::other(serial_open_error(path, &e)))?;
            Ok(Box::new(port))
        }
        SourceSpec::Tcp { addr } => {
            let stream = TcpStream::connect(addr.as_str())
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {addr}: {e}")))?;
            Ok(Box::new(stream))
        }
        _ => Err(io::Error::other("not a reconnecting source")),
    }
}

/// Why serial port `path` could not be opened, in words an operator can act on: what
/// is wrong, and how to find the right port.
pub fn serial_open_error(path: &std::path::Path, e: &tokio_serial::Error) -> String {
    use tokio_serial::ErrorKind;
    let kind = match e.kind() {
        ErrorKind::Io(kind) => kind,
        ErrorKind::NoDevice => io::ErrorKind::ResourceBusy,
        _ => io::ErrorKind::Other,
    };
    crate::tty::open_error_words("receiver", path, kind, &e.description)
}

/// Serial and TCP: open, read until lost, reopen with backoff. Ends only when the
/// consumer is gone.
async fn read_reconnecting(
    spec: &SourceSpec,
    options: &ReaderOptions,
    tx: &mpsc::Sender<SourceEvent>,
) {
    let mut attempt = 0u32;
    // What the last `Lost` said during the current outage (`None`: not in one).
    let mut reported: Option<String> = None;
    let mut buf = vec![0u8; MAX_CHUNK];
    loop {
        match open_stream(spec).await {
            Ok(mut stream) => {
                attempt = 0;
                tracing::debug!(source = %spec, "opened");
                if tx.send(SourceEvent::Opened).await.is_err() {
                    return;
                }
                let error = loop {
                    match stream.read(&mut buf).await {
                        Ok(0) => break "end of stream".to_owned(),
                        Ok(n) => {
                            let at = Instant::now();
                            let bytes = buf[..n].to_vec();
                            if tx.send(SourceEvent::Data { bytes, at }).await.is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break e.to_string(),
                    }
                };
                drop(stream);
                reported = Some(error.clone());
                if tx.send(SourceEvent::Lost { error }).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let error = e.to_string();
                if reported.as_deref() == Some(error.as_str()) {
                    tracing::debug!(source = %spec, attempt, %error, "reopen failed");
                } else {
                    // The first failure of an outage, or something else is wrong now.
                    reported = Some(error.clone());
                    if tx.send(SourceEvent::Lost { error }).await.is_err() {
                        return;
                    }
                }
            }
        }
        attempt = attempt.saturating_add(1);
        let delay = options.backoff(attempt);
        tokio::select! {
            _ = sleep(delay) => {}
            _ = tx.closed() => return,
        }
    }
}

async fn read_udp(bind: SocketAddr, tx: &mpsc::Sender<SourceEvent>) {
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            let error = format!("cannot listen on udp {bind}: {e}");
            let _ = tx.send(SourceEvent::Failed { error }).await;
            return;
        }
    };
    if tx.send(SourceEvent::Opened).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 65_536];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, _from)) => {
                let at = Instant::now();
                let bytes = buf[..n].to_vec();
                if tx.send(SourceEvent::Data { bytes, at }).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "udp receive error");
                sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Replay a file or stdin with its pacing, then report `End`. The bytes are read as
/// the `verger record` format ([`format::Reader`]): records keep their timing, plain
/// lines are paced as `pacing.plain` says, comments are skipped.
async fn replay<R: AsyncRead + Unpin>(
    mut input: R,
    pacing: Pacing,
    tx: &mpsc::Sender<SourceEvent>,
) {
    if tx.send(SourceEvent::Opened).await.is_err() {
        return;
    }
    let mut reader = format::Reader::new();
    let mut pacer = EpochPacer::new();
    let mut buf = vec![0u8; MAX_CHUNK * 4];
    let mut eof = false;
    let start = Instant::now();
    let mut first_t: Option<Duration> = None;
    let mut next_plain = start;
    // `at` (unscaled, since the start) → when to hand it on; `None`: at once.
    let scaled = |at: Duration| (pacing.speed > 0.0).then(|| start + at.div_f64(pacing.speed));
    loop {
        let item = match reader.next_item(eof) {
            Some(item) => item,
            None if eof => break,
            None => {
                match input.read(&mut buf).await {
                    Ok(0) => eof = true,
                    Ok(n) => reader.push(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let error = format!("read error: {e}");
                        let _ = tx.send(SourceEvent::Failed { error }).await;
                        return;
                    }
                }
                continue;
            }
        };
        let (bytes, when) = match item {
            format::Item::Timed { t, bytes } => {
                // Keep the order: plain lines held back go first.
                if let Some(Paced { bytes, at }) = pacer.finish() {
                    if !hand_on(tx, bytes, scaled(at)).await {
                        return;
                    }
                }
                let t0 = *first_t.get_or_insert(t);
                (bytes, scaled(t.saturating_sub(t0)))
            }
            format::Item::Plain(bytes) => match pacing.plain {
                PlainPacing::ReceiverTime => match pacer.push_line(&bytes) {
                    Some(Paced { bytes, at }) => (bytes, scaled(at)),
                    None => continue,
                },
                PlainPacing::AsRead => (bytes, None),
                PlainPacing::LineRate(rate) => {
                    let when = next_plain.max(Instant::now());
                    next_plain = when + Duration::from_secs_f64(1.0 / rate);
                    (bytes, Some(when))
                }
            },
        };
        if !hand_on(tx, bytes, when).await {
            return;
        }
    }
    if let Some(Paced { bytes, at }) = pacer.finish() {
        if !hand_on(tx, bytes, scaled(at)).await {
            return;
        }
    }
    let _ = tx.send(SourceEvent::End).await;
}

/// Send `bytes` at `when` (now if `None` or past); false when the consumer is gone.
async fn hand_on(tx: &mpsc::Sender<SourceEvent>, bytes: Vec<u8>, when: Option<Instant>) -> bool {
    if let Some(when) = when {
        sleep_until(when).await;
    }
    let at = Instant::now();
    tx.send(SourceEvent::Data { bytes, at }).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        replay: ReplayArgs,
    }

    fn parse(args: &[&str]) -> Result<SourceSpec, String> {
        let mut argv = vec!["test"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())
            .and_then(|c| c.source.spec_or(&SourceSettings::default(), &c.replay))
    }

    #[test]
    fn exactly_one_source() {
        assert_eq!(
            parse(&["--serial", "/dev/ttyUSB0"]).unwrap(),
            SourceSpec::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 115_200
            }
        );
        assert!(parse(&[]).unwrap_err().contains("required"));
        let both = parse(&["--serial", "/dev/ttyUSB0", "--udp", "0.0.0.0:9999"]).unwrap_err();
        assert!(both.contains("cannot be used with"), "{both}");
        assert_eq!(
            parse(&["--file", "-"]).unwrap(),
            SourceSpec::Stdin {
                pacing: Pacing {
                    speed: 1.0,
                    plain: PlainPacing::AsRead
                }
            }
        );
        assert_eq!(
            parse(&["--file", "x.log"]).unwrap(),
            SourceSpec::File {
                path: "x.log".into(),
                pacing: Pacing::default()
            }
        );
        assert_eq!(
            parse(&["--tcp", "receiver.local:5017"])
                .unwrap()
                .to_string(),
            "tcp:receiver.local:5017"
        );
    }

    #[test]
    fn modifiers_need_their_source_and_valid_values() {
        assert_eq!(
            parse(&["--serial", "/dev/ttyACM0", "--baud", "9600"])
                .unwrap()
                .to_string(),
            "serial:/dev/ttyACM0@9600"
        );
        assert!(parse(&["--serial", "/dev/x", "--baud", "12345"])
            .unwrap_err()
            .contains("not a supported baud rate"));
        assert!(parse(&["--udp", "0.0.0.0:1", "--baud", "9600"]).is_err());
        assert!(parse(&["--tcp", "host"]).unwrap_err().contains("HOST:PORT"));
        assert!(parse(&["--tcp", "host:0"]).is_err());
        assert!(parse(&["--file", "x", "--replay-speed", "-1"]).is_err());
        assert!(parse(&["--serial", "/dev/x", "--replay-speed", "2"]).is_err());
        assert_eq!(
            parse(&[
                "--file",
                "x.nmea",
                "--replay-speed",
                "4",
                "--line-rate",
                "10"
            ])
            .unwrap(),
            SourceSpec::File {
                path: "x.nmea".into(),
                pacing: Pacing {
                    speed: 4.0,
                    plain: PlainPacing::LineRate(10.0)
                }
            }
        );
        assert_eq!(
            parse(&["--file", "x.nmea", "--line-rate", "0"]).unwrap(),
            SourceSpec::File {
                path: "x.nmea".into(),
                pacing: Pacing {
                    speed: 1.0,
                    plain: PlainPacing::AsRead
                }
            }
        );
    }

    /// A serial path that does not exist: reported at once, naming the path and how to
    /// list the serial ports, then retried without repeating the same report.
    #[tokio::test(start_paused = true)]
    async fn a_missing_serial_port_is_reported_once_clearly_and_retried() {
        let path = std::path::PathBuf::from("/dev/verger-test-no-such-port");
        let spec = SourceSpec::Serial {
            path: path.clone(),
            baud: 115_200,
        };
        let mut reader = spawn(spec, ReaderOptions::default());
        let Some(SourceEvent::Lost { error }) = reader.events.recv().await else {
            panic!("expected Lost");
        };
        assert!(
            error.starts_with("serial port /dev/verger-test-no-such-port does not exist"),
            "{error}"
        );
        assert!(
            error.contains("ls -l /dev/serial/by-id/") && error.contains("dmesg"),
            "{error}"
        );
        // A minute of retries (paused time) says nothing more.
        let more = tokio::time::timeout(Duration::from_secs(60), reader.events.recv()).await;
        assert!(more.is_err(), "{more:?}");
    }

    #[test]
    fn serial_errors_say_what_to_do() {
        use tokio_serial::{Error, ErrorKind};
        let path = std::path::Path::new("/dev/ttyUSB0");
        let msg = |kind| serial_open_error(path, &Error::new(kind, "x"));
        assert!(msg(ErrorKind::Io(io::ErrorKind::PermissionDenied)).contains("dialout"));
        assert!(msg(ErrorKind::NoDevice).contains("in use by another program"));
        let other = msg(ErrorKind::Unknown);
        assert!(
            other.starts_with("cannot open serial port /dev/ttyUSB0: x"),
            "{other}"
        );
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        let o = ReaderOptions::default();
        let ms: Vec<u128> = (1..=7).map(|a| o.backoff(a).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(o.backoff(u32::MAX), Duration::from_secs(2));
    }

    async fn replay_times(file: &[u8], pacing: Pacing) -> Vec<(Duration, Vec<u8>)> {
        let start = Instant::now();
        let mut reader = spawn_replay(
            std::io::Cursor::new(file.to_vec()),
            pacing,
            ReaderOptions::default(),
        );
        assert!(matches!(
            reader.events.recv().await,
            Some(SourceEvent::Opened)
        ));
        let mut out = Vec::new();
        loop {
            match reader.events.recv().await {
                Some(SourceEvent::Data { bytes, at }) => out.push((at - start, bytes)),
                Some(SourceEvent::End) => return out,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn recorded_files_replay_with_their_timing_scaled() {
        let file =
            b"# verger record v1\n# t=5.000000 n=4\nab\r\n# t=5.250000 n=2\ncd# t=6.000000 n=1\ne";
        let ms = |n| Duration::from_millis(n);
        let original = replay_times(file, Pacing::default()).await;
        assert_eq!(
            original,
            [
                (ms(0), b"ab\r\n".to_vec()),
                (ms(250), b"cd".to_vec()),
                (ms(1000), b"e".to_vec())
            ]
        );
        let times: Vec<Duration> = replay_times(
            file,
            Pacing {
                speed: 5.0,
                ..Pacing::default()
            },
        )
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
        assert_eq!(times, [ms(0), ms(50), ms(200)]);
        let fast = replay_times(
            file,
            Pacing {
                speed: 0.0,
                ..Pacing::default()
            },
        )
        .await;
        assert!(fast.iter().all(|(t, _)| t.is_zero()));
    }

    #[tokio::test(start_paused = true)]
    async fn plain_files_replay_at_the_line_rate_or_at_once() {
        let file = b"# Name: plain\n$A\r\n$B\r\n$C\r\n";
        let ms = |n| Duration::from_millis(n);
        let paced: Vec<Duration> = replay_times(
            file,
            Pacing {
                speed: 1.0,
                plain: PlainPacing::LineRate(10.0),
            },
        )
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
        assert_eq!(paced, [ms(0), ms(100), ms(200)]);
        let as_read = Pacing {
            speed: 1.0,
            plain: PlainPacing::AsRead,
        };
        let at_once = replay_times(file, as_read).await;
        assert_eq!(at_once.len(), 3);
        assert!(at_once.iter().all(|(t, _)| t.is_zero()));
    }

    /// `$body*CS\r\n`.
    fn sentence(body: &str) -> String {
        let cs = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{cs:02X}\r\n")
    }

    #[tokio::test(start_paused = true)]
    async fn plain_files_replay_by_the_receiver_epoch_times() {
        let gga = |t: &str| {
            sentence(&format!(
                "GPGGA,{t},4134.4,N,09345.0,W,1,10,0.9,278.1,M,,M,,"
            ))
        };
        let rmc = |t: &str| {
            sentence(&format!(
                "GPRMC,{t},A,4134.4,N,09345.0,W,0.1,124.8,180320,,,A"
            ))
        };
        let file = [
            "# a gpsd log\n".to_owned(),
            gga("132819.60"),
            rmc("132819.60"),
            gga("132819.80"),
            rmc("132819.80"),
            gga("132830.00"),
        ]
        .concat();
        let ms = |n| Duration::from_millis(n);
        let got: Vec<(Duration, usize)> = replay_times(file.as_bytes(), Pacing::default())
            .await
            .into_iter()
            .map(|(t, b)| (t, b.len()))
            .collect();
        let two = gga("1").len() + rmc("1").len() + 2 * 8;
        assert_eq!(
            got,
            [
                (ms(0), two),
                (ms(200), two),
                (ms(5200), gga("132830.00").len())
            ],
            "whole epochs, 200 ms apart, a 10 s pause replayed as 5 s"
        );
        let twice = Pacing {
            speed: 2.0,
            ..Pacing::default()
        };
        let times: Vec<Duration> = replay_times(file.as_bytes(), twice)
            .await
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(times, [ms(0), ms(100), ms(2600)]);
    }
}
