//! Per-request options and the HELLO details, turned into the spec's option dicts.
//! Pure functions: unit-tested against the spec's option names.

use std::time::Duration;

pub use crate::wamp::options::{CancelMode, InvokePolicy};
use crate::wamp::uri::MatchPolicy;
use crate::wamp::{Dict, Id, List, Value};

/// Options of one call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallOptions {
    /// `None`: the client's default (`ClientConfig::call_timeout`). `Some(ZERO)`: no
    /// timeout. The timeout runs on the client (expiry sends `CANCEL` `killnowait` and
    /// returns `CallError::Timeout`) and is forwarded as `CALL.Options.timeout` so the
    /// dealer or callee can stop the work too.
    pub timeout: Option<Duration>,
    /// Ask for progressive results. [`Client::call_progressive`](super::Client::call_progressive)
    /// sets it; with [`Client::call_with`](super::Client::call_with) progress is discarded.
    pub receive_progress: bool,
    /// Ask the dealer to tell the callee who calls (`INVOCATION.Details.caller`).
    pub disclose_me: bool,
    /// Further options sent as they are (router-specific extensions).
    pub extra: Dict,
}

impl CallOptions {
    /// `CALL.Options` for an effective timeout (after defaults were applied).
    pub fn to_dict(&self, timeout: Option<Duration>) -> Dict {
        let mut d = self.extra.clone();
        if let Some(t) = timeout.filter(|t| !t.is_zero()) {
            // At least 1 ms: 0 would mean "no timeout" to the dealer.
            let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1);
            d.insert("timeout".into(), Value::UInt(ms));
        }
        if self.receive_progress {
            d.insert("receive_progress".into(), Value::Bool(true));
        }
        if self.disclose_me {
            d.insert("disclose_me".into(), Value::Bool(true));
        }
        d
    }
}

/// Options of one publication.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishOptions {
    /// Wait for `PUBLISHED` and return the publication id.
    pub acknowledge: bool,
    /// `false`: the publisher receives its own event if subscribed (spec default `true`).
    pub exclude_me: bool,
    /// Ask the broker to keep this event as the topic's retained event.
    pub retain: bool,
    /// Disclose the publisher's session to subscribers.
    pub disclose_me: bool,
    /// Sessions that must not receive the event.
    pub exclude: Vec<Id>,
    pub exclude_authid: Vec<String>,
    pub exclude_authrole: Vec<String>,
    /// Only these sessions may receive the event (`None`: everyone; `Some(vec![])`:
    /// no one).
    pub eligible: Option<Vec<Id>>,
    pub eligible_authid: Option<Vec<String>>,
    pub eligible_authrole: Option<Vec<String>>,
    /// Further options sent as they are.
    pub extra: Dict,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            acknowledge: false,
            exclude_me: true,
            retain: false,
            disclose_me: false,
            exclude: Vec::new(),
            exclude_authid: Vec::new(),
            exclude_authrole: Vec::new(),
            eligible: None,
            eligible_authid: None,
            eligible_authrole: None,
            extra: Dict::new(),
        }
    }
}

fn ids(v: &[Id]) -> Value {
    Value::List(v.iter().map(|&i| Value::UInt(i)).collect())
}

fn strs(v: &[String]) -> Value {
    Value::List(v.iter().map(|s| Value::Str(s.clone())).collect::<List>())
}

impl PublishOptions {
    /// Acknowledged publication (returns the publication id).
    pub fn acknowledged() -> Self {
        PublishOptions {
            acknowledge: true,
            ..PublishOptions::default()
        }
    }

    pub fn to_dict(&self) -> Dict {
        let mut d = self.extra.clone();
        let mut flag = |k: &str, on: bool| {
            if on {
                d.insert(k.into(), Value::Bool(true));
            }
        };
        flag("acknowledge", self.acknowledge);
        flag("retain", self.retain);
        flag("disclose_me", self.disclose_me);
        if !self.exclude_me {
            d.insert("exclude_me".into(), Value::Bool(false));
        }
        if !self.exclude.is_empty() {
            d.insert("exclude".into(), ids(&self.exclude));
        }
        if !self.exclude_authid.is_empty() {
            d.insert("exclude_authid".into(), strs(&self.exclude_authid));
        }
        if !self.exclude_authrole.is_empty() {
            d.insert("exclude_authrole".into(), strs(&self.exclude_authrole));
        }
        if let Some(v) = &self.eligible {
            d.insert("eligible".into(), ids(v));
        }
        if let Some(v) = &self.eligible_authid {
            d.insert("eligible_authid".into(), strs(v));
        }
        if let Some(v) = &self.eligible_authrole {
            d.insert("eligible_authrole".into(), strs(v));
        }
        d
    }
}

/// `SUBSCRIBE.Options.delivery`, a verger router extension: what the router does when
/// this subscriber falls behind (docs/router.md). Other routers ignore it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeliveryPolicy {
    /// The router cuts the session off as a slow consumer (the default; the client
    /// reconnects and subscribes again).
    #[default]
    Cut,
    /// The router drops the subscription's oldest queued events; never cuts.
    DropOldest,
    /// The router keeps only the newest queued event per topic (for sensor streams
    /// such as GNSS fixes); never cuts.
    Latest,
}

