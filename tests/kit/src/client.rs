//! The real `verger::client::Client` against a test router: fast reconnects (tests
//! restart routers), subscriptions, and reading events with a bound on every wait.

use std::time::Duration;

use verger::client::{
    Client, ClientConfig, Event, ReconnectPolicy, SubscribeOptions, Subscription,
};
use verger::contract::DEFAULT_REALM;
use verger::wamp::Value;

use crate::within;

/// A client config for realm `orchard` at `url` that reconnects within 200 ms.
pub fn client_config(url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(url, DEFAULT_REALM);
    config.reconnect = ReconnectPolicy {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        ..ReconnectPolicy::default()
    };
    config
}

/// A client joined to realm `orchard` at `url`.
pub async fn connect(url: &str) -> Client {
    within("client connect", Client::connect(client_config(url)))
        .await
        .expect("connect")
}

/// Subscribe to `topic`, asking for the retained event or not.
pub async fn subscribe(client: &Client, topic: &str, get_retained: bool) -> Subscription {
    let options = SubscribeOptions {
        get_retained,
        ..SubscribeOptions::default()
    };
    within("subscribe", client.subscribe(topic, options))
        .await
        .expect("subscribe")
}

/// The next event of `sub`.
pub async fn next_event(sub: &mut Subscription, what: &str) -> Event {
    within(what, sub.recv()).await.expect("subscription ended")
}

/// The next event of `sub` matching `pred`, skipping the others.
pub async fn event_where(
    sub: &mut Subscription,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    within(what, async {
        loop {
            let e = sub.recv().await.expect("subscription ended");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
}

/// Keyword argument `key` of `e` (the test fails naming it if it is absent).
pub fn kw<'a>(e: &'a Event, key: &str) -> &'a Value {
    e.kwargs
        .get(key)
        .unwrap_or_else(|| panic!("no `{key}` in {:?}", e.kwargs))
}

/// Keyword argument `key` of `e` as a string (`<not a string>` otherwise).
pub fn kw_str<'a>(e: &'a Event, key: &str) -> &'a str {
    kw(e, key).as_str().unwrap_or("<not a string>")
}

/// The keyword arguments of `e` as the typed payload `T` (e.g. a contract payload);
/// the test fails showing the kwargs if they do not read as `T`.
pub fn kwargs_of<T: serde::de::DeserializeOwned>(e: &Event) -> T {
    e.kwargs_as().unwrap_or_else(|err| {
        panic!(
            "not a {} ({err}): {:?}",
            std::any::type_name::<T>(),
            e.kwargs
        )
    })
}
