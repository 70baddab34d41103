//! Replay timing for NMEA logs that carry none (a plain `.log`/`.nmea` file, no
//! `verger record` headers): pace them by the receiver's own epoch times.
//!
//! A receiver sends each epoch as a burst of sentences, then nothing until the next
//! epoch. [`EpochPacer`] turns the lines of a log back into those bursts: it groups
//! consecutive lines into receiver epochs with the rule the decoder's epoch assembler
//! uses ([`super::epoch`]): a GGA/RMC/GNS/GST/ZDA with another time of day starts the
//! next epoch, an untimed sentence of a type the epoch already holds (HDT, VTG, ...)
//! starts the next one too, anything else (other sentences, noise, binary) goes with
//! the epoch it is in. Each group is released with the offset at which a replay hands it
//! on: the first timed epoch at 0, each next one after the difference of their
//! receiver times. So the decoder sees what a live receiver would give it: every epoch
//! complete at once, a pause before the next, and it learns the epoch ender from the
//! first epochs (a line-by-line pace instead splits epochs and publishes them twice).
//!
//! - Epochs without a time (before the receiver has one) go out with the epoch before
//!   them, without a pause.
//! - A pause longer than [`MAX_PAUSE`] in receiver time (receiver switched off, logs
//!   joined) is replayed as [`MAX_PAUSE`]; time going back (a new day without a date
//!   change is handled as midnight, anything else) is replayed without a pause.
//! - A group is handed on once it holds [`MAX_GROUP`] bytes even if its epoch goes on
//!   (memory stays bounded whatever the file holds).
//!
//! Pure: lines in, `(bytes, offset)` out; the replay source (`crate::source`) sleeps.

use std::time::Duration;

use super::framer::Framer;
use super::sentence::{self, Kind, DAY_NANOS};

/// Longest pause between two epochs a replay keeps.
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Most bytes held back in one group.
pub const MAX_GROUP: usize = 64 * 1024;

/// A burst of lines to hand on `at` after the start of the replay (unscaled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paced {
    pub bytes: Vec<u8>,
    pub at: Duration,
}

/// The epoch being collected.
#[derive(Debug, Default)]
struct Group {
    bytes: Vec<u8>,
    /// Receiver time of day, nanoseconds.
    tod: Option<u64>,
    /// Sentence types seen, one bit per [`Kind`].
    kinds: u16,
}

/// Groups lines into receiver epochs and times them (see the module docs).
#[derive(Debug)]
pub struct EpochPacer {
    framer: Framer,
    group: Group,
    /// Time of day of the last timed group handed on.
    last_tod: Option<u64>,
    /// Offset of the last group handed on.
    elapsed: Duration,
}

impl Default for EpochPacer {
    fn default() -> Self {
        EpochPacer::new()
    }
}

/// What a line says about epochs: its first sentence of a type the decoder knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    Timed(Kind, u64),
    Untimed(Kind),
    Nothing,
}

impl EpochPacer {
    pub fn new() -> EpochPacer {
        EpochPacer {
            // Lenient: pacing only looks at times; the decoder judges the sentences.
            framer: Framer::new(true),
            group: Group::default(),
            last_tod: None,
            elapsed: Duration::ZERO,
        }
    }

    /// Add one line (with its line end); returns the group it closed, if any.
    pub fn push_line(&mut self, line: &[u8]) -> Option<Paced> {
        let mark = self.mark(line);
        let starts_next = match mark {
            Mark::Timed(_, t) => self.group.tod.is_some_and(|g| g != t),
            Mark::Untimed(k) => self.group.kinds & bit(k) != 0,
            Mark::Nothing => false,
        };
        let mut out = None;
        if starts_next || self.group.bytes.len() + line.len() > MAX_GROUP {
            out = self.release();
            if !starts_next {
                // Only cut for size: the epoch goes on in the next group.
                self.group.tod = self.last_tod;
            }
        }
        match mark {
            Mark::Timed(k, t) => {
                self.group.tod.get_or_insert(t);
                self.group.kinds |= bit(k);
            }
            Mark::Untimed(k) => self.group.kinds |= bit(k),
            Mark::Nothing => {}
        }
        self.group.bytes.extend_from_slice(line);
        out
    }

    /// The input ended: the last group, if any.
    pub fn finish(&mut self) -> Option<Paced> {
        self.release()
    }

    fn mark(&mut self, line: &[u8]) -> Mark {
        let mut mark = Mark::Nothing;
        self.framer.push(line, 0, &mut |frame| {
            if mark != Mark::Nothing {
                return;
            }
            let (kind, time) = match sentence::parse(frame.body, frame.checksummed) {
                Ok(s) => match s.kind() {
                    Some(k) => (k, s.time()),
                    None => return,
                },
                Err(e) => (e.kind, e.time),
            };
            mark = match time {
                Some(t) => Mark::Timed(kind, t.nanos),
                None => Mark::Untimed(kind),
            };
        });
        mark
    }

    /// Hand on the current group with its offset, and start an empty one.
    fn release(&mut self) -> Option<Paced> {
        let group = std::mem::take(&mut self.group);
        if group.bytes.is_empty() {
            return None;
        }
        if let Some(t) = group.tod {
            if let Some(last) = self.last_tod {
                self.elapsed += pause(last, t);
            }
            self.last_tod = Some(t);
        }
        Some(Paced {
            bytes: group.bytes,
            at: self.elapsed,
        })
    }
}

