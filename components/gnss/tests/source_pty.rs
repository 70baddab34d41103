//! The serial source over a real pseudo-terminal: open, read, unplug, replug.

use std::time::Duration;

use verger::source::{self, ReaderOptions, SourceEvent, SourceSpec};
use verger_testkit::{within, Pty, TempDir};

async fn next(reader: &mut source::Reader, what: &str) -> SourceEvent {
    within(what, reader.events.recv())
        .await
        .expect("reader ended")
}

async fn data_until(reader: &mut source::Reader, want: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    while !got.ends_with(want) {
        match next(reader, "data").await {
            SourceEvent::Data { bytes, .. } => got.extend(bytes),
            other => panic!("expected data, got {other:?}"),
        }
    }
    got
}

#[tokio::test]
async fn serial_source_reads_a_pty_survives_unplug_and_replug() {
    verger_testkit::init_logging();
    let dir = TempDir::new("source-pty");
    let link = dir.path("ttyGNSS");
    let spec = SourceSpec::Serial {
        path: link.clone(),
        baud: 115_200,
    };
    let options = ReaderOptions {
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        queue: 64,
    };

    // Missing at start: reported once, retried.
    let mut reader = source::spawn(spec, options);
    match next(&mut reader, "lost at start").await {
        SourceEvent::Lost { error } => assert!(error.contains("ttyGNSS"), "{error}"),
        other => panic!("expected Lost, got {other:?}"),
    }

    let mut pty = Pty::open(&link);
    assert!(matches!(
        next(&mut reader, "opened").await,
        SourceEvent::Opened
    ));
    pty.write(b"$GPGGA,1*00\r\n\xb5\x62binary").await;
    let got = data_until(&mut reader, b"binary").await;
    assert_eq!(got, b"$GPGGA,1*00\r\n\xb5\x62binary");

    pty.unplug();
    assert!(matches!(
        next(&mut reader, "lost").await,
        SourceEvent::Lost { .. }
    ));

    let mut pty = Pty::open(&link);
    assert!(matches!(
        next(&mut reader, "reopened").await,
        SourceEvent::Opened
    ));
    pty.write(b"$GPRMC,2*00\r\n").await;
    assert_eq!(data_until(&mut reader, b"\r\n").await, b"$GPRMC,2*00\r\n");
}
