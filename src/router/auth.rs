//! The authentication seam: who a session is, decided from its HELLO (and later,
//! CHALLENGE/AUTHENTICATE rounds). Only anonymous authentication exists today; a
//! ticket or WAMP-CRA authenticator implements the same trait. The I/O-free
//! handshake (`handshake.rs`) asks it and turns its [`AuthDecision`] into CHALLENGE,
//! WELCOME or ABORT.

use std::fmt::Debug;

use rand::Rng;

use crate::wamp::{uris, Dict, Value};

/// What the handshake knows when it asks for a decision.
#[derive(Clone, Debug)]
pub struct HelloRequest {
    pub realm: String,
    /// `HELLO.Details` as the client sent it (`authmethods`, `authid`, ...).
    pub details: Dict,
    /// Transport description (`type`, `serializer`, `peer`).
    pub transport: Dict,
}

impl HelloRequest {
    /// `HELLO.Details.authmethods`; empty when absent.
    pub fn authmethods(&self) -> Vec<&str> {
        self.details
            .get("authmethods")
            .and_then(Value::as_list)
            .map(|l| l.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

/// The identity a session gets in WELCOME.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub authprovider: String,
    /// Sent as `WELCOME.Details.authextra` when not empty.
    pub authextra: Dict,
}

/// The authenticator's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthDecision {
    /// Send WELCOME with this identity.
    Welcome(Identity),
    /// Send CHALLENGE; the client's AUTHENTICATE goes to [`Authenticator::authenticate`].
    Challenge { authmethod: String, extra: Dict },
    /// Send ABORT with this reason URI and a human-readable message.
    Deny { reason: String, message: String },
}

/// Decides who a session is. Called by the handshake from the session task, with no
/// lock held; must not block.
pub trait Authenticator: Send + Sync + Debug {
    fn hello(&self, hello: &HelloRequest) -> AuthDecision;

    /// The client answered a CHALLENGE.
    fn authenticate(&self, hello: &HelloRequest, signature: &str, extra: &Dict) -> AuthDecision {
        let _ = (hello, signature, extra);
        AuthDecision::Deny {
            reason: uris::AUTHENTICATION_FAILED.into(),
            message: "unexpected AUTHENTICATE".into(),
        }
    }
}

/// Anonymous authentication, as Crossbar does it: every session is welcome with
/// `authrole: "anonymous"` and a freshly generated `authid`. The client's requested
/// `authid` is *not* honoured: unauthenticated, it would let a peer impersonate
/// another in caller/publisher disclosure. A client that lists `authmethods` without
/// `anonymous` is refused with `wamp.error.no_auth_method`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Anonymous;

impl Authenticator for Anonymous {
    fn hello(&self, hello: &HelloRequest) -> AuthDecision {
        let methods = hello.authmethods();
        if !methods.is_empty() && !methods.contains(&"anonymous") {
            return AuthDecision::Deny {
                reason: uris::NO_AUTH_METHOD.into(),
                message: format!(
                    "none of the offered authmethods ({}) is available; this router offers anonymous",
                    methods.join(", ")
                ),
            };
        }
        AuthDecision::Welcome(Identity {
            authid: generate_authid(),
            authrole: "anonymous".into(),
            authmethod: "anonymous".into(),
            authprovider: "static".into(),
            authextra: Dict::new(),
        })
    }
}

/// A random id in Crossbar's style: `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`.
pub fn generate_authid() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let mut s = String::with_capacity(29);
    for group in 0..6 {
        if group > 0 {
            s.push('-');
        }
        for _ in 0..4 {
            s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    fn hello(details: Dict) -> HelloRequest {
        HelloRequest {
            realm: "orchard".into(),
            details,
            transport: Dict::new(),
        }
    }

    #[test]
    fn anonymous_welcomes_with_a_generated_authid() {
        let AuthDecision::Welcome(id) = Anonymous.hello(&hello(dict! {"authid" => "root"})) else {
            panic!()
        };
        assert_ne!(id.authid, "root");
        assert_eq!(id.authid.len(), 29);
        assert_eq!(id.authrole, "anonymous");
        assert_eq!(id.authmethod, "anonymous");
        assert_eq!(id.authprovider, "static");
    }

    #[test]
    fn anonymous_accepts_listed_anonymous() {
        let d = dict! {"authmethods" => vec![Value::from("ticket"), Value::from("anonymous")]};
        assert!(matches!(
            Anonymous.hello(&hello(d)),
            AuthDecision::Welcome(_)
        ));
    }

    #[test]
    fn anonymous_refuses_other_methods() {
        let d = dict! {"authmethods" => vec![Value::from("ticket")]};
        match Anonymous.hello(&hello(d)) {
            AuthDecision::Deny { reason, message } => {
                assert_eq!(reason, uris::NO_AUTH_METHOD);
                assert!(message.contains("ticket"));
            }
            other => panic!("{other:?}"),
        }
    }
}
