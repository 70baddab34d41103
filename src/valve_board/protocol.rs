//! verger's framed serial protocol between the host and the valve board (pure, no I/O).
//!
//! A frame is `A5 LEN TYPE BODY… CRC_HI CRC_LO`: `LEN` is the payload length (`TYPE` + body),
//! the CRC is CRC-16/CCITT-FALSE over `LEN` and the payload, big-endian. Host → board types
//! are `0x01..`, board → host types `0x81..`, so a decoder refuses frames of the other
//! direction (a looped-back line) as an unknown type. Layout: `docs/valve-board.md`.
//!
//! [`encode`] / [`encode_into`] write a frame of either direction; a [`Decoder`] reads a
//! byte stream of one direction, resynchronising on the next `0xA5` after garbage or a bad
//! frame, in a fixed-size buffer.

use std::marker::PhantomData;
use std::time::Duration;

/// Start byte of every frame.
pub const START: u8 = 0xA5;

/// Most sections a board (and a frame) can carry.
pub const MAX_SECTIONS: usize = 16;

/// Highest PWM duty, in percent.
pub const MAX_DUTY: u8 = 100;

/// How often the host sends `HEARTBEAT` when it has nothing else to send.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_millis(100);

/// The board's watchdog period unless its firmware is configured otherwise (the period in
/// force is reported in [`Status::watchdog_period_ms`]): no valid frame for this long and the
/// board closes every output by itself.
pub const DEFAULT_WATCHDOG_PERIOD: Duration = Duration::from_millis(300);

/// Host → board message types.
const T_SET: u8 = 0x01;
const T_HEARTBEAT: u8 = 0x02;
const T_ALL_OFF: u8 = 0x03;
/// Board → host message types.
const T_ACK: u8 = 0x81;
const T_STATUS: u8 = 0x82;
const T_NAK: u8 = 0x83;

/// Largest payload of any message (a `STATUS` with 16 sections).
const MAX_PAYLOAD_ANY: usize = 11 + 2 * MAX_SECTIONS;
/// Largest frame: start, length, payload, CRC.
const MAX_FRAME: usize = 2 + MAX_PAYLOAD_ANY + 2;

/// A value that cannot be put in a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A PWM duty above 100 %.
    #[error("duty {0} % is above 100 %")]
    DutyOutOfRange(u8),
    /// More sections than a board has room for.
    #[error("{0} sections, at most {MAX_SECTIONS}")]
    TooManySections(usize),
}

/// Why a frame was not decoded into a message. Every variant maps to a [`NakReason`] the
/// board sends back ([`FrameError::nak_reason`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The CRC does not match: line noise. The decoder resumes at the next `0xA5` after this
    /// frame's start byte.
    #[error("bad CRC: computed {computed:#06x}, received {received:#06x}")]
    BadCrc {
        /// The CRC of the bytes received.
        computed: u16,
        /// The CRC the frame carried.
        received: u16,
    },
    /// A message type unknown in this direction.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A length byte out of range (refused at once, without waiting for the bytes it
    /// announces), or a payload whose length does not fit its type.
    #[error("bad length {len}")]
    BadLength {
        /// The payload length the frame announced.
        len: u8,
    },
    /// A section list out of range: more than 16 sections, a state other than 0/1 or a duty
    /// above 100 %.
    #[error("bad section list in message type {msg_type:#04x} (seq {seq})")]
    BadSection {
        /// The message type.
        msg_type: u8,
        /// The frame's sequence number (read before the section list), echoed in the `NAK`.
        seq: u16,
    },
    /// Another field out of range (a boolean other than 0/1, an unknown NAK reason).
    #[error("bad field `{field}` in message type {msg_type:#04x}")]
    BadField {
        /// The message type.
        msg_type: u8,
        /// The field's name.
        field: &'static str,
    },
}

impl FrameError {
    /// The reason a board puts in the `NAK` it answers this error with.
    pub fn nak_reason(&self) -> NakReason {
        match self {
            FrameError::BadCrc { .. } => NakReason::BadCrc,
            FrameError::UnknownType(_) => NakReason::UnknownType,
            FrameError::BadLength { .. } => NakReason::BadLength,
            // Host messages have no field outside their section list.
            FrameError::BadSection { .. } | FrameError::BadField { .. } => NakReason::BadSection,
        }
    }

