//! Byte stream → whole NMEA sentences, whatever the receiver sends.
//!
//! Rules enforced here (each one has a unit test below):
//! - A sentence starts at `$` or `!` and holds printable ASCII (0x20..=0x7E). A new `$`/`!`
//!   restarts framing: the truncated sentence before it is discarded.
//! - With a checksum, the sentence is complete at its second hex digit (`*hh`); it is handed
//!   out at once, without waiting for the line end. A wrong or malformed checksum counts in
//!   `checksum_errors` and the sentence is dropped.
//! - Without a checksum, CR or LF ends the sentence; it is accepted only if the caller
//!   allows missing checksums (else it counts as a checksum error), and never while a UBX
//!   candidate is open (it is then more likely binary payload than NMEA).
//! - CR LF, LF or CR alone all end lines; line terminators are framing, never counted as
//!   discarded.
//! - A body longer than [`MAX_BODY`] is dropped, and so is the rest of its line.
//! - Any other byte (garbage at power-up, `#` comment lines of gpsd logs, binary frames) is
//!   counted in `discarded_bytes`. A control or non-ASCII byte inside a sentence aborts it.
//! - UBX frames (`B5 62 class id len16 payload ck_a ck_b`) are recognised wherever they
//!   are, even in the middle of a sentence: a frame whose Fletcher checksum verifies is
//!   skipped by its length (so `$`, CR or LF bytes in its payload cannot start or end a
//!   sentence) and an interrupted sentence resumes after it. The candidate is tracked
//!   (length, running checksum) while the same bytes are framed as NMEA, so a false
//!   `B5 62` never delays or hides a valid sentence after it; only the sentence it
//!   interrupted is lost.
//!
//! Memory is bounded whatever the input: two [`MAX_BODY`] sentence buffers (current and
//! interrupted), allocated once; UBX frames are never stored.

use super::Micros;

/// Longest sentence body accepted (between `$` and `*`). NMEA says 80 characters; real
/// receivers (PUBX,03, long GSV, RTK GGA with 8-decimal minutes) send more.
pub const MAX_BODY: usize = 256;
/// Longest UBX payload recognised as an interleaved frame. Longer "frames" are treated as
/// garbage byte by byte (their sentences are still found).
pub const MAX_UBX_PAYLOAD: usize = 2048;

const UBX_SYNC1: u8 = 0xB5;
const UBX_SYNC2: u8 = 0x62;

/// One framed sentence, borrowed from the framer's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The sentence between the start character and `*` (address and fields).
    pub body: &'a [u8],
    /// `$` or `!`.
    pub start: u8,
    /// Whether the sentence carried a (verified) checksum.
    pub checksummed: bool,
    /// Arrival time of the start character.
    pub first_at: Micros,
    /// Arrival time of the last byte (the second checksum digit, or the line end).
    pub last_at: Micros,
}

/// What the framer counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramerCounters {
    /// Sentences handed out (good or absent checksum).
    pub sentences: u64,
    /// Sentences dropped for a wrong, malformed or (when not allowed) missing checksum.
    pub checksum_errors: u64,
    /// Of `checksum_errors`: sentences dropped only because they had no checksum and
    /// missing checksums are not allowed.
    pub missing_checksums: u64,
    /// Bytes that belong to no accepted sentence.
    pub discarded_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between sentences.
    Idle,
    /// Inside a sentence body.
    Body,
    /// Saw `*`, expecting the first checksum digit.
    Star,
    /// Saw the first checksum digit (its value).
    Star1(u8),
    /// Dropping the rest of an overlong line.
    Skip,
}

/// Outcome of one byte fed to the UBX tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UbxStep {
    More,
    Frame,
    NotAFrame,
}

/// Length and Fletcher checksum of a UBX candidate, without storing it.
#[derive(Debug, Clone, Copy, Default)]
struct UbxTracker {
    active: bool,
    /// Bytes seen, sync included.
    seen: usize,
    len: usize,
    ck_a: u8,
    ck_b: u8,
    got_a: u8,
}

