//! The Rust WAMP client used by every verger component.
//!
//! Standard WAMP only (works against the embedded router, Crossbar.io or Bondy), over
//! any transport [`transport::connect`](crate::transport::connect) speaks: `ws://`,
//! `wss://`, `rs://` / `tcp://` RawSocket and `unix://` RawSocket.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use verger::client::{Client, ClientConfig, SubscribeOptions, RegisterOptions};
//! use verger::wamp::{Dict, Payload};
//!
//! let client = Client::connect(ClientConfig::new("ws://127.0.0.1:8080/ws", "orchard")).await?;
//! let _reg = client
//!     .register("com.example.add2", RegisterOptions::default(), |inv| async move {
//!         let a = inv.args.first().and_then(|v| v.as_i64()).unwrap_or(0);
//!         let b = inv.args.get(1).and_then(|v| v.as_i64()).unwrap_or(0);
//!         Ok(Payload::args(vec![(a + b).into()]))
//!     })
//!     .await?;
//! let sum = client.call("com.example.add2", vec![2.into(), 3.into()], Dict::new()).await?;
//! let mut fixes = client.subscribe("orchard.gnss.fix", SubscribeOptions::default()).await?;
//! while let Some(event) = fixes.recv().await {
//!     println!("{:?} (dropped so far: {})", event.args, fixes.dropped());
//! }
//! client.close().await?;
//! # let _ = sum; Ok(()) }
//! ```
//!
//! # Files
//!
//! `handle.rs` the handles ([`Client`], [`PendingCall`], [`Subscription`],
//! [`Registration`]); `task.rs` the session task (connect, HELLO/WELCOME, read/write,
//! keepalive via [`transport::Keepalive`](crate::transport::Keepalive), backoff loop,
//! handler tasks); `proto.rs` the I/O-free protocol state machine; `config.rs`,
//! `backoff.rs`, `options.rs` pure configuration and option dicts; `queue.rs` the
//! drop-oldest queue; `types.rs` and `error.rs` what applications see; `typed.rs`
//! serde helpers; `testament.rs` session testaments ([`Testament`]).
//!
//! # Tasks and channels
//!
//! One **session task** per client owns everything stateful: the current transport's
//! writer, the protocol state machine (`proto.rs` — request ids, pending requests,
//! live subscriptions and registrations, running invocations) and the connect /
//! session / backoff loop. [`Client`] is a cheap `Clone` (`Arc`) handle to it. Channels:
//!
//! | channel | from → to | kind | carries |
//! |---|---|---|---|
//! | commands | `Client`, `Subscription::unsubscribe`, `Registration::unregister` → session task | bounded `mpsc` (64) | call, publish, subscribe, register, close; each with a `oneshot` reply |
//! | releases | `Drop` of `Subscription` / `Registration` / `PendingCall`, `PendingCall::cancel` → session task | unbounded `mpsc`, at most one message per live handle | unsubscribe, unregister, CANCEL |
//! | frames | reader task → session task | bounded `mpsc` (64) | decoded transport frames; when full the reader stops reading (TCP back-pressure) |
//! | invocation outputs | handler tasks (and [`Progress`]) → session task | bounded `mpsc` (256) | progressive and final results |
//! | events | session task → `Subscription` | bounded drop-oldest queue per subscription | [`Event`]s |
//! | progress | session task → `PendingCall` | bounded drop-oldest queue per call | progressive results |
//! | state | session task → anyone | `watch` | [`SessionState`] |
//!
//! Per connection there is also a **reader task** (so that a full frame channel pushes
//! back on TCP while the session task goes on writing; `recv` itself is cancel-safe,
//! see `TransportReader::recv`), and each INVOCATION runs in its own **handler task**. The session task never waits on a consumer: events and progress go
//! into drop-oldest queues, replies into oneshots. Writes are bounded by
//! `ping_timeout`; a stuck write ends the connection.
//!
//! The session task ends on [`Client::close`], when every `Client` clone is dropped
//! (it then says GOODBYE as well), or when reconnecting gives up; subscription
//! streams then end and pending requests fail with `Closed`.
//!
//! # Behaviour
//!
//! - **Reconnect**: when a session ends (transport error, ping timeout, router GOODBYE
//!   such as `wamp.close.system_shutdown`, ABORT, protocol violation) every pending
//!   call fails at once with `CallError::ConnectionLost`, running
//!   handlers see `cancelled`, and the client reconnects with exponential backoff and
//!   jitter ([`ReconnectPolicy`]). On the new session it re-subscribes and re-registers
//!   every live `Subscription` and `Registration` by itself; the same streams and
//!   handlers keep working. The state only turns `Established` once all of them were
//!   answered. A re-subscription the router refuses ends that stream (logged).
//! - **Testaments**: [`Client::add_testament`] files an event for the router to
//!   publish when the session goes away, however it goes (`wamp.session.add_testament`,
//!   e.g. a retained "gone" status). The client keeps it and files it again on every
//!   new session, before anything else is sent on that session (so nothing it publishes
//!   reaches the router without it) and before the state turns `Established`.
//!   [`Client::flush_testaments`] forgets them (call it before a clean exit that
//!   publishes its own last words).
//! - **Offline**: calls and publications fail immediately with `NotConnected`; nothing
//!   is queued and replayed later (a stale GNSS fix is worse than none). `subscribe`
//!   and `register` wait for the next session instead (wrap them in a timeout if
//!   needed), so a component can start before the router does.
//! - **Slow subscriber**: each `Subscription` buffers up to `queue_size` events
//!   (default 256); beyond that the **oldest** event is dropped and counted
//!   ([`Subscription::dropped`]); the session task never blocks and memory stays
//!   bounded. The newest state is what a tractor component needs.
//! - **Cancel and timeout**: a call's timeout runs on the client and is forwarded as
//!   `CALL.Options.timeout`; on expiry the client sends `CANCEL` `killnowait` and
//!   returns `CallError::Timeout`. Dropping a `PendingCall` (or the future of `call`)
//!   before it finished cancels it the same way. If the dealer does not announce
//!   `call_canceling`, cancels only abandon the call locally.
//! - **Callee**: every INVOCATION runs in its own task. A panicking handler is answered
//!   with `wamp.error.runtime_error` and the client keeps serving (with the release
//!   profile's `panic = "abort"` a panic still ends the process). On INTERRUPT the
//!   client answers `wamp.error.canceled` at once (not for `killnowait`), fires
//!   `Invocation::cancelled` and discards what the handler returns later; the handler
//!   task keeps running until it notices (so it can bring hardware to a safe state).
//!   A call timeout the dealer forwards (`INVOCATION.Details.timeout`) is enforced the
//!   same way with `wamp.error.timeout`.
//! - **Typed payloads** (`typed.rs`): [`Client::call_typed`], [`Client::register_typed`],
//!   [`Client::publish_typed`], and `args_as` / `kwargs_as` / `value_as` on
//!   [`CallResult`], [`Event`] and [`Invocation`], through `wamp::to_value` /
//!   `from_value`. A struct travels as `kwargs`, a tuple or sequence as `args`.
//! - **Bad input**: an undecodable message or a protocol violation (e.g. RESULT for an
//!   unknown request) is logged, answered with ABORT `wamp.error.protocol_violation`,
//!   and the client reconnects. Nothing the router sends can panic the client.

