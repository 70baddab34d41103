//! Transports that carry serialized WAMP messages: WebSocket and RawSocket (TCP and
//! Unix domain socket), server side ([`accept`], [`accept_unix`]) and client side
//! ([`connect`]).
//!
//! - `websocket.rs`: HTTP upgrade with `wamp.2.*` subprotocol negotiation (I/O-free
//!   [`websocket::negotiate`]), tungstenite for the frames, rustls for `wss://`.
//! - `rawsocket.rs`: the I/O-free RawSocket handshake and framing codec, and its async
//!   reader/writer.
//! - `keepalive.rs`: the I/O-free ping/timeout bookkeeping ([`Keepalive`]).
//!
//! A TCP listener is a *universal* port, as in Crossbar: the first byte `0x7F` means
//! RawSocket, anything else HTTP/WebSocket. A Unix listener speaks RawSocket only.
//!
//! Pings: whoever reads a transport must answer [`Incoming::Ping`] with
//! [`TransportWriter::pong`] and the same payload. That is right for every transport
//! (on WebSocket, tungstenite already answered and `pong` does nothing).

use std::path::PathBuf;
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};

use crate::wamp::Serializer;

pub mod keepalive;
pub mod rawsocket;
pub mod websocket;

pub use keepalive::{Keepalive, KeepaliveAction};

use rawsocket::{FrameKind, RsReader, RsWriter};
use websocket::{WsReader, WsWriter};

/// Which kind of transport a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    WebSocket,
    RawSocketTcp,
    RawSocketUnix,
}

/// What the reading half yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// One whole serialized WAMP message.
    Message(Vec<u8>),
    /// The peer pinged us (the transport may already have answered).
    Ping(Vec<u8>),
    /// The peer answered one of our pings.
    Pong(Vec<u8>),
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// TLS (`wss://`) setup or handshake: unreadable CA file, untrusted certificate, …
    #[error("TLS: {0}")]
    Tls(String),
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// A WebSocket text message (or a fragment of one) is not valid UTF-8 (RFC 6455
    /// §8.1): the connection must be failed with close code 1007.
    #[error("invalid UTF-8 in a text message: {0}")]
    InvalidText(String),
    #[error("transport protocol error: {0}")]
    Protocol(String),
    #[error("connection closed")]
    Closed,
}

impl TransportError {
    /// How a connection whose reader failed with this error is closed: 1007 for
    /// invalid UTF-8 in a text message, 1009 for a message over the limit, 1002 for
    /// anything else.
    pub fn close_reason(&self) -> CloseReason {
        match self {
            TransportError::InvalidText(_) => CloseReason::InvalidPayload,
            TransportError::TooLarge { .. } => CloseReason::TooLarge,
            _ => CloseReason::ProtocolError,
        }
    }
}

/// Options for the client side.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Serializers to offer, in order of preference.
    pub serializers: Vec<Serializer>,
    /// Largest message we accept (announced in the RawSocket handshake).
    pub max_message_size: usize,
    pub connect_timeout: Duration,
    /// PEM files with extra CA certificates to trust for `wss://`, in addition to the
    /// webpki roots (a TLS-terminating proxy with a certificate from the farm's own CA).
    pub tls_ca_files: Vec<PathBuf>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            serializers: vec![Serializer::MsgPack, Serializer::Json, Serializer::Cbor],
            max_message_size: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            tls_ca_files: Vec::new(),
        }
    }
}

/// Why we close a transport; becomes the WebSocket close code (RawSocket has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// 1000
    Normal,
    /// 1001: the router shuts down.
    GoingAway,
    /// 1009: the peer sent a message over the transport limit.
    TooLarge,
    /// 1002: the peer broke the transport protocol.
    ProtocolError,
    /// 1007: the peer sent a text message that is not UTF-8.
    InvalidPayload,
    /// 1008: closed by policy (slow consumer, dead peer, protocol violation).
    Policy,
}

/// The reading half of an established transport.
pub struct TransportReader {
    inner: ReaderInner,
}

enum ReaderInner {
    Ws(WsReader),
    Rs(RsReader),
}

/// The writing half of an established transport.
pub struct TransportWriter {
    inner: WriterInner,
}

enum WriterInner {
    Ws(WsWriter),
    Rs(RsWriter),
}

impl std::fmt::Debug for TransportReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            ReaderInner::Ws(_) => "websocket",
            ReaderInner::Rs(_) => "rawsocket",
        };
        f.debug_struct("TransportReader")
            .field("kind", &kind)
            .finish()
    }
}

