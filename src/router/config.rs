//! Router configuration: TOML with named defaults, unknown keys rejected, and a
//! [`Validate`] step for values that parse but make no sense.
//!
//! Loaded by the one loader of [`crate::config`] (errors name the file, line and
//! field). Durations are strings with a unit ([`crate::config::duration`]): `"500ms"`,
//! `"10s"`, `"2m"`, `"1h"`, or sums such as `"1m30s"`. Sizes are integers in bytes.
//! The shipped `router.toml` at the repo root lists every key with its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::config::ConfigError;
use crate::config::{Problem, Validate};
use crate::wamp::uri::{self, UriCheck};

/// Default TCP listen address (WebSocket and RawSocket on one port).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default WebSocket path.
pub const DEFAULT_PATH: &str = "/ws";
/// Default realm.
pub const DEFAULT_REALM: &str = crate::contract::DEFAULT_REALM;
/// Default WAMP message size limit: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;
/// Largest transport limit (the RawSocket maximum): 16 MiB.
pub const MAX_TRANSPORT_SIZE: usize = 16 * 1024 * 1024;
/// Default per-session outbound queue, in messages.
pub const DEFAULT_OUTBOUND_QUEUE: usize = 1024;
/// Default per-session outbound queue, in encoded bytes: 4 MiB.
pub const DEFAULT_OUTBOUND_QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// Default outbound budget of all sessions together, in encoded bytes: 64 MiB.
pub const DEFAULT_OUTBOUND_BUDGET: usize = 64 * 1024 * 1024;
/// Default cap on one session's subscriptions.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION: usize = 1024;
/// Default cap on one session's registrations.
pub const DEFAULT_MAX_REGISTRATIONS_PER_SESSION: usize = 1024;
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_SESSIONS: usize = 256;
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the router needs to know. Every field has a default; a TOML file only
/// lists what it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// TCP address for the universal port (WebSocket + RawSocket). IP:port; port 0
    /// picks a free port.
    pub listen: SocketAddr,
    /// WebSocket endpoint path.
    pub path: String,
    /// Realms that exist; a HELLO for any other realm is refused (`no_such_realm`).
    pub realms: Vec<String>,
    /// Also listen for RawSocket on this Unix domain socket.
    pub unix_socket: Option<PathBuf>,
    /// URI rules for topics and procedures: `loose` or `strict`.
    pub uri_check: UriCheck,
    /// Largest WAMP message (bytes) the router accepts for routing. Larger requests get
    /// `wamp.error.payload_size_exceeded`; see `router::session` for the policy.
    pub max_message_size: usize,
    /// Hard transport limit (bytes): larger frames close the connection. Default:
    /// 4 × `max_message_size`, at most 16 MiB.
    pub max_transport_size: Option<usize>,
    /// Messages queued per session before the router cuts it as a slow consumer.
    pub outbound_queue: usize,
    /// Encoded bytes queued per session before the router cuts it as a slow consumer
    /// (or drops events of its `drop_oldest` / `latest` subscriptions). At least
    /// `max_message_size`.
    pub outbound_queue_bytes: usize,
    /// Encoded bytes queued for all sessions together. When it is spent, a session
    /// that is behind is treated as if its own queue were full. At least
    /// `outbound_queue_bytes`.
    pub outbound_budget: usize,
    /// Most subscriptions one session may hold; more are refused
    /// (`verger.error.limit_exceeded`).
    pub max_subscriptions_per_session: usize,
    /// Most registrations one session may hold; more are refused
    /// (`verger.error.limit_exceeded`).
    pub max_registrations_per_session: usize,
    /// Transport ping after this long without traffic from the peer; `"0s"` disables
    /// keepalive.
    #[serde(with = "crate::config::duration")]
    pub ping_interval: Duration,
    /// Close the connection (and free its registrations) after this long without any
    /// traffic from the peer.
    #[serde(with = "crate::config::duration")]
    pub ping_timeout: Duration,
    /// Most concurrent connections; more are refused (RawSocket error 4, HTTP 503).
    pub max_sessions: usize,
    /// On shutdown, how long sessions get to answer GOODBYE before they are dropped.
    #[serde(with = "crate::config::duration")]
    pub shutdown_timeout: Duration,
    /// How long a new connection gets to complete the transport handshake, and then
    /// to complete the WAMP opening (HELLO ... WELCOME).
    #[serde(with = "crate::config::duration")]
    pub handshake_timeout: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            path: DEFAULT_PATH.into(),
            realms: vec![DEFAULT_REALM.into()],
            unix_socket: None,
            uri_check: UriCheck::Loose,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_transport_size: None,
            outbound_queue: DEFAULT_OUTBOUND_QUEUE,
            outbound_queue_bytes: DEFAULT_OUTBOUND_QUEUE_BYTES,
            outbound_budget: DEFAULT_OUTBOUND_BUDGET,
            max_subscriptions_per_session: DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION,
            max_registrations_per_session: DEFAULT_MAX_REGISTRATIONS_PER_SESSION,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl RouterConfig {
    /// Parse and validate TOML text. `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<RouterConfig, ConfigError> {
        crate::config::from_toml_str(text, origin)
    }

    /// Read, parse and validate a TOML file.
    pub fn load(path: &Path) -> Result<RouterConfig, ConfigError> {
        crate::config::load(path)
    }

    /// The hard transport limit in effect.
    pub fn transport_limit(&self) -> usize {
        self.max_transport_size.unwrap_or_else(|| {
            self.max_message_size
                .saturating_mul(4)
                .clamp(self.max_message_size, MAX_TRANSPORT_SIZE)
        })
    }

    /// Values that parse but make no sense, each as `field: why`.
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.path.starts_with('/') {
            p.push(format!("path: {:?} must start with '/'", self.path));
        }
        if self
            .path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
            p.push(format!(
                "path: {:?} must not contain whitespace, '?' or '#'",
                self.path
            ));
        }
        if self.realms.is_empty() {
            p.push("realms: at least one realm is required".into());
        }
        for (i, realm) in self.realms.iter().enumerate() {
            if let Err(why) = uri::validate(realm, self.uri_check) {
                p.push(format!(
                    "realms: {realm:?} is not a valid {} URI: {why}",
                    match self.uri_check {
                        UriCheck::Loose => "loose",
                        UriCheck::Strict => "strict",
                    },
                ));
            } else if realm.starts_with("wamp.") {
                p.push(format!(
                    "realms: {realm:?} uses the reserved \"wamp.\" prefix"
                ));
            }
            if self.realms[..i].contains(realm) {
                p.push(format!("realms: {realm:?} is listed twice"));
            }
        }
        if let Some(path) = &self.unix_socket {
            let len = path.as_os_str().len();
            if len == 0 {
                p.push("unix_socket: must not be empty".into());
            } else if len > 107 {
                p.push(format!(
                    "unix_socket: {} is {len} bytes long; Unix socket paths are limited to 107",
                    path.display()
                ));
            }
        }
        if self.max_message_size < 1024 {
            p.push(format!(
                "max_message_size: {} is too small (at least 1024 bytes)",
                self.max_message_size
            ));
        }
        if self.max_message_size > MAX_TRANSPORT_SIZE {
            p.push(format!(
                "max_message_size: {} exceeds {MAX_TRANSPORT_SIZE} bytes (16 MiB, the RawSocket maximum)",
                self.max_message_size
            ));
        }
        if let Some(t) = self.max_transport_size {
            if t < self.max_message_size {
                p.push(format!(
                    "max_transport_size: {t} is smaller than max_message_size ({})",
                    self.max_message_size
                ));
            }
            if t > MAX_TRANSPORT_SIZE {
                p.push(format!(
                    "max_transport_size: {t} exceeds {MAX_TRANSPORT_SIZE} bytes (16 MiB, the RawSocket maximum)"
                ));
            }
        }
        if self.outbound_queue == 0 {
            p.push("outbound_queue: must be at least 1".into());
        }
        if self.outbound_queue > 1_000_000 {
            p.push(format!(
                "outbound_queue: {} messages per session is unreasonably large (at most 1000000)",
                self.outbound_queue
            ));
        }
        if self.outbound_queue_bytes < self.max_message_size {
            p.push(format!(
                "outbound_queue_bytes: {} is smaller than max_message_size ({}): a largest message could never be queued",
                self.outbound_queue_bytes, self.max_message_size
            ));
        }
        if self.outbound_budget < self.outbound_queue_bytes {
            p.push(format!(
                "outbound_budget: {} is smaller than outbound_queue_bytes ({})",
                self.outbound_budget, self.outbound_queue_bytes
            ));
        }
        for (key, value) in [
            (
                "max_subscriptions_per_session",
                self.max_subscriptions_per_session,
            ),
            (
                "max_registrations_per_session",
                self.max_registrations_per_session,
            ),
        ] {
            if value == 0 {
                p.push(format!("{key}: must be at least 1"));
            }
            if value > 1_000_000 {
                p.push(format!(
                    "{key}: {value} per session is unreasonably large (at most 1000000)"
                ));
            }
        }
        if !self.ping_interval.is_zero() && self.ping_timeout <= self.ping_interval {
            p.push(format!(
                "ping_timeout: {:?} must be longer than ping_interval ({:?})",
                self.ping_timeout, self.ping_interval
            ));
        }
        if self.max_sessions == 0 {
            p.push("max_sessions: must be at least 1".into());
        }
        if self.handshake_timeout.is_zero() {
            p.push("handshake_timeout: must be longer than 0s".into());
        }
        p
    }
}

