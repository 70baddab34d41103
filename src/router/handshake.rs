//! The opening of a session, HELLO to WELCOME or ABORT (spec: basic/sessions.md,
//! advanced/authentication.md), free of I/O.
//!
//! The session task feeds every message it receives before WELCOME to
//! [`Handshake::on_message`] and carries out the [`Step`] it gets back: send a
//! CHALLENGE, join the realm and send WELCOME, ABORT, or close quietly. Who a session
//! is gets decided by the [`Authenticator`] plugged in here (anonymous today; ticket
//! and WAMP-CRA later), so authentication is tested by values like the rest of the
//! core. Allocating the session id and joining the realm happen in the shell, under
//! the realm's lock, because the id must be unused in that realm's session table.

use super::auth::{AuthDecision, Authenticator, HelloRequest, Identity};
use super::vocab::{router_roles, SessionId, SessionInfo};
use crate::wamp::{uris, Dict, Message, Value};

/// `WELCOME.Details.agent`.
pub const AGENT: &str = concat!("verger-", env!("CARGO_PKG_VERSION"));

/// What the handshake needs to know of the router and the connection.
pub(crate) struct Env<'a> {
    /// Does a realm of this name exist?
    pub(crate) realm_exists: &'a dyn Fn(&str) -> bool,
    pub(crate) authenticator: &'a dyn Authenticator,
    /// Transport description (`type`, `serializer`, `peer`) for the authenticator and
    /// the meta API.
    pub(crate) transport: &'a Dict,
}

/// Where the opening of a session is.
#[derive(Clone, Debug, Default)]
pub(crate) enum Handshake {
    /// Nothing received yet: HELLO must come first.
    #[default]
    AwaitingHello,
    /// We sent CHALLENGE for this HELLO and wait for AUTHENTICATE.
    Challenging(HelloRequest),
}

/// What the session task must do after a message received during the handshake.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// Send this CHALLENGE and keep waiting (the handshake is now `Challenging`).
    Challenge(Message),
    /// Join the realm with a fresh session id and send WELCOME (see [`Welcome`]).
    Welcome(Welcome),
    /// Send ABORT with this reason URI and message, and close. A protocol violation is
    /// an ABORT `wamp.error.protocol_violation`.
    Abort { reason: String, message: String },
    /// The peer aborted: close without a reply.
    Close,
}

impl Step {
    fn violation(message: impl Into<String>) -> Step {
        Step::Abort {
            reason: uris::PROTOCOL_VIOLATION.into(),
            message: message.into(),
        }
    }
}

/// A session the router welcomes: everything WELCOME and the realm need but the
/// session id, which the shell allocates in the realm.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Welcome {
    realm: String,
    identity: Identity,
    /// `HELLO.Details.roles`, checked.
    roles: Dict,
    transport: Dict,
}

impl Welcome {
    pub(crate) fn realm(&self) -> &str {
        &self.realm
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The WELCOME message for session `id` and what the realm records of it.
    pub(crate) fn into_parts(self, id: SessionId) -> (Message, SessionInfo) {
        let identity = self.identity;
        let mut details = crate::dict! {
            "roles" => router_roles(),
            "realm" => self.realm,
            "authid" => identity.authid.as_str(),
            "authrole" => identity.authrole.as_str(),
            "authmethod" => identity.authmethod.as_str(),
            "authprovider" => identity.authprovider.as_str(),
            "agent" => AGENT,
        };
        if !identity.authextra.is_empty() {
            details.insert("authextra".into(), Value::Dict(identity.authextra));
        }
        let info = SessionInfo {
            session: id,
            authid: identity.authid,
            authrole: identity.authrole,
            authmethod: identity.authmethod,
            authprovider: identity.authprovider,
            roles: self.roles,
            transport: self.transport,
        };
        (
            Message::Welcome {
                session: id,
                details,
            },
            info,
        )
    }
}

impl Handshake {
    /// Handle one message received before WELCOME.
    pub(crate) fn on_message(&mut self, message: Message, env: &Env<'_>) -> Step {
        match (&*self, message) {
            (Handshake::AwaitingHello, Message::Hello { realm, details }) => {
                self.on_hello(realm, details, env)
            }
            (Handshake::AwaitingHello | Handshake::Challenging(_), Message::Abort { .. }) => {
                Step::Close
            }
            (Handshake::AwaitingHello, other) => Step::violation(format!(
                "expected HELLO, received {} (HELLO must be the first message)",
                other.name()
            )),
            (Handshake::Challenging(hello), Message::Authenticate { signature, extra }) => {
                let hello = hello.clone();
                let decision = env.authenticator.authenticate(&hello, &signature, &extra);
                self.decide(hello, decision)
            }
            (Handshake::Challenging(_), other) => {
                Step::violation(format!("expected AUTHENTICATE, received {}", other.name()))
            }
        }
    }