impl std::fmt::Debug for TransportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            WriterInner::Ws(_) => "websocket",
            WriterInner::Rs(_) => "rawsocket",
        };
        f.debug_struct("TransportWriter")
            .field("kind", &kind)
            .finish()
    }
}

/// An established transport, split into halves.
#[derive(Debug)]
pub struct Transport {
    pub serializer: Serializer,
    pub kind: TransportKind,
    /// Peer description for logs and the meta API, e.g. `tcp4:127.0.0.1:50123`.
    pub peer: String,
    /// Largest message the peer accepts (RawSocket handshake; `usize::MAX` if unknown).
    pub peer_max_message: usize,
    pub reader: TransportReader,
    pub writer: TransportWriter,
}

impl TransportReader {
    /// Next frame; `Ok(None)` when the peer closed cleanly. A message over our limit
    /// is `Err(TooLarge)`, a WebSocket text message with invalid UTF-8
    /// `Err(InvalidText)` (as soon as the frame with the bad bytes arrives, also
    /// within a fragmented message); the connection must then be closed with
    /// [`TransportError::close_reason`]. After a WebSocket Close from the peer (`Ok(None)`),
    /// the writer's [`close_with`](TransportWriter::close_with) completes the closing
    /// handshake: it sends tungstenite's echo of the peer's Close frame.
    ///
    /// **Cancel-safe**: dropping the future before it completes (a `tokio::select!`
    /// branch that loses, a timeout) loses no byte and no message; the next call
    /// continues where this one stopped. All framing state lives in the reader, not
    /// in the future: RawSocket keeps a partial frame in the reader's buffer (see
    /// `RsReader::recv`), WebSocket keeps partial frames and fragmented messages
    /// inside tungstenite's stream. Tested by `recv_is_cancel_safe_on_*`. The router's
    /// session task relies on it: it selects on `recv` together with its timers and
    /// kill switch.
    pub async fn recv(&mut self) -> Result<Option<Incoming>, TransportError> {
        match &mut self.inner {
            ReaderInner::Ws(r) => r.recv().await,
            ReaderInner::Rs(r) => r.recv().await,
        }
    }
}

impl TransportWriter {
    /// Send one serialized WAMP message (JSON in text frames on WebSocket). A message
    /// over the peer's announced RawSocket limit is not sent: `Err(TooLarge)`, and the
    /// transport stays usable.
    pub async fn send(&mut self, message: Vec<u8>) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(w) => w.send(message).await,
            WriterInner::Rs(w) => w.send(FrameKind::Message, &message).await,
        }
    }

    /// Queue one serialized WAMP message without flushing: a writer that knows more
    /// messages are waiting feeds them all and flushes once, saving a system call per
    /// message under load. Same size rule as `send`.
    pub async fn feed(&mut self, message: Vec<u8>) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(w) => w.feed(message).await,
            WriterInner::Rs(w) => w.feed(FrameKind::Message, &message).await,
        }
    }

    /// Write out everything `feed` queued.
    pub async fn flush(&mut self) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(w) => w.flush().await,
            WriterInner::Rs(w) => w.flush().await,
        }
    }

    /// Send a transport-level ping (WebSocket: at most 125 bytes of payload).
    pub async fn ping(&mut self, payload: Vec<u8>) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(w) => w.ping(payload).await,
            WriterInner::Rs(w) => w.send(FrameKind::Ping, &payload).await,
        }
    }

    /// Answer a ping. On WebSocket tungstenite has already answered, so this does nothing.
    pub async fn pong(&mut self, payload: Vec<u8>) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(_) => Ok(()),
            WriterInner::Rs(w) => w.send(FrameKind::Pong, &payload).await,
        }
    }

    /// Close the transport (WebSocket close frame 1000 / TCP shutdown).
    pub async fn close(&mut self) -> Result<(), TransportError> {
        self.close_with(CloseReason::Normal).await
    }

    /// Close the transport with a reason (the WebSocket close code). If the peer
    /// started the WebSocket closing handshake, this answers it instead: the answer
    /// echoes the peer's status code (RFC 6455 §5.5.1).
    pub async fn close_with(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(w) => w.close(reason).await,
            WriterInner::Rs(w) => w.close().await,
        }
    }
}

