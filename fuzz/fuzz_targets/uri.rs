//! Fuzz URI validation and pattern matching: never panic, and the rules agree with
//! each other (an exact-valid URI is a valid pattern of every policy; a valid pattern
//! of the exact policy only matches itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use verger::wamp::uri::{is_valid, is_valid_pattern, matches, MatchPolicy, UriCheck};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, uri) = text.split_once('\n').unwrap_or((text, text));
    for check in [UriCheck::Loose, UriCheck::Strict] {
        let valid = is_valid(uri, check);
        for policy in [
            MatchPolicy::Exact,
            MatchPolicy::Prefix,
            MatchPolicy::Wildcard,
        ] {
            let pattern_ok = is_valid_pattern(pattern, policy, check);
            let hit = matches(pattern, policy, uri);
            if valid {
                assert!(is_valid_pattern(uri, policy, check));
                assert!(matches(uri, policy, uri));
            }
            if pattern_ok && policy == MatchPolicy::Exact && hit {
                assert_eq!(pattern, uri);
            }
        }
        if is_valid(uri, UriCheck::Strict) {
            assert!(is_valid(uri, UriCheck::Loose));
        }
    }
});