impl DeliveryPolicy {
    /// The option value: `"cut"`, `"drop_oldest"`, `"latest"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryPolicy::Cut => "cut",
            DeliveryPolicy::DropOldest => "drop_oldest",
            DeliveryPolicy::Latest => "latest",
        }
    }
}

/// Options of one subscription.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubscribeOptions {
    pub match_policy: MatchPolicy,
    /// Ask the broker for the topic's retained event right after subscribing.
    pub get_retained: bool,
    /// What the router does when this subscriber falls behind. With `DropOldest` or
    /// `Latest`, an event after a gap carries `details.dropped` in
    /// [`Event::details`](crate::client::Event::details): the number of events of this
    /// subscription the router dropped since the one delivered before it.
    pub delivery: DeliveryPolicy,
    /// Events buffered for a slow consumer before the oldest is dropped; `None`: the
    /// client's default (`ClientConfig::subscription_queue`).
    pub queue_size: Option<usize>,
    /// Further options sent as they are.
    pub extra: Dict,
}

impl SubscribeOptions {
    pub fn prefix() -> Self {
        SubscribeOptions {
            match_policy: MatchPolicy::Prefix,
            ..Default::default()
        }
    }

    pub fn wildcard() -> Self {
        SubscribeOptions {
            match_policy: MatchPolicy::Wildcard,
            ..Default::default()
        }
    }

    pub fn to_dict(&self) -> Dict {
        let mut d = self.extra.clone();
        if self.match_policy != MatchPolicy::Exact {
            d.insert("match".into(), self.match_policy.as_str().into());
        }
        if self.get_retained {
            d.insert("get_retained".into(), Value::Bool(true));
        }
        if self.delivery != DeliveryPolicy::Cut {
            d.insert("delivery".into(), self.delivery.as_str().into());
        }
        d
    }
}

/// Options of one registration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegisterOptions {
    pub match_policy: MatchPolicy,
    pub invoke: InvokePolicy,
    /// Ask the dealer to disclose every caller to this callee.
    pub disclose_caller: bool,
    /// Let this callee run the call timeout (`INVOCATION.Details.timeout`): the handler's
    /// `cancelled` token fires and the caller gets `wamp.error.timeout`.
    pub forward_timeout: bool,
    /// Further options sent as they are.
    pub extra: Dict,
}

impl RegisterOptions {
    pub fn shared(invoke: InvokePolicy) -> Self {
        RegisterOptions {
            invoke,
            ..Default::default()
        }
    }

    pub fn to_dict(&self) -> Dict {
        let mut d = self.extra.clone();
        if self.match_policy != MatchPolicy::Exact {
            d.insert("match".into(), self.match_policy.as_str().into());
        }
        if self.invoke != InvokePolicy::Single {
            d.insert("invoke".into(), self.invoke.as_str().into());
        }
        if self.disclose_caller {
            d.insert("disclose_caller".into(), Value::Bool(true));
        }
        if self.forward_timeout {
            d.insert("forward_timeout".into(), Value::Bool(true));
        }
        d
    }
}

fn features(names: &[&str]) -> Value {
    let f: Dict = names
        .iter()
        .map(|n| ((*n).to_owned(), Value::Bool(true)))
        .collect();
    let mut role = Dict::new();
    role.insert("features".into(), Value::Dict(f));
    Value::Dict(role)
}

/// `HELLO.Details.roles`: the four client roles with exactly the features this client
/// implements.
pub fn client_roles() -> Dict {
    let mut roles = Dict::new();
    roles.insert(
        "caller".into(),
        features(&[
            "progressive_call_results",
            "call_canceling",
            "call_timeout",
            "caller_identification",
        ]),
    );
    roles.insert(
        "callee".into(),
        features(&[
            "progressive_call_results",
            "call_canceling",
            "call_timeout",
            "caller_identification",
            "pattern_based_registration",
            "shared_registration",
        ]),
    );
    roles.insert(
        "publisher".into(),
        features(&[
            "publisher_exclusion",
            "publisher_identification",
            "subscriber_blackwhite_listing",
        ]),
    );
    roles.insert(
        "subscriber".into(),
        features(&["pattern_based_subscription", "publisher_identification"]),
    );
    roles
}

/// What the router announced in `WELCOME.Details.roles` that changes client behaviour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RouterFeatures {
    /// The dealer understands `CANCEL`; otherwise a cancel or timeout only abandons the
    /// call locally.
    pub call_canceling: bool,
}