    fn on_hello(&mut self, realm: String, details: Dict, env: &Env<'_>) -> Step {
        if !(env.realm_exists)(&realm) {
            return Step::Abort {
                reason: uris::NO_SUCH_REALM.into(),
                message: format!("The realm {realm:?} does not exist."),
            };
        }
        if let Err(problem) = check_roles(&details) {
            return Step::violation(problem);
        }
        let hello = HelloRequest {
            realm,
            details,
            transport: env.transport.clone(),
        };
        let decision = env.authenticator.hello(&hello);
        self.decide(hello, decision)
    }

    fn decide(&mut self, hello: HelloRequest, decision: AuthDecision) -> Step {
        match decision {
            AuthDecision::Welcome(identity) => Step::Welcome(Welcome {
                roles: check_roles(&hello.details).unwrap_or_default(),
                realm: hello.realm,
                identity,
                transport: hello.transport,
            }),
            AuthDecision::Challenge { authmethod, extra } => {
                *self = Handshake::Challenging(hello);
                Step::Challenge(Message::Challenge { authmethod, extra })
            }
            AuthDecision::Deny { reason, message } => Step::Abort { reason, message },
        }
    }
}

/// After WELCOME, the messages of the opening are protocol violations: the text for
/// the ABORT, if `message` is one of them.
pub(crate) fn check_established(message: &Message) -> Result<(), String> {
    match message {
        Message::Hello { .. }
        | Message::Welcome { .. }
        | Message::Challenge { .. }
        | Message::Authenticate { .. } => Err(format!(
            "Received {} message after session was established.",
            message.name()
        )),
        _ => Ok(()),
    }
}

/// Validate `HELLO.Details.roles`: a dict of dicts announcing at least one client
/// role. Unknown role names are ignored (forward compatibility).
pub(crate) fn check_roles(details: &Dict) -> Result<Dict, String> {
    const CLIENT_ROLES: [&str; 4] = ["publisher", "subscriber", "caller", "callee"];
    let roles = match details.get("roles") {
        Some(Value::Dict(roles)) => roles,
        Some(other) => {
            return Err(format!(
                "HELLO.Details.roles must be a dict, not a {}",
                other.kind()
            ))
        }
        None => return Err("HELLO.Details.roles is missing".into()),
    };
    for (name, features) in roles {
        if !matches!(features, Value::Dict(_)) {
            return Err(format!(
                "HELLO.Details.roles.{name} must be a dict, not a {}",
                features.kind()
            ));
        }
    }
    if !roles.keys().any(|k| CLIENT_ROLES.contains(&k.as_str())) {
        return Err(
            "HELLO.Details.roles announces none of publisher, subscriber, caller, callee".into(),
        );
    }
    Ok(roles.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;
    use crate::router::auth::Anonymous;
    use crate::wamp::Payload;

    fn transport() -> Dict {
        dict! {"type" => "websocket", "serializer" => "json", "peer" => "tcp4:127.0.0.1:1"}
    }

    /// Runs the handshake against the realm `orchard` with `authenticator`.
    fn run(authenticator: &dyn Authenticator, messages: Vec<Message>) -> Vec<Step> {
        let transport = transport();
        let env = Env {
            realm_exists: &|r| r == "orchard",
            authenticator,
            transport: &transport,
        };
        let mut hs = Handshake::default();
        messages
            .into_iter()
            .map(|m| hs.on_message(m, &env))
            .collect()
    }

    fn hello(realm: &str, details: Dict) -> Message {
        Message::Hello {
            realm: realm.into(),
            details,
        }
    }

    fn caller() -> Dict {
        dict! {"roles" => dict!{"caller" => dict!{}}}
    }

    fn authenticate(signature: &str) -> Message {
        Message::Authenticate {
            signature: signature.into(),
            extra: Dict::new(),
        }
    }

    fn abort_of(step: &Step) -> (&str, &str) {
        match step {
            Step::Abort { reason, message } => (reason, message),
            other => panic!("expected ABORT, got {other:?}"),
        }
    }

    #[test]
    fn anonymous_hello_is_welcomed_with_the_router_roles_and_a_generated_authid() {
        let details = dict! {
            "roles" => dict!{"callee" => dict!{"features" => dict!{"call_canceling" => true}}},
            "authid" => "root",
        };
        let steps = run(&Anonymous, vec![hello("orchard", details)]);
        let [Step::Welcome(w)] = steps.as_slice() else {
            panic!("{steps:?}")
        };
        assert_eq!(w.realm(), "orchard");
        let (welcome, info) = w.clone().into_parts(42);
        let Message::Welcome { session, details } = welcome else {
            panic!("{welcome:?}")
        };
        assert_eq!(session, 42);
        assert_eq!(details["realm"], Value::from("orchard"));
        assert_eq!(details["roles"], Value::Dict(router_roles()));
        assert_eq!(details["agent"], Value::from(AGENT));
        // The requested authid is not honoured without authentication.
        let authid = details["authid"].as_str().unwrap();
        assert_ne!(authid, "root");
        assert_eq!(authid.len(), 29);
        assert_eq!(details["authrole"], Value::from("anonymous"));
        assert_eq!(details["authmethod"], Value::from("anonymous"));
        assert_eq!(details["authprovider"], Value::from("static"));
        assert!(!details.contains_key("authextra"));
        assert_eq!(info.session, 42);
        assert_eq!(info.authid, authid);
        assert_eq!(info.transport, transport());
        assert!(info.roles.contains_key("callee"));
    }

    #[test]
    fn unknown_realm_is_aborted_with_no_such_realm() {
        for realm in ["vineyard", "bad realm", "", "orchard."] {
            let steps = run(&Anonymous, vec![hello(realm, caller())]);
            let (reason, message) = abort_of(&steps[0]);
            assert_eq!(reason, uris::NO_SUCH_REALM, "{realm:?}");
            assert!(message.contains(&format!("{realm:?}")), "{message}");
        }
    }

    #[test]
    fn hello_without_a_client_role_is_a_protocol_violation() {
        for (details, needle) in [
            (dict! {}, "missing"),
            (dict! {"roles" => dict!{}}, "none of"),
            (dict! {"roles" => dict!{"broker" => dict!{}}}, "none of"),
        ] {
            let steps = run(&Anonymous, vec![hello("orchard", details)]);
            let (reason, message) = abort_of(&steps[0]);
            assert_eq!(reason, uris::PROTOCOL_VIOLATION);
            assert!(message.contains(needle), "{message}");
        }
    }

    #[test]
    fn hello_must_come_first() {
        let goodbye = Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_CLOSE_REALM.into(),
        };
        let publish = Message::Publish {
            request: 1,
            options: Dict::new(),
            topic: "com.a".into(),
            payload: Payload::default(),
        };
        for (first, name) in [
            (goodbye, "GOODBYE"),
            (authenticate("secret"), "AUTHENTICATE"),
            (publish, "PUBLISH"),
        ] {
            let steps = run(&Anonymous, vec![first]);
            let (reason, message) = abort_of(&steps[0]);
            assert_eq!(reason, uris::PROTOCOL_VIOLATION);
            assert_eq!(
                message,
                format!("expected HELLO, received {name} (HELLO must be the first message)")
            );
        }
    }

    #[test]
    fn abort_before_welcome_closes_quietly() {
        let abort = Message::Abort {
            details: Dict::new(),
            reason: uris::CLOSE_NORMAL.into(),
        };
        assert_eq!(run(&Anonymous, vec![abort.clone()]), vec![Step::Close]);
        let steps = run(&Ticket, vec![hello("orchard", caller()), abort]);
        assert_eq!(steps[1], Step::Close);
    }

    #[test]
    fn anonymous_refuses_other_authmethods() {
        let details = dict! {
            "roles" => dict!{"caller" => dict!{}},
            "authmethods" => vec![Value::from("ticket")],
        };
        let steps = run(&Anonymous, vec![hello("orchard", details)]);
        assert_eq!(abort_of(&steps[0]).0, uris::NO_AUTH_METHOD);
    }

    /// Ticket authentication, enough to drive CHALLENGE/AUTHENTICATE.
    #[derive(Debug)]
    struct Ticket;

    impl Authenticator for Ticket {
        fn hello(&self, hello: &HelloRequest) -> AuthDecision {
            AuthDecision::Challenge {
                authmethod: "ticket".into(),
                extra: dict! {"realm" => hello.realm.as_str()},
            }
        }

        fn authenticate(&self, _: &HelloRequest, signature: &str, _: &Dict) -> AuthDecision {
            if signature == "secret" {
                AuthDecision::Welcome(Identity {
                    authid: "sprayer-1".into(),
                    authrole: "device".into(),
                    authmethod: "ticket".into(),
                    authprovider: "static".into(),
                    authextra: dict! {"row" => 4u64},
                })
            } else {
                AuthDecision::Deny {
                    reason: uris::AUTHENTICATION_FAILED.into(),
                    message: "wrong ticket".into(),
                }
            }
        }
    }

    #[test]
    fn challenge_then_authenticate_welcomes_with_the_authenticated_identity() {
        let steps = run(
            &Ticket,
            vec![hello("orchard", caller()), authenticate("secret")],
        );
        assert_eq!(
            steps[0],
            Step::Challenge(Message::Challenge {
                authmethod: "ticket".into(),
                extra: dict! {"realm" => "orchard"},
            })
        );
        let Step::Welcome(w) = &steps[1] else {
            panic!("{steps:?}")
        };
        assert_eq!(w.identity().authid, "sprayer-1");
        let (Message::Welcome { details, .. }, info) = w.clone().into_parts(7) else {
            panic!()
        };
        assert_eq!(details["authextra"], Value::Dict(dict! {"row" => 4u64}));
        assert_eq!(details["authmethod"], Value::from("ticket"));
        assert_eq!(info.authrole, "device");
    }

    #[test]
    fn a_wrong_signature_is_denied() {
        let steps = run(
            &Ticket,
            vec![hello("orchard", caller()), authenticate("guess")],
        );
        assert_eq!(
            abort_of(&steps[1]),
            (uris::AUTHENTICATION_FAILED, "wrong ticket")
        );
    }

    #[test]
    fn second_hello_is_a_protocol_violation() {
        // While challenged.
        let steps = run(
            &Ticket,
            vec![hello("orchard", caller()), hello("orchard", caller())],
        );
        let (reason, message) = abort_of(&steps[1]);
        assert_eq!(reason, uris::PROTOCOL_VIOLATION);
        assert_eq!(message, "expected AUTHENTICATE, received HELLO");
        // After WELCOME.
        assert_eq!(
            check_established(&hello("orchard", caller())),
            Err("Received HELLO message after session was established.".into())
        );
        assert!(check_established(&authenticate("x")).is_err());
        assert!(check_established(&Message::Goodbye {
            details: Dict::new(),
            reason: uris::CLOSE_CLOSE_REALM.into(),
        })
        .is_ok());
    }

    #[test]
    fn authenticate_without_a_challenge_is_refused_by_default() {
        // An authenticator that welcomes at HELLO never sees AUTHENTICATE: before
        // HELLO it is a violation (above); the trait's default answer denies it.
        let hello = HelloRequest {
            realm: "orchard".into(),
            details: caller(),
            transport: transport(),
        };
        assert!(matches!(
            Anonymous.authenticate(&hello, "x", &Dict::new()),
            AuthDecision::Deny { reason, .. } if reason == uris::AUTHENTICATION_FAILED
        ));
    }

    #[test]
    fn roles_must_be_a_dict_of_dicts_with_a_client_role() {
        assert!(check_roles(&dict! {"roles" => dict!{"caller" => dict!{}}}).is_ok());
        assert!(check_roles(
            &dict! {"roles" => dict!{"subscriber" => dict!{"features" => dict!{}}, "x-future" => dict!{}}}
        )
        .is_ok());
        for (details, needle) in [
            (dict! {}, "missing"),
            (dict! {"roles" => "caller"}, "must be a dict"),
            (dict! {"roles" => dict!{"caller" => true}}, "roles.caller"),
            (dict! {"roles" => dict!{}}, "none of"),
            (dict! {"roles" => dict!{"broker" => dict!{}}}, "none of"),
        ] {
            let err = check_roles(&details).unwrap_err();
            assert!(err.contains(needle), "{details:?}: {err}");
        }
    }
}
