//! What the input looked like, for the one message a replay gives when it found no
//! receiver epoch at all (a wrong file, random bytes, a receiver that sends no
//! checksums): pure counting, no I/O.

use verger::nmea::Counters;
use verger::source::SourceSpec;

/// Bytes, lines and non-text bytes seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputStats {
    pub bytes: u64,
    /// Line ends (`\n`).
    pub lines: u64,
    /// Bytes that are neither printable ASCII nor CR, LF or TAB.
    pub binary: u64,
}

impl InputStats {
    /// Count a chunk as read.
    pub fn add(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        for &b in bytes {
            match b {
                b'\n' => self.lines += 1,
                b'\r' | b'\t' | 0x20..=0x7e => {}
                _ => self.binary += 1,
            }
        }
    }

    /// Percentage of bytes that are not text.
    pub fn binary_percent(&self) -> u64 {
        (self.binary * 100).checked_div(self.bytes).unwrap_or(0)
    }

    /// The error for a file or stdin that ended without any receiver epoch: what was
    /// read, what the decoder made of it, and what to try.
    pub fn no_epoch_message(&self, source: &SourceSpec, counters: &Counters) -> String {
        let mut m = format!(
            "no receiver epoch in {source}: read {} bytes in {} lines ({}% binary)",
            self.bytes,
            self.lines,
            self.binary_percent()
        );
        m.push_str(&format!(
            "; {} NMEA sentences accepted, {} with a wrong checksum",
            counters.sentences,
            counters.checksum_errors - counters.missing_checksums
        ));
        if counters.missing_checksums > 0 {
            m.push_str(&format!(
                ", {} without a checksum (refused; --allow-missing-checksum accepts them \
                 if the receiver really sends none)",
                counters.missing_checksums
            ));
        }
        if counters.parse_errors > 0 {
            m.push_str(&format!(
                ", {} with unreadable fields",
                counters.parse_errors
            ));
        }
        if self.bytes == 0 {
            m.push_str(": the input is empty");
        } else if counters.sentences == 0 && counters.missing_checksums == 0 {
            m.push_str(": this does not look like NMEA 0183");
        } else if counters.sentences > 0 {
            m.push_str(": none of them is a GGA, RMC or GNS with a time (is the receiver set to send GGA and RMC?)");
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(bytes: &[u8]) -> InputStats {
        let mut s = InputStats::default();
        for chunk in bytes.chunks(7) {
            s.add(chunk);
        }
        s
    }

    fn file() -> SourceSpec {
        SourceSpec::File {
            path: "x.log".into(),
            pacing: Default::default(),
        }
    }

    #[test]
    fn counts_bytes_lines_and_binary() {
        let s = stats(b"$GPGGA,1\r\n\xb5\x62\x01\x02ab\n");
        assert_eq!((s.bytes, s.lines, s.binary), (17, 2, 3));
        assert_eq!(s.binary_percent(), 17);
        assert_eq!(InputStats::default().binary_percent(), 0);
    }

    #[test]
    fn the_message_says_what_was_read_and_what_to_try() {
        let noise = Counters {
            checksum_errors: 41,
            missing_checksums: 41,
            discarded_bytes: 9000,
            ..Counters::default()
        };
        let m = stats(&[0xAAu8; 100]).no_epoch_message(&file(), &noise);
        assert!(
            m.starts_with(
                "no receiver epoch in file:x.log: read 100 bytes in 0 lines (100% binary)"
            ),
            "{m}"
        );
        assert!(
            m.contains("41 without a checksum (refused; --allow-missing-checksum"),
            "{m}"
        );
        let m = stats(b"hello\n").no_epoch_message(&file(), &Counters::default());
        assert!(m.ends_with(": this does not look like NMEA 0183"), "{m}");
        let m = InputStats::default().no_epoch_message(&file(), &Counters::default());
        assert!(m.ends_with(": the input is empty"), "{m}");
        let gsv_only = Counters {
            sentences: 12,
            ..Counters::default()
        };
        let m = stats(b"$GPGSV\n").no_epoch_message(&file(), &gsv_only);
        assert!(
            m.contains("12 NMEA sentences accepted") && m.contains("GGA and RMC"),
            "{m}"
        );
    }
}
