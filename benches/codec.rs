//! Micro benchmark of the WAMP codecs: encode and decode throughput for a small EVENT
//! and a CALL, per serializer. Plain `main` (no criterion): `cargo bench --bench codec`.
//! Single-threaded; the numbers are messages per second on one core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use verger::wamp::{Message, Payload, Serializer, Value};
use verger::{dict, list};

fn event() -> Message {
    Message::Event {
        subscription: 5512315355,
        publication: 4429313566,
        details: dict! {},
        payload: Payload::args(list![41u32, "row-3", 0.25]),
    }
}

fn call() -> Message {
    Message::Call {
        request: 7814135,
        options: dict! { "timeout" => 500u32 },
        procedure: "org.verger.sprayer.set_valve".into(),
        payload: Payload::from_parts(
            Some(list![3u8, true]),
            Some(dict! {
                "tree" => 41u32,
                "row" => "row-3",
                "litres" => 0.25,
                "nozzles" => Value::List(list![1u8, 2u8, 3u8, 4u8]),
            }),
        ),
    }
}

/// Runs `f` repeatedly for about `budget` and returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up and size a batch that takes roughly 10 ms.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        if t.elapsed() > Duration::from_millis(10) {
            break;
        }
        batch *= 2;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..batch {
            f();
        }
        n += batch;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(700),
    );
    println!(
        "{:<8} {:<8} {:>6} {:>14} {:>14} {:>16}",
        "message", "format", "bytes", "encode msg/s", "decode msg/s", "dec+enc msg/s"
    );
    for (name, msg) in [("EVENT", event()), ("CALL", call())] {
        for s in Serializer::ALL {
            let bytes = s.encode(&msg);
            assert_eq!(s.decode(&bytes).unwrap(), msg);
            let enc = rate(budget, || {
                black_box(s.encode(black_box(&msg)));
            });
            let dec = rate(budget, || {
                black_box(s.decode(black_box(&bytes)).ok());
            });
            let both = rate(budget, || {
                if let Ok(m) = s.decode(black_box(&bytes)) {
                    black_box(s.encode(&m));
                }
            });
            println!(
                "{name:<8} {:<8} {:>6} {enc:>14.0} {dec:>14.0} {both:>16.0}",
                s.name(),
                bytes.len()
            );
        }
    }
}