impl UbxTracker {
    fn feed(&mut self, b: u8) -> UbxStep {
        self.seen += 1;
        let n = self.seen;
        let step = if n == 2 {
            if b == UBX_SYNC2 {
                UbxStep::More
            } else {
                UbxStep::NotAFrame
            }
        } else if n <= 6 + self.len {
            self.ck_a = self.ck_a.wrapping_add(b);
            self.ck_b = self.ck_b.wrapping_add(self.ck_a);
            match n {
                5 => self.len = usize::from(b),
                6 => self.len |= usize::from(b) << 8,
                _ => {}
            }
            if n == 6 && self.len > MAX_UBX_PAYLOAD {
                UbxStep::NotAFrame
            } else {
                UbxStep::More
            }
        } else if n == 7 + self.len {
            self.got_a = b;
            UbxStep::More
        } else if (self.got_a, b) == (self.ck_a, self.ck_b) {
            UbxStep::Frame
        } else {
            UbxStep::NotAFrame
        };
        if step != UbxStep::More {
            self.active = false;
        }
        step
    }
}

/// Incremental NMEA framer: push chunks, receive [`Frame`]s through a callback.
#[derive(Debug)]
pub struct Framer {
    state: State,
    buf: Vec<u8>,
    start: u8,
    xor: u8,
    first_at: Micros,
    ubx: UbxTracker,
    /// The sentence a UBX candidate interrupted, restored if the frame verifies.
    suspended: Vec<u8>,
    suspended_state: State,
    suspended_xor: u8,
    suspended_start: u8,
    suspended_first_at: Micros,
    /// `discarded_bytes` when the candidate started (a verified frame is discarded whole).
    discarded_before_ubx: u64,
    allow_missing_checksum: bool,
    counters: FramerCounters,
    /// Arrival time of the last byte framed as part of a sentence (accepted or not).
    last_sentence_byte_at: Option<Micros>,
}