    /// The sequence number a board puts in the `NAK` it answers this error with: the
    /// frame's own when it could be read (a bad section list), else 0.
    pub fn nak_seq(&self) -> u16 {
        match self {
            FrameError::BadSection { seq, .. } => *seq,
            _ => 0,
        }
    }
}

/// One section's command or state: on/off and a PWM duty. Open only when on with a duty
/// above 0 (0 % = closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Section {
    on: bool,
    duty: u8,
}

impl Section {
    /// A closed section (off, 0 %).
    pub const CLOSED: Section = Section { on: false, duty: 0 };

    /// A section `on` or off at `duty` percent (0–100).
    pub fn new(on: bool, duty: u8) -> Result<Section, ValueError> {
        if duty > MAX_DUTY {
            return Err(ValueError::DutyOutOfRange(duty));
        }
        Ok(Section { on, duty })
    }

    /// Whether the section is switched on.
    pub fn on(&self) -> bool {
        self.on
    }

    /// The PWM duty in percent (0–100).
    pub fn duty(&self) -> u8 {
        self.duty
    }

    /// Whether liquid flows: on with a duty above 0.
    pub fn is_open(&self) -> bool {
        self.on && self.duty > 0
    }
}

/// The sections of a board, 0 to [`MAX_SECTIONS`] of them, section 0 first. A `SET` closes
/// the board's sections it does not list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Outputs {
    len: u8,
    // Unused entries stay `Section::CLOSED`, so the derived equality is the right one.
    sections: [Section; MAX_SECTIONS],
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.sections()).finish()
    }
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs::all_closed(0)
    }
}

impl Outputs {
    /// The given sections, section 0 first (at most [`MAX_SECTIONS`]).
    pub fn new(sections: &[Section]) -> Result<Outputs, ValueError> {
        if sections.len() > MAX_SECTIONS {
            return Err(ValueError::TooManySections(sections.len()));
        }
        let mut out = Outputs::all_closed(0);
        for (slot, s) in out.sections.iter_mut().zip(sections) {
            *slot = *s;
        }
        out.len = sections.len() as u8; // ≤ 16
        Ok(out)
    }

    /// `count` closed sections (capped at [`MAX_SECTIONS`]).
    pub fn all_closed(count: u8) -> Outputs {
        Outputs {
            len: count.min(MAX_SECTIONS as u8),
            sections: [Section::CLOSED; MAX_SECTIONS],
        }
    }

    /// The sections, section 0 first.
    pub fn sections(&self) -> &[Section] {
        &self.sections[..usize::from(self.len)]
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.len);
        for s in self.sections() {
            out.push(u8::from(s.on));
            out.push(s.duty);
        }
    }

    /// Reads `COUNT (STATE DUTY)*` that fills `body` exactly, in message `msg_type` of
    /// sequence number `seq`.
    fn read(msg_type: u8, seq: u16, len: u8, body: &[u8]) -> Result<Outputs, FrameError> {
        let bad_section = FrameError::BadSection { msg_type, seq };
        let (&count, pairs) = body.split_first().ok_or(FrameError::BadLength { len })?;
        if usize::from(count) > MAX_SECTIONS {
            return Err(bad_section);
        }
        if pairs.len() != 2 * usize::from(count) {
            return Err(FrameError::BadLength { len });
        }
        let mut out = Outputs::all_closed(count);
        for (slot, pair) in out.sections.iter_mut().zip(pairs.chunks_exact(2)) {
            let on = match pair[0] {
                0 => false,
                1 => true,
                _ => return Err(bad_section),
            };
            *slot = Section::new(on, pair[1]).map_err(|_| bad_section.clone())?;
        }
        Ok(out)
    }
}

