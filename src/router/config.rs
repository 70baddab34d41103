//! Router configuration: TOML with named defaults, unknown keys rejected, and a
//! [`RouterConfig::validate`] step for values that parse but make no sense.
//!
//! Durations are strings with a unit: `"500ms"`, `"10s"`, `"2m"`, `"1h"`, or sums such
//! as `"1m30s"`. Sizes are integers in bytes. The shipped `router.toml` at the repo
//! root lists every key with its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// Transport ping after this long without traffic from the peer; `"0s"` disables
    /// keepalive.
    #[serde(with = "duration_str")]
    pub ping_interval: Duration,
    /// Close the connection (and free its registrations) after this long without any
    /// traffic from the peer.
    #[serde(with = "duration_str")]
    pub ping_timeout: Duration,
    /// Most concurrent connections; more are refused (RawSocket error 4, HTTP 503).
    pub max_sessions: usize,
    /// On shutdown, how long sessions get to answer GOODBYE before they are dropped.
    #[serde(with = "duration_str")]
    pub shutdown_timeout: Duration,
    /// How long a new connection gets to complete the transport handshake, and then
    /// to complete the WAMP opening (HELLO ... WELCOME).
    #[serde(with = "duration_str")]
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
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: {}", .problems.join("; "))]
    Invalid {
        origin: String,
        problems: Vec<String>,
    },
}

impl RouterConfig {
    /// Parse and validate TOML text. `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<RouterConfig, ConfigError> {
        let config: RouterConfig = toml::from_str(text).map_err(|e| {
            let position = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            });
            ConfigError::Parse {
                origin: origin.to_owned(),
                message: format!("{}{}", position.unwrap_or_default(), e.message().trim_end()),
            }
        })?;
        config.validate().map_err(|problems| ConfigError::Invalid {
            origin: origin.to_owned(),
            problems,
        })?;
        Ok(config)
    }

    /// Read, parse and validate a TOML file.
    pub fn load(path: &Path) -> Result<RouterConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The hard transport limit in effect.
    pub fn transport_limit(&self) -> usize {
        self.max_transport_size.unwrap_or_else(|| {
            self.max_message_size
                .saturating_mul(4)
                .clamp(self.max_message_size, MAX_TRANSPORT_SIZE)
        })
    }

    /// Check values that parse but make no sense; every problem names its field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
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
        if p.is_empty() {
            Ok(())
        } else {
            Err(p)
        }
    }
}

/// Parse `"10s"`, `"500ms"`, `"1m30s"`, `"2h"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {s:?}: expected a number followed by a unit, like \"10s\" or \"500ms\""
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "" => {
                return Err(format!(
                    "invalid duration {s:?}: missing unit (ms, s, m or h)"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration {s:?}: unknown unit {other:?} (use ms, s, m or h)"
                ))
            }
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Format a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        format!("{ms}ms")
    } else if ms % 3_600_000 == 0 && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 && ms > 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", ms / 1000)
    }
}

mod duration_str {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Str(String),
            Int(i64),
        }
        match Raw::deserialize(d)? {
            Raw::Str(s) => super::parse_duration(&s).map_err(serde::de::Error::custom),
            Raw::Int(n) => Err(serde::de::Error::custom(format!(
                "durations are strings with a unit, e.g. \"{n}s\" or \"{n}ms\""
            ))),
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
        assert!(e.to_string().contains("missing unit"), "{e}");
        let e = RouterConfig::from_toml_str("ping_interval = \"10 parsecs\"\n", "f").unwrap_err();
        assert!(e.to_string().contains("unknown unit"), "{e}");
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

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h1m1s"), Ok(Duration::from_secs(3661)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999999s").is_err());
        for d in [0, 1, 999, 1000, 60_000, 61_000, 3_600_000] {
            let d = Duration::from_millis(d);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
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

    proptest::proptest! {
        #[test]
        fn parse_duration_never_panics(s in ".{0,32}") {
            let _ = parse_duration(&s);
        }
    }
}
