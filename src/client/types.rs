//! What the client hands to application code: call results, events, invocations.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::{ClientError, InvocationError};
use crate::wamp::{Dict, Id, List, Payload, Value};

/// The final result of a call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallResult {
    /// Positional results (empty when absent).
    pub args: List,
    /// Keyword results (empty when absent).
    pub kwargs: Dict,
    /// `RESULT.Details`.
    pub details: Dict,
}

impl CallResult {
    pub(crate) fn new(details: Dict, payload: Payload) -> CallResult {
        CallResult {
            args: payload.args.unwrap_or_default(),
            kwargs: payload.kwargs.unwrap_or_default(),
            details,
        }
    }

    /// The first positional result, if any.
    pub fn first(&self) -> Option<&Value> {
        self.args.first()
    }

    pub fn into_payload(self) -> Payload {
        Payload::new(self.args, self.kwargs)
    }
}

/// One event received on a [`Subscription`](super::Subscription).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `EVENT.Details.topic` (pattern subscriptions) or else the subscribed URI.
    pub topic: String,
    pub subscription: Id,
    pub publication: Id,
    pub args: List,
    pub kwargs: Dict,
    /// `EVENT.Details`: `publisher`, `publisher_authid`, `retained`, …
    pub details: Dict,
}

impl Event {
    /// The publisher's session, when it disclosed itself.
    pub fn publisher(&self) -> Option<Id> {
        self.details.get("publisher").and_then(Value::as_u64)
    }

    /// Whether this is the broker's retained event rather than a new publication.
    pub fn is_retained(&self) -> bool {
        self.details
            .get("retained")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// One call of a registered procedure, as given to its handler.
#[derive(Debug)]
pub struct Invocation {
    /// The called URI (`INVOCATION.Details.procedure` for pattern registrations, else
    /// the registered URI).
    pub procedure: String,
    pub registration: Id,
    pub args: List,
    pub kwargs: Dict,
    /// `INVOCATION.Details`: `caller`, `caller_authid`, `receive_progress`, `timeout`…
    pub details: Dict,
    /// Present when the caller asked for progressive results.
    pub progress: Option<Progress>,
    /// Fires when the dealer interrupts the call (caller canceled), the forwarded call
    /// timeout expires, or the session is lost. The caller has then already been
    /// answered (or need not be); whatever the handler returns afterwards is discarded.
    /// Handlers of long or physical work watch it to stop and clean up.
    pub cancelled: CancellationToken,
}

impl Invocation {
    /// The caller's session, when disclosed.
    pub fn caller(&self) -> Option<Id> {
        self.details.get("caller").and_then(Value::as_u64)
    }

    /// The call timeout the dealer forwarded (`forward_timeout` registrations).
    pub fn timeout(&self) -> Option<Duration> {
        self.details
            .get("timeout")
            .and_then(Value::as_u64)
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    }
}

/// Sends progressive results of one invocation (`YIELD.Options.progress = true`).
#[derive(Clone, Debug)]
pub struct Progress {
    pub(crate) tx: mpsc::Sender<InvocationOutput>,
    pub(crate) epoch: u64,
    pub(crate) request: Id,
}

impl Progress {
    /// Send one progressive result. Waits only if the session task is backlogged.
    /// After the invocation ended (or was interrupted) progress is silently discarded.
    pub async fn send(&self, payload: Payload) -> Result<(), ClientError> {
        self.tx
            .send(InvocationOutput {
                epoch: self.epoch,
                request: self.request,
                kind: OutputKind::Progress(payload),
            })
            .await
            .map_err(|_| ClientError::Closed)
    }
}

/// A procedure's result: the final payload or an error for the caller.
pub type InvocationResult = Result<Payload, InvocationError>;

/// A boxed future of a procedure handler.
pub type HandlerFuture = Pin<Box<dyn Future<Output = InvocationResult> + Send + 'static>>;

/// A procedure handler, type-erased.
pub(crate) type Handler = Arc<dyn Fn(Invocation) -> HandlerFuture + Send + Sync + 'static>;

/// From an invocation task back to the session task.
#[derive(Debug)]
pub(crate) struct InvocationOutput {
    /// Which connection the invocation came in on; stale outputs are discarded.
    pub(crate) epoch: u64,
    pub(crate) request: Id,
    pub(crate) kind: OutputKind,
}

#[derive(Debug)]
pub(crate) enum OutputKind {
    Progress(Payload),
    Final(InvocationResult),
}
