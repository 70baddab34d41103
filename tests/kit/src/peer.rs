//! Raw WAMP peers: real transports (WebSocket, RawSocket over TCP or Unix) that send
//! and expect messages without any client-library logic, so tests can see exactly what
//! the router sends and can misbehave on purpose.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use verger::transport::{self, rawsocket, ConnectOptions, Incoming, Transport};
use verger::wamp::{code, Dict, Id, Message, Payload, Serializer, Value};

use crate::within;

/// All four client roles, empty features.
pub fn client_roles() -> Dict {
    verger::dict! {
        "caller" => Dict::new(),
        "callee" => Dict::new(),
        "publisher" => Dict::new(),
        "subscriber" => Dict::new(),
    }
}

pub fn hello(realm: &str) -> Message {
    Message::Hello {
        realm: realm.into(),
        details: verger::dict! { "roles" => client_roles(), "agent" => "verger-tests" },
    }
}

/// A WAMP peer over a real transport (connected with `verger::transport::connect`),
/// sending and receiving messages without any client-library logic. Transport pings are
/// answered while receiving.
#[derive(Debug)]
pub struct Peer {
    pub transport: Transport,
    next_request: Id,
}

impl Peer {
    pub async fn connect(url: &str, serializer: Serializer) -> Peer {
        Self::try_connect(url, serializer)
            .await
            .unwrap_or_else(|e| panic!("connect {url} with {serializer:?}: {e}"))
    }

    pub async fn try_connect(
        url: &str,
        serializer: Serializer,
    ) -> Result<Peer, transport::TransportError> {
        let options = ConnectOptions {
            serializers: vec![serializer],
            ..ConnectOptions::default()
        };
        let transport = within("connect", transport::connect(url, &options)).await?;
        Ok(Peer {
            transport,
            next_request: 0,
        })
    }

    /// Connect and join `realm`; returns the peer and its session id.
    pub async fn join(url: &str, serializer: Serializer, realm: &str) -> (Peer, Id) {
        let mut p = Peer::connect(url, serializer).await;
        let id = p.hello(realm).await;
        (p, id)
    }

    pub fn serializer(&self) -> Serializer {
        self.transport.serializer
    }

    pub fn request(&mut self) -> Id {
        self.next_request += 1;
        self.next_request
    }