/// Host → board messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMessage {
    /// `SET` (0x01): put the listed sections in this state, close the others; answered by `ACK`.
    Set {
        /// Sequence number, echoed in the `ACK`.
        seq: u16,
        /// The sections, section 0 first.
        outputs: Outputs,
    },
    /// `HEARTBEAT` (0x02): sent every [`HEARTBEAT_PERIOD`] when idle, feeds the board's
    /// watchdog; answered by `STATUS`.
    Heartbeat {
        /// Sequence number, echoed in the `STATUS`.
        seq: u16,
    },
    /// `ALL_OFF` (0x03): close every section; answered by `ACK`.
    AllOff {
        /// Sequence number, echoed in the `ACK`.
        seq: u16,
    },
}

/// Why a board refused a frame (`NAK` reason code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NakReason {
    /// 0x01: the CRC did not match.
    BadCrc,
    /// 0x02: a message type the board does not know.
    UnknownType,
    /// 0x03: a length out of range or not fitting the type.
    BadLength,
    /// 0x04: a section the board does not have, a state other than 0/1 or a duty above 100 %.
    BadSection,
}

impl NakReason {
    /// The reason's code on the wire.
    pub fn code(self) -> u8 {
        match self {
            NakReason::BadCrc => 0x01,
            NakReason::UnknownType => 0x02,
            NakReason::BadLength => 0x03,
            NakReason::BadSection => 0x04,
        }
    }

    /// The reason for a code, if known.
    pub fn from_code(code: u8) -> Option<NakReason> {
        match code {
            0x01 => Some(NakReason::BadCrc),
            0x02 => Some(NakReason::UnknownType),
            0x03 => Some(NakReason::BadLength),
            0x04 => Some(NakReason::BadSection),
            _ => None,
        }
    }
}

/// The board's state, answering a `HEARTBEAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Sequence number of the `HEARTBEAT` answered.
    pub seq: u16,
    /// The watchdog period configured in the board's firmware, in milliseconds.
    pub watchdog_period_ms: u16,
    /// The watchdog closed every output (no valid frame for a period); stays set until the
    /// next `SET`.
    pub watchdog_tripped: bool,
    /// Frames received with a bad CRC since the board started (wrapping).
    pub crc_errors: u32,
    /// The outputs in force.
    pub outputs: Outputs,
}

/// Board → host messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardMessage {
    /// `ACK` (0x81): a `SET` or `ALL_OFF` was applied.
    Ack {
        /// The sequence number of the command applied.
        seq: u16,
        /// The outputs now in force.
        outputs: Outputs,
    },
    /// `STATUS` (0x82): the board's state, answering a `HEARTBEAT`.
    Status(Status),
    /// `NAK` (0x83): a frame was refused.
    Nak {
        /// The refused frame's sequence number; 0 when it could not be read (bad CRC, bad
        /// length, unknown type).
        seq: u16,
        /// Why.
        reason: NakReason,
    },
}

/// A message of one direction: how its payload (type + body) is written and read.
pub trait Wire: Sized {
    /// Largest payload of this direction: a length byte above it is refused at once.
    const MAX_PAYLOAD: u8;

    /// Appends the payload (type byte + body) to `out`.
    fn write_payload(&self, out: &mut Vec<u8>);

    /// Reads a payload (type byte + body) whose CRC was good.
    fn read_payload(payload: &[u8]) -> Result<Self, FrameError>;
}

fn seq_of(len: u8, body: &[u8]) -> Result<u16, FrameError> {
    match body {
        [hi, lo, ..] => Ok(u16::from_be_bytes([*hi, *lo])),
        _ => Err(FrameError::BadLength { len }),
    }
}

fn exact(len: u8, body: &[u8], want: usize) -> Result<(), FrameError> {
    if body.len() == want {
        Ok(())
    } else {
        Err(FrameError::BadLength { len })
    }
}

fn split_payload(payload: &[u8]) -> Result<(u8, u8, &[u8]), FrameError> {
    let len = u8::try_from(payload.len()).unwrap_or(u8::MAX);
    let (&ty, body) = payload.split_first().ok_or(FrameError::BadLength { len })?;
    Ok((ty, len, body))
}

impl Wire for HostMessage {
    const MAX_PAYLOAD: u8 = (4 + 2 * MAX_SECTIONS) as u8;

