//! Files written by `verger record` ([`verger::record::format`]): each record is sent at
//! its arrival time (relative to the first record); plain lines outside records go with
//! the record before them.

use std::path::Path;
use std::time::Duration;

use verger::record::format::{self, Item};

use super::{decode, Burst, Place, Problem, TrackError, TrackFormat};

/// Whether `text` is a recording: its first line is the format's, or it holds a record
/// header (`# t=SECONDS n=LEN`) at the start of a line.
pub(super) fn is_record(text: &[u8]) -> bool {
    text.starts_with(format::MAGIC.as_bytes())
        || text
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"# t="))
            .any(|l| format::parse_record_header(l.strip_suffix(b"\r").unwrap_or(l)).is_some())
}

pub(super) fn parse(file: &Path, text: &[u8]) -> Result<Vec<Burst>, TrackError> {
    let mut bursts: Vec<Burst> = Vec::new();
    let mut first: Option<Duration> = None;
    let mut last = Duration::ZERO;
    let mut records = 0;
    for item in format::read_all(text) {
        match item {
            Item::Timed { t, bytes } => {
                records += 1;
                if first.is_some() && t < last {
                    return Err(TrackError::At {
                        file: file.to_path_buf(),
                        format: TrackFormat::Record,
                        place: Place::Record(records),
                        problem: Problem::TimeBackwards {
                            time: seconds(t),
                            previous: seconds(last),
                        },
                    });
                }
                last = t;
                let t0 = *first.get_or_insert(t);
                bursts.push(Burst {
                    at: t - t0,
                    bytes,
                    place: Place::Record(records),
                    outcome: None,
                });
            }
            Item::Plain(bytes) => match bursts.last_mut() {
                Some(b) => b.bytes.extend_from_slice(&bytes),
                None => bursts.push(Burst {
                    at: Duration::ZERO,
                    bytes,
                    place: Place::Record(0),
                    outcome: None,
                }),
            },
        }
    }
    if decode(file, TrackFormat::Record, &mut bursts)? == 0 {
        return Err(TrackError::Empty {
            file: file.to_path_buf(),
            format: TrackFormat::Record,
            what: "NMEA sentence",
        });
    }
    Ok(bursts)
}

fn seconds(t: Duration) -> String {
    format!("t={}.{:06}", t.as_secs(), t.subsec_micros())
}
