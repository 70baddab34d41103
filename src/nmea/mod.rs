//! NMEA 0183 from GNSS receivers, free of I/O: a byte-stream framer that survives what
//! real receivers send, sentence parsers, and the epoch assembler that merges the
//! sentences of one receiver epoch into one [`Fix`] (or a reason why there is none).
//!
//! Time is injected: every input carries its monotonic arrival time in microseconds
//! ([`Micros`]) and the caller asks [`Decoder::poll`] at [`Decoder::next_deadline`].
//! Nothing here reads a clock, sleeps or touches a port.
//!
//! - [`framer`]: bytes → sentences (garbage, UBX even mid-line, checksums, bounded memory).
//! - [`sentence`]: GGA, RMC, VTG, GNS, GST, HDT, THS, ZDA parsers; others are ignored.
//! - [`epoch`]: merges one receiver epoch, learns the cycle ender, dates, midnight.
//! - [`classify`]: the trust rules (which epochs are a [`Fix`], and of which [`Quality`]).
//! - [`pace`]: replay timing for logs without any: each receiver epoch as one burst, at
//!   the receiver's own epoch times.
//!
//! Hand-written rather than the `nmea` crate: that crate rejects proprietary sentences,
//! THS, multi-character GNS modes and long sentences, and older versions panic on some
//! real GSA sentences; the eight sentences needed here are a few hundred lines, allocation
//! free and fuzzed.

use std::fmt;

use crate::civil;

pub mod classify;
pub mod epoch;
pub mod framer;
pub mod pace;
pub mod sentence;

use epoch::{Assembler, Input};
use framer::{Frame, Framer};

/// Monotonic time in microseconds since an origin the caller chooses.
pub type Micros = u64;

/// Solution quality, as published on `orchard.gnss.fix` (`docs/contract.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quality {
    /// RTK with integer ambiguities fixed (GGA 4, mode `R`): centimetre level.
    RtkFixed,
    /// RTK float solution (GGA 5, mode `F`): decimetre level.
    RtkFloat,
    /// Differential (DGPS, SBAS; GGA 2 and 3, modes `D` and `P`).
    Dgps,
    /// Stand-alone GNSS (GGA 1, mode `A`).
    Autonomous,
    /// Estimated by a GNSS+INS receiver (GGA quality 6): published, and consumers decide.
    DeadReckoning,
}

impl Quality {
    /// Every quality, best first.
    pub const ALL: [Quality; 5] = [
        Quality::RtkFixed,
        Quality::RtkFloat,
        Quality::Dgps,
        Quality::Autonomous,
        Quality::DeadReckoning,
    ];

    /// The contract's spelling: `rtk_fixed`, `rtk_float`, `dgps`, `autonomous`,
    /// `dead_reckoning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::RtkFixed => "rtk_fixed",
            Quality::RtkFloat => "rtk_float",
            Quality::Dgps => "dgps",
            Quality::Autonomous => "autonomous",
            Quality::DeadReckoning => "dead_reckoning",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// UTC date and time as the receiver gave it, keeping its sub-second precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime {
    /// Calendar year, e.g. 2020.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=60 (60 only for a leap second).
    pub second: u8,
    /// Fraction of a second in nanoseconds.
    pub nanos: u32,
    /// Number of decimals the receiver sent (0..=9), e.g. 2 for `132819.60`.
    pub decimals: u8,
}

impl UtcTime {
    /// RFC 3339 in UTC with the receiver's precision: `2020-03-18T13:28:19.60Z`.
    pub fn rfc3339(&self) -> String {
        self.civil().rfc3339(self.decimals)
    }

    /// Nanoseconds since 1970-01-01T00:00:00Z (leap seconds not counted, as POSIX).
    pub fn unix_nanos(&self) -> i64 {
        self.civil().unix_secs() * 1_000_000_000 + i64::from(self.nanos)
    }

    /// The same instant for the calendar routines of [`crate::civil`].
    pub fn civil(&self) -> civil::DateTime {
        civil::DateTime {
            year: i64::from(self.year),
            month: self.month,
            day: self.day,
            hour: self.hour,
            minute: self.minute,
            second: self.second,
            nanos: self.nanos,
        }
    }
}

