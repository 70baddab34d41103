//! NMEA 0183 from GNSS receivers, free of I/O: a byte-stream framer that survives what
//! real receivers send, sentence parsers, and the epoch assembler that merges the
//! sentences of one receiver epoch into one [`Fix`] (or a reason why there is none).
//!
//! Time is injected: every input carries its monotonic arrival time in microseconds
//! ([`Micros`]) and the caller asks [`Decoder::poll`] at [`Decoder::next_deadline`].
//! Nothing here reads a clock, sleeps or touches a port.

use std::fmt;

/// Monotonic time in microseconds since an origin the caller chooses.
pub type Micros = u64;

/// Solution quality, as published on `orchard.gnss.fix` (`docs/contract.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quality {
    RtkFixed,
    RtkFloat,
    Dgps,
    Autonomous,
    /// Estimated by a GNSS+INS receiver (GGA quality 6): published, and consumers decide.
    DeadReckoning,
}

impl Quality {
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
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Fraction of a second in nanoseconds.
    pub nanos: u32,
    /// Number of decimals the receiver sent (0..=9), e.g. 2 for `132819.60`.
    pub decimals: u8,
}

impl UtcTime {
    /// RFC 3339 in UTC with the receiver's precision: `2020-03-18T13:28:19.60Z`.
    pub fn rfc3339(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.decimals > 0 {
            let d = u32::from(self.decimals.min(9));
            let frac = self.nanos / 10u32.pow(9 - d);
            s.push_str(&format!(".{:0width$}", frac, width = d as usize));
        }
        s.push('Z');
        s
    }
}

/// One receiver epoch that is a real position: what `orchard.gnss.fix` publishes.
#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    pub time: UtcTime,
    /// Degrees, WGS 84, full precision of the receiver.
    pub lat: f64,
    pub lon: f64,
    /// Height above mean sea level in metres (GGA), if given.
    pub alt_m: Option<f64>,
    pub quality: Quality,
    pub sats: Option<u32>,
    pub hdop: Option<f64>,
    /// Speed over ground in m/s (RMC, VTG).
    pub speed_mps: Option<f64>,
    /// Course over ground, degrees true (RMC, VTG).
    pub course_deg: Option<f64>,
    /// Heading of a dual-antenna receiver, degrees true (HDT, THS); `None` otherwise.
    pub heading_deg: Option<f64>,
    /// 1-sigma position errors from GST, metres.
    pub lat_err_m: Option<f64>,
    pub lon_err_m: Option<f64>,
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
    Fix(Fix),
    NoFix {
        reason: NoFixReason,
        time: Option<UtcTime>,
    },
}

/// One completed receiver epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Epoch {
    pub outcome: EpochOutcome,
    /// Arrival time of the epoch's first byte / last byte.
    pub first_arrival: Micros,
    pub last_arrival: Micros,
    /// Sentences merged into it.
    pub sentences: u32,
}

/// Running counters, for `orchard.gnss.status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Well-formed sentences with a good (or absent) checksum.
    pub sentences: u64,
    pub checksum_errors: u64,
    /// Sentences that framed and checksummed but did not parse (bad fields).
    pub parse_errors: u64,
    /// Bytes that were not part of any NMEA sentence (garbage, UBX, comments).
    pub discarded_bytes: u64,
    pub epochs: u64,
}

/// Decoder settings.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    /// An epoch whose end was not recognised is closed after this much silence.
    pub epoch_gap: std::time::Duration,
    /// Accept sentences without a checksum (some receivers and logs omit it).
    pub allow_missing_checksum: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            epoch_gap: std::time::Duration::from_millis(30),
            allow_missing_checksum: true,
        }
    }
}

/// Bytes in, epochs out: framer + sentence parsers + epoch assembler.
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    counters: Counters,
}

impl Decoder {
    pub fn new(config: DecoderConfig) -> Decoder {
        Decoder {
            config,
            counters: Counters::default(),
        }
    }

    /// Feed bytes that arrived at `at`; returns the epochs this completed, in order.
    pub fn push(&mut self, bytes: &[u8], at: Micros) -> Vec<Epoch> {
        let _ = (bytes, at, &self.config);
        todo!("nmea helper")
    }

    /// Time passed without input: close an epoch that is due (see `next_deadline`).
    pub fn poll(&mut self, now: Micros) -> Option<Epoch> {
        let _ = now;
        todo!("nmea helper")
    }

    /// When `poll` should next be called, if an epoch is open.
    pub fn next_deadline(&self) -> Option<Micros> {
        todo!("nmea helper")
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Forget any partial sentence and open epoch (the port was lost and reopened).
    pub fn reset(&mut self) {
        todo!("nmea helper")
    }
}
