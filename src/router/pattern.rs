//! URI checks and pattern matching used by the broker and dealer (spec:
//! basic/building_blocks.md "URIs", advanced/pubsub_pattern_based_subscription.md,
//! advanced/rpc_pattern_based_registration.md).
//!
//! Kept private to the router core so that routing does not depend on the codec's
//! helpers in `wamp::uri`; the rules are the spec's regular expressions, written as
//! component checks that never allocate.

use std::cmp::Ordering;

use crate::wamp::uri::{MatchPolicy, UriCheck};

/// One URI component, non-empty, under the given rules.
fn component_ok(c: &str, check: UriCheck) -> bool {
    if c.is_empty() {
        return false;
    }
    match check {
        UriCheck::Loose => !c.chars().any(|ch| ch == '#' || ch.is_whitespace()),
        UriCheck::Strict => c
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
    }
}

/// A URI for PUBLISH, CALL, an exact SUBSCRIBE/REGISTER or a meta API argument: every
/// component non-empty (`^([^\s\.#]+\.)*([^\s\.#]+)$`, strict: `[0-9a-z_]`).
pub(crate) fn is_valid_uri(uri: &str, check: UriCheck) -> bool {
    uri.split('.').all(|c| component_ok(c, check))
}

/// A subscription or registration URI under `policy`.
///
/// - exact: as [`is_valid_uri`];
/// - prefix: every component non-empty except the last (`com.myapp.` and the empty
///   prefix are allowed, like Crossbar.io);
/// - wildcard: any component may be empty (`^(([^\s\.#]+\.)|\.)*([^\s\.#]+)?$`).
pub(crate) fn is_valid_pattern(pattern: &str, policy: MatchPolicy, check: UriCheck) -> bool {
    match policy {
        MatchPolicy::Exact => is_valid_uri(pattern, check),
        MatchPolicy::Prefix => {
            let mut parts = pattern.split('.').peekable();
            while let Some(c) = parts.next() {
                let last = parts.peek().is_none();
                if !(component_ok(c, check) || (last && c.is_empty())) {
                    return false;
                }
            }
            true
        }
        MatchPolicy::Wildcard => pattern
            .split('.')
            .all(|c| c.is_empty() || component_ok(c, check)),
    }
}

/// URIs whose first component is `wamp` are reserved for the protocol itself.
pub(crate) fn is_reserved(uri: &str) -> bool {
    uri == "wamp" || uri.starts_with("wamp.")
}

/// A wildcard pattern split into components (`None` = wildcard), with the spec's
/// precedence rank precomputed.
#[derive(Clone, Debug)]
pub(crate) struct Wildcard {
    parts: Vec<Option<Box<str>>>,
    /// Lengths of the runs of literal components between wildcards, in order.
    rank: Vec<u32>,
}

impl Wildcard {
    pub(crate) fn new(pattern: &str) -> Wildcard {
        let parts: Vec<Option<Box<str>>> = pattern
            .split('.')
            .map(|c| (!c.is_empty()).then(|| c.into()))
            .collect();
        let mut rank = Vec::new();
        let mut run = 0u32;
        for p in &parts {
            match p {
                Some(_) => run += 1,
                None => {
                    rank.push(run);
                    run = 0;
                }
            }
        }
        rank.push(run);
        Wildcard { parts, rank }
    }

    /// Does `uri` match, component by component (same number of components)?
    pub(crate) fn matches(&self, uri: &str) -> bool {
        let mut uri_parts = uri.split('.');
        for p in &self.parts {
            match (uri_parts.next(), p) {
                (None, _) => return false,
                (Some(_), None) => {}
                (Some(u), Some(lit)) => {
                    if u != &**lit {
                        return false;
                    }
                }
            }
        }
        uri_parts.next().is_none()
    }

    /// Precedence among wildcard patterns that match the same URI
    /// (rpc_pattern_based_registration.md): the longer first run of literal
    /// components wins, then the longer second run, and so on.
    /// `Greater` means `self` is the better match.
    pub(crate) fn precedence(&self, other: &Wildcard) -> Ordering {
        self.rank.cmp(&other.rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_and_strict_uris() {
        for ok in ["com.myapp.topic1", "a", "com.my-app.Topic", "ä.b"] {
            assert!(is_valid_uri(ok, UriCheck::Loose), "{ok}");
        }
        for bad in ["", "com..a", ".a", "a.", "a b", "a.#", "a.\tb"] {
            assert!(!is_valid_uri(bad, UriCheck::Loose), "{bad}");
        }
        assert!(is_valid_uri("com.my_app.t1", UriCheck::Strict));
        assert!(!is_valid_uri("com.My.t1", UriCheck::Strict));
        assert!(!is_valid_uri("com.my-app", UriCheck::Strict));
    }

    #[test]
    fn patterns_per_policy() {
        let l = UriCheck::Loose;
        assert!(is_valid_pattern("com.myapp.", MatchPolicy::Prefix, l));
        assert!(is_valid_pattern("com.myapp.emerg", MatchPolicy::Prefix, l));
        assert!(is_valid_pattern("", MatchPolicy::Prefix, l));
        assert!(!is_valid_pattern("com..x", MatchPolicy::Prefix, l));
        assert!(is_valid_pattern("com..x", MatchPolicy::Wildcard, l));
        assert!(is_valid_pattern(".x.", MatchPolicy::Wildcard, l));
        assert!(!is_valid_pattern("com.#.x", MatchPolicy::Wildcard, l));
        assert!(!is_valid_pattern("com..x", MatchPolicy::Exact, l));
        assert!(!is_valid_pattern(
            "com..X",
            MatchPolicy::Wildcard,
            UriCheck::Strict
        ));
    }

    #[test]
    fn reserved() {
        assert!(is_reserved("wamp.session.count"));
        assert!(is_reserved("wamp"));
        assert!(!is_reserved("wampx.a"));
        assert!(!is_reserved("com.wamp"));
    }

    #[test]
    fn wildcard_matching() {
        let w = Wildcard::new("com.myapp..userevent");
        assert!(w.matches("com.myapp.foo.userevent"));
        assert!(!w.matches("com.myapp.foo.userevent.bar"));
        assert!(!w.matches("com.myapp.foo.user"));
        assert!(!w.matches("com.myapp2.foo.userevent"));
        assert!(!w.matches("com.myapp"));
        assert!(Wildcard::new("..").matches("a.b.c"));
    }

    #[test]
    fn wildcard_precedence_follows_spec_examples() {
        let r4 = Wildcard::new("a1.b2..d4.e5");
        let r5 = Wildcard::new("a1.b2.c33..e5");
        let r6 = Wildcard::new("a1.b2..d4.e5..g7");
        let r7 = Wildcard::new("a1.b2..d4..f6.g7");
        assert!(r4.matches("a1.b2.c33.d4.e5") && r5.matches("a1.b2.c33.d4.e5"));
        assert_eq!(r5.precedence(&r4), Ordering::Greater);
        assert!(r6.matches("a1.b2.c88.d4.e5.f6.g7") && r7.matches("a1.b2.c88.d4.e5.f6.g7"));
        assert_eq!(r6.precedence(&r7), Ordering::Greater);
    }
}
