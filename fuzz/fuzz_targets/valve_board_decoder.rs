//! Fuzz the valve board's frame decoders (both directions): any bytes, handed over in
//! chunks whose sizes come from the input itself. Never panics; the results do not depend
//! on the chunking; every message decoded re-encodes to a frame that decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verger::valve_board::{encode, BoardMessage, Decoder, HostMessage, Wire};

fn check<M: Wire + PartialEq + std::fmt::Debug>(plan: &[u8], stream: &[u8]) {
    let mut chunked = Decoder::<M>::new();
    let mut results = Vec::new();
    let mut offset = 0;
    let mut i = 0;
    while offset < stream.len() {
        let n =
            (usize::from(plan.get(i).copied().unwrap_or(7) & 0x3f) + 1).min(stream.len() - offset);
        i += 1;
        results.extend(chunked.push(&stream[offset..offset + n]));
        offset += n;
    }
    let whole = Decoder::<M>::new().push(stream);
    assert_eq!(results, whole);
    for msg in results.into_iter().flatten() {
        assert_eq!(Decoder::<M>::new().push(&encode(&msg)), vec![Ok(msg)]);
    }
    assert!(chunked.skipped_bytes() <= stream.len() as u64);
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let split = rest.len().min(usize::from(ctl >> 1));
    let (plan, stream) = rest.split_at(split);
    if ctl & 1 == 0 {
        check::<HostMessage>(plan, stream);
    } else {
        check::<BoardMessage>(plan, stream);
    }
});