    fn write_payload(&self, out: &mut Vec<u8>) {
        match self {
            HostMessage::Set { seq, outputs } => {
                out.push(T_SET);
                out.extend_from_slice(&seq.to_be_bytes());
                outputs.write(out);
            }
            HostMessage::Heartbeat { seq } => {
                out.push(T_HEARTBEAT);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            HostMessage::AllOff { seq } => {
                out.push(T_ALL_OFF);
                out.extend_from_slice(&seq.to_be_bytes());
            }
        }
    }

    fn read_payload(payload: &[u8]) -> Result<Self, FrameError> {
        let (ty, len, body) = split_payload(payload)?;
        match ty {
            T_SET => {
                let seq = seq_of(len, body)?;
                let outputs = Outputs::read(ty, seq, len, &body[2..])?;
                Ok(HostMessage::Set { seq, outputs })
            }
            T_HEARTBEAT => {
                exact(len, body, 2)?;
                Ok(HostMessage::Heartbeat {
                    seq: seq_of(len, body)?,
                })
            }
            T_ALL_OFF => {
                exact(len, body, 2)?;
                Ok(HostMessage::AllOff {
                    seq: seq_of(len, body)?,
                })
            }
            other => Err(FrameError::UnknownType(other)),
        }
    }
}

impl Wire for BoardMessage {
    const MAX_PAYLOAD: u8 = MAX_PAYLOAD_ANY as u8;

    fn write_payload(&self, out: &mut Vec<u8>) {
        match self {
            BoardMessage::Ack { seq, outputs } => {
                out.push(T_ACK);
                out.extend_from_slice(&seq.to_be_bytes());
                outputs.write(out);
            }
            BoardMessage::Status(s) => {
                out.push(T_STATUS);
                out.extend_from_slice(&s.seq.to_be_bytes());
                out.extend_from_slice(&s.watchdog_period_ms.to_be_bytes());
                out.push(u8::from(s.watchdog_tripped));
                out.extend_from_slice(&s.crc_errors.to_be_bytes());
                s.outputs.write(out);
            }
            BoardMessage::Nak { seq, reason } => {
                out.push(T_NAK);
                out.extend_from_slice(&seq.to_be_bytes());
                out.push(reason.code());
            }
        }
    }

