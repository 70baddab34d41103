//! Fuzz the `verger record` file reader: any bytes, pushed in chunks whose sizes come
//! from the input itself. Never panics; what is held stays bounded; the items are the
//! same however the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verger::record::format::{read_all, Reader, MAX_LINE, MAX_PIECE};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, file)) = data.split_first() else {
        return;
    };
    let whole = read_all(file);
    let step = usize::from(ctl).max(1);
    let mut reader = Reader::new();
    let mut items = Vec::new();
    for chunk in file.chunks(step) {
        reader.push(chunk);
        while let Some(item) = reader.next_item(false) {
            items.push(item);
        }
        assert!(reader.pending() < MAX_LINE + MAX_PIECE + step);
    }
    while let Some(item) = reader.next_item(true) {
        items.push(item);
    }
    assert_eq!(items, whole);
});
