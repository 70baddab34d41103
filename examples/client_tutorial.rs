//! The WAMP tutorial procedures and topic, served and used through `verger::client`.
//!
//! It registers `com.example.move` and `com.example.kiss`, calls both, publishes on
//! `com.example.message` and receives that event itself, then leaves: exit code 0 when
//! every step worked. Run a router first (in another terminal), then the example:
//!
//! $ cargo run -- router
//! $ cargo run --example client_tutorial -- ws://127.0.0.1:8080/ws orchard

use std::time::Duration;

use verger::client::{Client, ClientConfig, PublishOptions, RegisterOptions, SubscribeOptions};
use verger::wamp::{Dict, Payload, Value};
use verger::{dict, list};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8080/ws".into());
    let realm = args.next().unwrap_or_else(|| "orchard".into());
    let client = Client::connect(ClientConfig::new(url, realm)).await?;

    let _move = client
        .register(
            "com.example.move",
            RegisterOptions::default(),
            |inv| async move {
                let mean = inv.kwargs.get("mean").cloned().unwrap_or(Value::Null);
                Ok(Payload::new(inv.args, dict! {"mean" => mean}))
            },
        )
        .await?;
    let _kiss = client
        .register(
            "com.example.kiss",
            RegisterOptions::default(),
            |_inv| async { Ok(Payload::args(list![true])) },
        )
        .await?;
    let mut messages = client
        .subscribe("com.example.message", SubscribeOptions::default())
        .await?;

    let moved = client
        .call(
            "com.example.move",
            list![3, 5],
            dict! {"mean" => "roulades"},
        )
        .await?;
    println!("move -> {:?} {:?}", moved.args, moved.kwargs);
    let kissed = client
        .call("com.example.kiss", list![], Dict::new())
        .await?;
    println!("kiss -> {:?}", kissed.first());

    let options = PublishOptions {
        exclude_me: false,
        ..PublishOptions::acknowledged()
    };
    let id = client
        .publish(
            "com.example.message",
            Payload::args(list!["hello"]),
            options,
        )
        .await?;
    println!("published as {id:?}");
    let event = tokio::time::timeout(Duration::from_secs(2), messages.recv())
        .await
        .map_err(|_| "no com.example.message event within 2 s")?
        .ok_or("the subscription ended")?;
    println!("received {:?} on {}", event.args, event.topic);
    client.close().await?;
    Ok(())
}