    fn read_payload(payload: &[u8]) -> Result<Self, FrameError> {
        let (ty, len, body) = split_payload(payload)?;
        match ty {
            T_ACK => {
                let seq = seq_of(len, body)?;
                let outputs = Outputs::read(ty, seq, len, &body[2..])?;
                Ok(BoardMessage::Ack { seq, outputs })
            }
            T_STATUS => match body {
                [s0, s1, w0, w1, tripped, c0, c1, c2, c3, rest @ ..] => {
                    let seq = u16::from_be_bytes([*s0, *s1]);
                    let watchdog_tripped = match tripped {
                        0 => false,
                        1 => true,
                        _ => {
                            return Err(FrameError::BadField {
                                msg_type: ty,
                                field: "watchdog_tripped",
                            })
                        }
                    };
                    Ok(BoardMessage::Status(Status {
                        seq,
                        watchdog_period_ms: u16::from_be_bytes([*w0, *w1]),
                        watchdog_tripped,
                        crc_errors: u32::from_be_bytes([*c0, *c1, *c2, *c3]),
                        outputs: Outputs::read(ty, seq, len, rest)?,
                    }))
                }
                _ => Err(FrameError::BadLength { len }),
            },
            T_NAK => {
                exact(len, body, 3)?;
                let seq = seq_of(len, body)?;
                let reason = NakReason::from_code(body[2]).ok_or(FrameError::BadField {
                    msg_type: ty,
                    field: "reason",
                })?;
                Ok(BoardMessage::Nak { seq, reason })
            }
            other => Err(FrameError::UnknownType(other)),
        }
    }
}

/// CRC-16/CCITT-FALSE (polynomial 0x1021, init 0xFFFF, no reflection, no final xor):
/// `crc16_ccitt_false(b"123456789") == 0x29B1`.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Appends the frame of `msg` to `out` (either direction).
pub fn encode_into<M: Wire>(msg: &M, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(START);
    out.push(0); // length, filled in below
    msg.write_payload(out);
    // Payloads are at most MAX_PAYLOAD_ANY (43) bytes by construction of the messages.
    let len = out.len() - start - 2;
    out[start + 1] = len as u8;
    let crc = crc16_ccitt_false(&out[start + 1..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// The frame of `msg` (either direction).
pub fn encode<M: Wire>(msg: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_FRAME);
    encode_into(msg, &mut out);
    out
}

/// A streaming decoder of one direction's frames: push the bytes as they arrive, get the
/// messages and errors of the frames they complete. Never panics; holds at most one frame
/// (47 bytes) between pushes.
///
/// After garbage, a bad CRC or an out-of-range length it resumes at the next `0xA5` after
/// the bad frame's start byte, so a good frame hidden behind a corrupted length byte is
/// still found. A frame cut short by the line going quiet stays pending until more bytes
/// come: the I/O shell calls [`Decoder::reset`] after an idle gap if it wants it dropped.
#[derive(Debug, Clone)]
pub struct Decoder<M> {
    buf: [u8; MAX_FRAME],
    len: usize,
    skipped: u64,
    crc_errors: u64,
    _msg: PhantomData<fn() -> M>,
}

/// The board's decoder of host frames.
pub type HostDecoder = Decoder<HostMessage>;
/// The host's decoder of board frames.
pub type BoardDecoder = Decoder<BoardMessage>;

impl<M: Wire> Default for Decoder<M> {
    fn default() -> Self {
        Decoder::new()
    }
}

impl<M: Wire> Decoder<M> {
    /// An empty decoder.
    pub fn new() -> Self {
        Decoder {
            buf: [0; MAX_FRAME],
            len: 0,
            skipped: 0,
            crc_errors: 0,
            _msg: PhantomData,
        }
    }

    /// Feeds `bytes`; returns one result per frame completed (or refused), in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<M, FrameError>> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.len == 0 && b != START {
                self.skipped += 1;
                continue;
            }
            if self.len >= MAX_FRAME {
                // Unreachable by the invariant below; keeps memory bounded regardless.
                self.drop_front(1);
            }
            self.buf[self.len] = b;
            self.len += 1;
            self.process(&mut out);
        }
        out
    }

    /// Drops a partial frame (for example after the line was idle).
    pub fn reset(&mut self) {
        self.skipped += self.len as u64;
        self.len = 0;
    }

    /// Bytes discarded outside frames (garbage, resynchronisation) since creation.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped
    }

    /// Frames refused for a bad CRC since creation (what a board reports in `STATUS`).
    pub fn crc_errors(&self) -> u64 {
        self.crc_errors
    }

    /// Decodes what the buffer holds. On return the buffer is empty, holds one byte, or
    /// holds less than the frame its length byte announces (≤ `MAX_FRAME`).
    fn process(&mut self, out: &mut Vec<Result<M, FrameError>>) {
        loop {
            if self.len == 0 {
                return;
            }
            if self.buf[0] != START {
                match self.buf[1..self.len].iter().position(|&b| b == START) {
                    Some(i) => {
                        self.skipped += (i + 1) as u64;
                        self.drop_front(i + 1);
                    }
                    None => {
                        self.skipped += self.len as u64;
                        self.len = 0;
                        return;
                    }
                }
                continue;
            }
            if self.len < 2 {
                return;
            }
            let plen = self.buf[1];
            if plen == 0 || plen > M::MAX_PAYLOAD {
                out.push(Err(FrameError::BadLength { len: plen }));
                self.skipped += 1;
                self.drop_front(1);
                continue;
            }
            let total = 2 + usize::from(plen) + 2;
            if self.len < total {
                return;
            }
            let crc_at = 2 + usize::from(plen);
            let computed = crc16_ccitt_false(&self.buf[1..crc_at]);
            let received = u16::from_be_bytes([self.buf[crc_at], self.buf[crc_at + 1]]);
            if computed != received {
                self.crc_errors += 1;
                out.push(Err(FrameError::BadCrc { computed, received }));
                self.skipped += 1;
                self.drop_front(1);
                continue;
            }
            out.push(M::read_payload(&self.buf[2..crc_at]));
            self.drop_front(total);
        }
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

#[cfg(test)]
mod tests;