/// One receiver epoch that is a real position: what `orchard.gnss.fix` publishes.
#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    /// UTC time of the epoch.
    pub time: UtcTime,
    /// Latitude in degrees (north positive), WGS 84, full precision of the receiver.
    pub lat: f64,
    /// Longitude in degrees (east positive).
    pub lon: f64,
    /// Height above mean sea level in metres (GGA, GNS), if given.
    pub alt_m: Option<f64>,
    /// Solution quality (see [`classify`] for the mapping).
    pub quality: Quality,
    /// Satellites used in the solution.
    pub sats: Option<u32>,
    /// Horizontal dilution of precision.
    pub hdop: Option<f64>,
    /// Speed over ground in m/s (RMC, VTG).
    pub speed_mps: Option<f64>,
    /// Course over ground, degrees true (RMC, VTG).
    pub course_deg: Option<f64>,
    /// Heading of a dual-antenna receiver, degrees true (HDT, THS); `None` otherwise.
    pub heading_deg: Option<f64>,
    /// 1-sigma latitude error from GST, metres.
    pub lat_err_m: Option<f64>,
    /// 1-sigma longitude error from GST, metres.
    pub lon_err_m: Option<f64>,
    /// 1-sigma altitude error from GST, metres.
    pub alt_err_m: Option<f64>,
    /// Seconds since the last differential correction (GGA), if given.
    pub diff_age_s: Option<f64>,
}

/// Why an epoch is not published as a fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoFixReason {
    /// GGA quality 0, or GNS mode all `N`.
    Invalid,
    /// GGA quality 7 (manual input).
    Manual,
    /// GGA quality 8 (simulation / demo mode).
    Simulation,
    /// RMC status `V` (void).
    Void,
    /// No UTC time (or no date ever seen) for the position.
    NoTime,
    /// No latitude/longitude in the epoch.
    NoPosition,
}

impl NoFixReason {
    /// Every reason.
    pub const ALL: [NoFixReason; 6] = [
        NoFixReason::Invalid,
        NoFixReason::Manual,
        NoFixReason::Simulation,
        NoFixReason::Void,
        NoFixReason::NoTime,
        NoFixReason::NoPosition,
    ];

    /// The contract's spelling: `invalid`, `manual_input`, `simulation`, `void`,
    /// `no_time`, `no_position`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoFixReason::Invalid => "invalid",
            NoFixReason::Manual => "manual_input",
            NoFixReason::Simulation => "simulation",
            NoFixReason::Void => "void",
            NoFixReason::NoTime => "no_time",
            NoFixReason::NoPosition => "no_position",
        }
    }
}

/// What one epoch came to.
#[derive(Clone, Debug, PartialEq)]
pub enum EpochOutcome {
    /// A position that may be published.
    Fix(Fix),
    /// No trustworthy position this epoch.
    NoFix {
        /// Why (the first veto of the epoch; see [`classify`]).
        reason: NoFixReason,
        /// The epoch's UTC time if known (`None` without time or before any date).
        time: Option<UtcTime>,
    },
}

/// One completed receiver epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Epoch {
    /// Fix or the reason there is none.
    pub outcome: EpochOutcome,
    /// Arrival time of the epoch's first byte (start of its first sentence).
    pub first_arrival: Micros,
    /// Arrival time of the epoch's last byte (end of its last sentence).
    pub last_arrival: Micros,
    /// Sentences merged into it.
    pub sentences: u32,
}

/// Running counters, for `orchard.gnss.status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Well-formed sentences with a good (or absent) checksum.
    pub sentences: u64,
    /// Sentences dropped for a wrong, malformed or (if not allowed) missing checksum.
    pub checksum_errors: u64,
    /// Of `checksum_errors`: sentences dropped only for having no checksum (missing
    /// checksums not allowed).
    pub missing_checksums: u64,
    /// Sentences that framed and checksummed but did not parse (bad fields).
    pub parse_errors: u64,
    /// Bytes that were not part of any NMEA sentence (garbage, UBX, comments).
    pub discarded_bytes: u64,
    /// Epochs emitted (an epoch re-emitted with late sentences counts twice).
    pub epochs: u64,
}

/// Decoder settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    /// An epoch whose end was not recognised is closed after this much silence.
    pub epoch_gap: std::time::Duration,
    /// Accept sentences without a checksum. Off by default: without `*hh` nothing tells
    /// a sentence from line noise (random bytes contain `$...\r\n` lines), so only a
    /// receiver known to send none should be trusted this way.
    pub allow_missing_checksum: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            epoch_gap: std::time::Duration::from_millis(30),
            allow_missing_checksum: false,
        }
    }
}

