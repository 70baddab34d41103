//! Raw and gpsd-style NMEA logs: grouped into receiver epochs by
//! [`verger::nmea::pace::EpochPacer`] (the replay timing `verger-gnss --file` uses),
//! comment lines left out, every other byte kept.

use std::path::Path;

use verger::nmea::pace::EpochPacer;

use super::{decode, Burst, Place, TrackError, TrackFormat};

/// The log's epochs, or `None` when it holds no NMEA sentence at all (not NMEA).
pub(super) fn parse(
    file: &Path,
    text: &[u8],
) -> Result<Option<(TrackFormat, Vec<Burst>)>, TrackError> {
    let mut pacer = EpochPacer::new();
    let mut bursts = Vec::new();
    let mut comments = false;
    // The first line of the group being collected.
    let mut first_line = None;
    for (i, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        if line.first() == Some(&b'#') {
            comments = true;
            continue;
        }
        let first = *first_line.get_or_insert(i + 1);
        if let Some(paced) = pacer.push_line(line) {
            bursts.push(Burst {
                at: paced.at,
                bytes: paced.bytes,
                place: Place::Line(first),
                outcome: None,
            });
            first_line = Some(i + 1);
        }
    }
    if let Some(paced) = pacer.finish() {
        bursts.push(Burst {
            at: paced.at,
            bytes: paced.bytes,
            place: Place::Line(first_line.unwrap_or(1)),
            outcome: None,
        });
    }
    let format = if comments {
        TrackFormat::Gpsd
    } else {
        TrackFormat::Nmea
    };
    let sentences = decode(file, format, &mut bursts)?;
    Ok((sentences > 0).then_some((format, bursts)))
}
