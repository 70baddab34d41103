//! Router benchmark: `cargo bench --bench router` (add `-- --quick` for a short run).
//!
//! Starts the real `verger router` binary (release-like `bench` profile) as its own
//! process on 127.0.0.1:0 and drives it over loopback WebSocket with MessagePack from
//! lean raw-wire sessions in this process, so that what is measured is the router, not
//! a client library. Prints a Markdown table for `docs/PERFORMANCE.md`.
//!
//! Measures:
//! - RPC throughput: one callee, `CALLERS` caller sessions each keeping `WINDOW` calls
//!   in flight.
//! - Event throughput: one publisher, `SUBSCRIBERS` subscribers; the publisher keeps at
//!   most `WINDOW` unacknowledged events in flight (every `WINDOW`-th publish asks for
//!   acknowledge), which keeps the router's outbound queues from overflowing.
//! - RPC round-trip latency at a paced 1,000 calls/s (p50, p99, max).
//! - Router resident memory (VmRSS from /proc) idle, and with 100 idle sessions.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use verger::wamp::{Dict, Message, Payload, Serializer, Value};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
const SER: Serializer = Serializer::MsgPack;
const REALM: &str = "bench";

struct RouterProcess {
    child: Child,
    url: String,
}

impl RouterProcess {
    fn start() -> RouterProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_verger"))
            .args(["router", "--listen", "127.0.0.1:0", "--realm", REALM])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start verger router");
        let stdout = child.stdout.take().expect("router stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read router banner");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no ws:// URL in router banner {line:?}"))
            .to_owned();
        RouterProcess { child, url }
    }

    /// Resident set size in KiB, from /proc.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Session {
    tx: SplitSink<Ws, WsMessage>,
    rx: SplitStream<Ws>,
    next_request: u64,
}

