//! WAMP-over-RawSocket (spec: advanced/transport_rawsocket.md).
//!
//! The first half of this file is I/O-free: handshake parse/build and frame header
//! parse/build, plus a [`FrameDecoder`] that turns a byte buffer into frames ("need
//! more bytes" is `Ok(None)`, never an error). The second half wraps it around async
//! byte streams (TCP or Unix domain sockets) for both the router and the client side.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Incoming, TransportError};
use crate::wamp::Serializer;

/// First octet of every handshake; no HTTP request can start with it.
pub const MAGIC: u8 = 0x7F;

/// Smallest maximum message length a handshake can announce (`LENGTH = 0`).
pub const MIN_MAX_LEN: usize = 1 << 9;

/// Largest payload a frame can carry (`LENGTH = 15`, and the 25th length bit).
pub const MAX_MAX_LEN: usize = 1 << 24;

/// The maximum message length announced by the `LENGTH` nibble `exp` (0..=15).
pub fn max_len_from_exp(exp: u8) -> usize {
    1usize << ((exp & 0x0F) as u32 + 9)
}

/// The `LENGTH` nibble for a limit: the largest announced length not above `max_len`
/// (clamped to 512 B ..= 16 MiB).
pub fn exp_for_max_len(max_len: usize) -> u8 {
    let mut exp = 0u8;
    while exp < 15 && max_len_from_exp(exp + 1) <= max_len {
        exp += 1;
    }
    exp
}

/// Handshake error codes of the router's error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeErrorCode {
    SerializerUnsupported = 1,
    MaxLengthUnacceptable = 2,
    ReservedBitsUsed = 3,
    MaxConnectionCountReached = 4,
}

impl HandshakeErrorCode {
    pub fn from_code(code: u8) -> Option<HandshakeErrorCode> {
        Some(match code {
            1 => HandshakeErrorCode::SerializerUnsupported,
            2 => HandshakeErrorCode::MaxLengthUnacceptable,
            3 => HandshakeErrorCode::ReservedBitsUsed,
            4 => HandshakeErrorCode::MaxConnectionCountReached,
            _ => return None,
        })
    }

    pub fn describe(self) -> &'static str {
        match self {
            HandshakeErrorCode::SerializerUnsupported => "serializer unsupported",
            HandshakeErrorCode::MaxLengthUnacceptable => "maximum message length unacceptable",
            HandshakeErrorCode::ReservedBitsUsed => "use of reserved bits (unsupported feature)",
            HandshakeErrorCode::MaxConnectionCountReached => "maximum connection count reached",
        }
    }
}

/// A client's handshake request, as the router parsed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHandshake {
    pub serializer: Serializer,
    /// Largest message the client accepts.
    pub max_len: usize,
}

/// Why the router refuses a handshake request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeRefusal {
    /// First octet is not `0x7F`: not RawSocket at all. Fail the connection silently.
    NotRawSocket,
    /// Answer with this error reply, then close.
    Reply(HandshakeErrorCode),
}

/// Parse a client's 4-octet handshake request (router side).
pub fn parse_request(
    bytes: [u8; 4],
    supported: &[Serializer],
) -> Result<ClientHandshake, HandshakeRefusal> {
    if bytes[0] != MAGIC {
        return Err(HandshakeRefusal::NotRawSocket);
    }
    if bytes[2] != 0 || bytes[3] != 0 {
        return Err(HandshakeRefusal::Reply(
            HandshakeErrorCode::ReservedBitsUsed,
        ));
    }
    let serializer = Serializer::from_rawsocket_id(bytes[1] & 0x0F)
        .filter(|s| supported.contains(s))
        .ok_or(HandshakeRefusal::Reply(
            HandshakeErrorCode::SerializerUnsupported,
        ))?;
    Ok(ClientHandshake {
        serializer,
        max_len: max_len_from_exp(bytes[1] >> 4),
    })
}

/// The 4 octets of a handshake request (client) or success reply (router).
pub fn build_handshake(serializer: Serializer, max_len: usize) -> [u8; 4] {
    [
        MAGIC,
        (exp_for_max_len(max_len) << 4) | serializer.rawsocket_id(),
        0,
        0,
    ]
}

