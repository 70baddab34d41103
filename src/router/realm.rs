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
    Close { session: SessionId, message: Message },
    /// Call `Realm::timer(key, ..)` after `after` unless the core no longer cares
    /// (a timer for a finished call is ignored by the core).
    Timer { key: TimerKey, after: Duration },
}