mod backoff;
mod config;
mod error;
mod handle;
mod options;
mod proto;
mod queue;
mod task;
mod testament;
mod typed;
mod types;

use std::fmt;
use std::time::Duration;

pub use crate::wamp::uri::MatchPolicy;
pub use backoff::ReconnectPolicy;
pub use config::{Authenticator, ClientConfig, TicketAuth};
pub use error::{CallError, ClientError, InvocationError, PublishError, RUNTIME_ERROR};
pub use handle::{Client, PendingCall, Registration, Subscription};
pub use options::{
    client_roles, CallOptions, CancelMode, DeliveryPolicy, InvokePolicy, PublishOptions,
    RegisterOptions, SubscribeOptions,
};
pub use testament::{Testament, TestamentScope};
pub use tokio_util::sync::CancellationToken;
pub use typed::{from_payload, to_payload};
pub use types::{CallResult, Event, HandlerFuture, Invocation, InvocationResult, Progress};

use crate::wamp::Id;

/// Where the client's session stands; watch it with [`Client::state`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// A connection attempt (transport, HELLO, re-subscriptions) is under way.
    Connecting,
    /// A session is open and every live subscription and registration is in place.
    Established { session: Id },
    /// Waiting `next_in` before reconnect attempt `attempt` (1-based, per outage).
    Reconnecting { attempt: u32, next_in: Duration },
    /// For good: closed by the client, reconnect disabled or given up.
    Closed { reason: String },
}

impl SessionState {
    pub fn is_established(&self) -> bool {
        matches!(self, SessionState::Established { .. })
    }

    pub fn is_closed(&self) -> bool {
        matches!(self, SessionState::Closed { .. })
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionState::Connecting => f.write_str("connecting"),
            SessionState::Established { session } => write!(f, "established (session {session})"),
            SessionState::Reconnecting { attempt, next_in } => {
                write!(f, "reconnecting (attempt {attempt} in {next_in:?})")
            }
            SessionState::Closed { reason } => write!(f, "closed ({reason})"),
        }
    }
}