/// The 4 octets of a router's error reply.
pub fn build_error(code: HandshakeErrorCode) -> [u8; 4] {
    [MAGIC, (code as u8) << 4, 0, 0]
}

/// Why a client could not use the router's handshake reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The router sent an error reply (`None`: an error code the spec does not define).
    Refused(Option<HandshakeErrorCode>),
    /// Not a RawSocket reply, or one echoing a different serializer.
    Invalid,
}

/// Parse the router's reply (client side); `Ok` is the largest message the router
/// accepts from us.
pub fn parse_reply(bytes: [u8; 4], requested: Serializer) -> Result<usize, ReplyError> {
    if bytes[0] != MAGIC || bytes[2] != 0 || bytes[3] != 0 {
        return Err(ReplyError::Invalid);
    }
    let ser = bytes[1] & 0x0F;
    if ser == 0 {
        return Err(ReplyError::Refused(HandshakeErrorCode::from_code(
            bytes[1] >> 4,
        )));
    }
    if ser != requested.rawsocket_id() {
        return Err(ReplyError::Invalid);
    }
    Ok(max_len_from_exp(bytes[1] >> 4))
}

/// Transport-level message type (`TTT` bits of the frame header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Message,
    Ping,
    Pong,
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: FrameKind,
    pub len: usize,
}

/// A frame the peer must not have sent; the connection must be failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("reserved bits set in frame header {0:02x?}")]
    ReservedBits([u8; 4]),
    #[error("reserved frame type {0}")]
    ReservedType(u8),
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
}

/// Parse a 4-octet frame header.
pub fn parse_frame_header(bytes: [u8; 4]) -> Result<FrameHeader, FrameError> {
    let first = bytes[0];
    if first & 0xF0 != 0 {
        return Err(FrameError::ReservedBits(bytes));
    }
    let kind = match first & 0x07 {
        0 => FrameKind::Message,
        1 => FrameKind::Ping,
        2 => FrameKind::Pong,
        t => return Err(FrameError::ReservedType(t)),
    };
    let low = u32::from_be_bytes([0, bytes[1], bytes[2], bytes[3]]) as usize;
    let len = if first & 0x08 != 0 {
        // The 25th bit may only be set for exactly 16 MiB.
        if low != 0 {
            return Err(FrameError::ReservedBits(bytes));
        }
        MAX_MAX_LEN
    } else {
        low
    };
    Ok(FrameHeader { kind, len })
}

/// Build a frame header; `None` if `len` exceeds what a frame can carry (16 MiB).
pub fn build_frame_header(kind: FrameKind, len: usize) -> Option<[u8; 4]> {
    let t = match kind {
        FrameKind::Message => 0u8,
        FrameKind::Ping => 1,
        FrameKind::Pong => 2,
    };
    if len == MAX_MAX_LEN {
        return Some([0x08 | t, 0, 0, 0]);
    }
    if len > MAX_MAX_LEN {
        return None;
    }
    let l = (len as u32).to_be_bytes();
    Some([t, l[1], l[2], l[3]])
}

/// One whole frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub payload: Vec<u8>,
}

/// Splits a byte stream into frames, enforcing our maximum frame length.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    max_len: usize,
}

impl FrameDecoder {
    /// `max_len`: the largest payload we accept (what we announced in the handshake).
    pub fn new(max_len: usize) -> FrameDecoder {
        FrameDecoder { max_len }
    }

    /// Take one frame off the front of `buf`; `Ok(None)` means "need more bytes" (the
    /// buffer is left untouched, but capacity for the announced payload is reserved).
    /// A frame longer than our limit is an error as soon as its header is seen.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(head) = buf.get(..4) else {
            return Ok(None);
        };
        let header = parse_frame_header([head[0], head[1], head[2], head[3]])?;
        // Pings and pongs are bounded by the same limit as messages.
        if header.len > self.max_len {
            return Err(FrameError::TooLarge {
                len: header.len,
                limit: self.max_len,
            });
        }
        let total = 4 + header.len;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        let payload = buf.split_to(header.len).to_vec();
        Ok(Some(Frame {
            kind: header.kind,
            payload,
        }))
    }
}

