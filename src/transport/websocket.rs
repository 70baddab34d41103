//! WAMP-over-WebSocket (spec: basic/building_blocks.md "WebSocket Transport").
//!
//! The router side does the HTTP/1.1 upgrade itself so that it can answer plain HTTP
//! clients with useful status codes: [`negotiate`] is the I/O-free decision (101 with
//! the chosen `wamp.2.*` subprotocol, or 400/404/405/426 with a text body), and
//! `accept` wraps it around a TCP stream before handing the socket to tungstenite.
//! The client side (`connect`) uses tokio-tungstenite, with rustls for `wss://`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{
    self,
    client::IntoClientRequest,
    http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL},
    protocol::{frame::coding::CloseCode, CloseFrame, Role, WebSocketConfig},
    Message as WsMessage,
};
use tokio_tungstenite::WebSocketStream;

use super::{CloseReason, Incoming, TransportError};
use crate::wamp::Serializer;

/// Any byte stream a WebSocket can run over (plain TCP, TLS).
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub(crate) type WsStream = WebSocketStream<Box<dyn Io>>;

/// Largest HTTP request head we read before refusing with 431.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;

const SERVER_AGENT: &str = concat!("verger/", env!("CARGO_PKG_VERSION"));

/// The router's decision about an HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Negotiation {
    /// Switch protocols: send `response` and speak WebSocket with `serializer`.
    Upgrade {
        serializer: Serializer,
        response: Vec<u8>,
    },
    /// Send `response` (a complete HTTP response) and close.
    Refuse { status: u16, response: Vec<u8> },
}

fn supported_list(serializers: &[Serializer]) -> String {
    serializers
        .iter()
        .map(|s| s.subprotocol())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Build a complete HTTP error response with a plain-text body.
pub fn http_response(status: u16, reason: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nServer: {SERVER_AGENT}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

fn refuse(status: u16, reason: &str, headers: &[(&str, &str)], body: &str) -> Negotiation {
    Negotiation::Refuse {
        status,
        response: http_response(status, reason, headers, body),
    }
}

/// Does a comma-separated header value contain `token` (case-insensitive)?
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Decide what to answer to a complete HTTP request head (up to and including the
/// blank line). `path` is the WebSocket endpoint path; `serializers` are the ones we
/// speak, the client's order of preference wins among them.
pub fn negotiate(head: &[u8], path: &str, serializers: &[Serializer]) -> Negotiation {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return refuse(400, "Bad Request", &[], "malformed HTTP request\n")
        }
    }
    let header = |name: &str| -> Vec<&str> {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .collect()
    };
    let supported = supported_list(serializers);

    if req.method != Some("GET") {
        return refuse(
            405,
            "Method Not Allowed",
            &[("Allow", "GET")],
            "only GET (WebSocket upgrade) is supported\n",
        );
    }
    let target = req.path.unwrap_or("");
    let req_path = target.split(['?', '#']).next().unwrap_or("");
    if req_path != path {
        return refuse(
            404,
            "Not Found",
            &[],
            &format!("no WAMP endpoint at {req_path}; the WebSocket endpoint is {path}\n"),
        );
    }
    let upgrade = header("upgrade").iter().any(|v| has_token(v, "websocket"));
    let connection = header("connection").iter().any(|v| has_token(v, "upgrade"));
    if !upgrade || !connection {
        return refuse(
            426,
            "Upgrade Required",
            &[("Upgrade", "websocket"), ("Connection", "Upgrade")],
            &format!(
                "This is a WAMP router. Connect with a WebSocket client (subprotocols: {supported}) \
                 or with WAMP-over-RawSocket on the same port.\n"
            ),
        );
    }
    if !header("sec-websocket-version")
        .iter()
        .any(|v| v.trim() == "13")
    {
        return refuse(
            426,
            "Upgrade Required",
            &[("Sec-WebSocket-Version", "13")],
            "unsupported WebSocket version; this router speaks version 13 (RFC 6455)\n",
        );
    }
    let Some(key) = header("sec-websocket-key")
        .first()
        .map(|k| k.trim().to_owned())
    else {
        return refuse(400, "Bad Request", &[], "missing Sec-WebSocket-Key\n");
    };
    if key.is_empty() {
        return refuse(400, "Bad Request", &[], "empty Sec-WebSocket-Key\n");
    }
    let offered: Vec<&str> = header("sec-websocket-protocol")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let Some(serializer) = offered
        .iter()
        .filter_map(|p| Serializer::from_subprotocol(p))
        .find(|s| serializers.contains(s))
    else {
        let offered = if offered.is_empty() {
            "none".to_owned()
        } else {
            offered.join(", ")
        };
        return refuse(
            400,
            "Bad Request",
            &[],
            &format!(
                "no supported WebSocket subprotocol offered (offered: {offered}); \
                 this router speaks {supported}\n"
            ),
        );
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nServer: {SERVER_AGENT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        serializer.subprotocol()
    );
    Negotiation::Upgrade {
        serializer,
        response: response.into_bytes(),
    }
}

/// Read an HTTP request head (through the blank line). Returns the head and any bytes
/// that arrived after it. `Ok(None)`: the head exceeded [`MAX_REQUEST_HEAD`]. Bytes
/// that cannot be the start of an HTTP request (e.g. a TLS ClientHello) are returned
/// at once as the "head", for [`negotiate`] to refuse with 400, instead of waiting for
/// a blank line that will never come.
pub(crate) async fn read_request_head<S: AsyncRead + Unpin>(
    io: &mut S,
) -> Result<Option<(Vec<u8>, Vec<u8>)>, TransportError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(TransportError::Closed);
        }
        let searched_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            let end = searched_from + pos + 4;
            let rest = buf.split_off(end);
            return Ok(Some((buf, rest)));
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return Ok(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        if let Err(e) = httparse::Request::new(&mut headers).parse(&buf) {
            if e != httparse::Error::TooManyHeaders {
                return Ok(Some((buf, Vec::new())));
            }
        }
    }
}

