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

pub mod state;

use std::time::Duration;

use tokio::time::{sleep_until, Instant};
use verger::client::{Client, PublishOptions};
use verger::component::Shutdown;
use verger::contract::gnss::{micros_to_ms, FixPayload, FIX_TOPIC, STATUS_TOPIC};
use verger::nmea::{Counters, Decoder, DecoderConfig, Epoch, Micros};
use verger::source::{self, ReaderOptions, SourceArgs, SourceEvent, SourceSpec};

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

/// The component's own flags (next to the shared `--router`/`--realm`).
#[derive(Clone, Debug, clap::Args)]
pub struct GnssArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// No complete epoch for this long: state `stale` (e.g. 500ms, 1.5s). Must exceed
    /// the receiver's epoch interval (use >= 1.5s for a 1 Hz receiver).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub stale_after: Duration,
    /// A fix that waited longer than this inside the component (router slow) is
    /// dropped rather than published late.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = parse_duration)]
    pub max_fix_delay: Duration,
    /// Silence after which an epoch whose end was not recognised is closed.
    #[arg(long, value_name = "DURATION", default_value = "30ms", value_parser = parse_duration)]
    pub epoch_gap: Duration,
    /// Reject sentences without a `*hh` checksum (default: accept them).
    #[arg(long)]
    pub require_checksum: bool,
}

impl GnssArgs {
    /// The configuration, or what makes no sense about the flags.
    pub fn config(&self) -> Result<GnssConfig, String> {
        let mut config = GnssConfig::new(self.source.spec());
        if let SourceSpec::File { path, .. } = &config.source {
            // Fail at start, not after the router is reached.
            std::fs::File::open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        }
        if self.stale_after <= self.epoch_gap {
            return Err(format!(
                "--stale-after ({:?}) must be longer than --epoch-gap ({:?})",
                self.stale_after, self.epoch_gap
            ));
        }
        if self.max_fix_delay.is_zero() {
            return Err("--max-fix-delay must be above 0".into());
        }
        config.state.stale_after = micros(self.stale_after);
        config.state.max_fix_delay = micros(self.max_fix_delay);
        config.decoder.epoch_gap = self.epoch_gap;
        config.decoder.allow_missing_checksum = !self.require_checksum;
        Ok(config)
    }
}

fn micros(d: Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(Micros::MAX)
}

/// `500ms`, `2s`, `1.5s`, `250us`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{s}` has no unit (ms or s)"))?;
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration"))?;
    let secs = match unit {
        "s" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        _ => return Err(format!("`{unit}` is not a unit (use ms or s)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is out of range"))
}

/// Why [`run`] ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum GnssError {
    #[error("{0}")]
    Source(String),
}

fn retained() -> PublishOptions {
    PublishOptions {
        retain: true,
        ..PublishOptions::default()
    }
}

/// Run the component on `client` until shutdown is requested, or until a file or
/// stdin source has been replayed to its end (then it publishes a last status and
/// returns).
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
    let shutdown = shutdown.token().clone().cancelled_owned();
    tokio::pin!(shutdown);
    if config.source.is_finite() {
        // A replay has no live timing to keep: do not lose its start to a router that
        // is still coming up.
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = client.wait_established() => {}
        }
    }
    let origin = Instant::now();
    let since = |t: Instant| micros(t.saturating_duration_since(origin));
    let mut reader = source::spawn(config.source.clone(), config.reader.clone());
    let mut state = GnssState::new(config.state.clone(), config.source.to_string(), 0);
    let mut actions = Vec::new();
    let mut ended = false;
    tracing::info!(source = %config.source, "reading");
    loop {
        if ended && decoder.next_deadline().is_none() {
            let now = since(Instant::now());
            state.on_decoder_counters(decoder.counters());
            actions.push(Action::PublishStatus(state.status(now)));
            execute(&client, &mut state, &mut actions, origin).await;
            tracing::info!(source = %config.source, "end of input");
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
        execute(&client, &mut state, &mut actions, origin).await;
    }
}

/// Carry out the state machine's actions (which may add more, e.g. a log line after a
/// failed publication).
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
                    let payload = FixPayload::new(&fix, age_ms);
                    match client.publish_typed(FIX_TOPIC, &payload, retained()).await {
                        Ok(_) => state.on_fix_published(),
                        Err(e) => state.on_fix_publish_failed(e.to_string(), now, actions),
                    }
                }
                Action::PublishStatus(status) => {
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
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert!(parse_duration("500").unwrap_err().contains("no unit"));
        assert!(parse_duration("5m").unwrap_err().contains("not a unit"));
        assert!(parse_duration("-1s").is_err());
    }
}