/// Encode a whole frame (header + payload) into one buffer.
pub fn encode_frame(kind: FrameKind, payload: &[u8]) -> Option<Vec<u8>> {
    let header = build_frame_header(kind, payload.len())?;
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Some(out)
}

// ---------------------------------------------------------------------------------
// Async side.

pub(crate) type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// Size of the RawSocket write buffer.
const WRITE_BUFFER: usize = 64 * 1024;

pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Reading half of a RawSocket connection.
pub(crate) struct RsReader {
    io: BoxRead,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl RsReader {
    pub(crate) fn new(io: BoxRead, max_len: usize) -> RsReader {
        RsReader {
            io,
            buf: BytesMut::with_capacity(8 * 1024),
            decoder: FrameDecoder::new(max_len),
        }
    }

    /// Next frame; `Ok(None)` on a clean close between frames.
    ///
    /// Cancel-safe: the only await is `read_buf` into `self.buf`, which reads nothing
    /// when it is dropped pending; bytes already read stay in `self.buf` (a partial
    /// frame included) and a whole frame is returned as soon as it is decoded, with no
    /// await in between.
    pub(crate) async fn recv(&mut self) -> Result<Option<Incoming>, TransportError> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    return Ok(Some(match frame.kind {
                        FrameKind::Message => Incoming::Message(frame.payload),
                        FrameKind::Ping => Incoming::Ping(frame.payload),
                        FrameKind::Pong => Incoming::Pong(frame.payload),
                    }))
                }
                Ok(None) => {}
                Err(FrameError::TooLarge { len, limit }) => {
                    return Err(TransportError::TooLarge { size: len, limit })
                }
                Err(e) => return Err(TransportError::Protocol(e.to_string())),
            }
            if self.buf.capacity() == self.buf.len() {
                self.buf.reserve(8 * 1024);
            }
            let n = self.io.read_buf(&mut self.buf).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(TransportError::Protocol(format!(
                        "connection closed inside a frame ({} bytes pending)",
                        self.buf.len()
                    )))
                };
            }
        }
    }
}

/// Writing half of a RawSocket connection.
pub(crate) struct RsWriter {
    /// Buffered so that a burst of queued messages goes out in few writes.
    io: tokio::io::BufWriter<BoxWrite>,
    /// Largest message the peer accepts.
    peer_max: usize,
}

impl RsWriter {
    pub(crate) fn new(io: BoxWrite, peer_max: usize) -> RsWriter {
        RsWriter {
            io: tokio::io::BufWriter::with_capacity(WRITE_BUFFER, io),
            peer_max,
        }
    }

    pub(crate) async fn send(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<(), TransportError> {
        self.feed(kind, payload).await?;
        self.flush().await
    }

    pub(crate) async fn flush(&mut self) -> Result<(), TransportError> {
        self.io.flush().await?;
        Ok(())
    }

    /// Buffer one frame; it is written when the buffer fills or on `flush`.
    pub(crate) async fn feed(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<(), TransportError> {
        if payload.len() > self.peer_max {
            return Err(TransportError::TooLarge {
                size: payload.len(),
                limit: self.peer_max,
            });
        }
        let frame = encode_frame(kind, payload).ok_or(TransportError::TooLarge {
            size: payload.len(),
            limit: MAX_MAX_LEN,
        })?;
        self.io.write_all(&frame).await?;
        Ok(())
    }

    pub(crate) async fn close(&mut self) -> Result<(), TransportError> {
        self.io.shutdown().await?;
        Ok(())
    }
}

/// Router side: read the client's handshake from `io` and answer it. `at_capacity`
/// answers with error 4 instead. Returns the client's request on success.
pub(crate) async fn server_handshake<S>(
    io: &mut S,
    supported: &[Serializer],
    our_max: usize,
    at_capacity: bool,
) -> Result<ClientHandshake, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut req = [0u8; 4];
    io.read_exact(&mut req).await?;
    let refusal = match parse_request(req, supported) {
        Ok(_) if at_capacity => {
            HandshakeRefusal::Reply(HandshakeErrorCode::MaxConnectionCountReached)
        }
        Ok(hs) => {
            io.write_all(&build_handshake(hs.serializer, our_max))
                .await?;
            io.flush().await?;
            return Ok(hs);
        }
        Err(r) => r,
    };
    match refusal {
        HandshakeRefusal::NotRawSocket => Err(TransportError::Handshake(format!(
            "not a RawSocket handshake: {req:02x?}"
        ))),
        HandshakeRefusal::Reply(code) => {
            io.write_all(&build_error(code)).await?;
            io.flush().await?;
            let _ = io.shutdown().await;
            Err(TransportError::Handshake(format!(
                "refused RawSocket handshake {req:02x?}: {}",
                code.describe()
            )))
        }
    }
}

/// Client side: offer `serializer`, announce `our_max`; returns the router's maximum.
pub(crate) async fn client_handshake<S>(
    io: &mut S,
    serializer: Serializer,
    our_max: usize,
) -> Result<usize, ClientHandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(&build_handshake(serializer, our_max)).await?;
    io.flush().await?;
    let mut reply = [0u8; 4];
    io.read_exact(&mut reply).await?;
    parse_reply(reply, serializer).map_err(ClientHandshakeError::Reply)
}

