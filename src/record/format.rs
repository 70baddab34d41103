//! The `verger record` file format (v1), written and read as plain values, free of I/O:
//! the recorder ([`super`]) writes it, the file/stdin replay source
//! ([`crate::source`]) reads it. This is the one description of the format.
//!
//! ```text
//! # verger record v1 source=serial:/dev/ttyUSB0@115200 started_unix=1732467000.123
//! # t=0.012345 n=164
//! $GNGGA,...*6A\r\n$GNRMC,...*3F\r\n
//! # t=0.112400 n=82
//! ...
//! ```
//!
//! - The first line ([`FileHeader`]) names the source and the Unix time the recording
//!   started (seconds, 3 decimals). Readers treat it as a comment.
//! - Each record is a header line `# t=SECONDS n=LEN` followed by exactly `LEN` raw
//!   bytes, verbatim (binary such as UBX included, no line end added). `SECONDS`
//!   (written with 6 decimals) is the arrival time of the record's **last** byte since
//!   the recording started: the moment a replay hands the bytes on.
//! - A reader goes by `LEN`, never by content, so nothing in the data can be taken for
//!   a header. A record cut short by the end of the file (a recorder killed hard) is
//!   read as far as it goes.
//! - Outside records, a line starting with `#` is a comment (gpsd-style logs have
//!   them). Any other line is plain data ([`Item::Plain`]), so a plain NMEA log (no
//!   `# t=` lines at all) reads as its lines. Lines are cut after [`MAX_LINE`] bytes.
//! - The recorder cuts records at line ends (see [`super`]), so tools that skip `#`
//!   lines (gpsd's replay, `grep -v '^#'`) see the data lines intact.
//!
//! [`write_record`] and [`FileHeader::line`] write; [`Reader`] reads (bytes in, items
//! out, "need more bytes" is `None`); [`read_all`] reads a whole file in memory.

use std::time::Duration;

/// The start of the first line of a recording.
pub const MAGIC: &str = "# verger record v1";

/// Longest line (plain data, comment or record header) read at once; a longer one is
/// handed on in pieces of this size.
pub const MAX_LINE: usize = 4096;

/// Largest part of a record handed on as one item: a longer record (only a corrupt or
/// hostile header would announce one) comes out as several items with the same time,
/// so memory stays bounded whatever the file says.
pub const MAX_PIECE: usize = 1 << 20;

/// The first line of a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// The source as `orchard.gnss.status` shows it, e.g. `serial:/dev/ttyUSB0@115200`.
    pub source: String,
    /// When the recording started, since the Unix epoch (millisecond resolution).
    pub started_unix: Duration,
}

impl FileHeader {
    /// The line, with its `\n`.
    pub fn line(&self) -> String {
        format!(
            "{MAGIC} source={} started_unix={}.{:03}\n",
            self.source,
            self.started_unix.as_secs(),
            self.started_unix.subsec_millis()
        )
    }

    /// Parse a first line (with or without its line end).
    pub fn parse(line: &[u8]) -> Option<FileHeader> {
        let line = std::str::from_utf8(trim_line_end(line)).ok()?;
        let rest = line.strip_prefix(MAGIC)?.strip_prefix(" source=")?;
        let (source, started) = rest.rsplit_once(" started_unix=")?;
        Some(FileHeader {
            source: source.to_owned(),
            started_unix: parse_seconds(started)?,
        })
    }
}

/// The header line of a record of `len` bytes whose last byte arrived `t` after the
/// start: `# t=SECONDS n=LEN\n` (microsecond resolution).
pub fn record_header(t: Duration, len: usize) -> String {
    format!("# t={}.{:06} n={len}\n", t.as_secs(), t.subsec_micros())
}

/// Append one record (header and `data` verbatim) to `out`.
pub fn write_record(t: Duration, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(record_header(t, data.len()).as_bytes());
    out.extend_from_slice(data);
}

/// Parse a record header `# t=SECONDS n=LEN` (without its line end).
pub fn parse_record_header(line: &[u8]) -> Option<(Duration, usize)> {
    let line = std::str::from_utf8(line).ok()?;
    let (t, n) = line.strip_prefix("# t=")?.split_once(" n=")?;
    Some((parse_seconds(t)?, n.parse().ok()?))
}

/// Non-negative decimal seconds (`12.345678`), exact to the nanosecond; other forms a
/// float parser accepts (`1e3`) are read as floats.
fn parse_seconds(s: &str) -> Option<Duration> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()) {
        let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut nanos = 0u32;
        for i in 0..9 {
            let d = frac.as_bytes().get(i).map_or(0, |b| u32::from(b - b'0'));
            nanos = nanos * 10 + d;
        }
        return Some(Duration::new(secs, nanos));
    }
    Duration::try_from_secs_f64(s.parse().ok()?).ok()
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One item of a recording or plain file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A record (or a [`MAX_PIECE`] part of one): bytes whose last one arrived `t`
    /// after the start of the recording.
    Timed { t: Duration, bytes: Vec<u8> },
    /// A plain line with its line end, or up to [`MAX_LINE`] bytes without one.
    Plain(Vec<u8>),
}

