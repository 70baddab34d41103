//! Harness for the GNSS component tests: a router on 127.0.0.1:0, a real
//! pseudo-terminal pair standing in for the receiver's USB serial port, subscribers,
//! real NMEA captures, and the component started in-process. Every await is under a
//! timeout ([`within`]).
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use verger::client::{
    Client, ClientConfig, Event, ReconnectPolicy, SubscribeOptions, Subscription,
};
use verger::contract::gnss::{FixPayload, StatusPayload};
use verger::router::{Router, RouterConfig, RouterHandle};
use verger_gnss::GnssConfig;

/// Upper bound for any single step of a test.
pub const STEP: Duration = Duration::from_secs(10);

pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {STEP:?}: {what}"),
    }
}

pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_test_writer()
        .try_init();
}

pub fn router_config(listen: SocketAddr) -> RouterConfig {
    RouterConfig {
        listen,
        shutdown_timeout: Duration::from_secs(2),
        ..RouterConfig::default()
    }
}

/// A router on 127.0.0.1:0.
pub async fn start_router() -> RouterHandle {
    init_logging();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    Router::start(router_config(addr), listener).expect("start router")
}

/// A router again on exactly `addr` (a restart).
pub async fn restart_router(addr: SocketAddr) -> RouterHandle {
    let listener = within("rebind the router port", async {
        loop {
            let socket = TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            if socket.bind(addr).is_ok() {
                if let Ok(l) = socket.listen(128) {
                    return l;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    Router::start(router_config(addr), listener).expect("restart router")
}

/// A client that reconnects fast (tests restart routers).
pub fn client_config(url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(url, "orchard");
    config.reconnect = ReconnectPolicy {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        ..ReconnectPolicy::default()
    };
    config
}

pub async fn connect(url: &str) -> Client {
    within("client connect", Client::connect(client_config(url)))
        .await
        .expect("connect")
}

pub async fn subscribe(client: &Client, topic: &str, get_retained: bool) -> Subscription {
    let options = SubscribeOptions {
        get_retained,
        ..SubscribeOptions::default()
    };
    within("subscribe", client.subscribe(topic, options))
        .await
        .expect("subscribe")
}

pub async fn next_event(sub: &mut Subscription, what: &str) -> Event {
    within(what, sub.recv()).await.expect("subscription ended")
}

/// Wait for a status event matching `pred`, skipping others.
pub async fn status_where(
    sub: &mut Subscription,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    within(what, async {
        loop {
            let e = sub.recv().await.expect("subscription ended");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
}

/// The event as the contract's fix payload.
pub fn fix_of(e: &Event) -> FixPayload {
    e.kwargs_as()
        .unwrap_or_else(|err| panic!("not a fix payload ({err}): {:?}", e.kwargs))
}

/// The event as the contract's status payload.
pub fn status_of(e: &Event) -> StatusPayload {
    e.kwargs_as()
        .unwrap_or_else(|err| panic!("not a status payload ({err}): {:?}", e.kwargs))
}

/// The component, running in this process; stopped when dropped.
pub struct Component {
    pub client: Client,
    task: JoinHandle<Result<(), verger_gnss::GnssError>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Component {
    pub fn start(url: &str, config: GnssConfig) -> Component {
        init_logging();
        let client = Client::start(client_config(url)).expect("client");
        let (stop, stopped) = oneshot::channel::<()>();
        let token = verger::client::CancellationToken::new();
        let cancel = token.clone();
        tokio::spawn(async move {
            let _ = stopped.await;
            cancel.cancel();
        });
        let task = tokio::spawn(verger_gnss::run(client.clone(), config, token));
        Component {
            client,
            task,
            stop: Some(stop),
        }
    }

    /// Wait until `run` returns (file sources).
    pub async fn finished(mut self) -> Result<(), verger_gnss::GnssError> {
        let task = &mut self.task;
        within("component finishes", task).await.expect("join")
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        let _ = within("component stops", task).await;
        let _ = within("client close", self.client.close()).await;
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A pseudo-terminal pair: the test writes to the master as the receiver would; the
/// component opens `link` (a symlink to the slave, like a udev `/dev/gnss` rule) exactly
/// as it would open `/dev/ttyUSB0`. Dropping it (or [`Pty::unplug`]) closes both ends
/// and removes the link: the device is gone.
pub struct Pty {
    master: tokio::fs::File,
    /// Held so that the slave side exists before the component opens it.
    _slave: OwnedFd,
    pub slave_path: PathBuf,
    pub link: PathBuf,
}

impl Pty {
    pub fn open(link: &Path) -> Pty {
        use nix::sys::termios;
        let pair = nix::pty::openpty(None, None).expect("openpty");
        // Raw mode from the start, as a USB serial adapter behaves (no echo, no CR/NL
        // translation) even before the component configures the port.
        let mut attrs = termios::tcgetattr(&pair.slave).expect("tcgetattr");
        termios::cfmakeraw(&mut attrs);
        termios::tcsetattr(&pair.slave, termios::SetArg::TCSANOW, &attrs).expect("tcsetattr");
        let slave_path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&slave_path, link).expect("symlink");
        let master = tokio::fs::File::from_std(std::fs::File::from(pair.master));
        Pty {
            master,
            _slave: pair.slave,
            slave_path,
            link: link.to_path_buf(),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        within("pty write", async {
            self.master.write_all(bytes).await.expect("write pty");
            self.master.flush().await.expect("flush pty");
        })
        .await
    }

    pub fn unplug(self) {
        drop(self);
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link);
    }
}

/// A fresh temporary directory (removed when dropped).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "verger-gnss-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file of `/work/shared/data/nmea`, found from the crate as `../shared/...` of the
/// project root (or `../../shared` from a worktree).
pub fn nmea_capture(name: &str) -> Vec<u8> {
    std::fs::read(nmea_capture_path(name)).unwrap()
}

/// The path of a file of `/work/shared/data/nmea` (see [`nmea_capture`]).
pub fn nmea_capture_path(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().and_then(Path::parent).unwrap_or(manifest);
    for base in [root.join("../shared"), root.join("../../shared")] {
        let path = base.join("data/nmea").join(name);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{name} not found under ../shared or ../../shared of {}",
        root.display()
    );
}

/// The receiver epochs of a capture: groups of lines with the same time field,
/// comment lines left out. Each epoch is the exact bytes of its lines.
pub fn epochs_of(capture: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut epochs: Vec<(String, Vec<u8>)> = Vec::new();
    for line in capture.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"#") || !line.starts_with(b"$") {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        let time = text.split(',').nth(1).unwrap_or("").to_owned();
        match epochs.last_mut() {
            Some((t, bytes)) if *t == time => bytes.extend_from_slice(line),
            _ => epochs.push((time, line.to_vec())),
        }
    }
    epochs
}

/// `hhmmss.ss` of an NMEA time field as the `HH:MM:SS.ss` part of RFC 3339.
pub fn rfc3339_time_part(nmea_time: &str) -> String {
    format!(
        "{}:{}:{}",
        &nmea_time[0..2],
        &nmea_time[2..4],
        &nmea_time[4..]
    )
}

/// The project root (for `docs/schemas`).
pub fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}
