//! Fuzz the NMEA decoder: any bytes, handed over in chunks whose sizes and arrival times
//! come from the input itself, with polls at the deadlines. Never panics; memory stays
//! bounded; counters stay consistent; the same bytes pushed whole give the same sentences
//! and checksum errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verger::nmea::{Decoder, DecoderConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let config = DecoderConfig {
        allow_missing_checksum: ctl & 1 == 0,
        ..DecoderConfig::default()
    };
    // The first bytes choose chunk sizes and time steps; the rest is the stream.
    let split = rest.len().min(usize::from(ctl >> 1));
    let (plan, stream) = rest.split_at(split);
    let mut d = Decoder::new(config.clone());
    let cap = d.buffer_capacity();
    let mut at = 0u64;
    let mut offset = 0;
    let mut i = 0;
    let mut epochs = Vec::new();
    while offset < stream.len() {
        let p = plan.get(i).copied().unwrap_or(64);
        i += 1;
        let n = (usize::from(p & 0x3f) + 1).min(stream.len() - offset);
        at += u64::from(p >> 6) * 15_000;
        d.push_into(&stream[offset..offset + n], at, &mut epochs);
        offset += n;
        assert_eq!(d.buffer_capacity(), cap);
        if p & 0x80 != 0 {
            if let Some(deadline) = d.next_deadline() {
                assert!(deadline >= at);
                epochs.extend(d.poll(deadline));
            }
        }
    }
    epochs.extend(d.poll(u64::MAX));
    assert!(d.next_deadline().is_none());
    let c = d.counters();
    assert!(c.discarded_bytes <= stream.len() as u64);
    assert_eq!(c.epochs as usize, epochs.len());
    for e in &epochs {
        assert!(e.first_arrival <= e.last_arrival);
        assert!(e.sentences >= 1);
    }
    // Framing does not depend on chunking.
    let mut whole = Decoder::new(config);
    let _ = whole.push(stream, 0);
    let w = whole.counters();
    assert_eq!((w.sentences, w.checksum_errors, w.parse_errors, w.discarded_bytes), (c.sentences, c.checksum_errors, c.parse_errors, c.discarded_bytes));
});