/// Reads the format: bytes in ([`Reader::push`]), items out ([`Reader::next_item`]),
/// comments skipped. The items do not depend on how the input was split. Memory is
/// bounded when the caller drains items before pushing more: less than [`MAX_LINE`]
/// held bytes plus one push, and at most [`MAX_PIECE`] of a record.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    pos: usize,
    /// The record being read, after its header.
    body: Option<Body>,
}

#[derive(Debug)]
struct Body {
    t: Duration,
    left: usize,
    bytes: Vec<u8>,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    /// More input.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes pushed and not yet handed out (a partial line or record).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos + self.body.as_ref().map_or(0, |b| b.bytes.len())
    }

    /// The next item, or `None` when more input is needed. With `eof` (nothing more
    /// will come), what is left comes out too: a partial line as [`Item::Plain`], a
    /// record cut short as [`Item::Timed`]; then `None` means the end.
    pub fn next_item(&mut self, eof: bool) -> Option<Item> {
        loop {
            if let Some(body) = &mut self.body {
                let available = &self.buf[self.pos..];
                let take = available
                    .len()
                    .min(body.left)
                    .min(MAX_PIECE - body.bytes.len());
                body.bytes.extend_from_slice(&available[..take]);
                self.pos += take;
                body.left -= take;
                let t = body.t;
                if body.left == 0 || (eof && self.pos == self.buf.len()) {
                    let bytes = std::mem::take(&mut body.bytes);
                    self.body = None;
                    return Some(Item::Timed { t, bytes });
                }
                if body.bytes.len() == MAX_PIECE {
                    let bytes = std::mem::take(&mut body.bytes);
                    return Some(Item::Timed { t, bytes });
                }
                return None;
            }
            let available = &self.buf[self.pos..];
            if available.is_empty() {
                return None;
            }
            let window = &available[..available.len().min(MAX_LINE)];
            let Some(end) = window.iter().position(|&b| b == b'\n') else {
                if window.len() < MAX_LINE && !eof {
                    return None;
                }
                let line = window.to_vec();
                self.pos += line.len();
                return Some(Item::Plain(line));
            };
            let line = &window[..=end];
            self.pos += end + 1;
            if line[0] != b'#' {
                return Some(Item::Plain(line.to_vec()));
            }
            if let Some((t, n)) = parse_record_header(trim_line_end(line)) {
                self.body = Some(Body {
                    t,
                    left: n,
                    bytes: Vec::with_capacity(n.min(64 * 1024)),
                });
            }
            // Otherwise a comment: skipped.
        }
    }
}