/// Router-side settings for accepting transports.
#[derive(Clone, Debug)]
pub struct AcceptOptions {
    /// The WebSocket endpoint path, e.g. `/ws`.
    pub path: String,
    /// Serializers we speak.
    pub serializers: Vec<Serializer>,
    /// Hard limit on an incoming message: larger WebSocket messages close the
    /// connection with 1009; the RawSocket handshake announces it (rounded down to a
    /// power of two) and larger frames close the connection.
    pub max_message_size: usize,
    /// Time allowed for the transport handshake (HTTP upgrade or RawSocket octets).
    pub handshake_timeout: Duration,
}

impl Default for AcceptOptions {
    fn default() -> Self {
        AcceptOptions {
            path: "/ws".into(),
            serializers: Serializer::ALL.to_vec(),
            max_message_size: 16 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

fn tcp_peer(stream: &TcpStream) -> String {
    match stream.peer_addr() {
        Ok(a) if a.is_ipv4() => format!("tcp4:{a}"),
        Ok(a) => format!("tcp6:{a}"),
        Err(_) => "tcp:unknown".into(),
    }
}

fn unix_peer(stream: &UnixStream) -> String {
    match stream.peer_cred().ok().and_then(|c| c.pid()) {
        Some(pid) => format!("unix:pid={pid}"),
        None => "unix".into(),
    }
}

fn timed_out(what: &str, after: Duration) -> TransportError {
    TransportError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} timed out after {after:?}"),
    ))
}

fn rawsocket_transport<R, W>(
    read: R,
    write: W,
    kind: TransportKind,
    peer: String,
    serializer: Serializer,
    our_max: usize,
    peer_max: usize,
) -> Transport
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    Transport {
        serializer,
        kind,
        peer,
        peer_max_message: peer_max,
        reader: TransportReader {
            inner: ReaderInner::Rs(RsReader::new(Box::new(read), our_max)),
        },
        writer: TransportWriter {
            inner: WriterInner::Rs(RsWriter::new(Box::new(write), peer_max)),
        },
    }
}

fn websocket_transport(
    ws: websocket::WsStream,
    serializer: Serializer,
    peer: String,
    our_max: usize,
) -> Transport {
    use futures_util::StreamExt;
    let (sink, stream) = ws.split();
    Transport {
        serializer,
        kind: TransportKind::WebSocket,
        peer,
        peer_max_message: usize::MAX,
        reader: TransportReader {
            inner: ReaderInner::Ws(WsReader {
                stream,
                limit: our_max,
            }),
        },
        writer: TransportWriter {
            inner: WriterInner::Ws(WsWriter {
                sink,
                binary: serializer.is_binary(),
            }),
        },
    }
}

/// The size we announce in the RawSocket handshake: the largest power of two not
/// above the limit, so that every frame the peer may send is within our limit.
fn rawsocket_limit(max: usize) -> usize {
    rawsocket::max_len_from_exp(rawsocket::exp_for_max_len(max))
}

async fn accept_tcp_inner(
    mut stream: TcpStream,
    options: &AcceptOptions,
    at_capacity: bool,
) -> Result<Transport, TransportError> {
    let peer = tcp_peer(&stream);
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Err(TransportError::Closed);
    }
    if first[0] == rawsocket::MAGIC {
        let our_max = rawsocket_limit(options.max_message_size);
        let hs =
            rawsocket::server_handshake(&mut stream, &options.serializers, our_max, at_capacity)
                .await?;
        let (r, w) = stream.into_split();
        Ok(rawsocket_transport(
            r,
            w,
            TransportKind::RawSocketTcp,
            peer,
            hs.serializer,
            our_max,
            hs.max_len,
        ))
    } else {
        let (ws, serializer) = websocket::accept(
            Box::new(stream),
            &options.path,
            &options.serializers,
            options.max_message_size,
            at_capacity,
        )
        .await?;
        Ok(websocket_transport(
            ws,
            serializer,
            peer,
            options.max_message_size,
        ))
    }
}

async fn accept_unix_inner(
    mut stream: UnixStream,
    options: &AcceptOptions,
    at_capacity: bool,
) -> Result<Transport, TransportError> {
    let peer = unix_peer(&stream);
    let our_max = rawsocket_limit(options.max_message_size);
    let hs = rawsocket::server_handshake(&mut stream, &options.serializers, our_max, at_capacity)
        .await?;
    let (r, w) = stream.into_split();
    Ok(rawsocket_transport(
        r,
        w,
        TransportKind::RawSocketUnix,
        peer,
        hs.serializer,
        our_max,
        hs.max_len,
    ))
}