pub(crate) fn ws_config(max_message_size: usize) -> WebSocketConfig {
    // 8 KiB read chunks instead of 128 KiB: many mostly idle sessions on a small box
    // (larger messages just take several reads; measured in docs/PERFORMANCE.md).
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// Router side: run the HTTP upgrade on `io` and return the WebSocket. With
/// `at_capacity`, a valid upgrade request is answered with 503 instead.
pub(crate) async fn accept(
    mut io: Box<dyn Io>,
    path: &str,
    serializers: &[Serializer],
    max_message_size: usize,
    at_capacity: bool,
) -> Result<(WsStream, Serializer), TransportError> {
    let Some((head, rest)) = read_request_head(&mut io).await? else {
        let resp = http_response(
            431,
            "Request Header Fields Too Large",
            &[],
            "request head too large\n",
        );
        let _ = io.write_all(&resp).await;
        let _ = io.shutdown().await;
        return Err(TransportError::Handshake(
            "HTTP request head too large".into(),
        ));
    };
    match negotiate(&head, path, serializers) {
        Negotiation::Upgrade { .. } if at_capacity => {
            let resp = http_response(
                503,
                "Service Unavailable",
                &[("Retry-After", "5")],
                "maximum connection count reached\n",
            );
            io.write_all(&resp).await?;
            let _ = io.shutdown().await;
            Err(TransportError::Handshake(
                "refused WebSocket upgrade: maximum connection count reached".into(),
            ))
        }
        Negotiation::Upgrade {
            serializer,
            response,
        } => {
            io.write_all(&response).await?;
            io.flush().await?;
            let ws = WebSocketStream::from_partially_read(
                io,
                rest,
                Role::Server,
                Some(ws_config(max_message_size)),
            )
            .await;
            Ok((ws, serializer))
        }
        Negotiation::Refuse { status, response } => {
            io.write_all(&response).await?;
            let _ = io.shutdown().await;
            let first_line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            Err(TransportError::Handshake(format!(
                "refused HTTP request {first_line:?} with {status}"
            )))
        }
    }
}

/// Read every certificate of the PEM file at `path` (a CA an integrator trusts).
pub(crate) fn load_ca_file(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TransportError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |reason: String| TransportError::Tls(format!("CA file {}: {reason}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The webpki roots plus every certificate in `ca_files`.
pub(crate) fn rustls_config(
    ca_files: &[PathBuf],
) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in ca_files {
        for cert in load_ca_file(path)? {
            roots.add(cert).map_err(|e| {
                TransportError::Tls(format!(
                    "CA file {}: unusable certificate: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(format!("setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Client side: connect to a `ws://` or `wss://` URL offering `serializers`.
pub(crate) async fn connect(
    url: &url::Url,
    serializers: &[Serializer],
    max_message_size: usize,
    tls_ca_files: &[PathBuf],
) -> Result<(WsStream, Serializer), TransportError> {
    let bad = |reason: String| TransportError::BadUrl {
        url: url.to_string(),
        reason,
    };
    if serializers.is_empty() {
        return Err(TransportError::Handshake("no serializer to offer".into()));
    }
    let tls = url.scheme() == "wss";
    // Load the CA files before any network I/O so a bad file fails at once.
    let tls_config = if tls {
        Some(rustls_config(tls_ca_files)?)
    } else {
        None
    };
    let host = url
        .host_str()
        .ok_or_else(|| bad("missing host".into()))?
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| bad("missing port".into()))?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| bad(e.to_string()))?;
    let offer = supported_list(serializers);
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_str(&offer).map_err(|e| bad(e.to_string()))?,
    );

    // IPv6 literals come bracketed from the URL.
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = tokio::net::TcpStream::connect((connect_host, port)).await?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if let Some(tls_config) = tls_config {
        let name = rustls::pki_types::ServerName::try_from(connect_host.to_owned())
            .map_err(|e| bad(format!("invalid TLS server name: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(tls_config);
        let stream = connector.connect(name, tcp).await.map_err(|e| {
            TransportError::Tls(format!("handshake with {connect_host}:{port} failed: {e}"))
        })?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };

    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, io, Some(ws_config(max_message_size)))
            .await
            .map_err(|e| match e {
                tungstenite::Error::Io(io) => TransportError::Io(io),
                tungstenite::Error::Http(resp) => {
                    let body = resp
                        .body()
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                        .unwrap_or_default();
                    TransportError::Handshake(format!("HTTP {}: {body}", resp.status()))
                }
                other => TransportError::Handshake(other.to_string()),
            })?;
    let chosen = response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(Serializer::from_subprotocol)
        .filter(|s| serializers.contains(s))
        .ok_or_else(|| {
            TransportError::Handshake(format!(
                "the server did not select one of the offered subprotocols ({offer})"
            ))
        })?;
    Ok((ws, chosen))
}

/// Reading half of a WebSocket connection.
pub(crate) struct WsReader {
    pub(crate) stream: SplitStream<WsStream>,
    pub(crate) limit: usize,
}

impl WsReader {
    /// Next frame; `Ok(None)` on a close frame or a closed connection.
    ///
    /// Cancel-safe: the only await is `StreamExt::next`, and tokio-tungstenite keeps
    /// partial frames and the fragments of an incomplete message inside the stream,
    /// so a dropped `next` loses nothing; a message is returned as soon as tungstenite
    /// yields it.
    pub(crate) async fn recv(&mut self) -> Result<Option<Incoming>, TransportError> {
        loop {
            let Some(item) = self.stream.next().await else {
                return Ok(None);
            };
            match item {
                Ok(WsMessage::Text(t)) => {
                    return Ok(Some(Incoming::Message(t.as_bytes().to_vec())))
                }
                Ok(WsMessage::Binary(b)) => return Ok(Some(Incoming::Message(b.to_vec()))),
                Ok(WsMessage::Ping(p)) => return Ok(Some(Incoming::Ping(p.to_vec()))),
                Ok(WsMessage::Pong(p)) => return Ok(Some(Incoming::Pong(p.to_vec()))),
                Ok(WsMessage::Close(_)) => return Ok(None),
                Ok(WsMessage::Frame(_)) => continue,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(None)
                }
                Err(tungstenite::Error::Capacity(c)) => {
                    let size = match c {
                        tungstenite::error::CapacityError::MessageTooLong { size, .. } => size,
                        _ => 0,
                    };
                    return Err(TransportError::TooLarge {
                        size,
                        limit: self.limit,
                    });
                }
                // tungstenite checks text as it arrives, fragment by fragment.
                Err(tungstenite::Error::Utf8(e)) => return Err(TransportError::InvalidText(e)),
                Err(tungstenite::Error::Io(e)) => return Err(TransportError::Io(e)),
                Err(e) => return Err(TransportError::Protocol(e.to_string())),
            }
        }
    }
}

/// Writing half of a WebSocket connection.
pub(crate) struct WsWriter {
    pub(crate) sink: SplitSink<WsStream, WsMessage>,
    pub(crate) binary: bool,
}

fn ws_err(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Io(e) => TransportError::Io(e),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            TransportError::Closed
        }
        e => TransportError::Protocol(e.to_string()),
    }
}

impl WsWriter {
    pub(crate) async fn send(&mut self, message: Vec<u8>) -> Result<(), TransportError> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queue a message in tungstenite's write buffer (written out when the buffer fills
    /// or on `flush`).
    pub(crate) async fn feed(&mut self, message: Vec<u8>) -> Result<(), TransportError> {
        let msg = if self.binary {
            WsMessage::Binary(message.into())
        } else {
            match tungstenite::Utf8Bytes::try_from(message) {
                Ok(text) => WsMessage::Text(text),
                // Our JSON encoder only produces UTF-8; never send a broken text frame.
                Err(e) => {
                    return Err(TransportError::Protocol(format!(
                        "JSON message is not UTF-8: {e}"
                    )))
                }
            }
        };
        self.sink.feed(msg).await.map_err(ws_err)
    }

    pub(crate) async fn flush(&mut self) -> Result<(), TransportError> {
        self.sink.flush().await.map_err(ws_err)
    }

    pub(crate) async fn ping(&mut self, payload: Vec<u8>) -> Result<(), TransportError> {
        self.sink
            .send(WsMessage::Ping(payload.into()))
            .await
            .map_err(ws_err)
    }

    /// Send a Close frame, or, when the peer sent one first, the answer tungstenite
    /// queued when it read it (an echo of the peer's status code).
    pub(crate) async fn close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        let (code, text) = match reason {
            CloseReason::Normal => (CloseCode::Normal, ""),
            CloseReason::GoingAway => (CloseCode::Away, "shutting down"),
            CloseReason::TooLarge => (CloseCode::Size, "message too large"),
            CloseReason::ProtocolError => (CloseCode::Protocol, "protocol error"),
            CloseReason::InvalidPayload => (CloseCode::Invalid, "invalid UTF-8 in a text message"),
            CloseReason::Policy => (CloseCode::Policy, "closed by the router"),
        };
        let frame = CloseFrame {
            code,
            reason: text.into(),
        };
        match self.sink.send(WsMessage::Close(Some(frame))).await {
            Ok(())
            | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Ok(())
            }
            // The peer closed first: tungstenite refuses a second Close and holds its
            // answer until the next read or flush. Flush it, then the connection is done.
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::SendAfterClosing,
            )) => match self.sink.flush().await {
                Ok(())
                | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    Ok(())
                }
                Err(e) => Err(ws_err(e)),
            },
            Err(e) => Err(ws_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Serializer] = &Serializer::ALL;

    #[test]
    fn ca_files_that_cannot_be_used_are_named() {
        assert!(rustls_config(&[]).is_ok());
        let missing = std::path::PathBuf::from("/nonexistent/verger-ca.pem");
        let err = rustls_config(std::slice::from_ref(&missing)).unwrap_err();
        assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
        assert!(
            err.to_string().contains("/nonexistent/verger-ca.pem"),
            "{err}"
        );
    }

    fn upgrade_request(path: &str, protocols: Option<&str>) -> Vec<u8> {
        let mut s = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        );
        if let Some(p) = protocols {
            s.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    fn text(resp: &[u8]) -> String {
        String::from_utf8(resp.to_vec()).unwrap()
    }

    #[test]
    fn picks_the_first_supported_subprotocol_the_client_offers() {
        for (offer, want) in [
            ("wamp.2.json", Serializer::Json),
            ("wamp.2.msgpack", Serializer::MsgPack),
            ("wamp.2.cbor", Serializer::Cbor),
            (
                "wamp.2.msgpack.batched, wamp.2.cbor, wamp.2.json",
                Serializer::Cbor,
            ),
            ("foo,wamp.2.json", Serializer::Json),
        ] {
            match negotiate(&upgrade_request("/ws", Some(offer)), "/ws", ALL) {
                Negotiation::Upgrade {
                    serializer,
                    response,
                } => {
                    assert_eq!(serializer, want, "offer {offer}");
                    let r = text(&response);
                    assert!(r.starts_with("HTTP/1.1 101 "), "{r}");
                    // RFC 6455 example key and accept value.
                    assert!(r.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
                    assert!(r.contains(&format!(
                        "Sec-WebSocket-Protocol: {}\r\n",
                        want.subprotocol()
                    )));
                }
                other => panic!("offer {offer}: {other:?}"),
            }
        }
    }

    #[test]
    fn several_protocol_headers_are_one_list() {
        let req = b"GET /ws HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: wamp.2.msgpack\r\n\r\n";
        assert!(matches!(
            negotiate(req, "/ws", ALL),
            Negotiation::Upgrade {
                serializer: Serializer::MsgPack,
                ..
            }
        ));
    }

    #[test]
    fn only_offers_enabled_serializers() {
        assert!(matches!(
            negotiate(
                &upgrade_request("/ws", Some("wamp.2.cbor, wamp.2.json")),
                "/ws",
                &[Serializer::Json]
            ),
            Negotiation::Upgrade {
                serializer: Serializer::Json,
                ..
            }
        ));
    }

    #[test]
    fn refuses_without_a_supported_subprotocol() {
        for offer in [None, Some("chat"), Some("wamp.2.ubjson")] {
            match negotiate(&upgrade_request("/ws", offer), "/ws", ALL) {
                Negotiation::Refuse { status, response } => {
                    assert_eq!(status, 400);
                    let r = text(&response);
                    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"));
                    assert!(
                        r.contains("wamp.2.json, wamp.2.msgpack, wamp.2.cbor"),
                        "body names the supported subprotocols: {r}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn wrong_path_is_404() {
        match negotiate(
            &upgrade_request("/other?x=1", Some("wamp.2.json")),
            "/ws",
            ALL,
        ) {
            Negotiation::Refuse { status, response } => {
                assert_eq!(status, 404);
                assert!(text(&response).contains("/ws"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn query_string_is_ignored() {
        assert!(matches!(
            negotiate(
                &upgrade_request("/ws?token=1", Some("wamp.2.json")),
                "/ws",
                ALL
            ),
            Negotiation::Upgrade { .. }
        ));
    }

    #[test]
    fn plain_get_is_426() {
        let req = b"GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n";
        match negotiate(req, "/ws", ALL) {
            Negotiation::Refuse { status, response } => {
                assert_eq!(status, 426);
                let r = text(&response);
                assert!(r.contains("Upgrade: websocket\r\n"));
                assert!(r.contains("This is a WAMP router"));
                let body = r.split("\r\n\r\n").nth(1).unwrap();
                assert!(r.contains(&format!("Content-Length: {}\r\n", body.len())));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_refusals() {
        let status = |req: &[u8]| match negotiate(req, "/ws", ALL) {
            Negotiation::Refuse { status, .. } => status,
            Negotiation::Upgrade { .. } => 101,
        };
        assert_eq!(status(b"POST /ws HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status(b"\x16\x03\x01garbage\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n"),
            426
        );
        assert_eq!(
            status(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"),
            400
        );
    }

    #[tokio::test]
    async fn reads_the_head_and_keeps_the_rest() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        b.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x81\x85")
            .await
            .unwrap();
        let (head, rest) = read_request_head(&mut a).await.unwrap().unwrap();
        assert_eq!(head, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(rest, b"\x81\x85");
    }

    #[tokio::test]
    async fn non_http_bytes_are_returned_at_once() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        b.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            .await
            .unwrap();
        let (head, _) = read_request_head(&mut a).await.unwrap().unwrap();
        assert!(matches!(
            negotiate(&head, "/ws", ALL),
            Negotiation::Refuse { status: 400, .. }
        ));
    }

    #[tokio::test]
    async fn overlong_head_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let junk = vec![b'a'; MAX_REQUEST_HEAD + 2048];
        b.write_all(&junk).await.unwrap();
        assert!(read_request_head(&mut a).await.unwrap().is_none());
    }

    proptest::proptest! {
        #[test]
        fn negotiate_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = negotiate(&bytes, "/ws", ALL);
        }
    }
}
