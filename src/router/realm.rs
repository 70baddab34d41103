//! The routing state of one realm: sessions, broker, dealer and meta API, free of I/O.
//!
//! The async shell (`router::session`) owns one `Realm` per realm behind a
//! `std::sync::Mutex`, feeds it decoded messages and carries out the `Action`s it
//! returns. Nothing in here awaits, sleeps or touches a socket; time is passed in.

use std::time::Duration;

use crate::wamp::{Dict, Id, Message};

pub type SessionId = Id;

/// What the router knows about a joined session (also what the meta API reports).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    pub session: SessionId,
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub authprovider: String,
    /// `HELLO.Details.roles` as the client sent it (features it announced).
    pub roles: Dict,
    /// Transport description for the meta API, e.g.
    /// `{"type": "websocket", "serializer": "msgpack", "peer": "tcp4:127.0.0.1:50123"}`.
    pub transport: Dict,
}

/// Key of a timer the core asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKey {
    /// Call timeout of the router-side call id.
    CallTimeout(Id),
}

/// What the shell must do after the core handled an input.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Queue `Message` for delivery to the session.
    Send(SessionId, Message),
    /// Send `message` (ABORT or GOODBYE) to the session and close its transport. The
    /// core has already removed the session (as if `leave` had been called).
    Close {
        session: SessionId,
        message: Message,
    },
    /// Call `Realm::timer(key, ..)` after `after` unless the core no longer cares
    /// (a timer for a finished call is ignored by the core).
    Timer { key: TimerKey, after: Duration },
}

/// Per-realm settings the core needs.
#[derive(Clone, Debug, Default)]
pub struct RealmConfig {
    pub uri_check: crate::wamp::uri::UriCheck,
}

/// The routing state of one realm.
#[derive(Debug)]
pub struct Realm {
    name: String,
    config: RealmConfig,
}

impl Realm {
    pub fn new(name: &str, config: RealmConfig) -> Realm {
        Realm {
            name: name.to_owned(),
            config,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &RealmConfig {
        &self.config
    }

    /// A session completed the handshake (the shell already sent WELCOME).
    pub fn join(&mut self, info: SessionInfo, out: &mut Vec<Action>) {
        let _ = (info, out);
        todo!("core helper")
    }

    /// A session is gone (GOODBYE, transport closed, killed). Idempotent.
    pub fn leave(&mut self, session: SessionId, out: &mut Vec<Action>) {
        let _ = (session, out);
        todo!("core helper")
    }

    /// A message from an established session. GOODBYE is handled by the shell.
    pub fn handle(&mut self, session: SessionId, msg: Message, out: &mut Vec<Action>) {
        let _ = (session, msg, out);
        todo!("core helper")
    }

    /// A timer asked for with `Action::Timer` fired.
    pub fn timer(&mut self, key: TimerKey, out: &mut Vec<Action>) {
        let _ = (key, out);
        todo!("core helper")
    }

    pub fn session_count(&self) -> usize {
        todo!("core helper")
    }

    pub fn session_ids(&self) -> Vec<SessionId> {
        todo!("core helper")
    }
}

/// `WELCOME.Details.roles`: exactly the roles and features this router implements.
pub fn router_roles() -> Dict {
    todo!("core helper")
}