#[derive(Debug)]
pub(crate) enum ClientHandshakeError {
    Io(std::io::Error),
    Reply(ReplyError),
}

impl From<std::io::Error> for ClientHandshakeError {
    fn from(e: std::io::Error) -> Self {
        ClientHandshakeError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: &[Serializer] = &Serializer::ALL;

    #[test]
    fn length_exponents() {
        assert_eq!(max_len_from_exp(0), 512);
        assert_eq!(max_len_from_exp(15), 16 * 1024 * 1024);
        assert_eq!(exp_for_max_len(0), 0);
        assert_eq!(exp_for_max_len(512), 0);
        assert_eq!(exp_for_max_len(1023), 0);
        assert_eq!(exp_for_max_len(1024), 1);
        assert_eq!(exp_for_max_len(1 << 20), 11);
        assert_eq!(exp_for_max_len(usize::MAX), 15);
    }

    #[test]
    fn parses_handshake_requests() {
        // JSON, 16 MiB
        assert_eq!(
            parse_request([0x7F, 0xF1, 0, 0], ALL),
            Ok(ClientHandshake {
                serializer: Serializer::Json,
                max_len: 1 << 24
            })
        );
        // MessagePack, 512 B
        assert_eq!(
            parse_request([0x7F, 0x02, 0, 0], ALL),
            Ok(ClientHandshake {
                serializer: Serializer::MsgPack,
                max_len: 512
            })
        );
        // CBOR, 1 MiB
        assert_eq!(
            parse_request([0x7F, 0xB3, 0, 0], ALL),
            Ok(ClientHandshake {
                serializer: Serializer::Cbor,
                max_len: 1 << 20
            })
        );
    }

    #[test]
    fn refuses_bad_handshake_requests() {
        use HandshakeErrorCode::*;
        assert_eq!(
            parse_request([b'G', b'E', b'T', b' '], ALL),
            Err(HandshakeRefusal::NotRawSocket)
        );
        // serializer 0 is illegal, 4 (UBJSON) and 5 (FlatBuffers) unsupported
        for b in [0xF0, 0xF4, 0xF5, 0x0F] {
            assert_eq!(
                parse_request([0x7F, b, 0, 0], ALL),
                Err(HandshakeRefusal::Reply(SerializerUnsupported))
            );
        }
        assert_eq!(
            parse_request([0x7F, 0xF1, 0, 1], ALL),
            Err(HandshakeRefusal::Reply(ReservedBitsUsed))
        );
        assert_eq!(
            parse_request([0x7F, 0xF1, 0x80, 0], ALL),
            Err(HandshakeRefusal::Reply(ReservedBitsUsed))
        );
        // Supported by the codec, but not offered by this endpoint.
        assert_eq!(
            parse_request([0x7F, 0xF3, 0, 0], &[Serializer::Json]),
            Err(HandshakeRefusal::Reply(SerializerUnsupported))
        );
    }

    #[test]
    fn builds_replies() {
        assert_eq!(
            build_handshake(Serializer::Json, 1 << 24),
            [0x7F, 0xF1, 0, 0]
        );
        assert_eq!(
            build_handshake(Serializer::MsgPack, 1 << 20),
            [0x7F, 0xB2, 0, 0]
        );
        assert_eq!(build_handshake(Serializer::Cbor, 100), [0x7F, 0x03, 0, 0]);
        assert_eq!(
            build_error(HandshakeErrorCode::SerializerUnsupported),
            [0x7F, 0x10, 0, 0]
        );
        assert_eq!(
            build_error(HandshakeErrorCode::MaxLengthUnacceptable),
            [0x7F, 0x20, 0, 0]
        );
        assert_eq!(
            build_error(HandshakeErrorCode::ReservedBitsUsed),
            [0x7F, 0x30, 0, 0]
        );
        assert_eq!(
            build_error(HandshakeErrorCode::MaxConnectionCountReached),
            [0x7F, 0x40, 0, 0]
        );
    }

    #[test]
    fn parses_replies() {
        assert_eq!(
            parse_reply([0x7F, 0xB2, 0, 0], Serializer::MsgPack),
            Ok(1 << 20)
        );
        assert_eq!(
            parse_reply([0x7F, 0x40, 0, 0], Serializer::MsgPack),
            Err(ReplyError::Refused(Some(
                HandshakeErrorCode::MaxConnectionCountReached
            )))
        );
        assert_eq!(
            parse_reply([0x7F, 0x90, 0, 0], Serializer::MsgPack),
            Err(ReplyError::Refused(None))
        );
        assert_eq!(
            parse_reply([0x7F, 0xB1, 0, 0], Serializer::MsgPack),
            Err(ReplyError::Invalid)
        );
        assert_eq!(
            parse_reply(*b"HTTP", Serializer::MsgPack),
            Err(ReplyError::Invalid)
        );
    }

    #[test]
    fn frame_headers() {
        assert_eq!(
            parse_frame_header([0, 0, 0, 5]),
            Ok(FrameHeader {
                kind: FrameKind::Message,
                len: 5
            })
        );
        assert_eq!(
            parse_frame_header([1, 0, 1, 0]),
            Ok(FrameHeader {
                kind: FrameKind::Ping,
                len: 256
            })
        );
        assert_eq!(
            parse_frame_header([2, 0xFF, 0xFF, 0xFF]),
            Ok(FrameHeader {
                kind: FrameKind::Pong,
                len: (1 << 24) - 1
            })
        );
        assert_eq!(
            parse_frame_header([0x08, 0, 0, 0]),
            Ok(FrameHeader {
                kind: FrameKind::Message,
                len: 1 << 24
            })
        );
        assert_eq!(
            parse_frame_header([0x08, 0, 0, 1]),
            Err(FrameError::ReservedBits([0x08, 0, 0, 1]))
        );
        assert_eq!(
            parse_frame_header([0x10, 0, 0, 1]),
            Err(FrameError::ReservedBits([0x10, 0, 0, 1]))
        );
        assert_eq!(
            parse_frame_header([3, 0, 0, 0]),
            Err(FrameError::ReservedType(3))
        );
        assert_eq!(
            parse_frame_header([7, 0, 0, 0]),
            Err(FrameError::ReservedType(7))
        );

        assert_eq!(
            build_frame_header(FrameKind::Message, 5),
            Some([0, 0, 0, 5])
        );
        assert_eq!(build_frame_header(FrameKind::Ping, 256), Some([1, 0, 1, 0]));
        assert_eq!(
            build_frame_header(FrameKind::Pong, (1 << 24) - 1),
            Some([2, 0xFF, 0xFF, 0xFF])
        );
        assert_eq!(
            build_frame_header(FrameKind::Message, 1 << 24),
            Some([0x08, 0, 0, 0])
        );
        assert_eq!(build_frame_header(FrameKind::Message, (1 << 24) + 1), None);
    }

    #[test]
    fn decoder_needs_more_bytes_then_yields_frames() {
        let mut d = FrameDecoder::new(1024);
        let mut buf = BytesMut::new();
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&[0, 0]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&[0, 3, b'[', b'1']);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 6, "an incomplete frame stays in the buffer");
        buf.extend_from_slice(&[b']', 1, 0, 0, 2, 0xAB, 0xCD, 2, 0, 0, 0]);
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(Frame {
                kind: FrameKind::Message,
                payload: b"[1]".to_vec()
            }))
        );
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(Frame {
                kind: FrameKind::Ping,
                payload: vec![0xAB, 0xCD]
            }))
        );
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(Frame {
                kind: FrameKind::Pong,
                payload: vec![]
            }))
        );
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn decoder_rejects_oversized_frames_from_the_header() {
        let mut d = FrameDecoder::new(512);
        let mut buf = BytesMut::from(&[0u8, 0, 2, 1][..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(FrameError::TooLarge {
                len: 513,
                limit: 512
            })
        );
        let mut buf = BytesMut::from(&[0u8, 0, 2, 0][..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
    }

    #[test]
    fn encode_then_decode() {
        let frame = encode_frame(FrameKind::Message, b"hello").unwrap();
        assert_eq!(frame, b"\x00\x00\x00\x05hello");
        let mut buf = BytesMut::from(&frame[..]);
        let got = FrameDecoder::new(16).decode(&mut buf).unwrap().unwrap();
        assert_eq!(got.payload, b"hello");
    }

    #[tokio::test]
    async fn server_handshake_over_a_pipe() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let srv =
            tokio::spawn(async move { server_handshake(&mut server, ALL, 1 << 20, false).await });
        let max = client_handshake(&mut client, Serializer::Cbor, 1 << 16)
            .await
            .unwrap();
        assert_eq!(max, 1 << 20);
        let hs = srv.await.unwrap().unwrap();
        assert_eq!(hs.serializer, Serializer::Cbor);
        assert_eq!(hs.max_len, 1 << 16);
    }

    #[tokio::test]
    async fn server_handshake_at_capacity_replies_error_4() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let srv =
            tokio::spawn(async move { server_handshake(&mut server, ALL, 1 << 20, true).await });
        let err = client_handshake(&mut client, Serializer::Json, 1 << 16)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ClientHandshakeError::Reply(ReplyError::Refused(Some(
                HandshakeErrorCode::MaxConnectionCountReached
            )))
        ));
        assert!(srv.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn reader_and_writer_round_trip() {
        let (a, b) = tokio::io::duplex(1024);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let mut w = RsWriter::new(Box::new(aw), 600);
        let mut r = RsReader::new(Box::new(br), 600);
        w.send(FrameKind::Message, b"[6,{},\"x\"]").await.unwrap();
        w.send(FrameKind::Ping, b"p").await.unwrap();
        assert!(matches!(
            w.send(FrameKind::Message, &[0u8; 601]).await,
            Err(TransportError::TooLarge {
                size: 601,
                limit: 600
            })
        ));
        assert_eq!(
            r.recv().await.unwrap(),
            Some(Incoming::Message(b"[6,{},\"x\"]".to_vec()))
        );
        assert_eq!(r.recv().await.unwrap(), Some(Incoming::Ping(b"p".to_vec())));
        w.close().await.unwrap();
        drop(w);
        drop((ar, bw));
        assert_eq!(r.recv().await.unwrap(), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..2048) {
            let mut arr = [0u8; 4];
            for (i, b) in bytes.iter().take(4).enumerate() { arr[i] = *b; }
            let _ = parse_request(arr, ALL);
            let _ = parse_reply(arr, Serializer::Json);
            let _ = parse_frame_header(arr);
            let mut d = FrameDecoder::new(max);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = d.decode(&mut buf) {}
        }

        #[test]
        fn header_round_trip(len in 0usize..=(1 << 24), t in 0u8..3) {
            let kind = [FrameKind::Message, FrameKind::Ping, FrameKind::Pong][t as usize];
            let h = build_frame_header(kind, len).unwrap();
            prop_assert_eq!(parse_frame_header(h), Ok(FrameHeader { kind, len }));
        }

        #[test]
        fn handshake_round_trip(exp in 0u8..16, ser in 0usize..3) {
            let s = Serializer::ALL[ser];
            let req = build_handshake(s, max_len_from_exp(exp));
            let hs = parse_request(req, ALL).unwrap();
            prop_assert_eq!(hs.serializer, s);
            prop_assert_eq!(hs.max_len, max_len_from_exp(exp));
            prop_assert_eq!(parse_reply(req, s), Ok(max_len_from_exp(exp)));
        }
    }
}
