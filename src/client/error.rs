//! The client's error types. Expected conditions (callee errors, lost connections,
//! timeouts) are variants callers match on; nothing here is a panic.

use std::fmt;
use std::time::Duration;

use crate::wamp::{uris, Dict, List, Payload};

/// Errors of the session as a whole and of subscribe/register/unsubscribe/unregister.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// Transport connect or handshake failed.
    #[error("connecting to the router failed: {0}")]
    Connect(String),
    /// The router answered HELLO (or an established session) with ABORT.
    #[error("the router aborted the session: {reason}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Aborted {
        reason: String,
        message: Option<String>,
    },
    #[error("no session within {waited:?}{}", last_error.as_deref().map(|m| format!("; last error: {m}")).unwrap_or_default())]
    StartupTimeout {
        waited: Duration,
        last_error: Option<String>,
    },
    #[error("not connected to a router")]
    NotConnected,
    #[error("the connection to the router was lost")]
    ConnectionLost,
    /// The router answered the request with an ERROR (e.g. `wamp.error.not_authorized`,
    /// `wamp.error.procedure_already_exists`, `wamp.error.invalid_uri`).
    #[error("the router refused: {error}")]
    Rejected {
        error: String,
        args: List,
        kwargs: Dict,
    },
    /// The client was closed (or gave up reconnecting, or every `Client` was dropped).
    #[error("the client is closed")]
    Closed,
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("message of {size} bytes exceeds the router's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
}

impl ClientError {
    pub(crate) fn rejected(error: String, payload: Payload) -> ClientError {
        ClientError::Rejected {
            error,
            args: payload.args.unwrap_or_default(),
            kwargs: payload.kwargs.unwrap_or_default(),
        }
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The callee (or the dealer) answered with an error URI.
    #[error("call failed with {error}")]
    Application {
        error: String,
        args: List,
        kwargs: Dict,
    },
    /// `wamp.error.no_such_procedure`: nothing is registered under the URI.
    #[error("no such procedure {0:?}")]
    NoSuchProcedure(String),
    /// `wamp.error.canceled`, or canceled locally when the router cannot cancel.
    #[error("call canceled")]
    Canceled,
    /// The client-side timeout expired or the dealer/callee answered
    /// `wamp.error.timeout`.
    #[error("call timed out")]
    Timeout,
    /// There was no session when the call was made; nothing was sent.
    #[error("not connected to a router")]
    NotConnected,
    /// The session ended while the call was pending (transport failure, ping
    /// timeout, router GOODBYE such as `wamp.close.system_shutdown`, ABORT); the
    /// outcome is unknown. The reason is logged.
    #[error("the connection to the router was lost during the call")]
    ConnectionLost,
    #[error("the client is closed")]
    Closed,
    #[error("message of {size} bytes exceeds the router's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// Typed arguments could not be converted to or from WAMP values.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
}

impl CallError {
    pub(crate) fn from_error(error: String, procedure: &str, payload: Payload) -> CallError {
        match error.as_str() {
            uris::NO_SUCH_PROCEDURE => CallError::NoSuchProcedure(procedure.to_owned()),
            uris::CANCELED => CallError::Canceled,
            uris::TIMEOUT => CallError::Timeout,
            _ => CallError::Application {
                error,
                args: payload.args.unwrap_or_default(),
                kwargs: payload.kwargs.unwrap_or_default(),
            },
        }
    }

    /// The WAMP error URI, for errors that came from the peer.
    pub fn error_uri(&self) -> Option<&str> {
        match self {
            CallError::Application { error, .. } => Some(error),
            CallError::NoSuchProcedure(_) => Some(uris::NO_SUCH_PROCEDURE),
            CallError::Canceled => Some(uris::CANCELED),
            CallError::Timeout => Some(uris::TIMEOUT),
            _ => None,
        }
    }

    /// Whether the call may have run on the callee although no answer arrived.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            CallError::ConnectionLost | CallError::Timeout | CallError::Closed
        )
    }
}

