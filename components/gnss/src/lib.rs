//! `verger-gnss`: reads NMEA 0183 from the GNSS receiver and publishes trustworthy
//! fixes on `orchard.gnss.fix` and the component's state on `orchard.gnss.status`
//! (`docs/contract.md`, "GNSS"; operator guide `docs/gnss.md`).
//!
//! # Files and tasks
//!
//! - [`state`]: the I/O-free state machine ([`state::GnssState`]): epochs, port
//!   events, publication results and ticks in, [`state::Action`]s out.
//! - this file: CLI flags ([`GnssArgs`]) and the async shell [`run`].
//! - `verger::source`: the reader task (serial / TCP / UDP / file / stdin, reopen with
//!   backoff), which stamps every chunk with its arrival time.
//! - `verger::nmea`: the I/O-free decoder (bytes + arrival µs in, epochs out).
//!
//! Two tasks: the **reader task** sends [`SourceEvent`]s on a bounded channel; the
//! **shell** (the future [`run`] returns) owns the decoder and the state machine, feeds
//! the decoder with arrival times in µs since start, calls `poll` at the decoder's
//! `next_deadline`, ticks the state machine at its own deadline (stale detection,
//! 1 Hz status) and publishes the contract's structs (`verger::contract::gnss`'s
//! `FixPayload`, `StatusPayload`) with `Client::publish_typed`, as `kwargs`.
//! Publications are never queued: offline, `publish` fails at once with
//! `NotConnected` and the fix is counted and dropped.

pub mod input;
pub mod state;

use std::time::Duration;

use tokio::time::{sleep_until, Instant};
use verger::client::Client;
use verger::component::{self, retained, CancellationToken, Shutdown};
use verger::config::{duration, Problem, Validate};
use verger::contract::gnss::{
    micros_to_ms, published_now, FixPayload, StatusCounters, StatusPayload, FIX_TOPIC, STATUS_TOPIC,
};
use verger::nmea::{Counters, Decoder, DecoderConfig, Epoch, Micros};
use verger::source::{
    self, PlainPacing, ReaderOptions, ReplayArgs, SourceArgs, SourceEvent, SourceSettings,
    SourceSpec,
};

use input::InputStats;
use state::{Action, GnssState, StateConfig};

/// The decoder as the shell uses it (the real one is [`verger::nmea::Decoder`]).
pub trait EpochDecoder: Send {
    fn push(&mut self, bytes: &[u8], at: Micros) -> Vec<Epoch>;
    fn poll(&mut self, now: Micros) -> Option<Epoch>;
    fn next_deadline(&self) -> Option<Micros>;
    fn counters(&self) -> Counters;
    fn reset(&mut self);
}

impl EpochDecoder for Decoder {
    fn push(&mut self, bytes: &[u8], at: Micros) -> Vec<Epoch> {
        Decoder::push(self, bytes, at)
    }
    fn poll(&mut self, now: Micros) -> Option<Epoch> {
        Decoder::poll(self, now)
    }
    fn next_deadline(&self) -> Option<Micros> {
        Decoder::next_deadline(self)
    }
    fn counters(&self) -> Counters {
        Decoder::counters(self)
    }
    fn reset(&mut self) {
        Decoder::reset(self)
    }
}

/// Everything [`run`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct GnssConfig {
    pub source: SourceSpec,
    pub reader: ReaderOptions,
    pub decoder: DecoderConfig,
    pub state: StateConfig,
}

impl GnssConfig {
    /// Defaults for `source`.
    pub fn new(source: SourceSpec) -> GnssConfig {
        GnssConfig {
            source,
            reader: ReaderOptions::default(),
            decoder: DecoderConfig::default(),
            state: StateConfig::default(),
        }
    }
}

/// Default of `stale_after`.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_millis(500);
/// Default of `max_fix_delay`.
pub const DEFAULT_MAX_FIX_DELAY: Duration = Duration::from_millis(200);
/// Default of `epoch_gap`.
pub const DEFAULT_EPOCH_GAP: Duration = Duration::from_millis(30);

