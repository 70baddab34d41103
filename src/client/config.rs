//! Client configuration and the authentication seam.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::backoff::ReconnectPolicy;
use super::options::client_roles;
use crate::wamp::{Dict, Serializer, Value};

/// Everything a [`Client`](super::Client) needs to know. Build with
/// [`ClientConfig::new`] and adjust the public fields.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `ws://host:port/path`, `wss://…`, `rs://host:port` or `tcp://host:port`
    /// (RawSocket), `unix:///path/to/socket` (RawSocket).
    pub url: String,
    pub realm: String,
    /// Serializers to offer, in order of preference.
    pub serializers: Vec<Serializer>,
    pub reconnect: ReconnectPolicy,
    /// One connection attempt: transport connect plus the HELLO…WELCOME handshake.
    pub connect_timeout: Duration,
    /// How long [`Client::connect`](super::Client::connect) waits for the first session
    /// (several attempts when reconnect is enabled).
    pub startup_timeout: Duration,
    /// Timeout of calls that do not set their own; `None`: no timeout.
    pub call_timeout: Option<Duration>,
    /// Send a transport ping after this much silence from the router; `None`: never.
    pub ping_interval: Option<Duration>,
    /// Nothing at all received from the router for this long (pings unanswered), or a
    /// single write blocked for this long, means the connection is dead (half-open
    /// TCP, frozen router). Must exceed `ping_interval`.
    pub ping_timeout: Duration,
    /// How long [`Client::close`](super::Client::close) waits for the router's GOODBYE.
    pub close_timeout: Duration,
    /// `HELLO.Details.authid`.
    pub authid: Option<String>,
    /// `HELLO.Details.authrole` (a hint; the router decides).
    pub authrole: Option<String>,
    /// `HELLO.Details.agent`.
    pub agent: String,
    /// Answers `CHALLENGE`s; `None`: anonymous (a `CHALLENGE` aborts the attempt).
    pub auth: Option<Arc<dyn Authenticator>>,
    /// Largest message accepted from the router.
    pub max_message_size: usize,
    /// Default per-subscription event buffer (see `Subscription`).
    pub subscription_queue: usize,
    /// Progress results buffered per progressive call before the oldest is dropped.
    pub progress_queue: usize,
    /// PEM files with extra CA certificates trusted for `wss://`, in addition to the
    /// webpki roots (e.g. the farm's own CA behind a TLS-terminating proxy).
    pub tls_ca_files: Vec<PathBuf>,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>, realm: impl Into<String>) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            realm: realm.into(),
            serializers: vec![Serializer::MsgPack, Serializer::Cbor, Serializer::Json],
            reconnect: ReconnectPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            startup_timeout: Duration::from_secs(30),
            call_timeout: Some(Duration::from_secs(10)),
            ping_interval: Some(Duration::from_secs(5)),
            ping_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            authid: None,
            authrole: None,
            agent: format!("verger-{}", env!("CARGO_PKG_VERSION")),
            auth: None,
            max_message_size: 16 * 1024 * 1024,
            subscription_queue: 256,
            progress_queue: 256,
            tls_ca_files: Vec::new(),
        }
    }

    /// Values that parse but make no sense.
    pub fn check(&self) -> Result<(), String> {
        let scheme = self.url.split_once("://").map(|(s, _)| s);
        match scheme {
            Some("ws" | "wss" | "rs" | "rss" | "tcp" | "unix") => {}
            _ => {
                return Err(format!(
                    "router URL {:?} must start with ws://, wss://, rs://, tcp:// or unix://",
                    self.url
                ))
            }
        }
        if self.realm.is_empty() {
            return Err("realm must not be empty".into());
        }
        if self.serializers.is_empty() {
            return Err("at least one serializer is needed".into());
        }
        self.reconnect.check()?;
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("startup_timeout", self.startup_timeout),
            ("ping_timeout", self.ping_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{name} must be above zero"));
            }
        }
        if let Some(interval) = self.ping_interval {
            if interval.is_zero() {
                return Err("ping_interval must be above zero (or None)".into());
            }
            if self.ping_timeout <= interval {
                return Err(format!(
                    "ping_timeout {:?} must exceed ping_interval {interval:?}",
                    self.ping_timeout
                ));
            }
        }
        if self.subscription_queue == 0 || self.progress_queue == 0 {
            return Err("queue sizes must be at least 1".into());
        }
        if self.max_message_size < 1024 {
            return Err("max_message_size below 1 KiB".into());
        }
        Ok(())
    }

    /// `HELLO.Details` for this configuration.
    pub fn hello_details(&self) -> Dict {
        let mut d = Dict::new();
        d.insert("agent".into(), Value::Str(self.agent.clone()));
        d.insert("roles".into(), Value::Dict(client_roles()));
        if let Some(id) = &self.authid {
            d.insert("authid".into(), Value::Str(id.clone()));
        }
        if let Some(role) = &self.authrole {
            d.insert("authrole".into(), Value::Str(role.clone()));
        }
        if let Some(auth) = &self.auth {
            let methods = auth.methods().into_iter().map(Value::Str).collect();
            d.insert("authmethods".into(), Value::List(methods));
            let extra = auth.authextra();
            if !extra.is_empty() {
                d.insert("authextra".into(), Value::Dict(extra));
            }
        }
        d
    }
}