/// Bytes in, epochs out: framer + sentence parsers + epoch assembler.
///
/// ```
/// use verger::nmea::{Decoder, DecoderConfig, EpochOutcome};
///
/// let mut d = Decoder::new(DecoderConfig::default());
/// let mut epochs = d.push(b"$GNRMC,132819.60,A,4134.49795459,N,09345.03431408,W,0.148,124.888,180320,11.5985,E,D*3F\r\n", 1_000);
/// // Not yet learned how this receiver's epochs end: the next epoch or silence closes it.
/// assert!(epochs.is_empty());
/// let deadline = d.next_deadline().unwrap();
/// epochs.extend(d.poll(deadline));
/// let EpochOutcome::Fix(fix) = &epochs[0].outcome else { panic!() };
/// assert_eq!(fix.time.rfc3339(), "2020-03-18T13:28:19.60Z");
/// ```
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    framer: Framer,
    assembler: Assembler,
    parse_errors: u64,
}

impl Decoder {
    /// A decoder with nothing received yet.
    pub fn new(config: DecoderConfig) -> Decoder {
        Decoder {
            framer: Framer::new(config.allow_missing_checksum),
            assembler: Assembler::new(config.epoch_gap),
            config,
            parse_errors: 0,
        }
    }

    /// The settings it was built with.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Feed bytes that arrived at `at`; returns the epochs this completed, in order.
    ///
    /// An epoch that had timed out by `at` (see [`Decoder::next_deadline`]) is closed
    /// first, as if [`Decoder::poll`] had been called.
    pub fn push(&mut self, bytes: &[u8], at: Micros) -> Vec<Epoch> {
        let mut out = Vec::new();
        self.push_into(bytes, at, &mut out);
        out
    }

    /// [`Decoder::push`] appending to a caller's vector (no allocation once it has room).
    pub fn push_into(&mut self, bytes: &[u8], at: Micros, out: &mut Vec<Epoch>) {
        self.assembler.begin_read(at);
        self.assembler.poll_into(at, out);
        let assembler = &mut self.assembler;
        let parse_errors = &mut self.parse_errors;
        self.framer.push(bytes, at, &mut |frame: Frame<'_>| {
            assembler.activity(frame.last_at);
            match sentence::parse(frame.body, frame.checksummed) {
                Ok(s) => assembler.add(Input::Sentence(&s), frame.first_at, frame.last_at, out),
                Err(e) => {
                    *parse_errors += 1;
                    assembler.add(Input::Broken(e), frame.first_at, frame.last_at, out);
                }
            }
        });
        if let Some(t) = self.framer.last_sentence_byte_at() {
            self.assembler.activity(t);
        }
    }

    /// Time passed without input: close an epoch that is due (see `next_deadline`).
    pub fn poll(&mut self, now: Micros) -> Option<Epoch> {
        self.assembler.poll(now)
    }

    /// When `poll` should next be called, if an epoch is open: `epoch_gap` after the last
    /// byte framed as part of a sentence (a sentence still arriving keeps the epoch open;
    /// UBX frames and garbage do not).
    pub fn next_deadline(&self) -> Option<Micros> {
        self.assembler.deadline()
    }

    /// Counters since construction (not cleared by [`Decoder::reset`]).
    pub fn counters(&self) -> Counters {
        let f = self.framer.counters();
        Counters {
            sentences: f.sentences,
            checksum_errors: f.checksum_errors,
            missing_checksums: f.missing_checksums,
            parse_errors: self.parse_errors,
            discarded_bytes: f.discarded_bytes,
            epochs: self.assembler.epochs(),
        }
    }

    /// The sentence type learned as the end of the receiver's cycle, if any.
    pub fn cycle_ender(&self) -> Option<sentence::Kind> {
        self.assembler.ender()
    }

    /// Bytes of buffers held; constant whatever the input (memory is bounded).
    pub fn buffer_capacity(&self) -> usize {
        self.framer.buffer_capacity() + std::mem::size_of::<Assembler>()
    }

    /// Forget any partial sentence and open epoch (the port was lost and reopened).
    ///
    /// The learned cycle and the last date are forgotten too: the receiver may have been
    /// reconfigured, and hours may have passed. The partial bytes count as discarded.
    pub fn reset(&mut self) {
        self.framer.reset();
        self.assembler.reset();
    }
}

#[cfg(test)]
mod tests;