/// The component's own flags (next to the shared ones of `verger::component`). Each
/// flag given wins over the same setting in the `--config` file ([`GnssSettings`]).
#[derive(Clone, Debug, clap::Args)]
pub struct GnssArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// No complete epoch for this long: state `stale` (e.g. 500ms, 1.5s). Must exceed
    /// the receiver's epoch interval (use >= 1.5s for a 1 Hz receiver) [default: 500ms].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub stale_after: Option<Duration>,
    /// A fix that waited longer than this inside the component (router slow) is
    /// dropped rather than published late [default: 200ms].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub max_fix_delay: Option<Duration>,
    /// Silence after which an epoch whose end was not recognised is closed
    /// [default: 30ms].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub epoch_gap: Option<Duration>,
    /// Accept sentences without a `*hh` checksum, for a receiver that sends none
    /// (default: refused and counted as checksum errors; without a checksum nothing
    /// tells a sentence from line noise).
    #[arg(long)]
    pub allow_missing_checksum: bool,
}

/// The `--config` file of `verger-gnss` (its section of `verger.toml`): the same
/// settings as the flags.
///
/// ```toml
/// stale_after = "1.5s"           # a 1 Hz receiver
/// allow_missing_checksum = true  # it sends sentences without `*hh`
///
/// [source]
/// serial = "/dev/ttyUSB0"
/// baud = 115200
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GnssSettings {
    pub source: SourceSettings,
    #[serde(with = "duration::option")]
    pub stale_after: Option<Duration>,
    #[serde(with = "duration::option")]
    pub max_fix_delay: Option<Duration>,
    #[serde(with = "duration::option")]
    pub epoch_gap: Option<Duration>,
    pub allow_missing_checksum: Option<bool>,
}

impl Validate for GnssSettings {
    /// A track to replay must exist (a serial device may appear later: it is retried).
    fn check_files(&self) -> Result<(), Vec<Problem>> {
        match &self.source.file {
            Some(file) if file.as_os_str() != "-" && !file.is_file() => Err(vec![Problem::new(
                "source.file",
                format!("no such file: {}", file.display()),
            )]),
            _ => Ok(()),
        }
    }

    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut p: Vec<Problem> = self
            .source
            .problems()
            .into_iter()
            .map(|(key, why)| Problem::new(format!("source.{key}"), why))
            .collect();
        if let Err(why) = timing_rules(
            self.stale_after.unwrap_or(DEFAULT_STALE_AFTER),
            self.epoch_gap.unwrap_or(DEFAULT_EPOCH_GAP),
            self.max_fix_delay.unwrap_or(DEFAULT_MAX_FIX_DELAY),
        ) {
            p.push(Problem::new(why.0, why.1));
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(p)
        }
    }
}

/// The rules between the timing settings, as `(setting, why)`.
fn timing_rules(
    stale_after: Duration,
    epoch_gap: Duration,
    max_fix_delay: Duration,
) -> Result<(), (&'static str, String)> {
    if stale_after <= epoch_gap {
        return Err((
            "stale_after",
            format!(
                "{} must be longer than epoch_gap ({})",
                duration::format(stale_after),
                duration::format(epoch_gap)
            ),
        ));
    }
    if max_fix_delay.is_zero() {
        return Err(("max_fix_delay", "must be above 0".into()));
    }
    Ok(())
}