/// The authentication seam: announces auth methods in HELLO and answers CHALLENGE with
/// AUTHENTICATE (spec: advanced/authentication.md). Implement it for WAMP-CRA,
/// cryptosign, … as needed; [`TicketAuth`] is the simplest one.
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// `HELLO.Details.authmethods`, in order of preference.
    fn methods(&self) -> Vec<String>;
    /// `HELLO.Details.authextra`.
    fn authextra(&self) -> Dict {
        Dict::new()
    }
    /// Answer `CHALLENGE(authmethod, extra)` with `(signature, extra)`, or refuse with a
    /// message (the client then aborts the attempt).
    fn authenticate(&self, authmethod: &str, extra: &Dict) -> Result<(String, Dict), String>;
}

/// Ticket authentication (spec: advanced/authentication_ticket.md).
#[derive(Clone)]
pub struct TicketAuth {
    ticket: String,
}

impl TicketAuth {
    pub fn new(ticket: impl Into<String>) -> TicketAuth {
        TicketAuth {
            ticket: ticket.into(),
        }
    }
}

impl fmt::Debug for TicketAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TicketAuth { ticket: <redacted> }")
    }
}

impl Authenticator for TicketAuth {
    fn methods(&self) -> Vec<String> {
        vec!["ticket".into()]
    }

    fn authenticate(&self, authmethod: &str, _extra: &Dict) -> Result<(String, Dict), String> {
        if authmethod == "ticket" {
            Ok((self.ticket.clone(), Dict::new()))
        } else {
            Err(format!("unsupported auth method {authmethod:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_agent_is_versioned() {
        let c = ClientConfig::new("ws://127.0.0.1:8080/ws", "orchard");
        assert_eq!(c.check(), Ok(()));
        assert!(c.agent.starts_with("verger-"));
        let d = c.hello_details();
        assert_eq!(d["agent"], Value::Str(c.agent.clone()));
        assert!(d["roles"].as_dict().is_some());
        assert!(!d.contains_key("authid"));
        assert!(!d.contains_key("authmethods"));
    }

    #[test]
    fn every_url_scheme_is_accepted_and_nonsense_rejected() {
        for url in [
            "ws://h:1/ws",
            "wss://h/ws",
            "rs://h:1",
            "tcp://h:1",
            "unix:///tmp/s",
        ] {
            assert_eq!(ClientConfig::new(url, "r").check(), Ok(()), "{url}");
        }
        assert!(ClientConfig::new("http://h", "r").check().is_err());
        assert!(ClientConfig::new("ws://h", "").check().is_err());
        let mut c = ClientConfig::new("ws://h", "r");
        c.serializers.clear();
        assert!(c.check().is_err());
        let mut c = ClientConfig::new("ws://h", "r");
        c.ping_interval = Some(Duration::ZERO);
        assert!(c.check().is_err());
        c.ping_interval = Some(c.ping_timeout);
        assert!(c.check().is_err());
        let mut c = ClientConfig::new("ws://h", "r");
        c.reconnect.jitter = 2.0;
        assert!(c.check().is_err());
    }

    #[test]
    fn hello_carries_auth_details() {
        let mut c = ClientConfig::new("ws://h", "r");
        c.authid = Some("sprayer-1".into());
        c.authrole = Some("component".into());
        c.auth = Some(Arc::new(TicketAuth::new("secret")));
        let d = c.hello_details();
        assert_eq!(d["authid"], Value::Str("sprayer-1".into()));
        assert_eq!(d["authrole"], Value::Str("component".into()));
        assert_eq!(d["authmethods"], Value::List(vec!["ticket".into()]));
        assert!(!format!("{c:?}").contains("secret"));
        let auth = TicketAuth::new("secret");
        assert_eq!(
            auth.authenticate("ticket", &Dict::new()),
            Ok(("secret".into(), Dict::new()))
        );
        assert!(auth.authenticate("wampcra", &Dict::new()).is_err());
    }
}