/// Router side, universal TCP port: RawSocket if the first byte is `0x7F`, otherwise
/// an HTTP request that must be a WebSocket upgrade on `options.path`. Refusals (HTTP
/// 400/404/405/426, RawSocket error replies) are answered before the error returns.
pub async fn accept(
    stream: TcpStream,
    options: &AcceptOptions,
) -> Result<Transport, TransportError> {
    tokio::time::timeout(
        options.handshake_timeout,
        accept_tcp_inner(stream, options, false),
    )
    .await
    .map_err(|_| timed_out("transport handshake", options.handshake_timeout))?
}

/// Router side, Unix domain socket: RawSocket only.
pub async fn accept_unix(
    stream: UnixStream,
    options: &AcceptOptions,
) -> Result<Transport, TransportError> {
    tokio::time::timeout(
        options.handshake_timeout,
        accept_unix_inner(stream, options, false),
    )
    .await
    .map_err(|_| timed_out("transport handshake", options.handshake_timeout))?
}

/// Router side, at the connection cap: read the handshake and refuse it (RawSocket
/// error 4 "maximum connection count reached", HTTP 503). Always returns an error.
pub async fn refuse(stream: TcpStream, options: &AcceptOptions) -> TransportError {
    match tokio::time::timeout(
        options.handshake_timeout,
        accept_tcp_inner(stream, options, true),
    )
    .await
    {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => TransportError::Handshake("refused".into()),
        Err(_) => timed_out("transport handshake", options.handshake_timeout),
    }
}

/// [`refuse`] for a Unix domain socket.
pub async fn refuse_unix(stream: UnixStream, options: &AcceptOptions) -> TransportError {
    match tokio::time::timeout(
        options.handshake_timeout,
        accept_unix_inner(stream, options, true),
    )
    .await
    {
        Ok(Err(e)) => e,
        Ok(Ok(_)) => TransportError::Handshake("refused".into()),
        Err(_) => timed_out("transport handshake", options.handshake_timeout),
    }
}

/// Where [`connect`] goes, parsed from a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `ws://` or `wss://`.
    WebSocket(url::Url),
    /// `rs://host:port` or `tcp://host:port`.
    RawSocketTcp { host: String, port: u16 },
    /// `unix:///path/to/socket`.
    RawSocketUnix(PathBuf),
}

/// Parse a router URL; errors name the problem.
pub fn parse_url(url: &str) -> Result<Endpoint, TransportError> {
    let bad = |reason: &str| TransportError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    match parsed.scheme() {
        "ws" | "wss" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(bad("missing host"));
            }
            Ok(Endpoint::WebSocket(parsed))
        }
        "rs" | "tcp" => {
            let host = parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| bad("missing host"))?;
            let port = parsed
                .port()
                .ok_or_else(|| bad("missing port (RawSocket has no default port)"))?;
            if !matches!(parsed.path(), "" | "/") {
                return Err(bad("a RawSocket URL has no path"));
            }
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            Ok(Endpoint::RawSocketTcp { host, port })
        }
        "unix" => {
            if parsed.host_str().is_some_and(|h| !h.is_empty()) {
                return Err(bad("a unix URL has no host: use unix:///absolute/path"));
            }
            let path = parsed.path();
            if path.is_empty() || path == "/" {
                return Err(bad("missing socket path"));
            }
            Ok(Endpoint::RawSocketUnix(PathBuf::from(path)))
        }
        other => Err(bad(&format!(
            "unsupported scheme {other:?} (use ws, wss, rs, tcp or unix)"
        ))),
    }
}

/// Connect to a router: `ws://host:port/path`, `wss://...`, `rs://host:port` or
/// `tcp://host:port` (RawSocket), `unix:///path/to/socket` (RawSocket).
///
/// WebSocket offers all `options.serializers` at once; RawSocket asks for them one
/// connection at a time until the router accepts one.
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Transport, TransportError> {
    let endpoint = parse_url(url)?;
    if options.serializers.is_empty() {
        return Err(TransportError::Handshake("no serializer to offer".into()));
    }
    tokio::time::timeout(options.connect_timeout, connect_endpoint(endpoint, options))
        .await
        .map_err(|_| timed_out("connect", options.connect_timeout))?
}