impl GnssArgs {
    /// The configuration from these flags over the `--config` settings, or what makes
    /// no sense about them.
    pub fn config(&self, file: &GnssSettings) -> Result<GnssConfig, String> {
        let mut config = GnssConfig::new(self.source.spec_or(&file.source, &self.replay)?);
        if let SourceSpec::File { path, .. } = &config.source {
            // Fail at start, not after the router is reached.
            std::fs::File::open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        }
        let stale_after = self
            .stale_after
            .or(file.stale_after)
            .unwrap_or(DEFAULT_STALE_AFTER);
        let epoch_gap = self
            .epoch_gap
            .or(file.epoch_gap)
            .unwrap_or(DEFAULT_EPOCH_GAP);
        let max_fix_delay = self
            .max_fix_delay
            .or(file.max_fix_delay)
            .unwrap_or(DEFAULT_MAX_FIX_DELAY);
        timing_rules(stale_after, epoch_gap, max_fix_delay)
            .map_err(|(setting, why)| format!("--{}: {why}", setting.replace('_', "-")))?;
        config.state.stale_after = micros(stale_after);
        config.state.max_fix_delay = micros(max_fix_delay);
        config.decoder.epoch_gap = epoch_gap;
        config.decoder.allow_missing_checksum =
            self.allow_missing_checksum || file.allow_missing_checksum.unwrap_or(false);
        if let Some(rate) = line_rate(&config.source) {
            if Duration::from_secs_f64(1.0 / rate) > epoch_gap {
                tracing::warn!(
                    "--line-rate {rate}: lines come {} ms apart, more than --epoch-gap \
                     ({}): epochs will be closed before their end and published twice; \
                     leave --line-rate out to replay by the receiver's epoch times",
                    (1000.0 / rate).round(),
                    duration::format(epoch_gap)
                );
            }
        }
        Ok(config)
    }
}

/// The `--line-rate` of a replay, if one was given.
fn line_rate(source: &SourceSpec) -> Option<f64> {
    match source {
        SourceSpec::File { pacing, .. } | SourceSpec::Stdin { pacing } => match pacing.plain {
            PlainPacing::LineRate(rate) => Some(rate),
            _ => None,
        },
        _ => None,
    }
}

fn micros(d: Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(Micros::MAX)
}

/// Why [`run`] ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum GnssError {
    /// The flags and settings make no sense together.
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Source(String),
    /// A file or stdin ended without a single receiver epoch: what was read, in words.
    #[error("{0}")]
    NoEpoch(String),
}

/// Run the component on `client` until shutdown is requested, or until a file or
/// stdin source has been replayed to its end.
///
/// Liveness: first it files a testament with the router, a retained `gone` status the
/// router publishes if the session ends without a word from the component (killed,
/// crashed, network lost); the client files it again on every new session. When it
/// stops by itself (shutdown requested, end of the input, an error) it publishes the
/// `gone` status itself, with its time and final counters, and then withdraws the
/// testament.
pub async fn run(client: Client, config: GnssConfig, shutdown: Shutdown) -> Result<(), GnssError> {
    let decoder = Decoder::new(config.decoder.clone());
    run_with(client, config, decoder, shutdown).await
}

/// [`run`] with a given decoder.
pub async fn run_with<D: EpochDecoder>(
    client: Client,
    config: GnssConfig,
    mut decoder: D,
    shutdown: Shutdown,
) -> Result<(), GnssError> {
    let token = shutdown.token().clone();
    let source = config.source.to_string();
    if config.source.is_finite() {
        // A replay has no live timing to keep: do not lose its start to a router that
        // is still coming up.
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = client.wait_established() => {}
        }
    }
    let gone = StatusPayload::gone(source.clone(), StatusCounters::default(), None);
    component::file_testament(&client, STATUS_TOPIC, &gone, &token).await;
    let mut state = GnssState::new(config.state.clone(), source.clone(), 0);
    let outcome = read_and_publish(&client, &config, &mut decoder, &mut state, &token).await;
    state.on_decoder_counters(decoder.counters());
    let gone = StatusPayload::gone(source.clone(), state.counters(), Some(published_now()));
    component::last_words(&client, STATUS_TOPIC, &gone).await;
    outcome
}