impl RouterFeatures {
    pub(super) fn from_welcome(details: &Dict) -> RouterFeatures {
        let feature = |role: &str, name: &str| {
            details
                .get("roles")
                .and_then(Value::as_dict)
                .and_then(|r| r.get(role))
                .and_then(Value::as_dict)
                .and_then(|r| r.get("features"))
                .and_then(Value::as_dict)
                .and_then(|f| f.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        RouterFeatures {
            call_canceling: feature("dealer", "call_canceling"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    #[test]
    fn call_options() {
        assert_eq!(CallOptions::default().to_dict(None), Dict::new());
        let o = CallOptions {
            receive_progress: true,
            disclose_me: true,
            extra: dict! {"x" => 1},
            ..Default::default()
        };
        assert_eq!(
            o.to_dict(Some(Duration::from_millis(1500))),
            dict! {"timeout" => 1500u64, "receive_progress" => true, "disclose_me" => true, "x" => 1}
        );
        assert_eq!(o.to_dict(Some(Duration::ZERO)).get("timeout"), None);
        assert_eq!(
            CallOptions::default().to_dict(Some(Duration::from_micros(10))),
            dict! {"timeout" => 1u64}
        );
    }

    #[test]
    fn publish_options() {
        assert_eq!(PublishOptions::default().to_dict(), Dict::new());
        assert_eq!(
            PublishOptions::acknowledged().to_dict(),
            dict! {"acknowledge" => true}
        );
        let o = PublishOptions {
            exclude_me: false,
            retain: true,
            disclose_me: true,
            exclude: vec![7],
            exclude_authid: vec!["a".into()],
            exclude_authrole: vec!["r".into()],
            eligible: Some(vec![]),
            eligible_authid: Some(vec!["b".into()]),
            eligible_authrole: Some(vec!["s".into()]),
            ..Default::default()
        };
        assert_eq!(
            o.to_dict(),
            dict! {
                "exclude_me" => false, "retain" => true, "disclose_me" => true,
                "exclude" => Value::List(vec![7u64.into()]),
                "exclude_authid" => Value::List(vec!["a".into()]),
                "exclude_authrole" => Value::List(vec!["r".into()]),
                "eligible" => Value::List(vec![]),
                "eligible_authid" => Value::List(vec!["b".into()]),
                "eligible_authrole" => Value::List(vec!["s".into()]),
            }
        );
    }

    #[test]
    fn subscribe_and_register_options() {
        assert_eq!(SubscribeOptions::default().to_dict(), Dict::new());
        let s = SubscribeOptions {
            get_retained: true,
            ..SubscribeOptions::wildcard()
        };
        assert_eq!(
            s.to_dict(),
            dict! {"match" => "wildcard", "get_retained" => true}
        );
        assert_eq!(
            SubscribeOptions::prefix().to_dict(),
            dict! {"match" => "prefix"}
        );
        let latest = SubscribeOptions {
            delivery: DeliveryPolicy::Latest,
            ..SubscribeOptions::default()
        };
        assert_eq!(latest.to_dict(), dict! {"delivery" => "latest"});
        let drop_oldest = SubscribeOptions {
            delivery: DeliveryPolicy::DropOldest,
            ..SubscribeOptions::default()
        };
        assert_eq!(drop_oldest.to_dict(), dict! {"delivery" => "drop_oldest"});
        assert_eq!(RegisterOptions::default().to_dict(), Dict::new());
        let r = RegisterOptions {
            match_policy: MatchPolicy::Prefix,
            disclose_caller: true,
            forward_timeout: true,
            ..RegisterOptions::shared(InvokePolicy::RoundRobin)
        };
        assert_eq!(
            r.to_dict(),
            dict! {"match" => "prefix", "invoke" => "roundrobin", "disclose_caller" => true, "forward_timeout" => true}
        );
        for (p, s) in [
            (InvokePolicy::Random, "random"),
            (InvokePolicy::First, "first"),
            (InvokePolicy::Last, "last"),
        ] {
            assert_eq!(p.as_str(), s);
        }
    }

    #[test]
    fn roles_announce_features() {
        let roles = client_roles();
        let f = |role: &str, feat: &str| {
            roles[role].as_dict().unwrap()["features"]
                .as_dict()
                .unwrap()[feat]
                == Value::Bool(true)
        };
        assert!(f("caller", "call_canceling"));
        assert!(f("caller", "progressive_call_results"));
        assert!(f("callee", "shared_registration"));
        assert!(f("callee", "pattern_based_registration"));
        assert!(f("publisher", "subscriber_blackwhite_listing"));
        assert!(f("subscriber", "pattern_based_subscription"));
        assert_eq!(roles.len(), 4);
    }

    #[test]
    fn router_features_from_welcome() {
        let welcome = dict! {"roles" => dict! {
            "dealer" => dict! {"features" => dict! {"call_canceling" => true}},
            "broker" => Dict::new(),
        }};
        assert!(RouterFeatures::from_welcome(&welcome).call_canceling);
        assert!(!RouterFeatures::from_welcome(&Dict::new()).call_canceling);
        let weird = dict! {"roles" => "not a dict"};
        assert!(!RouterFeatures::from_welcome(&weird).call_canceling);
    }

    #[test]
    fn cancel_modes() {
        for m in [CancelMode::Skip, CancelMode::Kill, CancelMode::KillNoWait] {
            assert_eq!(CancelMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(CancelMode::parse("nope"), None);
    }
}