fn bit(k: Kind) -> u16 {
    1 << k.index()
}

/// The replayed pause from time of day `from` to `to` (nanoseconds).
fn pause(from: u64, to: u64) -> Duration {
    let step = if to >= from {
        to - from
    } else if from - to > DAY_NANOS / 2 {
        // Midnight.
        to + DAY_NANOS - from
    } else {
        0
    };
    Duration::from_nanos(step).min(MAX_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy;

    fn line(body: &str) -> Vec<u8> {
        let cs = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{cs:02X}\r\n").into_bytes()
    }

    fn gga(t: &str) -> Vec<u8> {
        line(&format!(
            "GPGGA,{t},4134.49795459,N,09345.03431408,W,2,10,0.9,278.161,M,-31.442,M,6.6,0133"
        ))
    }

    fn rmc(t: &str) -> Vec<u8> {
        line(&format!(
            "GPRMC,{t},A,4134.49795459,N,09345.03431408,W,0.148,124.888,180320,,,D"
        ))
    }

    fn pace(lines: &[Vec<u8>]) -> Vec<(Duration, usize)> {
        let mut p = EpochPacer::new();
        let mut out = Vec::new();
        for l in lines {
            out.extend(p.push_line(l));
        }
        out.extend(p.finish());
        out.into_iter()
            .map(|g| (g.at, g.bytes.iter().filter(|&&b| b == b'\n').count()))
            .collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn epochs_go_out_whole_at_their_receiver_times() {
        let lines = vec![
            b"garbage before\r\n".to_vec(),
            gga("120000.00"),
            rmc("120000.00"),
            line("GPGSV,1,1,01,01,37,079,32"),
            gga("120000.10"),
            rmc("120000.10"),
            gga("120000.30"),
        ];
        assert_eq!(
            pace(&lines),
            [(ms(0), 4), (ms(100), 2), (ms(300), 1)],
            "noise and unknown sentences go with their epoch"
        );
    }

    #[test]
    fn untimed_sentences_split_on_repetition_and_lead_into_the_timed_one() {
        // Hemisphere style: HDT and an empty GGA, then ZDA with the time.
        let hdt = line("GPHDT,274.07,T");
        let gga_empty = line("GPGGA,,,,,,0,,,,M,,M,,");
        let zda = |t: &str| line(&format!("GPZDA,{t},07,09,2018,00,00"));
        let lines = vec![
            hdt.clone(),
            gga_empty.clone(),
            zda("193913.00"),
            hdt.clone(),
            gga_empty.clone(),
            hdt.clone(),
            gga_empty,
            zda("193914.00"),
        ];
        assert_eq!(
            pace(&lines),
            [(ms(0), 3), (ms(0), 2), (ms(1000), 3)],
            "an untimed cycle goes with the epoch before it"
        );
    }

    #[test]
    fn long_pauses_are_shortened_and_time_going_back_is_no_pause() {
        let lines = vec![
            gga("235959.50"),
            gga("000000.00"),
            gga("001000.00"),
            gga("000500.00"),
            gga("000500.20"),
        ];
        assert_eq!(
            pace(&lines),
            [
                (ms(0), 1),
                (ms(500), 1),
                (ms(500) + MAX_PAUSE, 1),
                (ms(500) + MAX_PAUSE, 1),
                (ms(700) + MAX_PAUSE, 1)
            ]
        );
    }

    #[test]
    fn memory_is_bounded_whatever_the_input() {
        let mut p = EpochPacer::new();
        let noise = vec![b'x'; 1000];
        let mut released = 0;
        for _ in 0..1000 {
            if let Some(g) = p.push_line(&noise) {
                assert!(g.bytes.len() <= MAX_GROUP);
                assert_eq!(g.at, Duration::ZERO);
                released += g.bytes.len();
            }
        }
        released += p.finish().map_or(0, |g| g.bytes.len());
        assert_eq!(released, 1_000_000);
    }

    proptest::proptest! {
        /// Whatever the lines: no panic, every byte handed on once and in order, offsets
        /// never going back, groups bounded.
        #[test]
        fn any_lines_come_out_whole_in_order_and_bounded(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                    (0u32..240_000).prop_map(|t| gga(&format!("{:06}.{:02}", t / 100 % 240_000, t % 100))),
                    proptest::sample::select(vec![rmc("120000.00"), line("GPHDT,1.0,T"), line("GPVTG,,T,,M,0.1,N,0.2,K,A")]),
                ],
                0..200,
            )
        ) {
            use proptest::prelude::*;
            let mut p = EpochPacer::new();
            let mut out = Vec::new();
            for l in &lines {
                out.extend(p.push_line(l));
            }
            out.extend(p.finish());
            let all: Vec<u8> = out.iter().flat_map(|g| g.bytes.iter().copied()).collect();
            prop_assert_eq!(all, lines.concat());
            prop_assert!(out.windows(2).all(|w| w[0].at <= w[1].at));
            prop_assert!(out.iter().all(|g| g.bytes.len() <= MAX_GROUP + 300));
        }
    }
}
