//! Transports that carry serialized WAMP messages: WebSocket and RawSocket (TCP and
//! Unix domain socket), server side (accept) and client side (connect).

use std::time::Duration;

use crate::wamp::Serializer;

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
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("transport protocol error: {0}")]
    Protocol(String),
    #[error("connection closed")]
    Closed,
}

/// Options for the client side.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Serializers to offer, in order of preference.
    pub serializers: Vec<Serializer>,
    /// Largest message we accept (announced in the RawSocket handshake).
    pub max_message_size: usize,
    pub connect_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            serializers: vec![Serializer::MsgPack, Serializer::Json, Serializer::Cbor],
            max_message_size: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The reading half of an established transport.
#[derive(Debug)]
pub struct TransportReader {
    _private: (),
}

/// The writing half of an established transport.
#[derive(Debug)]
pub struct TransportWriter {
    _private: (),
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
    /// Next frame; `Ok(None)` when the peer closed cleanly.
    pub async fn recv(&mut self) -> Result<Option<Incoming>, TransportError> {
        todo!("shell helper")
    }
}

impl TransportWriter {
    pub async fn send(&mut self, message: Vec<u8>) -> Result<(), TransportError> {
        let _ = message;
        todo!("shell helper")
    }

    pub async fn ping(&mut self, payload: Vec<u8>) -> Result<(), TransportError> {
        let _ = payload;
        todo!("shell helper")
    }

    pub async fn pong(&mut self, payload: Vec<u8>) -> Result<(), TransportError> {
        let _ = payload;
        todo!("shell helper")
    }

    /// Close the transport (WebSocket close frame / TCP shutdown).
    pub async fn close(&mut self) -> Result<(), TransportError> {
        todo!("shell helper")
    }
}

/// Connect to a router: `ws://host:port/path`, `wss://...`, `rs://host:port` or
/// `tcp://host:port` (RawSocket), `unix:///path/to/socket` (RawSocket).
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Transport, TransportError> {
    let _ = (url, options);
    todo!("shell helper")
}
