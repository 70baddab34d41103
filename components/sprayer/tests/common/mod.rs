//! The sprayer under test: the real `verger-sprayer` binary on a router on port 0, the
//! simulator's virtual valve board on a pseudo-terminal, a record database in a temp
//! folder, and this test as the GNSS component (fixes at 10 Hz in GNSS time = the wall
//! clock, status `fix`) and as the dose module (orders through `orchard.sprayer.apply`).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use verger::civil::rfc3339_from_unix_micros;
use verger::client::{CallError, Client, PublishOptions};
use verger::contract::dose::Product;
use verger::contract::gnss::{FixPayload, ReceiverState, StatusCounters, StatusPayload};
use verger::contract::sprayer::{
    ApplyRequest, ApplyResult, SprayerState, SprayerStatePayload, APPLY, STATE_TOPIC,
};
use verger::nmea::Quality;
use verger::router::RouterHandle;
use verger::valve_board::Outputs;
use verger_sim::board::{VirtualBoard, VirtualBoardConfig};
use verger_testkit::{
    connect, event_where, kwargs_of, start_test_router, subscribe, Process, TempDir,
};

pub const WAIT: Duration = Duration::from_secs(10);

/// Valve latency of the rig (the sprayer's setting and the virtual board's model).
pub const VALVE_LATENCY: Duration = Duration::from_millis(300);
/// No fix for this long: the sprayer's safe state.
pub const MAX_FIX_GAP: Duration = Duration::from_millis(300);

pub struct Rig {
    pub dir: TempDir,
    pub router: Option<RouterHandle>,
    pub board: VirtualBoard,
    pub sprayer: Process,
    pub client: Client,
    pub records: PathBuf,
    fixes: Option<(CancellationToken, tokio::task::JoinHandle<Option<Instant>>)>,
    /// The sprayer's line to the router, when started with one.
    pub line: Option<Line>,
}

