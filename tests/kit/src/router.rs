//! A router on 127.0.0.1:0 for tests, restarted on the same port when a test needs a
//! router that goes away and comes back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, UnixListener};
use verger::router::{Listeners, Router, RouterConfig, RouterHandle};

use crate::{init_logging, within};

/// A config for tests: port 0, short shutdown timeout, every other value the default
/// (realm `orchard`).
pub fn test_config() -> RouterConfig {
    RouterConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        shutdown_timeout: Duration::from_secs(2),
        ..RouterConfig::default()
    }
}

/// Start a router with `config` on 127.0.0.1:0.
pub async fn start_router(config: RouterConfig) -> RouterHandle {
    init_logging();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    start_on(config, listener)
}

/// Start a router with [`test_config`].
pub async fn start_test_router() -> RouterHandle {
    start_router(test_config()).await
}

/// A router again on exactly `addr` (a restart after [`RouterHandle::shutdown`]).
pub async fn restart_router(addr: SocketAddr) -> RouterHandle {
    init_logging();
    let listener = rebind(addr).await;
    start_on(test_config(), listener)
}

fn start_on(mut config: RouterConfig, listener: TcpListener) -> RouterHandle {
    config.listen = listener.local_addr().expect("local addr");
    Router::start(config, listener).expect("start router")
}

/// A router on 127.0.0.1:0 and on the Unix socket `socket`.
pub async fn start_router_with_unix(config: RouterConfig, socket: &Path) -> RouterHandle {
    init_logging();
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let unix = UnixListener::bind(socket).expect("bind unix");
    Router::new(config)
        .expect("config")
        .start_with(Listeners {
            tcp: Some(tcp),
            unix: Some(unix),
        })
        .expect("start router")
}

/// An address on 127.0.0.1 that nobody listens on now (for "router not there yet").
pub async fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("local addr")
}

/// Bind exactly `addr` again (a restarted router on the same port), retrying while the
/// previous owner lets go of it.
pub async fn rebind(addr: SocketAddr) -> TcpListener {
    within("rebind the router port", async {
        loop {
            let socket = TcpSocket::new_v4().expect("socket");
            socket.set_reuseaddr(true).expect("reuseaddr");
            if socket.bind(addr).is_ok() {
                if let Ok(l) = socket.listen(128) {
                    return l;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// A unique Unix socket path in the temp directory (removed when dropped).
#[derive(Debug)]
pub struct TempSocket(pub PathBuf);

impl TempSocket {
    pub fn new(tag: &str) -> TempSocket {
        let path = std::env::temp_dir().join(format!(
            "verger-test-{tag}-{}-{:08x}.sock",
            std::process::id(),
            verger::wamp::ids::random_id() & 0xFFFF_FFFF
        ));
        let _ = std::fs::remove_file(&path);
        TempSocket(path)
    }
}

impl Drop for TempSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