/// Every item of a whole file.
pub fn read_all(file: &[u8]) -> Vec<Item> {
    let mut reader = Reader::new();
    reader.push(file);
    std::iter::from_fn(|| reader.next_item(true)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn record_headers() {
        assert_eq!(
            parse_record_header(b"# t=12.345678 n=82"),
            Some((Duration::from_micros(12_345_678), 82))
        );
        assert_eq!(
            parse_record_header(b"# t=1 n=0"),
            Some((Duration::from_secs(1), 0))
        );
        assert_eq!(
            parse_record_header(b"# t=.5 n=1"),
            Some((Duration::from_millis(500), 1))
        );
        assert_eq!(
            parse_record_header(b"# t=1e3 n=1"),
            Some((Duration::from_secs(1000), 1))
        );
        assert_eq!(parse_record_header(b"# Name: Trimble"), None);
        assert_eq!(parse_record_header(b"# t=-1 n=3"), None);
        assert_eq!(parse_record_header(b"# t=1 n=x"), None);
        assert_eq!(parse_record_header(b"# t=. n=1"), None);
        assert_eq!(parse_record_header(b"# t=NaN n=1"), None);
        assert_eq!(
            record_header(Duration::from_micros(12_345_678), 82),
            "# t=12.345678 n=82\n"
        );
    }

    #[test]
    fn file_header_line() {
        let h = FileHeader {
            source: "serial:/dev/ttyUSB0@115200".into(),
            started_unix: Duration::from_millis(1_732_467_000_123),
        };
        let line = h.line();
        assert_eq!(
            line,
            "# verger record v1 source=serial:/dev/ttyUSB0@115200 started_unix=1732467000.123\n"
        );
        assert_eq!(FileHeader::parse(line.as_bytes()), Some(h));
        assert_eq!(FileHeader::parse(b"# t=1 n=2"), None);
        assert_eq!(read_all(line.as_bytes()), [], "a comment to readers");
    }

    #[test]
    fn items_keep_binary_records_verbatim_and_skip_comments() {
        let mut file = Vec::new();
        file.extend_from_slice(b"# verger record v1 source=serial:/dev/ttyUSB0@115200\n");
        // A record that is not line-aligned and holds binary: read by its length only.
        file.extend_from_slice(b"# t=0.100000 n=5\n\xb5b\n\x00$");
        file.extend_from_slice(b"# t=0.200000 n=12\r\nGPGGA,1*00\r\n");
        file.extend_from_slice(b"# Name: a gpsd-style comment\n$GPRMC\r\n");
        // Cut short by the end of the file (killed recorder): what is there is kept.
        file.extend_from_slice(b"# t=9 n=100\nabc");
        assert_eq!(
            read_all(&file),
            vec![
                Item::Timed {
                    t: Duration::from_millis(100),
                    bytes: b"\xb5b\n\x00$".to_vec()
                },
                Item::Timed {
                    t: Duration::from_millis(200),
                    bytes: b"GPGGA,1*00\r\n".to_vec()
                },
                Item::Plain(b"$GPRMC\r\n".to_vec()),
                Item::Timed {
                    t: Duration::from_secs(9),
                    bytes: b"abc".to_vec()
                },
            ]
        );
        // A header at the very end announces bytes that never came.
        assert_eq!(
            read_all(b"# t=1 n=3\n"),
            [Item::Timed {
                t: Duration::from_secs(1),
                bytes: vec![]
            }]
        );
    }

    #[test]
    fn need_more_bytes_is_none_until_the_line_or_record_is_complete() {
        let mut r = Reader::new();
        r.push(b"# t=0.5 n=4\nab");
        assert_eq!(r.next_item(false), None);
        assert_eq!(r.pending(), 2);
        r.push(b"cd$GP");
        assert_eq!(
            r.next_item(false),
            Some(Item::Timed {
                t: Duration::from_millis(500),
                bytes: b"abcd".to_vec()
            })
        );
        assert_eq!(r.next_item(false), None);
        r.push(b"GGA\r\n");
        assert_eq!(
            r.next_item(false),
            Some(Item::Plain(b"$GPGGA\r\n".to_vec()))
        );
        assert_eq!(r.next_item(true), None);
    }

    #[test]
    fn long_lines_and_records_are_cut_into_pieces() {
        let data = vec![b'x'; MAX_LINE * 2 + 10];
        let sizes: Vec<usize> = read_all(&data)
            .into_iter()
            .map(|i| match i {
                Item::Plain(b) => b.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, [MAX_LINE, MAX_LINE, 10]);
        let mut file = Vec::new();
        write_record(Duration::from_secs(2), &vec![7u8; MAX_PIECE + 3], &mut file);
        let pieces: Vec<(Duration, usize)> = read_all(&file)
            .into_iter()
            .map(|i| match i {
                Item::Timed { t, bytes } => (t, bytes.len()),
                other => panic!("{other:?}"),
            })
            .collect();
        let two = Duration::from_secs(2);
        assert_eq!(pieces, [(two, MAX_PIECE), (two, 3)]);
    }

    fn read_in_pieces(file: &[u8], cuts: &[usize]) -> Vec<Item> {
        let mut r = Reader::new();
        let mut items = Vec::new();
        let mut rest = file;
        for &cut in cuts {
            let (a, b) = rest.split_at(cut.min(rest.len()));
            r.push(a);
            rest = b;
            while let Some(item) = r.next_item(false) {
                items.push(item);
            }
            // Drained: less than a line held, or part of a record.
            match &r.body {
                None => assert!(r.pending() < MAX_LINE),
                Some(body) => assert!(r.pos == r.buf.len() && body.bytes.len() < MAX_PIECE),
            }
        }
        r.push(rest);
        items.extend(std::iter::from_fn(|| r.next_item(true)));
        items
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back(
            chunks in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..300), 0u64..10_000_000_000_000),
                0..20,
            ),
            source in "[ -~]{0,40}",
            started_ms in 0u64..10_000_000_000_000,
        ) {
            let header = FileHeader {
                source,
                started_unix: Duration::from_millis(started_ms),
            };
            let mut file = header.line().into_bytes();
            prop_assert_eq!(FileHeader::parse(&file), Some(header));
            for (bytes, us) in &chunks {
                write_record(Duration::from_micros(*us), bytes, &mut file);
            }
            let want: Vec<Item> = chunks
                .into_iter()
                .map(|(bytes, us)| Item::Timed { t: Duration::from_micros(us), bytes })
                .collect();
            prop_assert_eq!(read_all(&file), want);
        }

        #[test]
        fn any_input_reads_without_panic_whatever_the_split(
            parts in prop::collection::vec(
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..64),
                    "# t=[0-9.]{0,6} n=[0-9]{0,3}\r?\n".prop_map(String::into_bytes),
                    "#[ -~]{0,20}\n".prop_map(String::into_bytes),
                    "\\$GPGGA,[0-9,.]{0,20}\r\n".prop_map(String::into_bytes),
                ],
                0..30,
            ),
            cuts in prop::collection::vec(0usize..200, 0..10),
        ) {
            let file = parts.concat();
            let whole = read_all(&file);
            prop_assert_eq!(read_in_pieces(&file, &cuts), whole.clone());
            // Nothing is invented: the items' bytes all come from the input, in order.
            let out: usize = whole
                .iter()
                .map(|i| match i {
                    Item::Timed { bytes, .. } | Item::Plain(bytes) => bytes.len(),
                })
                .sum();
            prop_assert!(out <= file.len());
        }
    }
}