/// The loop: read, decode, publish, until shutdown or the end of a file.
async fn read_and_publish<D: EpochDecoder>(
    client: &Client,
    config: &GnssConfig,
    decoder: &mut D,
    state: &mut GnssState,
    token: &CancellationToken,
) -> Result<(), GnssError> {
    let shutdown = token.clone().cancelled_owned();
    tokio::pin!(shutdown);
    let origin = Instant::now();
    let since = |t: Instant| micros(t.saturating_duration_since(origin));
    let mut reader = source::spawn(config.source.clone(), config.reader.clone());
    let mut input = InputStats::default();
    let mut actions = Vec::new();
    let mut ended = false;
    tracing::info!(source = %config.source, "reading");
    loop {
        if ended && decoder.next_deadline().is_none() {
            state.on_decoder_counters(decoder.counters());
            execute(client, state, &mut actions, origin).await;
            let counters = decoder.counters();
            if counters.epochs == 0 {
                return Err(GnssError::NoEpoch(
                    input.no_epoch_message(&config.source, &counters),
                ));
            }
            tracing::info!(source = %config.source, epochs = counters.epochs, "end of input");
            return Ok(());
        }
        let mut deadline = state.next_deadline();
        if let Some(d) = decoder.next_deadline() {
            deadline = deadline.min(d);
        }
        let wake = origin + Duration::from_micros(deadline.min(Micros::MAX / 4));
        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(()),
            event = reader.events.recv(), if !ended => {
                let now = since(Instant::now());
                match event {
                    Some(SourceEvent::Data { bytes, at }) => {
                        input.add(&bytes);
                        for epoch in decoder.push(&bytes, since(at)) {
                            state.on_epoch(epoch, now, &mut actions);
                        }
                        state.on_decoder_counters(decoder.counters());
                    }
                    Some(SourceEvent::Opened) => {
                        decoder.reset();
                        state.on_port_opened(now, &mut actions);
                    }
                    Some(SourceEvent::Lost { error }) => {
                        decoder.reset();
                        state.on_port_lost(&error, now, &mut actions);
                    }
                    Some(SourceEvent::End) | None => ended = true,
                    Some(SourceEvent::Failed { error }) => return Err(GnssError::Source(error)),
                }
            }
            _ = sleep_until(wake) => {
                let now = since(Instant::now());
                if decoder.next_deadline().is_some_and(|d| d <= now) {
                    if let Some(epoch) = decoder.poll(now) {
                        state.on_epoch(epoch, now, &mut actions);
                    }
                    state.on_decoder_counters(decoder.counters());
                }
                state.on_tick(now, &mut actions);
            }
        }
        execute(client, state, &mut actions, origin).await;
    }
}

