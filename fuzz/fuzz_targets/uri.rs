//! Fuzz URI validation and the pattern matcher the router routes with
//! (`wamp::uri::Matcher`): never panic, match exactly as a naive reference written
//! from the spec's wording, and the rules agree with each other (an exact-valid URI is
//! a valid pattern of every policy and matches itself; a valid exact pattern only
//! matches itself; `validate` and `is_valid` agree; precedence is a total order on
//! the patterns that match one URI).
//!
//! Input: `pattern\nuri\nother pattern` (missing lines repeat the first).
#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use verger::wamp::uri::{
    is_valid, is_valid_pattern, matches, validate, MatchPolicy, Matcher, UriCheck,
};

const POLICIES: [MatchPolicy; 3] = [
    MatchPolicy::Exact,
    MatchPolicy::Prefix,
    MatchPolicy::Wildcard,
];

/// The spec's wording, with no precompilation.
fn reference(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.as_bytes().starts_with(pattern.as_bytes()),
        MatchPolicy::Wildcard => {
            let p: Vec<&str> = pattern.split('.').collect();
            let u: Vec<&str> = uri.split('.').collect();
            p.len() == u.len() && p.iter().zip(&u).all(|(p, u)| p.is_empty() || p == u)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(3, '\n');
    let pattern = lines.next().unwrap_or_default();
    let uri = lines.next().unwrap_or(pattern);
    let other = lines.next().unwrap_or(pattern);
    for check in [UriCheck::Loose, UriCheck::Strict] {
        let valid = is_valid(uri, check);
        assert_eq!(valid, validate(uri, check).is_ok());
        for policy in POLICIES {
            let pattern_ok = is_valid_pattern(pattern, policy, check);
            let matcher = Matcher::new(pattern, policy);
            let hit = matcher.matches(uri);
            assert_eq!(hit, reference(pattern, policy, uri));
            assert_eq!(hit, matches(pattern, policy, uri));
            if valid {
                assert!(is_valid_pattern(uri, policy, check));
                assert!(Matcher::new(uri, policy).matches(uri));
            }
            if pattern_ok && policy == MatchPolicy::Exact && hit {
                assert_eq!(pattern, uri);
            }
        }
        if is_valid(uri, UriCheck::Strict) {
            assert!(is_valid(uri, UriCheck::Loose));
        }
    }
    for pa in POLICIES {
        for pb in POLICIES {
            let (a, b) = (Matcher::new(pattern, pa), Matcher::new(other, pb));
            assert_eq!(a.precedence(&b), b.precedence(&a).reverse());
            if a.matches(uri) && b.matches(uri) && a != b {
                assert_ne!(a.precedence(&b), Ordering::Equal);
            }
        }
    }
});