impl Session {
    async fn open(url: &str) -> Session {
        let mut req = url.into_client_request().expect("request");
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            SER.subprotocol().parse().expect("header"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("connect");
        let (tx, rx) = ws.split();
        let mut s = Session {
            tx,
            rx,
            next_request: 0,
        };
        let roles = verger::dict! {
            "caller" => Value::Dict(Dict::new()),
            "callee" => Value::Dict(Dict::new()),
            "publisher" => Value::Dict(Dict::new()),
            "subscriber" => Value::Dict(Dict::new()),
        };
        s.send(&Message::Hello {
            realm: REALM.into(),
            details: verger::dict! { "roles" => roles },
        })
        .await;
        match s.recv().await {
            Message::Welcome { .. } => s,
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    fn request_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    async fn send(&mut self, msg: &Message) {
        self.tx
            .send(WsMessage::Binary(SER.encode(msg).into()))
            .await
            .expect("send");
    }

    /// Queue without flushing (for pipelining); call `flush` after a batch.
    async fn feed(&mut self, msg: &Message) {
        self.tx
            .feed(WsMessage::Binary(SER.encode(msg).into()))
            .await
            .expect("feed");
    }

    async fn flush(&mut self) {
        self.tx.flush().await.expect("flush");
    }

    async fn recv(&mut self) -> Message {
        loop {
            match self.rx.next().await.expect("router closed").expect("ws") {
                WsMessage::Binary(b) => return SER.decode(&b).expect("decode"),
                WsMessage::Text(t) => return SER.decode(t.as_bytes()).expect("decode"),
                _ => continue,
            }
        }
    }

    /// A message that is already here, without waiting.
    fn ready(&mut self) -> Option<Message> {
        use futures_util::FutureExt;
        loop {
            match self.rx.next().now_or_never()? {
                Some(Ok(WsMessage::Binary(b))) => return Some(SER.decode(&b).expect("decode")),
                Some(Ok(_)) => continue,
                _ => panic!("router closed"),
            }
        }
    }

    async fn register(&mut self, procedure: &str) {
        let request = self.request_id();
        self.send(&Message::Register {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
        })
        .await;
        match self.recv().await {
            Message::Registered { .. } => {}
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    async fn subscribe(&mut self, topic: &str) {
        let request = self.request_id();
        self.send(&Message::Subscribe {
            request,
            options: Dict::new(),
            topic: topic.into(),
        })
        .await;
        match self.recv().await {
            Message::Subscribed { .. } => {}
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    fn call_msg(&mut self, n: u64) -> Message {
        Message::Call {
            request: self.request_id(),
            options: Dict::new(),
            procedure: "bench.echo".into(),
            payload: Payload::args(vec![Value::UInt(n), Value::Float(43.6)]),
        }
    }
}

/// A callee that answers every INVOCATION with its arguments, until `stop`.
async fn echo_callee(url: String, stop: Arc<AtomicBool>) {
    let mut s = Session::open(&url).await;
    s.register("bench.echo").await;
    while !stop.load(Ordering::Relaxed) {
        let msg = match tokio::time::timeout(Duration::from_millis(200), s.recv()).await {
            Ok(m) => m,
            Err(_) => continue,
        };
        // Answer everything that is already here, then flush once.
        let mut next = Some(msg);
        while let Some(msg) = next {
            if let Message::Invocation {
                request, payload, ..
            } = msg
            {
                s.feed(&Message::Yield {
                    request,
                    options: Dict::new(),
                    payload,
                })
                .await;
            }
            next = s.ready();
        }
        s.flush().await;
    }
}

struct Throughput {
    ops: u64,
    secs: f64,
}

impl Throughput {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

async fn rpc_throughput(url: &str, callers: usize, window: usize, dur: Duration) -> Throughput {
    let stop = Arc::new(AtomicBool::new(false));
    let callee = tokio::spawn(echo_callee(url.to_owned(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let url = url.to_owned();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Session::open(&url).await;
            for n in 0..window as u64 {
                let m = s.call_msg(n);
                s.feed(&m).await;
            }
            s.flush().await;
            let deadline = Instant::now() + dur;
            let mut outstanding = window;
            while outstanding > 0 {
                let mut next = Some(s.recv().await);
                while let Some(msg) = next {
                    match msg {
                        Message::Result { .. } => {
                            done.fetch_add(1, Ordering::Relaxed);
                            outstanding -= 1;
                            if Instant::now() < deadline {
                                let m = s.call_msg(0);
                                s.feed(&m).await;
                                outstanding += 1;
                            }
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                    next = s.ready();
                }
                s.flush().await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller task");
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = callee.await;
    Throughput {
        ops: done.load(Ordering::Relaxed),
        secs,
    }
}

async fn event_throughput(
    url: &str,
    subscribers: usize,
    window: u64,
    dur: Duration,
) -> (Throughput, u64) {
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut subs = Vec::new();
    for _ in 0..subscribers {
        let mut s = Session::open(url).await;
        s.subscribe("bench.topic").await;
        let received = received.clone();
        let stop = stop.clone();
        subs.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(Message::Event { .. }) =
                    tokio::time::timeout(Duration::from_millis(200), s.recv()).await
                {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut p = Session::open(url).await;
    let payload = Payload::new(
        vec![],
        verger::dict! { "lat" => 43.612_345_67, "lon" => 3.876_543_21, "speed_mps" => 1.8 },
    );
    let start = Instant::now();
    let mut published = 0u64;
    while start.elapsed() < dur {
        for i in 0..window {
            let request = p.request_id();
            let ack = i + 1 == window;
            let options = if ack {
                verger::dict! { "acknowledge" => true }
            } else {
                Dict::new()
            };
            p.feed(&Message::Publish {
                request,
                options,
                topic: "bench.topic".into(),
                payload: payload.clone(),
            })
            .await;
        }
        p.flush().await;
        match p.recv().await {
            Message::Published { .. } => {}
            other => panic!("expected PUBLISHED, got {other:?}"),
        }
        // End-to-end flow control: PUBLISHED only says the router took the batch, so
        // also wait until subscribers are at most one more window behind. Without it
        // the publisher outruns the subscribers and the router cuts them off as slow
        // consumers, which is the overload policy, not the throughput being measured.
        let behind_limit = published * subscribers as u64;
        published += window;
        while received.load(Ordering::Relaxed) < behind_limit {
            tokio::task::yield_now().await;
        }
    }
    // Let subscribers drain what is in flight.
    let expected = published * subscribers as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for s in subs {
        let _ = s.await;
    }
    let got = received.load(Ordering::Relaxed);
    (Throughput { ops: got, secs }, expected - got.min(expected))
}

async fn paced_latency(url: &str, rate: u64, dur: Duration) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let callee = tokio::spawn(echo_callee(url.to_owned(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut s = Session::open(url).await;
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples = Vec::new();
    let end = Instant::now() + dur;
    while Instant::now() < end {
        tick.tick().await;
        let m = s.call_msg(1);
        let t0 = Instant::now();
        s.send(&m).await;
        match s.recv().await {
            Message::Result { .. } => samples.push(t0.elapsed()),
            other => panic!("unexpected {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = callee.await;
    samples.sort();
    samples
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let dur = Duration::from_secs(if quick { 1 } else { 5 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = RouterProcess::start();
    let url = router.url.clone();
    let idle_rss = router.rss_kib();

    rt.block_on(async {
        println!("| measurement | result |");
        println!("|---|---|");
        if let Some(kib) = idle_rss {
            println!("| router RSS, no session | {:.1} MB |", kib as f64 / 1024.0);
        }

        let rpc = rpc_throughput(&url, 2, 64, dur).await;
        println!(
            "| RPC throughput (1 callee, 2 callers x 64 in flight) | {:.0} calls/s |",
            rpc.per_sec()
        );

        for subs in [1usize, 10] {
            let (ev, lost) = event_throughput(&url, subs, 100, dur).await;
            println!(
                "| event throughput (1 publisher, {subs} subscriber(s)) | {:.0} events/s delivered ({} not delivered) |",
                ev.per_sec(),
                lost
            );
        }

        let lat = paced_latency(&url, 1000, dur).await;
        println!(
            "| RPC round trip at 1,000 calls/s ({} calls) | p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs |",
            lat.len(),
            pct(&lat, 0.50).as_secs_f64() * 1e6,
            pct(&lat, 0.99).as_secs_f64() * 1e6,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e6
        );

        // Memory on a fresh router, so the allocator's high-water mark from the load
        // above does not count.
        let fresh = RouterProcess::start();
        let mut idle = VecDeque::new();
        for _ in 0..100 {
            idle.push_back(Session::open(&fresh.url).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(kib) = fresh.rss_kib() {
            println!(
                "| router RSS, 100 idle sessions (fresh router) | {:.1} MB |",
                kib as f64 / 1024.0
            );
        }
        drop(idle);
    });
}