/// Carry out the state machine's actions (which may add more, e.g. a log line after a
/// failed publication). Every payload gets its `published_at` here, from the wall
/// clock, right before it goes out.
async fn execute(
    client: &Client,
    state: &mut GnssState,
    actions: &mut Vec<Action>,
    origin: Instant,
) {
    let since = |t: Instant| micros(t.saturating_duration_since(origin));
    while !actions.is_empty() {
        for action in std::mem::take(actions) {
            match action {
                Action::PublishFix {
                    fix,
                    first_arrival,
                    last_arrival,
                } => {
                    let now = since(Instant::now());
                    if !state.fix_publishable(last_arrival, now) {
                        continue;
                    }
                    let age_ms = micros_to_ms(now.saturating_sub(first_arrival));
                    let payload = FixPayload::new(&fix, age_ms, published_now());
                    match client.publish_typed(FIX_TOPIC, &payload, retained()).await {
                        Ok(_) => state.on_fix_published(),
                        Err(e) => state.on_fix_publish_failed(e.to_string(), now, actions),
                    }
                }
                Action::PublishStatus(mut status) => {
                    status.published_at = Some(published_now());
                    if let Err(e) = client
                        .publish_typed(STATUS_TOPIC, &status, retained())
                        .await
                    {
                        tracing::debug!(error = %e, "status not published");
                    }
                }
                Action::Log(notice) => {
                    if notice.is_warning() {
                        tracing::warn!("{notice}");
                    } else {
                        tracing::info!("{notice}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        gnss: GnssArgs,
    }

    fn config(flags: &[&str], file: &str) -> Result<GnssConfig, String> {
        let settings: GnssSettings =
            verger::config::from_toml_str(file, "gnss.toml").map_err(|e| e.to_string())?;
        let mut argv = vec!["verger-gnss"];
        argv.extend_from_slice(flags);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        cli.gnss.config(&settings)
    }

    #[test]
    fn flags_alone_with_the_defaults() {
        let c = config(&["--udp", "127.0.0.1:9999"], "").unwrap();
        assert_eq!(c.source.to_string(), "udp:127.0.0.1:9999");
        assert_eq!(c.state.stale_after, micros(DEFAULT_STALE_AFTER));
        assert_eq!(c.decoder.epoch_gap, DEFAULT_EPOCH_GAP);
        assert!(!c.decoder.allow_missing_checksum, "checksums required");
        let c = config(&["--udp", "127.0.0.1:9999", "--allow-missing-checksum"], "").unwrap();
        assert!(c.decoder.allow_missing_checksum);
    }

    #[test]
    fn the_file_alone_names_the_source_and_settings() {
        let file = "stale_after = \"1.5s\"\nallow_missing_checksum = true\n[source]\nserial = \"/dev/ttyACM0\"\nbaud = 9600\n";
        let c = config(&[], file).unwrap();
        assert_eq!(c.source.to_string(), "serial:/dev/ttyACM0@9600");
        assert_eq!(c.state.stale_after, 1_500_000);
        assert!(c.decoder.allow_missing_checksum);
        let c = config(
            &[],
            "allow_missing_checksum = false\n[source]\nudp = \"0.0.0.0:1\"\n",
        );
        assert!(!c.unwrap().decoder.allow_missing_checksum);
        // The old key is refused by name, not silently ignored.
        let e = config(&["--udp", "127.0.0.1:1"], "require_checksum = true\n").unwrap_err();
        assert!(e.contains("unknown field `require_checksum`"), "{e}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = "stale_after = \"1.5s\"\n[source]\nserial = \"/dev/ttyACM0\"\nbaud = 9600\n";
        let c = config(&["--stale-after", "2s", "--tcp", "rx:5017"], file).unwrap();
        assert_eq!(c.source.to_string(), "tcp:rx:5017");
        assert_eq!(c.state.stale_after, 2_000_000);
        // --baud alone does not name a source: the file's serial port at the flag's rate.
        let c = config(&["--baud", "38400"], file).unwrap();
        assert_eq!(c.source.to_string(), "serial:/dev/ttyACM0@38400");
    }

    #[test]
    fn nonsense_is_refused_naming_the_setting() {
        let e = config(&[], "").unwrap_err();
        assert!(e.contains("required") && e.contains("--serial"), "{e}");
        let e = config(
            &["--udp", "127.0.0.1:1"],
            "[source]\nserial = \"/dev/x\"\ntcp = \"h:1\"\n",
        )
        .unwrap_err();
        assert!(
            e.contains("line 2: source.serial: name one source only"),
            "{e}"
        );
        let e = config(&["--udp", "127.0.0.1:1"], "[source]\nbaud = 1200\n").unwrap_err();
        assert!(e.contains("source.baud: 1200"), "{e}");
        let e = config(&["--udp", "127.0.0.1:1"], "epoch_gap = \"1s\"\n").unwrap_err();
        assert!(e.contains("stale_after"), "{e}");
        let e = config(&["--udp", "127.0.0.1:1", "--stale-after", "10ms"], "").unwrap_err();
        assert!(e.contains("--stale-after"), "{e}");
        let e = config(&["--udp", "127.0.0.1:1"], "stale = \"1s\"\n").unwrap_err();
        assert!(e.contains("unknown field `stale`"), "{e}");
    }
}
