//! Typed payloads: Rust values in and out of WAMP `args`/`kwargs` via serde.
//!
//! Conventions ([`to_payload`], [`from_payload`]), so that a Rust struct travels as
//! keyword arguments, the way Autobahn and most WAMP peers expect:
//! - a struct or map becomes `kwargs`; a sequence or tuple becomes `args`; `()` and
//!   `None` an empty payload; any other single value one positional argument;
//! - reading tries the reverse: only `kwargs` → the dict; exactly one positional
//!   argument → that value (falling back to the one-element list); nothing → `null`;
//!   else the positional list.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{CallError, ClientError, InvocationError, PublishError};
use super::handle::{Client, Registration};
use super::options::{CallOptions, PublishOptions, RegisterOptions};
use super::types::{CallResult, Event, Invocation};
use crate::wamp::{from_value, to_value, Dict, Id, List, Payload, Value, ValueError};

/// A Rust value as a WAMP payload (see the module conventions).
pub fn to_payload<T: Serialize + ?Sized>(value: &T) -> Result<Payload, ValueError> {
    Ok(match to_value(value)? {
        Value::Null => Payload::default(),
        Value::List(args) => Payload::args(args),
        Value::Dict(kwargs) => Payload::new(List::new(), kwargs),
        other => Payload::args(vec![other]),
    })
}

/// A Rust value from `args`/`kwargs` (see the module conventions).
pub fn from_payload<T: DeserializeOwned>(args: &[Value], kwargs: &Dict) -> Result<T, ValueError> {
    match (args, kwargs.is_empty()) {
        ([], false) => from_value(Value::Dict(kwargs.clone())),
        ([], true) => from_value(Value::Null),
        ([single], true) => from_value(single.clone())
            .or_else(|e| from_value(Value::List(args.to_vec())).map_err(|_| e)),
        _ => from_value(Value::List(args.to_vec())),
    }
}

macro_rules! typed_accessors {
    ($ty:ty) => {
        impl $ty {
            /// The whole payload as `T` (see [`from_payload`]).
            pub fn value_as<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
                from_payload(&self.args, &self.kwargs)
            }

            /// The positional arguments as `T` (a tuple, `Vec`, or tuple struct).
            pub fn args_as<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
                from_value(Value::List(self.args.clone()))
            }

            /// The keyword arguments as `T` (a struct or map).
            pub fn kwargs_as<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
                from_value(Value::Dict(self.kwargs.clone()))
            }

            /// Positional argument `index` as `T` (`null` when absent).
            pub fn arg_as<T: DeserializeOwned>(&self, index: usize) -> Result<T, ValueError> {
                from_value(self.args.get(index).cloned().unwrap_or_default())
            }
        }
    };
}

typed_accessors!(CallResult);
typed_accessors!(Event);
typed_accessors!(Invocation);

impl From<ValueError> for InvocationError {
    /// Arguments the handler could not decode: `wamp.error.invalid_argument`.
    fn from(e: ValueError) -> InvocationError {
        InvocationError::invalid_argument(e.to_string())
    }
}

impl Client {
    /// Call with a typed argument and a typed result (see [`to_payload`] and
    /// [`from_payload`] for how values map to `args`/`kwargs`).
    pub async fn call_typed<A, R>(&self, procedure: &str, args: &A) -> Result<R, CallError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let payload = to_payload(args).map_err(|e| CallError::InvalidPayload(e.to_string()))?;
        let result = self
            .call_with(procedure, payload, CallOptions::default())
            .await?;
        result
            .value_as()
            .map_err(|e| CallError::InvalidPayload(e.to_string()))
    }

    /// Publish a typed value (see [`to_payload`]).
    pub async fn publish_typed<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        value: &T,
        options: PublishOptions,
    ) -> Result<Option<Id>, PublishError> {
        let payload = to_payload(value).map_err(|e| PublishError::InvalidPayload(e.to_string()))?;
        self.publish(topic, payload, options).await
    }

    /// Register a handler taking and returning typed values. Arguments that do not
    /// decode are answered with `wamp.error.invalid_argument` without calling `f`.
    pub async fn register_typed<A, R, F, Fut>(
        &self,
        procedure: &str,
        options: RegisterOptions,
        f: F,
    ) -> Result<Registration, ClientError>
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, InvocationError>> + Send + 'static,
    {
        let f = std::sync::Arc::new(f);
        self.register(procedure, options, move |inv: Invocation| {
            let f = f.clone();
            async move {
                let args: A = inv.value_as()?;
                let out = f(args).await?;
                to_payload(&out).map_err(|e| {
                    tracing::error!(error = %e, "handler result is not a WAMP value");
                    InvocationError::new(super::error::RUNTIME_ERROR)
                })
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dict, list};
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Fix {
        lat: f64,
        lon: f64,
    }

    #[test]
    fn structs_travel_as_kwargs_and_back() {
        let p = to_payload(&Fix { lat: 1.5, lon: 2.5 }).unwrap();
        assert_eq!(p.kwargs, Some(dict! {"lat" => 1.5, "lon" => 2.5}));
        let back: Fix = from_payload(p.arg_list(), p.kwargs.as_ref().unwrap()).unwrap();
        assert_eq!(back, Fix { lat: 1.5, lon: 2.5 });
    }

    #[test]
    fn sequences_scalars_and_unit() {
        assert_eq!(to_payload(&(3, 5)).unwrap(), Payload::args(list![3, 5]));
        assert_eq!(to_payload(&true).unwrap(), Payload::args(list![true]));
        assert_eq!(to_payload(&()).unwrap(), Payload::default());
        let none = Dict::new();
        assert!(from_payload::<bool>(&[Value::Bool(true)], &none).unwrap());
        assert_eq!(
            from_payload::<(i64, i64)>(&[3.into(), 5.into()], &none).unwrap(),
            (3, 5)
        );
        assert_eq!(
            from_payload::<Vec<i64>>(&[7.into()], &none).unwrap(),
            vec![7]
        );
        assert_eq!(from_payload::<Option<i64>>(&[], &none).unwrap(), None);
        assert!(from_payload::<Fix>(&["x".into()], &none).is_err());
    }

    #[test]
    fn accessors() {
        let r = CallResult {
            args: list![3, "x"],
            kwargs: dict! {"lat" => 1.0, "lon" => 2.0},
            details: Dict::new(),
        };
        assert_eq!(r.arg_as::<i64>(0).unwrap(), 3);
        assert_eq!(r.arg_as::<Option<i64>>(9).unwrap(), None);
        assert_eq!(r.args_as::<(i64, String)>().unwrap(), (3, "x".to_owned()));
        assert_eq!(r.kwargs_as::<Fix>().unwrap(), Fix { lat: 1.0, lon: 2.0 });
        let e: InvocationError = from_value::<i64>(Value::Str("x".into()))
            .unwrap_err()
            .into();
        assert_eq!(e.error, crate::wamp::uris::INVALID_ARGUMENT);
    }
}
