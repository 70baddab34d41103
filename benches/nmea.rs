//! NMEA decoder benchmark over the real captures in the shared data folder: decode
//! throughput (sentences/s, MB/s) for each capture repeated to a few MB, and the cost of
//! one epoch (push of a GGA+RMC pair, 10 Hz RTK). Plain `main`:
//! `cargo bench --bench nmea`. Single-threaded; prints a Markdown table.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use verger::nmea::{Decoder, DecoderConfig};

fn data_dir() -> PathBuf {
    verger_testkit::shared("data/nmea")
}

/// Decodes `data` in 64-byte reads (a serial port's typical read size), 1 ms apart.
fn decode(data: &[u8]) -> (u64, u64) {
    let mut d = Decoder::new(DecoderConfig::default());
    let mut out = Vec::with_capacity(16);
    let mut at = 0;
    for chunk in data.chunks(64) {
        at += 1_000;
        d.push_into(black_box(chunk), at, &mut out);
        out.clear();
    }
    let c = d.counters();
    (c.sentences, c.epochs)
}

fn main() {
    let dir = data_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("data dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".log") || n.ends_with(".dat"))
        .collect();
    names.sort();
    println!("| capture | MB decoded | sentences/s | MB/s | µs per sentence | µs per epoch |");
    println!("|---|---:|---:|---:|---:|---:|");
    for name in names {
        let raw = std::fs::read(dir.join(&name)).expect("read capture");
        let reps = (4_000_000 / raw.len()).max(1);
        let data = raw.repeat(reps);
        let _ = decode(&data[..data.len().min(200_000)]); // warm-up
        let start = Instant::now();
        let (sentences, epochs) = decode(&data);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "| {name} | {:.1} | {:.0} | {:.0} | {:.3} | {:.2} |",
            data.len() as f64 / 1e6,
            sentences as f64 / secs,
            data.len() as f64 / 1e6 / secs,
            secs * 1e6 / sentences as f64,
            secs * 1e6 / epochs.max(1) as f64,
        );
    }

    // One RTK epoch: a GGA and an RMC pushed as two reads; the RMC push returns the epoch
    // (cycle ender learned). Cost per epoch, including the Vec of the result.
    let gga = b"$GNGGA,132819.60,4134.49795459,N,09345.03431408,W,4,10,0.9,278.161,M,-31.442,M,6.6,0133*6C\r\n";
    let rmc = b"$GNRMC,132819.60,A,4134.49795459,N,09345.03431408,W,0.148,124.888,180320,11.5985,E,D*3F\r\n";
    let n = 200_000u64;
    let mut lines = Vec::with_capacity(n as usize);
    for i in 0..n {
        // Distinct times so every pair is its own epoch.
        let t = format!(
            "{:02}{:02}{:02}.{}0",
            (i / 36_000) % 24,
            (i / 600) % 60,
            (i / 10) % 60,
            i % 10
        );
        let fix = |s: &[u8]| {
            let s = String::from_utf8_lossy(s).replace("132819.60", &t);
            let body = &s[1..s.find('*').unwrap()];
            let ck = body.bytes().fold(0u8, |a, b| a ^ b);
            format!("${body}*{ck:02X}\r\n")
        };
        lines.push((fix(gga), fix(rmc)));
    }
    let mut d = Decoder::new(DecoderConfig::default());
    let mut out = Vec::with_capacity(4);
    let mut worst = 0f64;
    let start = Instant::now();
    let mut at = 0;
    for (g, r) in &lines {
        at += 100_000;
        let t0 = Instant::now();
        d.push_into(g.as_bytes(), at, &mut out);
        d.push_into(r.as_bytes(), at + 10_000, &mut out);
        worst = worst.max(t0.elapsed().as_secs_f64());
        out.clear();
    }
    let secs = start.elapsed().as_secs_f64();
    println!();
    println!("| per-epoch cost (GGA+RMC, emitted at the RMC) | value |");
    println!("|---|---:|");
    println!("| epochs | {} |", d.counters().epochs);
    println!("| mean µs per epoch | {:.2} |", secs * 1e6 / n as f64);
    println!("| worst µs per epoch | {:.1} |", worst * 1e6);
}