/// Why a publication failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PublishError {
    /// No session: the event was dropped, not queued.
    #[error("not connected to a router")]
    NotConnected,
    /// The session ended before the event was written or acknowledged.
    #[error("the connection to the router was lost before the acknowledgement")]
    ConnectionLost,
    /// The broker answered with an error (acknowledged publications only).
    #[error("the router refused the publication: {error}")]
    Rejected {
        error: String,
        args: List,
        kwargs: Dict,
    },
    #[error("the client is closed")]
    Closed,
    /// No acknowledgement within the default call timeout; the outcome is unknown.
    #[error("no acknowledgement from the broker in time")]
    Timeout,
    #[error("message of {size} bytes exceeds the router's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
}

/// What a procedure handler returns on failure: sent to the caller as
/// `ERROR(INVOCATION, …, error, args, kwargs)`.
#[derive(Clone, Debug, PartialEq)]
pub struct InvocationError {
    pub error: String,
    pub args: List,
    pub kwargs: Dict,
}

impl InvocationError {
    pub fn new(error: impl Into<String>) -> InvocationError {
        InvocationError {
            error: error.into(),
            args: List::new(),
            kwargs: Dict::new(),
        }
    }

    pub fn with_args(mut self, args: List) -> Self {
        self.args = args;
        self
    }

    pub fn with_kwargs(mut self, kwargs: Dict) -> Self {
        self.kwargs = kwargs;
        self
    }

    /// `wamp.error.invalid_argument` with a human-readable message as the only argument.
    pub fn invalid_argument(message: impl Into<String>) -> InvocationError {
        InvocationError::new(uris::INVALID_ARGUMENT).with_args(vec![message.into().into()])
    }

    /// `wamp.error.canceled`: what a handler returns when it stops on `cancelled`.
    pub fn canceled() -> InvocationError {
        InvocationError::new(uris::CANCELED)
    }

    pub(crate) fn payload(&self) -> Payload {
        Payload::new(self.args.clone(), self.kwargs.clone())
    }
}

impl fmt::Display for InvocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.args.is_empty() {
            write!(f, " {:?}", self.args)?;
        }
        Ok(())
    }
}

impl std::error::Error for InvocationError {}

/// Not in the spec; the URI Autobahn and Crossbar use for a callee that crashed.
pub const RUNTIME_ERROR: &str = "wamp.error.runtime_error";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dict, list};

    #[test]
    fn error_uris_map_to_variants() {
        let p = Payload::default();
        assert_eq!(
            CallError::from_error(uris::NO_SUCH_PROCEDURE.into(), "a.b", p.clone()),
            CallError::NoSuchProcedure("a.b".into())
        );
        assert_eq!(
            CallError::from_error(uris::CANCELED.into(), "a.b", p.clone()),
            CallError::Canceled
        );
        assert_eq!(
            CallError::from_error(uris::TIMEOUT.into(), "a.b", p),
            CallError::Timeout
        );
        let e = CallError::from_error(
            "com.example.bad".into(),
            "a.b",
            Payload::new(list![1], dict! {"k" => "v"}),
        );
        assert_eq!(
            e,
            CallError::Application {
                error: "com.example.bad".into(),
                args: list![1],
                kwargs: dict! {"k" => "v"}
            }
        );
        assert_eq!(e.error_uri(), Some("com.example.bad"));
        assert!(CallError::ConnectionLost.outcome_unknown());
        assert!(!CallError::NotConnected.outcome_unknown());
    }

    #[test]
    fn messages_are_readable() {
        let e = ClientError::Aborted {
            reason: "wamp.error.no_such_realm".into(),
            message: Some("no realm".into()),
        };
        assert_eq!(
            e.to_string(),
            "the router aborted the session: wamp.error.no_such_realm (no realm)"
        );
        let e = InvocationError::invalid_argument("x must be positive");
        assert_eq!(e.error, uris::INVALID_ARGUMENT);
        assert_eq!(e.payload(), Payload::args(list!["x must be positive"]));
        assert_eq!(InvocationError::canceled().payload(), Payload::default());
    }
}
