//! URI checks and pattern matching used by the broker and dealer (spec:
//! basic/building_blocks.md "URIs", advanced/pubsub_pattern_based_subscription.md,
//! advanced/rpc_pattern_based_registration.md).
//!
//! Validation is `wamp::uri`'s (one implementation of the spec's rules); what is
//! router-specific is the precompiled wildcard matcher with its precedence rank.

use std::cmp::Ordering;

pub(crate) use crate::wamp::uri::{is_reserved, is_valid as is_valid_uri, is_valid_pattern};

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
