//! Fuzz the json decoder: any bytes must decode or fail with an error, never panic;
//! whatever decodes must re-encode to bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verger::wamp::Serializer;

fuzz_target!(|data: &[u8]| {
    let s = Serializer::Json;
    if let Ok(msg) = s.decode(data) {
        let bytes = s.encode(&msg);
        let again = s.decode(&bytes).expect("re-encoded message must decode");
        // Compare encodings, not messages: NaN floats are not equal to themselves.
        assert_eq!(s.encode(&again), bytes);
        // Any message can be carried by the other serializers too.
        for other in Serializer::ALL {
            let _ = other.decode(&other.encode(&msg));
        }
    }
    // The router's decoder: a forwarded payload is copied, so the result must decode
    // (and it converts to the other serializers without panicking).
    if let Ok(msg) = s.decode_forwarding(data) {
        s.decode(&s.encode(&msg))
            .expect("a forwarded message must decode");
        for other in Serializer::ALL {
            let _ = other.decode(&other.encode(&msg));
        }
    }
    let _ = s.decode_value(data);
});