    pub async fn send(&mut self, message: &Message) {
        let bytes = self.serializer().encode(message);
        self.send_raw(bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        within("send", self.transport.writer.send(bytes))
            .await
            .expect("send");
    }

    /// Next message bytes; `None` when the transport closed.
    pub async fn recv_raw(&mut self) -> Option<Vec<u8>> {
        within("receive", async {
            loop {
                match self.transport.reader.recv().await {
                    Ok(Some(Incoming::Message(bytes))) => return Some(bytes),
                    Ok(Some(Incoming::Ping(p))) => {
                        let _ = self.transport.writer.pong(p).await;
                    }
                    Ok(Some(Incoming::Pong(_))) => {}
                    Ok(None) | Err(_) => return None,
                }
            }
        })
        .await
    }

    /// Read for `duration`, answering pings; no message may arrive and the
    /// connection must stay open.
    pub async fn idle(&mut self, duration: Duration) {
        let reader = &mut self.transport.reader;
        let writer = &mut self.transport.writer;
        let _ = tokio::time::timeout(duration, async {
            loop {
                match reader.recv().await {
                    Ok(Some(Incoming::Ping(payload))) => writer.pong(payload).await.unwrap(),
                    Ok(Some(Incoming::Pong(_))) => {}
                    other => panic!("unexpected {other:?} while idle"),
                }
            }
        })
        .await;
    }

    /// Next message; `None` when the transport closed.
    pub async fn try_recv(&mut self) -> Option<Message> {
        let bytes = self.recv_raw().await?;
        Some(
            self.serializer()
                .decode(&bytes)
                .unwrap_or_else(|e| panic!("router sent undecodable bytes: {e}")),
        )
    }

    pub async fn recv(&mut self) -> Message {
        self.try_recv()
            .await
            .expect("connection closed while waiting for a message")
    }

    /// Send HELLO, expect WELCOME; returns the session id.
    pub async fn hello(&mut self, realm: &str) -> Id {
        self.send(&hello(realm)).await;
        match self.recv().await {
            Message::Welcome { session, .. } => session,
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    /// Expect ABORT; returns (reason, details).
    pub async fn expect_abort(&mut self) -> (String, Dict) {
        match self.recv().await {
            Message::Abort { reason, details } => (reason, details),
            other => panic!("expected ABORT, got {other:?}"),
        }
    }

    /// Expect the transport to close (after any messages, which are returned).
    pub async fn expect_closed(&mut self) -> Vec<Message> {
        let mut seen = Vec::new();
        while let Some(m) = self.try_recv().await {
            seen.push(m);
            assert!(seen.len() < 10_000, "connection did not close");
        }
        seen
    }

    pub async fn subscribe(&mut self, topic: &str) -> Id {
        let request = self.request();
        self.send(&Message::Subscribe {
            request,
            options: Dict::new(),
            topic: topic.into(),
        })
        .await;
        match self.recv().await {
            Message::Subscribed {
                request: r,
                subscription,
            } if r == request => subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub async fn register(&mut self, procedure: &str) -> Result<Id, String> {
        let request = self.request();
        self.send(&Message::Register {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
        })
        .await;
        match self.recv().await {
            Message::Registered {
                request: r,
                registration,
            } if r == request => Ok(registration),
            Message::Error {
                request_type: code::REGISTER,
                error,
                ..
            } => Err(error),
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    /// Publish with acknowledge and wait for PUBLISHED.
    pub async fn publish_acked(&mut self, topic: &str, args: Vec<Value>) -> Id {
        let request = self.request();
        self.send(&Message::Publish {
            request,
            options: verger::dict! { "acknowledge" => true },
            topic: topic.into(),
            payload: Payload::args(args),
        })
        .await;
        match self.recv().await {
            Message::Published {
                request: r,
                publication,
            } if r == request => publication,
            other => panic!("expected PUBLISHED, got {other:?}"),
        }
    }

    pub async fn publish(&mut self, topic: &str, args: Vec<Value>) {
        let request = self.request();
        self.send(&Message::Publish {
            request,
            options: Dict::new(),
            topic: topic.into(),
            payload: Payload::args(args),
        })
        .await;
    }

    /// Expect an EVENT; returns its payload.
    pub async fn expect_event(&mut self) -> Payload {
        match self.recv().await {
            Message::Event { payload, .. } => payload,
            other => panic!("expected EVENT, got {other:?}"),
        }
    }

    pub async fn call(&mut self, procedure: &str, args: Vec<Value>) -> Message {
        let request = self.request();
        self.send(&Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            payload: Payload::args(args),
        })
        .await;
        self.recv().await
    }

    /// As a callee: answer the next INVOCATION by echoing its arguments.
    pub async fn serve_echo_once(&mut self) {
        match self.recv().await {
            Message::Invocation {
                request, payload, ..
            } => {
                self.send(&Message::Yield {
                    request,
                    options: Dict::new(),
                    payload,
                })
                .await
            }
            other => panic!("expected INVOCATION, got {other:?}"),
        }
    }

    pub async fn goodbye(&mut self) {
        self.send(&Message::Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".into(),
        })
        .await;
        match self.recv().await {
            Message::Goodbye { reason, .. } => assert_eq!(reason, "wamp.close.goodbye_and_out"),
            other => panic!("expected GOODBYE, got {other:?}"),
        }
    }
}

/// Two sessions that prove the router still serves everybody: a subscriber + callee
/// and a publisher + caller. [`Bystanders::check`] does a publish and a call round trip.
#[derive(Debug)]
pub struct Bystanders {
    pub a: Peer,
    pub b: Peer,
    rounds: u64,
}

pub const BYSTANDER_TOPIC: &str = "test.bystander.topic";
pub const BYSTANDER_PROC: &str = "test.bystander.echo";

impl Bystanders {
    pub async fn start(url: &str) -> Bystanders {
        let (mut a, _) = Peer::join(url, Serializer::Json, "orchard").await;
        let (b, _) = Peer::join(url, Serializer::MsgPack, "orchard").await;
        a.subscribe(BYSTANDER_TOPIC).await;
        a.register(BYSTANDER_PROC).await.expect("register echo");
        Bystanders { a, b, rounds: 0 }
    }

    pub async fn check(&mut self) {
        self.rounds += 1;
        let n = self.rounds;
        self.b
            .publish_acked(BYSTANDER_TOPIC, vec![Value::from(n)])
            .await;
        let payload = self.a.expect_event().await;
        assert_eq!(payload.arg_list(), &[Value::from(n)]);
        let request = self.b.request();
        self.b
            .send(&Message::Call {
                request,
                options: Dict::new(),
                procedure: BYSTANDER_PROC.into(),
                payload: Payload::args(vec![Value::from("ping")]),
            })
            .await;
        self.a.serve_echo_once().await;
        match self.b.recv().await {
            Message::Result {
                request: r,
                payload,
                ..
            } => {
                assert_eq!(r, request);
                assert_eq!(payload.arg_list(), &[Value::from("ping")]);
            }
            other => panic!("bystander expected RESULT, got {other:?}"),
        }
    }
}

/// A RawSocket peer on a bare TCP stream: handshake and framing by hand, so tests can
/// misbehave (stop reading, send bad frames).
#[derive(Debug)]
pub struct RawRs {
    pub stream: TcpStream,
    pub serializer: Serializer,
}

impl RawRs {
    /// Connect and send the handshake octets; returns the stream and the reply.
    pub async fn handshake(addr: SocketAddr, request: [u8; 4]) -> (TcpStream, [u8; 4]) {
        let mut stream = within("tcp connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        stream.write_all(&request).await.expect("write handshake");
        let mut reply = [0u8; 4];
        within("handshake reply", stream.read_exact(&mut reply))
            .await
            .expect("read handshake reply");
        (stream, reply)
    }

    /// Connect with a small receive buffer (so that a peer that stops reading fills up
    /// quickly), handshake for `serializer` announcing 16 MiB.
    pub async fn connect_small_buffer(addr: SocketAddr, serializer: Serializer) -> RawRs {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let mut stream = within("tcp connect", socket.connect(addr))
            .await
            .expect("connect");
        stream
            .write_all(&rawsocket::build_handshake(serializer, 1 << 24))
            .await
            .unwrap();
        let mut reply = [0u8; 4];
        within("handshake reply", stream.read_exact(&mut reply))
            .await
            .unwrap();
        assert_eq!(reply[1] & 0x0F, serializer.rawsocket_id(), "{reply:02x?}");
        RawRs { stream, serializer }
    }

    pub async fn send(&mut self, message: &Message) {
        let frame = rawsocket::encode_frame(
            rawsocket::FrameKind::Message,
            &self.serializer.encode(message),
        )
        .unwrap();
        within("raw send", self.stream.write_all(&frame))
            .await
            .unwrap();
    }

    /// Read one frame: (kind, payload); `None` on EOF.
    pub async fn recv_frame(&mut self) -> Option<(rawsocket::FrameKind, Vec<u8>)> {
        read_frame(&mut self.stream).await
    }

    pub async fn recv(&mut self) -> Option<Message> {
        loop {
            let (kind, payload) = self.recv_frame().await?;
            if kind == rawsocket::FrameKind::Message {
                return Some(self.serializer.decode(&payload).expect("decode"));
            }
        }
    }
}

/// Read one RawSocket frame from a stream; `None` on EOF or reset.
pub async fn read_frame<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
) -> Option<(rawsocket::FrameKind, Vec<u8>)> {
    within("raw frame", async {
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).await.ok()?;
        let header = rawsocket::parse_frame_header(head).expect("valid frame header");
        let mut payload = vec![0u8; header.len];
        stream.read_exact(&mut payload).await.ok()?;
        Some((header.kind, payload))
    })
    .await
}

/// Send a raw HTTP request and return the whole response (the router closes after a
/// refusal).
pub async fn http_exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = within("tcp connect", TcpStream::connect(addr))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    within("HTTP response", stream.read_to_end(&mut response))
        .await
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}
