//! The host's view of a serial valve board, as a pure state machine on injected instants:
//! frames sent and answers received in, [`BoardHealth`] out.
//!
//! The board answers every frame (`ACK` for `SET`/`ALL_OFF`, `STATUS` for `HEARTBEAT`). The
//! tracker keeps the instant of the oldest frame not answered yet; when one watchdog period
//! (the board's, from its last `STATUS`, else 300 ms) passes without an answer, the board is
//! not answering. Any `ACK` or `STATUS` answers every frame before it: frames are answered
//! in order, and a lost answer is not a lost board.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{BoardHealth, BoardKind, BoardMessage, FrameError, NakReason, DEFAULT_WATCHDOG_PERIOD};

/// What a frame sent asked for (an `ACK` of a `SET` clears `watchdog_tripped`, one of an
/// `ALL_OFF` does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    Set,
    AllOff,
    Heartbeat,
}

impl Sent {
    fn name(self) -> &'static str {
        match self {
            Sent::Set => "SET",
            Sent::AllOff => "ALL_OFF",
            Sent::Heartbeat => "HEARTBEAT",
        }
    }
}

/// Frames remembered to tell what an answer answers (far more than are ever in flight).
const REMEMBERED: usize = 32;

#[derive(Debug)]
pub(crate) struct Tracker {
    health: BoardHealth,
    /// The port, for messages.
    port: String,
    watchdog: Duration,
    /// When the oldest frame not answered yet was sent.
    waiting_since: Option<Instant>,
    /// The last frames sent, newest last.
    sent: VecDeque<(u16, Sent)>,
    /// The device is gone: nothing changes any more.
    gone: bool,
}

impl Tracker {
    pub(crate) fn new(port: &str) -> Tracker {
        Tracker {
            health: BoardHealth::opened(BoardKind::Serial),
            port: port.to_owned(),
            watchdog: DEFAULT_WATCHDOG_PERIOD,
            waiting_since: None,
            sent: VecDeque::with_capacity(REMEMBERED),
            gone: false,
        }
    }

    pub(crate) fn health(&self) -> &BoardHealth {
        &self.health
    }

    /// When the board stops counting as answering unless an answer comes first.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.waiting_since.map(|since| since + self.watchdog)
    }

    /// A frame is about to be written at `now` (recorded before the write, so that an
    /// answer read before the writer resumes still finds it).
    pub(crate) fn on_sent(&mut self, now: Instant, seq: u16, what: Sent) {
        self.waiting_since.get_or_insert(now);
        if self.sent.len() == REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back((seq, what));
    }

    /// Bytes read at `now`: the decoder's results for them and how many bytes it skipped
    /// outside frames.
    pub(crate) fn on_read(
        &mut self,
        now: Instant,
        results: Vec<Result<BoardMessage, FrameError>>,
        skipped: u64,
    ) {
        self.on_tick(now);
        if skipped > 0 {
            self.health.last_error = Some(format!(
                "garbage from the valve board at {}: {skipped} bytes outside frames",
                self.port
            ));
        }
        for result in results {
            match result {
                Ok(msg) => self.on_message(msg),
                Err(e) => {
                    self.health.last_error = Some(format!(
                        "garbage from the valve board at {}: {e}",
                        self.port
                    ))
                }
            }
        }
    }

    /// The clock at `now`: a frame unanswered for a watchdog period makes the board not
    /// answering.
    pub(crate) fn on_tick(&mut self, now: Instant) {
        if self.gone || self.deadline().is_none_or(|d| now < d) {
            return;
        }
        self.waiting_since = None;
        self.health.answering = false;
        self.health.last_error = Some(format!(
            "the valve board at {} does not answer: no ACK or STATUS within {} ms of a frame",
            self.port,
            self.watchdog.as_millis()
        ));
    }

    /// The device failed (end of stream, read error): `why` in words.
    pub(crate) fn on_gone(&mut self, why: &str) {
        self.gone = true;
        self.waiting_since = None;
        self.health.answering = false;
        self.health.gone = true;
        self.health.last_error = Some(format!("the valve board at {} is gone: {why}", self.port));
    }

    fn on_message(&mut self, msg: BoardMessage) {
        match msg {
            BoardMessage::Ack { seq, outputs } => {
                if self.what(seq) == Some(Sent::Set) {
                    self.health.watchdog_tripped = false;
                }
                self.health.confirmed = Some(outputs);
                self.answered();
            }
            BoardMessage::Status(s) => {
                if s.watchdog_period_ms > 0 {
                    self.watchdog = Duration::from_millis(u64::from(s.watchdog_period_ms));
                }
                self.health.watchdog_tripped = s.watchdog_tripped;
                self.health.crc_errors = s.crc_errors;
                self.health.confirmed = Some(s.outputs);
                self.answered();
            }
            BoardMessage::Nak { seq, reason } => {
                self.health.naks += 1;
                let frame = match (seq, self.what(seq)) {
                    (0, _) => "a frame it could not read".to_owned(),
                    (_, Some(what)) => format!("{} seq {seq}", what.name()),
                    (_, None) => format!("frame seq {seq}"),
                };
                self.health.last_error = Some(format!(
                    "the valve board at {} refused {frame}: {}",
                    self.port,
                    reason_words(reason)
                ));
            }
        }
    }

    /// An `ACK` or `STATUS` came: the board answers.
    fn answered(&mut self) {
        self.waiting_since = None;
        self.health.answering = true;
        self.health.last_error = self.health.watchdog_tripped.then(|| {
            format!(
                "the valve board's watchdog tripped (no valid frame for {} ms): every output \
                 stays closed until the next SET",
                self.watchdog.as_millis()
            )
        });
    }

    fn what(&self, seq: u16) -> Option<Sent> {
        (self.sent.iter().rev())
            .find(|(s, _)| *s == seq)
            .map(|(_, what)| *what)
    }
}