async fn connect_endpoint(
    endpoint: Endpoint,
    options: &ConnectOptions,
) -> Result<Transport, TransportError> {
    let our_max = rawsocket_limit(options.max_message_size);
    match endpoint {
        Endpoint::WebSocket(url) => {
            let (ws, serializer) = websocket::connect(
                &url,
                &options.serializers,
                options.max_message_size,
                &options.tls_ca_files,
            )
            .await?;
            let peer = url.host_str().unwrap_or("").to_owned();
            let peer = format!("{}:{}", peer, url.port_or_known_default().unwrap_or(0));
            Ok(websocket_transport(
                ws,
                serializer,
                peer,
                options.max_message_size,
            ))
        }
        Endpoint::RawSocketTcp { host, port } => {
            let mut last = None;
            for &serializer in &options.serializers {
                let mut stream = TcpStream::connect((host.as_str(), port)).await?;
                let _ = stream.set_nodelay(true);
                let peer = tcp_peer(&stream);
                match rawsocket::client_handshake(&mut stream, serializer, our_max).await {
                    Ok(peer_max) => {
                        let (r, w) = stream.into_split();
                        return Ok(rawsocket_transport(
                            r,
                            w,
                            TransportKind::RawSocketTcp,
                            peer,
                            serializer,
                            our_max,
                            peer_max,
                        ));
                    }
                    Err(e) => match client_handshake_error(e) {
                        (err, true) => last = Some(err),
                        (err, false) => return Err(err),
                    },
                }
            }
            Err(last.unwrap_or(TransportError::Closed))
        }
        Endpoint::RawSocketUnix(path) => {
            let mut last = None;
            for &serializer in &options.serializers {
                let mut stream = UnixStream::connect(&path).await?;
                match rawsocket::client_handshake(&mut stream, serializer, our_max).await {
                    Ok(peer_max) => {
                        let (r, w) = stream.into_split();
                        return Ok(rawsocket_transport(
                            r,
                            w,
                            TransportKind::RawSocketUnix,
                            format!("unix:{}", path.display()),
                            serializer,
                            our_max,
                            peer_max,
                        ));
                    }
                    Err(e) => match client_handshake_error(e) {
                        (err, true) => last = Some(err),
                        (err, false) => return Err(err),
                    },
                }
            }
            Err(last.unwrap_or(TransportError::Closed))
        }
    }
}