impl Framer {
    /// A framer; `allow_missing_checksum` accepts sentences ended by CR/LF without `*hh`.
    pub fn new(allow_missing_checksum: bool) -> Framer {
        Framer {
            state: State::Idle,
            buf: Vec::with_capacity(MAX_BODY),
            start: b'$',
            xor: 0,
            first_at: 0,
            ubx: UbxTracker::default(),
            suspended: Vec::with_capacity(MAX_BODY),
            suspended_state: State::Idle,
            suspended_xor: 0,
            suspended_start: b'$',
            suspended_first_at: 0,
            discarded_before_ubx: 0,
            allow_missing_checksum,
            counters: FramerCounters::default(),
            last_sentence_byte_at: None,
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> FramerCounters {
        self.counters
    }

    /// Whether a sentence is partly received (possibly interrupted by a UBX frame).
    pub fn in_sentence(&self) -> bool {
        matches!(self.state, State::Body | State::Star | State::Star1(_))
    }

    /// Arrival time of the last byte that was framed as part of a sentence, whether the
    /// sentence was accepted, rejected or is still incomplete (UBX and garbage excluded).
    pub fn last_sentence_byte_at(&self) -> Option<Micros> {
        self.last_sentence_byte_at
    }

    /// Bytes of buffer capacity held (constant after construction: memory is bounded).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity() + self.suspended.capacity()
    }

    /// Forget any partial sentence or UBX frame (counted as discarded).
    pub fn reset(&mut self) {
        self.abort_sentence();
        self.drop_suspended();
        self.ubx = UbxTracker::default();
        self.state = State::Idle;
    }

    /// Feed bytes that arrived at `at`; `sink` receives every complete sentence, in order.
    ///
    /// A `B5 62` starts a UBX candidate that is tracked *alongside* NMEA framing: the bytes
    /// after it are framed as usual, so a false sync never delays or hides a sentence. If
    /// the candidate verifies, the bytes it covered were a frame: whatever framing started
    /// inside it is dropped and the sentence it interrupted (if any) resumes.
    pub fn push(&mut self, bytes: &[u8], at: Micros, sink: &mut impl FnMut(Frame<'_>)) {
        for &b in bytes {
            if self.ubx.active {
                match self.ubx.feed(b) {
                    UbxStep::More => {}
                    UbxStep::Frame => {
                        self.ubx_verified();
                        continue;
                    }
                    UbxStep::NotAFrame => self.drop_suspended(),
                }
            } else if b == UBX_SYNC1 {
                self.ubx_start();
                continue;
            }
            self.step(b, at, sink);
        }
    }

    fn ubx_start(&mut self) {
        self.ubx = UbxTracker {
            active: true,
            seen: 1,
            ..UbxTracker::default()
        };
        self.discarded_before_ubx = self.counters.discarded_bytes;
        if self.in_sentence() {
            std::mem::swap(&mut self.buf, &mut self.suspended);
            self.suspended_state = self.state;
            self.suspended_xor = self.xor;
            self.suspended_start = self.start;
            self.suspended_first_at = self.first_at;
        }
        self.buf.clear();
        self.state = State::Idle;
        self.counters.discarded_bytes += 1;
    }

    fn ubx_verified(&mut self) {
        // Anything framed since the sync was frame payload.
        self.buf.clear();
        self.counters.discarded_bytes = self.discarded_before_ubx + self.ubx.seen as u64;
        self.state = State::Idle;
        if self.suspended_state != State::Idle {
            std::mem::swap(&mut self.buf, &mut self.suspended);
            self.state = self.suspended_state;
            self.xor = self.suspended_xor;
            self.start = self.suspended_start;
            self.first_at = self.suspended_first_at;
            self.suspended.clear();
            self.suspended_state = State::Idle;
        }
    }

    /// The candidate was no frame: the sentence it interrupted is lost.
    fn drop_suspended(&mut self) {
        if self.suspended_state != State::Idle {
            self.counters.discarded_bytes += 1
                + self.suspended.len() as u64
                + match self.suspended_state {
                    State::Star => 1,
                    State::Star1(_) => 2,
                    _ => 0,
                };
        }
        self.suspended.clear();
        self.suspended_state = State::Idle;
    }

    /// Bytes of the sentence in progress (start char, body, `*`, checksum digits).
    fn frame_len(&self) -> usize {
        1 + self.buf.len()
            + match self.state {
                State::Star => 1,
                State::Star1(_) => 2,
                _ => 0,
            }
    }

    fn abort_sentence(&mut self) {
        if matches!(self.state, State::Body | State::Star | State::Star1(_)) {
            self.counters.discarded_bytes += self.frame_len() as u64;
        }
        self.buf.clear();
        self.state = State::Idle;
    }

    fn begin(&mut self, start: u8, t: Micros) {
        self.buf.clear();
        self.xor = 0;
        self.start = start;
        self.first_at = t;
        self.state = State::Body;
    }

    fn emit(&mut self, checksummed: bool, t: Micros, sink: &mut impl FnMut(Frame<'_>)) {
        self.counters.sentences += 1;
        sink(Frame {
            body: &self.buf,
            start: self.start,
            checksummed,
            first_at: self.first_at,
            last_at: t,
        });
        self.buf.clear();
        self.state = State::Idle;
    }

    fn checksum_error(&mut self, extra: u64) {
        self.counters.checksum_errors += 1;
        self.counters.discarded_bytes += self.frame_len() as u64 + extra;
        self.buf.clear();
        self.state = State::Idle;
    }

    fn step(&mut self, b: u8, t: Micros, sink: &mut impl FnMut(Frame<'_>)) {
        let line_end = b == b'\r' || b == b'\n';
        let start = b == b'$' || b == b'!';
        if start || self.in_sentence() {
            self.last_sentence_byte_at = Some(t);
        }
        match self.state {
            State::Idle | State::Skip => {
                if start {
                    self.begin(b, t);
                } else if line_end {
                    self.state = State::Idle;
                } else {
                    self.counters.discarded_bytes += 1;
                }
            }
            State::Body => {
                if start {
                    self.abort_sentence();
                    self.begin(b, t);
                } else if b == b'*' {
                    self.state = State::Star;
                } else if line_end {
                    if self.buf.is_empty() {
                        self.abort_sentence();
                    } else if self.allow_missing_checksum && !self.ubx.active {
                        // (Inside a UBX candidate an unchecked "sentence" is more likely
                        // payload bytes than NMEA.)
                        self.emit(false, t, sink);
                    } else {
                        if !self.allow_missing_checksum {
                            self.counters.missing_checksums += 1;
                        }
                        self.checksum_error(0);
                    }
                } else if (0x20..=0x7e).contains(&b) {
                    if self.buf.len() >= MAX_BODY {
                        self.abort_sentence();
                        self.counters.discarded_bytes += 1;
                        self.state = State::Skip;
                    } else {
                        self.buf.push(b);
                        self.xor ^= b;
                    }
                } else {
                    self.abort_sentence();
                    self.counters.discarded_bytes += 1;
                }
            }
            State::Star | State::Star1(_) => {
                if start {
                    self.checksum_error(0);
                    self.begin(b, t);
                    return;
                }
                let Some(v) = hex(b) else {
                    return self.checksum_error(u64::from(!line_end));
                };
                match self.state {
                    State::Star => self.state = State::Star1(v),
                    State::Star1(hi) => {
                        if hi << 4 | v == self.xor {
                            self.emit(true, t, sink);
                        } else {
                            self.checksum_error(1);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// The NMEA checksum of a body (XOR of its bytes).
pub fn checksum(body: &[u8]) -> u8 {
    body.iter().fold(0, |a, &b| a ^ b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `input` pushed in one chunk: (body, checksummed) pairs and the counters.
    fn frame(input: &[u8], allow_missing: bool) -> (Vec<(String, bool)>, FramerCounters) {
        let mut f = Framer::new(allow_missing);
        let mut out = Vec::new();
        f.push(input, 7, &mut |fr| {
            out.push((String::from_utf8(fr.body.to_vec()).unwrap(), fr.checksummed))
        });
        (out, f.counters())
    }

    fn bodies(input: &[u8]) -> Vec<String> {
        frame(input, true).0.into_iter().map(|x| x.0).collect()
    }

    const GGA: &[u8] =
        b"$GNGGA,132819.60,4134.49795459,N,09345.03431408,W,2,10,0.9,278.161,M,-31.442,M,6.6,0133*6A";
    const GGA_BODY: &str =
        "GNGGA,132819.60,4134.49795459,N,09345.03431408,W,2,10,0.9,278.161,M,-31.442,M,6.6,0133";

    fn ubx(class: u8, id: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![
            0xB5,
            0x62,
            class,
            id,
            payload.len() as u8,
            (payload.len() >> 8) as u8,
        ];
        v.extend_from_slice(payload);
        let (mut a, mut b) = (0u8, 0u8);
        for &x in &v[2..] {
            a = a.wrapping_add(x);
            b = b.wrapping_add(a);
        }
        v.push(a);
        v.push(b);
        v
    }

    #[test]
    fn crlf_lf_cr_and_no_terminator() {
        for end in [&b"\r\n"[..], b"\n", b"\r", b""] {
            let mut input = GGA.to_vec();
            input.extend_from_slice(end);
            let (out, c) = frame(&input, true);
            assert_eq!(out, vec![(GGA_BODY.to_string(), true)], "{end:?}");
            assert_eq!(c.discarded_bytes, 0);
            assert_eq!(c.sentences, 1);
        }
    }

    #[test]
    fn sentence_is_emitted_at_its_checksum_before_the_line_end() {
        let mut f = Framer::new(true);
        let mut n = 0;
        f.push(GGA, 1, &mut |_| n += 1);
        assert_eq!(n, 1);
        f.push(b"\r\n", 2, &mut |_| n += 1);
        assert_eq!(n, 1);
        assert!(!f.in_sentence());
    }

    #[test]
    fn garbage_at_power_up_is_counted() {
        let mut input = b"\x00\xff\x13garbage,*12".to_vec();
        input.extend_from_slice(GGA);
        let (out, c) = frame(&input, true);
        assert_eq!(out.len(), 1);
        assert_eq!(c.discarded_bytes, 14);
    }

    #[test]
    fn bad_checksum_is_counted_and_skipped() {
        let (out, c) = frame(b"$GPHDT,274.07,T*04\r\n$GPHDT,274.07,T*03\r\n", true);
        assert_eq!(out, vec![("GPHDT,274.07,T".to_string(), true)]);
        assert_eq!(c.checksum_errors, 1);
        assert_eq!(c.discarded_bytes, 18);
    }

    #[test]
    fn lowercase_checksum_digits_are_accepted() {
        assert_eq!(bodies(b"$GPHDT,,T*1b\r\n"), vec!["GPHDT,,T"]);
    }

    #[test]
    fn malformed_checksum_is_an_error() {
        let (out, c) = frame(b"$GPHDT,,T*1\r\n$GPHDT,,T*\r\n$GPHDT,,T*1G\r\n", true);
        assert!(out.is_empty());
        assert_eq!(c.checksum_errors, 3);
    }

    #[test]
    fn missing_checksum_is_accepted_only_if_allowed() {
        let (out, c) = frame(b"$GPHDT,274.07,T\r\n", true);
        assert_eq!(out, vec![("GPHDT,274.07,T".to_string(), false)]);
        assert_eq!(c.checksum_errors, 0);
        let (out, c) = frame(b"$GPHDT,274.07,T\r\n", false);
        assert!(out.is_empty());
        assert_eq!(c.checksum_errors, 1);
        assert_eq!(c.missing_checksums, 1);
        assert_eq!(c.discarded_bytes, 15);
    }

    #[test]
    fn truncated_sentence_is_restarted_by_a_new_start() {
        let mut input = b"$GPGGA,1234".to_vec();
        input.extend_from_slice(GGA);
        input.extend_from_slice(b"\r\n$GPHDT,1*");
        input.extend_from_slice(b"!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26\r\n");
        let (out, c) = frame(&input, true);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, GGA_BODY);
        assert!(out[1].0.starts_with("AIVDM"));
        assert_eq!(c.discarded_bytes, 11 + 9);
        assert_eq!(c.checksum_errors, 1);
    }

    #[test]
    fn long_sentences_up_to_the_cap_then_discarded() {
        let body = format!("PUBX,03,{}", "x".repeat(MAX_BODY - 8));
        assert_eq!(body.len(), MAX_BODY);
        let ok = format!("${body}*{:02X}\r\n", checksum(body.as_bytes()));
        assert_eq!(bodies(ok.as_bytes()), vec![body.clone()]);
        let long = format!("{body}y");
        let bad = format!("${long}*{:02X}\r\n", checksum(long.as_bytes()));
        let mut input = bad.into_bytes();
        input.extend_from_slice(GGA);
        let (out, c) = frame(&input, true);
        assert_eq!(out, vec![(GGA_BODY.to_string(), true)]);
        assert_eq!(c.discarded_bytes, (1 + MAX_BODY + 1 + 3) as u64);
    }

    #[test]
    fn comment_lines_are_discarded() {
        let input = b"# Name: BT-451\r\n#\r\n$GPHDT,,T*1B\r\n";
        let (out, c) = frame(input, true);
        assert_eq!(out.len(), 1);
        assert_eq!(c.discarded_bytes, 15);
    }

    #[test]
    fn control_byte_aborts_a_sentence() {
        let (out, c) = frame(b"$GPHDT,2\x0074.07,T*03\r\n$GPHDT,,T*1B", true);
        assert_eq!(out, vec![("GPHDT,,T".to_string(), true)]);
        assert_eq!(c.discarded_bytes, 8 + 1 + 10);
    }

    #[test]
    fn ubx_between_sentences_is_skipped_even_with_dollar_and_newlines_inside() {
        let mut input = ubx(0x01, 0x07, b"$GPHDT,\r\n,T*1B\n$\x00\x01");
        input.extend_from_slice(GGA);
        input.extend(ubx(0x01, 0x22, &[0xb5, 0x62, 0x24, 0x0a, 0x0d]));
        input.extend_from_slice(b"\r\n");
        let (out, c) = frame(&input, true);
        assert_eq!(out, vec![(GGA_BODY.to_string(), true)]);
        assert_eq!(c.discarded_bytes, (8 + 18 + 8 + 5) as u64);
    }

    #[test]
    fn ubx_mid_line_resumes_the_interrupted_sentence() {
        for cut in [1, 10, GGA.len() - 3, GGA.len() - 2, GGA.len() - 1] {
            let mut input = GGA[..cut].to_vec();
            input.extend(ubx(0x02, 0x32, &[1, 2, b'$', b'\n', 5, 6, 7, 8]));
            input.extend_from_slice(&GGA[cut..]);
            input.extend_from_slice(b"\r\n");
            let (out, c) = frame(&input, true);
            assert_eq!(out, vec![(GGA_BODY.to_string(), true)], "cut at {cut}");
            assert_eq!(c.discarded_bytes, 16);
        }
    }

    #[test]
    fn false_ubx_sync_never_hides_the_following_sentence() {
        // A B5 62 whose "length" would swallow the next sentence, and a bad checksum.
        let mut input = vec![0xB5, 0x62, 0x01, 0x02, 0x40, 0x00];
        input.extend_from_slice(GGA);
        input.extend_from_slice(b"\r\n");
        let (out, _) = frame(&input, true);
        assert_eq!(out, vec![(GGA_BODY.to_string(), true)]);
        // Same when the frame would end exactly inside the sentence.
        let mut input = vec![0xB5, 0x62, 0x01, 0x02, 0x10, 0x00];
        input.extend_from_slice(GGA);
        let (out, c) = frame(&input, true);
        assert_eq!(out, vec![(GGA_BODY.to_string(), true)]);
        assert_eq!(c.discarded_bytes, 6);
        // B5 62 inside a sentence that is not a frame aborts it; the next one survives.
        let mut input = b"$GPHDT,1\xB5\x62\x01\x02".to_vec();
        input.extend_from_slice(GGA);
        let (out, _) = frame(&input, true);
        assert_eq!(out, vec![(GGA_BODY.to_string(), true)]);
        // A huge declared length is rejected at once.
        let mut input = vec![0xB5, 0x62, 0x01, 0x02, 0xff, 0xff];
        input.extend_from_slice(GGA);
        assert_eq!(bodies(&input), vec![GGA_BODY]);
    }

    #[test]
    fn false_ubx_sync_never_delays_the_sentences_behind_it() {
        // A "frame" of 610 bytes that never completes: the sentence after it is out at
        // once, not when 610 more bytes have arrived.
        let mut input = vec![0xB5, 0x62, 0x01, 0x02, 0x62, 0x02];
        input.extend_from_slice(GGA);
        let mut f = Framer::new(true);
        let mut n = 0;
        f.push(&input, 1, &mut |_| n += 1);
        assert_eq!(n, 1);
        // An unchecked "sentence" inside a possible frame is not trusted, though.
        f.push(b"$GPHDT,1.0,T\r\n", 2, &mut |_| n += 1);
        assert_eq!(n, 1);
    }

    #[test]
    fn split_anywhere_gives_the_same_frames() {
        let mut input = b"junk\xb5".to_vec();
        input.extend(ubx(5, 1, &[6, 1]));
        input.extend_from_slice(&GGA[..20]);
        input.extend(ubx(1, 0x20, b"$$$$\r\n**"));
        input.extend_from_slice(&GGA[20..]);
        input.extend_from_slice(b"\n$GPHDT,,T*1B\r");
        let whole = frame(&input, true);
        assert_eq!(whole.0.len(), 2);
        for cut in 0..input.len() {
            let mut f = Framer::new(true);
            let mut out = Vec::new();
            for part in [&input[..cut], &input[cut..]] {
                f.push(part, 7, &mut |fr| {
                    out.push((String::from_utf8(fr.body.to_vec()).unwrap(), fr.checksummed))
                });
            }
            assert_eq!((out, f.counters()), whole, "cut at {cut}");
        }
    }

    #[test]
    fn arrival_times_are_those_of_first_and_last_byte() {
        let mut f = Framer::new(true);
        let mut got = Vec::new();
        f.push(&GGA[..10], 100, &mut |fr| {
            got.push((fr.first_at, fr.last_at))
        });
        f.push(&GGA[10..], 250, &mut |fr| {
            got.push((fr.first_at, fr.last_at))
        });
        assert_eq!(got, vec![(100, 250)]);
    }

    #[test]
    fn reset_forgets_the_partial_sentence() {
        let mut f = Framer::new(true);
        let mut n = 0;
        f.push(&GGA[..30], 1, &mut |_| n += 1);
        f.reset();
        f.push(&GGA[30..], 2, &mut |_| n += 1);
        assert_eq!(n, 0);
        assert_eq!(f.counters().discarded_bytes, GGA.len() as u64);
    }
}