fn reason_words(reason: NakReason) -> &'static str {
    match reason {
        NakReason::BadCrc => "bad CRC (noise on the line?)",
        NakReason::UnknownType => "unknown message type (a different protocol version?)",
        NakReason::BadLength => "bad length",
        NakReason::BadSection => {
            "bad section list (does the board have as many sections as configured?)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::tests::on;
    use crate::board::{Outputs, Section, Status};

    const MS: Duration = Duration::from_millis(1);

    fn outputs(s: &[Section]) -> Outputs {
        Outputs::new(s).expect("few sections")
    }

    fn ack(seq: u16, outputs: Outputs) -> BoardMessage {
        BoardMessage::Ack { seq, outputs }
    }

    fn nak(seq: u16, reason: NakReason) -> BoardMessage {
        BoardMessage::Nak { seq, reason }
    }

    /// One message read at `at`, nothing skipped.
    fn answer(t: &mut Tracker, at: Instant, msg: BoardMessage) {
        t.on_read(at, vec![Ok(msg)], 0);
    }

    fn status(seq: u16, tripped: bool, crc_errors: u32, period_ms: u16) -> BoardMessage {
        BoardMessage::Status(Status {
            seq,
            watchdog_period_ms: period_ms,
            watchdog_tripped: tripped,
            crc_errors,
            outputs: Outputs::all_closed(2),
        })
    }

    #[test]
    fn an_ack_confirms_the_outputs_and_the_board_answers() {
        let t0 = Instant::now();
        let mut t = Tracker::new("/dev/ttyUSB0");
        assert!(!t.health().answering, "nothing heard yet");
        t.on_sent(t0, 1, Sent::AllOff);
        assert_eq!(t.deadline(), Some(t0 + DEFAULT_WATCHDOG_PERIOD));
        let set = outputs(&[on(100), Section::CLOSED]);
        answer(&mut t, t0 + 2 * MS, ack(1, set));
        let h = t.health();
        assert!(h.answering);
        assert_eq!(h.confirmed, Some(set));
        assert_eq!(h.last_error, None);
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn no_answer_within_a_watchdog_period_is_a_board_not_answering() {
        let t0 = Instant::now();
        let mut t = Tracker::new("/dev/ttyUSB0");
        t.on_sent(t0, 1, Sent::Heartbeat);
        answer(&mut t, t0 + MS, status(1, false, 0, 200));
        // The period the board reported (200 ms) counts from the oldest frame unanswered.
        t.on_sent(t0 + 100 * MS, 2, Sent::Heartbeat);
        t.on_sent(t0 + 200 * MS, 3, Sent::Heartbeat);
        assert_eq!(t.deadline(), Some(t0 + 300 * MS));
        t.on_tick(t0 + 299 * MS);
        assert!(t.health().answering);
        t.on_tick(t0 + 300 * MS);
        let h = t.health();
        assert!(!h.answering);
        assert_eq!(
            h.last_error.as_deref(),
            Some("the valve board at /dev/ttyUSB0 does not answer: no ACK or STATUS within 200 ms of a frame")
        );
        // The next answer brings it back.
        t.on_sent(t0 + 400 * MS, 4, Sent::Heartbeat);
        answer(&mut t, t0 + 401 * MS, status(4, false, 0, 200));
        assert!(t.health().answering);
        assert_eq!(t.health().last_error, None);
    }

    #[test]
    fn a_tripped_watchdog_is_cleared_by_the_ack_of_a_set_only() {
        let t0 = Instant::now();
        let mut t = Tracker::new("/dev/ttyUSB0");
        t.on_sent(t0, 1, Sent::Heartbeat);
        answer(&mut t, t0, status(1, true, 3, 300));
        let h = t.health();
        assert!(h.watchdog_tripped && h.answering);
        assert_eq!(h.crc_errors, 3);
        assert!(h
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("watchdog tripped")));
        t.on_sent(t0, 2, Sent::AllOff);
        answer(&mut t, t0, ack(2, Outputs::all_closed(2)));
        assert!(t.health().watchdog_tripped, "an ALL_OFF does not clear it");
        t.on_sent(t0, 3, Sent::Set);
        answer(&mut t, t0, ack(3, outputs(&[on(50)])));
        assert!(!t.health().watchdog_tripped);
        assert_eq!(t.health().last_error, None);
    }

    #[test]
    fn naks_are_counted_and_named() {
        let t0 = Instant::now();
        let mut t = Tracker::new("/dev/ttyUSB0");
        t.on_sent(t0, 7, Sent::Set);
        answer(&mut t, t0, nak(0, NakReason::BadCrc));
        answer(&mut t, t0, nak(7, NakReason::BadSection));
        let h = t.health();
        assert_eq!(h.naks, 2);
        assert_eq!(
            h.last_error.as_deref(),
            Some("the valve board at /dev/ttyUSB0 refused SET seq 7: bad section list (does the board have as many sections as configured?)")
        );
        assert!(!h.answering, "a NAK is not an answer to the frame");
        answer(&mut t, t0, nak(0, NakReason::BadCrc));
        assert_eq!(
            t.health().last_error.as_deref(),
            Some("the valve board at /dev/ttyUSB0 refused a frame it could not read: bad CRC (noise on the line?)")
        );
    }

    #[test]
    fn garbage_is_reported_until_the_next_good_answer() {
        let t0 = Instant::now();
        let mut t = Tracker::new("/dev/ttyUSB0");
        t.on_read(t0, Vec::new(), 5);
        assert_eq!(
            t.health().last_error.as_deref(),
            Some("garbage from the valve board at /dev/ttyUSB0: 5 bytes outside frames")
        );
        t.on_read(t0, vec![Err(FrameError::BadLength { len: 0 })], 1);
        assert_eq!(
            t.health().last_error.as_deref(),
            Some("garbage from the valve board at /dev/ttyUSB0: bad length 0")
        );
        t.on_sent(t0, 1, Sent::Heartbeat);
        answer(&mut t, t0, status(1, false, 0, 300));
        assert_eq!(t.health().last_error, None);
    }

    #[test]
    fn a_device_gone_stays_gone() {
        let t0 = Instant::now();
        let mut t = Tracker::new("/dev/ttyUSB0");
        t.on_sent(t0, 1, Sent::Heartbeat);
        t.on_gone("Input/output error (os error 5)");
        t.on_sent(t0, 2, Sent::Heartbeat);
        t.on_tick(t0 + Duration::from_secs(1));
        let h = t.health();
        assert!(!h.answering);
        assert_eq!(
            h.last_error.as_deref(),
            Some("the valve board at /dev/ttyUSB0 is gone: Input/output error (os error 5)")
        );
    }
}