/// A TCP line between the sprayer and the router that the test can cut (both sockets
/// closed, as when the router's process dies) or silence (nothing passes and nothing
/// closes, as when a cable is pulled between two machines).
pub struct Line {
    addr: std::net::SocketAddr,
    cut: CancellationToken,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Line {
    async fn open(router: std::net::SocketAddr) -> Line {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cut = CancellationToken::new();
        let silent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stop, quiet) = (cut.clone(), silent.clone());
        tokio::spawn(async move {
            loop {
                let (inbound, _) = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => return },
                };
                let Ok(outbound) = tokio::net::TcpStream::connect(router).await else {
                    continue;
                };
                let (stop, quiet) = (stop.clone(), quiet.clone());
                tokio::spawn(async move {
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = pump(ri, wo, quiet.clone()) => {}
                        _ = pump(ro, wi, quiet) => {}
                    }
                    // Dropping the halves closes both sockets.
                });
            }
        });
        Line { addr, cut, silent }
    }

    /// `ws://` URL of the line.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Close both ends now.
    pub fn cut(&self) {
        self.cut.cancel();
    }

    /// Let nothing through from now on, closing nothing.
    pub fn silence(&self) {
        self.silent.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.load(std::sync::atomic::Ordering::SeqCst) {
            // Swallowed: the peer hears nothing and sees no close.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// GNSS time now (the wall clock), µs.
pub fn gnss_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as i64
}

pub fn rfc3339(us: i64) -> String {
    rfc3339_from_unix_micros(us, 3)
}

pub fn fix_at(us: i64) -> FixPayload {
    let t = us as f64 / 1e6;
    FixPayload {
        time: rfc3339(us),
        lat: 44.1 + (t % 1000.0) * 1e-5,
        lon: 1.08,
        alt_m: Some(80.0),
        quality: Quality::RtkFixed,
        sats: Some(14),
        hdop: Some(0.7),
        speed_mps: Some(1.9),
        course_deg: Some(12.0),
        heading_deg: None,
        lat_err_m: None,
        lon_err_m: None,
        alt_err_m: None,
        diff_age_s: Some(1.0),
        age_ms: 0.0,
        published_at: rfc3339(us),
    }
}

pub fn status(state: ReceiverState) -> StatusPayload {
    let mut s = StatusPayload::gone(
        "test".into(),
        StatusCounters::default(),
        Some(rfc3339(gnss_now())),
    );
    s.state = state;
    s.quality = (state == ReceiverState::Fix).then_some(Quality::RtkFixed);
    s
}

impl Rig {
    /// Start everything; `extra` is appended to the sprayer's settings file, `env` to
    /// its environment (with `env`, its stderr is piped for `wait_with_stderr`).
    pub async fn start(extra: &str, env: &[(&str, &str)]) -> Rig {
        Rig::start_on(extra, env, false).await
    }

    /// As [`Rig::start`]; with `via_line`, the sprayer reaches the router through a
    /// [`Line`] the test can cut or silence (`rig.line`).
    pub async fn start_on(extra: &str, env: &[(&str, &str)], via_line: bool) -> Rig {
        verger_testkit::init_logging();
        let dir = TempDir::new("sprayer");
        let router = start_test_router().await;
        let link = dir.path("valves");
        let board = VirtualBoard::open(
            &link,
            VirtualBoardConfig {
                sections: 2,
                valve_latency: VALVE_LATENCY,
                ..VirtualBoardConfig::default()
            },
        )
        .expect("virtual board");
        let records = dir.path("records.db");
        let config = dir.path("sprayer.toml");
        std::fs::write(
            &config,
            format!(
                "[board]\nkind = \"serial\"\nport = {link:?}\n\n\
                 [[sections]]\nid = \"left\"\nmax_flow_l_min = 20.0\n\n\
                 [[sections]]\nid = \"right\"\nmax_flow_l_min = 20.0\n\n\
                 [timing]\nvalve_latency = \"{}ms\"\nmax_fix_gap = \"{}ms\"\n\n\
                 [record]\ndb = {records:?}\noperator = \"Test Operator\"\n{extra}",
                VALVE_LATENCY.as_millis(),
                MAX_FIX_GAP.as_millis(),
            ),
        )
        .expect("write settings");
        let url = router.url();
        let line = if via_line {
            Some(Line::open(router.local_addr()).await)
        } else {
            None
        };
        let sprayer_url = line.as_ref().map_or(url.clone(), |l| l.url());
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_verger-sprayer"));
        command.args([
            "--router",
            &sprayer_url,
            "--config",
            config.to_str().expect("utf-8"),
        ]);
        for (k, v) in env {
            command.env(k, v);
        }
        if !env.is_empty() {
            // Read by the test (`wait_with_stderr`); otherwise inherited, so a chatty
            // sprayer can never block on a full pipe.
            command.stderr(std::process::Stdio::piped());
        }
        let sprayer = Process::spawn_command(command);
        let client = connect(&url).await;
        Rig {
            dir,
            router: Some(router),
            board,
            sprayer,
            client,
            records,
            fixes: None,
            line,
        }
    }

    /// Publish GNSS status `fix` (retained) and fixes every 100 ms until stopped.
    pub async fn start_fixes(&mut self) {
        self.publish_status(ReceiverState::Fix).await;
        let token = CancellationToken::new();
        let client = self.client.clone();
        let stop = token.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut last = None;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break last,
                    _ = tick.tick() => {
                        let _ = client
                            .publish_typed(
                                verger::contract::gnss::FIX_TOPIC,
                                &fix_at(gnss_now()),
                                PublishOptions::default(),
                            )
                            .await;
                        last = Some(Instant::now());
                    }
                }
            }
        });
        self.fixes = Some((token, task));
    }

    /// Stop the fixes: the instant the last one was published (now if none was).
    pub async fn stop_fixes(&mut self) -> Instant {
        match self.fixes.take() {
            Some((token, task)) => {
                token.cancel();
                task.await.ok().flatten().unwrap_or_else(Instant::now)
            }
            None => Instant::now(),
        }
    }

    pub async fn publish_status(&self, state: ReceiverState) {
        self.client
            .publish_typed(
                verger::contract::gnss::STATUS_TOPIC,
                &status(state),
                verger::component::retained(),
            )
            .await
            .expect("publish status");
    }

    /// Wait until the sprayer says `want`.
    pub async fn state(&self, want: SprayerState) -> SprayerStatePayload {
        let mut sub = subscribe(&self.client, STATE_TOPIC, true).await;
        let e = event_where(&mut sub, &format!("sprayer {}", want.as_str()), |e| {
            kwargs_of::<SprayerStatePayload>(e).state == want
        })
        .await;
        kwargs_of(&e)
    }

    /// Fixes flowing and the sprayer ready.
    pub async fn ready(extra: &str, env: &[(&str, &str)]) -> Rig {
        Rig::ready_on(extra, env, false).await
    }

    /// As [`Rig::ready`], through a [`Line`] with `via_line`.
    pub async fn ready_on(extra: &str, env: &[(&str, &str)], via_line: bool) -> Rig {
        let mut rig = Rig::start_on(extra, env, via_line).await;
        rig.start_fixes().await;
        rig.state(SprayerState::Ready).await;
        rig
    }

    /// An order for `tree` on `section`, spray at the canopy from `open_in` to
    /// `close_in` from now.
    pub fn order(tree: &str, section: &str, open_in: Duration, close_in: Duration) -> ApplyRequest {
        let now = gnss_now();
        ApplyRequest {
            plan_id: format!("{tree}@{section}:1"),
            revision: 1,
            section: section.into(),
            tree_id: tree.into(),
            open: rfc3339(now + open_in.as_micros() as i64),
            close: rfc3339(now + close_in.as_micros() as i64),
            flow_l_min: 12.0,
            volume_l: 0.1,
            product: Product::example(),
            parcel: Some("P-1".into()),
            crop: Some("apple".into()),
        }
    }

    pub async fn apply(&self, order: &ApplyRequest) -> Result<ApplyResult, CallError> {
        self.client.call_typed(APPLY, order).await
    }

    /// Order a long spray on `left` and wait until its valve is open.
    pub async fn spraying(&self) -> Instant {
        self.apply(&Rig::order(
            "T-1",
            "left",
            Duration::from_millis(400),
            Duration::from_secs(8),
        ))
        .await
        .expect("order taken");
        self.board
            .wait_for("the left valve open", WAIT, |o: &Outputs| {
                o.sections().first().is_some_and(|s| s.is_open())
            })
            .await
            .expect("left valve opens")
    }

    /// The instants `section`'s valve opened, from the board's log.
    pub fn openings(&self, section: usize) -> Vec<Instant> {
        self.board
            .log()
            .iter()
            .filter(|c| c.section == section && c.state.is_open())
            .map(|c| c.at)
            .collect()
    }

    /// Order a spray of tree `SENTINEL` on `section` (index `index`) from `open_in` to
    /// `open_in + 200 ms` and wait until its valve opens: time has then passed beyond
    /// every earlier window, without sleeping. The instant it opened.
    pub async fn sentinel(&self, section: &str, index: usize, open_in: Duration) -> Instant {
        self.apply(&Rig::order(
            "SENTINEL",
            section,
            open_in,
            open_in + Duration::from_millis(200),
        ))
        .await
        .expect("sentinel order taken");
        let opened = self
            .board
            .wait_for("the sentinel's valve open", WAIT, |o: &Outputs| {
                o.sections()[index].is_open()
            })
            .await
            .expect("the sentinel's valve opens");
        self.closed("the sentinel's valve closed").await;
        opened
    }

    /// Wait until every valve is closed: the instant it happened at the board.
    pub async fn closed(&self, what: &str) -> Instant {
        self.board
            .wait_for(what, WAIT, |o: &Outputs| {
                o.sections().iter().all(|s| !s.is_open())
            })
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"))
    }

    /// The time from `fault` to every valve closed at the board, checked against the
    /// 200 ms target and printed.
    pub async fn closes_within_200ms(&self, what: &str, fault: Instant) -> Duration {
        let closed = self.closed(what).await;
        let took = closed.saturating_duration_since(fault);
        eprintln!("{what}: valves closed {took:?} after the fault");
        assert!(
            took < Duration::from_millis(200),
            "{what}: valves closed {took:?} after the fault (target: under 200 ms)"
        );
        took
    }
}

/// `e`'s payload is valid against the contract's schema of `uri`.
pub fn valid(uri: &str, e: &verger::client::Event) {
    let json = verger_testkit::schema::kwargs_json(&e.kwargs);
    if let Err(problems) = verger_testkit::schema::check(uri, &json) {
        panic!("{uri}: {problems:?} in {json}");
    }
}