impl Validate for RouterConfig {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let problems: Vec<Problem> = self
            .problems()
            .into_iter()
            .map(|text| match text.split_once(": ") {
                Some((field, why)) => Problem::new(field, why),
                None => Problem::new("", text),
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        let c = RouterConfig::from_toml_str("", "test").unwrap();
        assert_eq!(c, RouterConfig::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.path, "/ws");
        assert_eq!(c.realms, vec!["orchard".to_string()]);
        assert_eq!(c.transport_limit(), 4 * 1024 * 1024);
    }

    #[test]
    fn parses_every_key() {
        let c = RouterConfig::from_toml_str(
            r#"
            listen = "0.0.0.0:9000"
            path = "/wamp"
            realms = ["orchard", "test.realm"]
            unix_socket = "/tmp/verger.sock"
            uri_check = "strict"
            max_message_size = 65536
            max_transport_size = 131072
            outbound_queue = 16
            outbound_queue_bytes = 131072
            outbound_budget = 1048576
            max_subscriptions_per_session = 10
            max_registrations_per_session = 20
            ping_interval = "500ms"
            ping_timeout = "1m30s"
            max_sessions = 8
            shutdown_timeout = "2s"
            handshake_timeout = "3s"
            "#,
            "test",
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.uri_check, UriCheck::Strict);
        assert_eq!(c.ping_interval, Duration::from_millis(500));
        assert_eq!(c.ping_timeout, Duration::from_secs(90));
        assert_eq!(c.transport_limit(), 131072);
        assert_eq!(
            (c.outbound_queue_bytes, c.outbound_budget),
            (131072, 1048576)
        );
        assert_eq!(
            (
                c.max_subscriptions_per_session,
                c.max_registrations_per_session
            ),
            (10, 20)
        );
        assert_eq!(
            c.unix_socket.as_deref(),
            Some(Path::new("/tmp/verger.sock"))
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let e = RouterConfig::from_toml_str("realm = \"orchard\"\n", "f.toml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("f.toml"), "{msg}");
        assert!(msg.contains("unknown field `realm`"), "{msg}");
    }

    #[test]
    fn integer_durations_are_explained() {
        let e = RouterConfig::from_toml_str("ping_interval = 10\n", "f").unwrap_err();
        assert!(e.to_string().contains("\"10s\""), "{e}");
        let e = RouterConfig::from_toml_str("ping_interval = \"10\"\n", "f").unwrap_err();
        assert!(e.to_string().contains("no unit"), "{e}");
        let e = RouterConfig::from_toml_str("ping_interval = \"10 parsecs\"\n", "f").unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
    }

    #[test]
    fn validation_names_the_field() {
        let cases: &[(&str, &str)] = &[
            ("realms = []", "realms: at least one"),
            ("realms = [\"bad realm\"]", "realms: \"bad realm\""),
            ("realms = [\"bad realm\"]", "whitespace or '#'"),
            ("realms = [\"a..b\"]", "realms: \"a..b\""),
            ("realms = [\"a..b\"]", "component 2 is empty"),
            (
                "realms = [\"\"]",
                "realms: \"\" is not a valid loose URI: it is empty",
            ),
            ("realms = [\"wamp.x\"]", "reserved"),
            ("realms = [\"a\", \"a\"]", "listed twice"),
            (
                "uri_check = \"strict\"\nrealms = [\"Orchard\"]",
                "strict URI",
            ),
            (
                "uri_check = \"strict\"\nrealms = [\"Orchard\"]",
                "other than [0-9a-z_]",
            ),
            ("path = \"ws\"", "path:"),
            ("path = \"/ws?x\"", "path:"),
            ("outbound_queue = 0", "outbound_queue:"),
            ("outbound_queue_bytes = 1024", "outbound_queue_bytes:"),
            (
                "outbound_queue_bytes = 1024",
                "smaller than max_message_size",
            ),
            ("outbound_budget = 1048576", "outbound_budget:"),
            (
                "max_subscriptions_per_session = 0",
                "max_subscriptions_per_session:",
            ),
            (
                "max_registrations_per_session = 2000000",
                "max_registrations_per_session:",
            ),
            ("max_sessions = 0", "max_sessions:"),
            ("max_message_size = 10", "max_message_size:"),
            ("max_message_size = 99999999", "max_message_size:"),
            ("max_transport_size = 2000", "max_transport_size:"),
            (
                "ping_interval = \"30s\"\nping_timeout = \"10s\"",
                "ping_timeout:",
            ),
            ("handshake_timeout = \"0s\"", "handshake_timeout:"),
            ("unix_socket = \"\"", "unix_socket:"),
        ];
        for (toml, needle) in cases {
            let e = RouterConfig::from_toml_str(toml, "t").unwrap_err();
            assert!(
                matches!(e, ConfigError::Invalid { .. }),
                "{toml}: expected a validation error, got {e}"
            );
            assert!(e.to_string().contains(needle), "{toml}: {e}");
        }
    }

    #[test]
    fn keepalive_can_be_disabled() {
        let c = RouterConfig::from_toml_str("ping_interval = \"0s\"\nping_timeout = \"0s\"", "t")
            .unwrap();
        assert!(c.ping_interval.is_zero());
    }

    /// Every config shipped in the repository parses and validates; `router.toml`
    /// documents exactly the defaults.
    #[test]
    fn shipped_configs_are_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let shipped = RouterConfig::load(&root.join("router.toml")).unwrap();
        assert_eq!(shipped, RouterConfig::default());
        if let Ok(dir) = std::fs::read_dir(root.join("config")) {
            for entry in dir.flatten() {
                let path = entry.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("router") && name.ends_with(".toml") {
                    RouterConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
    }
}