/// Map a client handshake failure; the flag says whether another serializer may work.
fn client_handshake_error(e: rawsocket::ClientHandshakeError) -> (TransportError, bool) {
    use rawsocket::{ClientHandshakeError, HandshakeErrorCode, ReplyError};
    match e {
        ClientHandshakeError::Io(e) => (TransportError::Io(e), false),
        ClientHandshakeError::Reply(ReplyError::Refused(code)) => {
            let text = code.map_or("undefined error", HandshakeErrorCode::describe);
            (
                TransportError::Handshake(format!(
                    "router refused the RawSocket handshake: {text}"
                )),
                code == Some(HandshakeErrorCode::SerializerUnsupported),
            )
        }
        ClientHandshakeError::Reply(ReplyError::Invalid) => (
            TransportError::Handshake("invalid RawSocket handshake reply".into()),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert!(matches!(
            parse_url("ws://127.0.0.1:8080/ws").unwrap(),
            Endpoint::WebSocket(u) if u.port() == Some(8080) && u.path() == "/ws"
        ));
        assert!(matches!(
            parse_url("wss://router.example.com/ws").unwrap(),
            Endpoint::WebSocket(_)
        ));
        assert_eq!(
            parse_url("rs://localhost:9000").unwrap(),
            Endpoint::RawSocketTcp {
                host: "localhost".into(),
                port: 9000
            }
        );
        assert_eq!(
            parse_url("tcp://[::1]:9000").unwrap(),
            Endpoint::RawSocketTcp {
                host: "::1".into(),
                port: 9000
            }
        );
        assert_eq!(
            parse_url("unix:///run/verger.sock").unwrap(),
            Endpoint::RawSocketUnix("/run/verger.sock".into())
        );
    }

    #[test]
    fn bad_urls_name_the_problem() {
        for (url, needle) in [
            ("http://x:1/ws", "unsupported scheme"),
            ("rs://localhost", "missing port"),
            ("tcp://:80", "empty host"),
            ("rs://h:1/path", "no path"),
            ("unix://host/sock", "no host"),
            ("unix:///", "missing socket path"),
            ("not a url", "relative URL"),
            ("ws://:80/ws", "empty host"),
        ] {
            match parse_url(url) {
                Err(TransportError::BadUrl { reason, .. }) => {
                    assert!(reason.contains(needle), "{url}: {reason}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    use futures_util::FutureExt;
    use tokio::io::AsyncWriteExt;

    /// Write `wire` into `feed` a few bytes at a time (piece sizes cycle through 1..=7);
    /// after each piece, poll `recv` once and drop it if it is not ready, i.e. cancel
    /// it in the middle of a frame. Returns what arrived and how often `recv` was
    /// cancelled.
    async fn recv_with_cancellations(
        reader: &mut TransportReader,
        feed: &mut tokio::io::DuplexStream,
        wire: &[u8],
    ) -> (Vec<Incoming>, usize) {
        let mut got = Vec::new();
        let mut cancelled = 0;
        let mut rest = wire;
        let mut piece = 0;
        while !rest.is_empty() {
            piece = piece % 7 + 1;
            let (now, later) = rest.split_at(piece.min(rest.len()));
            feed.write_all(now).await.unwrap();
            rest = later;
            // Give the reader a fresh cooperative budget, so that a `Pending` below
            // means "waiting for bytes", never "out of budget".
            tokio::task::yield_now().await;
            loop {
                match reader.recv().now_or_never() {
                    Some(frame) => got.push(frame.unwrap().unwrap()),
                    None => {
                        cancelled += 1;
                        break;
                    }
                }
            }
        }
        (got, cancelled)
    }

    fn payload(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| b'a' + (i as u8).wrapping_add(seed) % 26)
            .collect()
    }

    #[tokio::test]
    async fn recv_is_cancel_safe_on_rawsocket() {
        let sizes = [0usize, 1, 4, 5, 130, 3000, 17];
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (i, &len) in sizes.iter().enumerate() {
            let data = payload(len, i as u8);
            let (kind, incoming) = match i % 3 {
                0 | 1 => (FrameKind::Message, Incoming::Message(data.clone())),
                _ => (FrameKind::Ping, Incoming::Ping(data.clone())),
            };
            wire.extend(rawsocket::encode_frame(kind, &data).unwrap());
            expected.push(incoming);
        }
        let (mut feed, io) = tokio::io::duplex(1 << 16);
        let mut reader = TransportReader {
            inner: ReaderInner::Rs(RsReader::new(Box::new(io), 1 << 16)),
        };
        let (got, cancelled) = recv_with_cancellations(&mut reader, &mut feed, &wire).await;
        assert_eq!(got, expected);
        assert!(
            cancelled > wire.len() / 7,
            "recv was cancelled {cancelled} times"
        );
        drop(feed);
        assert_eq!(reader.recv().await.unwrap(), None);
    }

    /// A WebSocket frame from a server (unmasked).
    fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 | opcode } else { opcode }];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xFFFF => {
                f.push(126);
                f.extend((n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend((n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[tokio::test]
    async fn recv_is_cancel_safe_on_websocket() {
        use tokio_tungstenite::tungstenite::protocol::Role;
        const TEXT: u8 = 0x1;
        const BINARY: u8 = 0x2;
        const CONTINUATION: u8 = 0x0;
        const PING: u8 = 0x9;
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (i, &len) in [0usize, 3, 125, 126, 3000, 70_000].iter().enumerate() {
            let data = payload(len, i as u8);
            let opcode = if i % 2 == 0 { TEXT } else { BINARY };
            wire.extend(ws_frame(true, opcode, &data));
            expected.push(Incoming::Message(data));
        }
        // A message fragmented over three frames, with a ping in between (RFC 6455
        // allows control frames inside a fragmented message).
        let whole = payload(400, 9);
        wire.extend(ws_frame(false, BINARY, &whole[..100]));
        wire.extend(ws_frame(true, PING, b"are you there"));
        wire.extend(ws_frame(false, CONTINUATION, &whole[100..350]));
        wire.extend(ws_frame(true, CONTINUATION, &whole[350..]));
        expected.push(Incoming::Ping(b"are you there".to_vec()));
        expected.push(Incoming::Message(whole));

        let (mut feed, io) = tokio::io::duplex(1 << 20);
        let io: Box<dyn websocket::Io> = Box::new(io);
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Client, None).await;
        let mut transport = websocket_transport(ws, Serializer::Json, "test".into(), 1 << 20);
        let (got, cancelled) =
            recv_with_cancellations(&mut transport.reader, &mut feed, &wire).await;
        assert_eq!(got, expected);
        assert!(
            cancelled > wire.len() / 7,
            "recv was cancelled {cancelled} times"
        );
    }

    #[tokio::test]
    async fn connect_rejects_bad_url_without_io() {
        let err = connect("ftp://x", &ConnectOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::BadUrl { .. }), "{err}");
    }
}
