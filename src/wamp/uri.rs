//! URI validation (spec: basic/building_blocks.md "URIs", advanced/uris.md) and
//! pattern matching for pattern-based subscriptions and registrations
//! (advanced/pubsub_pattern_based_subscription.md, rpc_pattern_based_registration.md).
//!
//! One implementation of each rule, free of I/O and fuzzed (`fuzz/fuzz_targets/uri.rs`):
//! [`validate`] (with the reason a URI is invalid) / [`is_valid`], [`is_valid_pattern`],
//! and [`Matcher`], a pattern compiled once with the spec's precedence among patterns
//! that match the same URI. The router's subscription/registration index
//! (`router::pattern`) routes with `Matcher`; [`matches()`] is its one-shot form.

use std::cmp::Ordering;

/// Which URI rules the router enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UriCheck {
    /// `^([^\s\.#]+\.)*([^\s\.#]+)$`
    #[default]
    Loose,
    /// `^([0-9a-z_]+\.)*([0-9a-z_]+)$`
    Strict,
}

/// How a subscription or registration URI matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchPolicy {
    /// The URI equals the pattern (the default).
    #[default]
    Exact,
    /// The pattern is a string prefix of the URI.
    Prefix,
    /// Same number of components; empty pattern components match any component.
    Wildcard,
}

impl MatchPolicy {
    /// The spec's option value (`"exact"`, `"prefix"`, `"wildcard"`).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }

    /// The policy for an option value, `None` for values the spec does not define.
    pub fn parse(s: &str) -> Option<MatchPolicy> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }
}

/// Is `uri` a valid URI for a publish, call, error or exact subscribe/register?
///
/// Loose: `^([^\s\.#]+\.)*([^\s\.#]+)$`; strict: `^([0-9a-z_]+\.)*([0-9a-z_]+)$`
/// (basic/building_blocks.md "URIs"). Components are non-empty. Reserved `wamp.` URIs
/// are valid URIs; whether a peer may use them is [`is_reserved`]'s question.
pub fn is_valid(uri: &str, check: UriCheck) -> bool {
    validate(uri, check).is_ok()
}

/// Why a URI is not valid under the given rules (see [`validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The empty string.
    #[error("it is empty")]
    Empty,
    /// Two dots in a row, or a leading or trailing dot.
    #[error("component {index} is empty (components are separated by single dots)")]
    EmptyComponent {
        /// Position of the empty component, counting from 1.
        index: usize,
    },
    /// Loose rules: whitespace (Python's `\s`) or `#` in a component.
    #[error("component {component:?} contains whitespace or '#'")]
    LooseCharacter {
        /// The offending component.
        component: String,
    },
    /// Strict rules: a component with characters other than `[0-9a-z_]`.
    #[error("component {component:?} has characters other than [0-9a-z_]")]
    StrictCharacter {
        /// The offending component.
        component: String,
    },
}

/// [`is_valid`], saying why not.
pub fn validate(uri: &str, check: UriCheck) -> Result<(), UriError> {
    if uri.is_empty() {
        return Err(UriError::Empty);
    }
    for (i, c) in uri.split('.').enumerate() {
        match component_problem(c, check) {
            None => {}
            Some(Problem::Empty) => return Err(UriError::EmptyComponent { index: i + 1 }),
            Some(Problem::Character) => {
                let component = c.to_owned();
                return Err(match check {
                    UriCheck::Loose => UriError::LooseCharacter { component },
                    UriCheck::Strict => UriError::StrictCharacter { component },
                });
            }
        }
    }
    Ok(())
}

/// Is `pattern` valid for the given match policy?
///
/// - exact: [`is_valid`];
/// - prefix: components non-empty except the last, which may be empty (so
///   `com.myapp.` is a prefix matching `com.myapp.*` only; `""` matches everything),
///   Autobahn's `^([^\s\.#]+\.)*([^\s\.#]*)$`;
/// - wildcard: any component may be empty (an empty component is the wildcard, e.g.
///   `com..create`), the spec's `^(([^\s\.#]+\.)|\.)*([^\s\.#]+)?$`.
///
/// With [`UriCheck::Strict`] non-empty components must match `[0-9a-z_]+` instead.
pub fn is_valid_pattern(pattern: &str, policy: MatchPolicy, check: UriCheck) -> bool {
    match policy {
        MatchPolicy::Exact => is_valid(pattern, check),
        MatchPolicy::Prefix => {
            let mut components = pattern.rsplit('.');
            let last_ok = components
                .next()
                .is_some_and(|last| last.is_empty() || valid_component(last, check));
            last_ok && components.all(|c| valid_component(c, check))
        }
        MatchPolicy::Wildcard => pattern
            .split('.')
            .all(|c| c.is_empty() || valid_component(c, check)),
    }
}

/// Does `uri` match `pattern` under `policy`? The one-shot form of [`Matcher`].
///
/// - exact: equal strings;
/// - prefix: `pattern` is a string prefix of `uri` (the spec's examples:
///   `com.myapp.topic.emergency` matches `com.myapp.topic.emergency-low`);
/// - wildcard: same number of `.`-separated components, and every non-empty pattern
///   component equals the URI's component at that position.
pub fn matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    Matcher::new(pattern, policy).matches(uri)
}

/// A subscription or registration pattern compiled once to match many URIs, with the
/// spec's precedence among patterns that match the same URI. Matching allocates
/// nothing. The pattern is not validated here (see [`is_valid_pattern`]): any string
/// compiles, and matching never panics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher {
    pattern: Box<str>,
    policy: MatchPolicy,
    /// Wildcard only: the components, `None` where the pattern has a wildcard (an
    /// empty component).
    parts: Box<[Option<Box<str>>]>,
    /// Wildcard only: the lengths of the runs of literal components between
    /// wildcards, in order; the precedence key among wildcard patterns.
    rank: Box<[u32]>,
}

impl Matcher {
    /// Compile `pattern` for `policy`.
    pub fn new(pattern: &str, policy: MatchPolicy) -> Matcher {
        let (parts, rank) = if policy == MatchPolicy::Wildcard {
            let parts: Box<[Option<Box<str>>]> = pattern
                .split('.')
                .map(|c| (!c.is_empty()).then(|| c.into()))
                .collect();
            let mut rank = Vec::new();
            let mut run = 0u32;
            for p in parts.iter() {
                match p {
                    Some(_) => run += 1,
                    None => {
                        rank.push(run);
                        run = 0;
                    }
                }
            }
            rank.push(run);
            (parts, rank.into_boxed_slice())
        } else {
            (Box::default(), Box::default())
        };
        Matcher {
            pattern: pattern.into(),
            policy,
            parts,
            rank,
        }
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The match policy it was compiled for.
    pub fn policy(&self) -> MatchPolicy {
        self.policy
    }

    /// Does `uri` match? See [`matches()`] for the rules.
    pub fn matches(&self, uri: &str) -> bool {
        match self.policy {
            MatchPolicy::Exact => *self.pattern == *uri,
            MatchPolicy::Prefix => uri.starts_with(&*self.pattern),
            MatchPolicy::Wildcard => {
                let mut components = uri.split('.');
                for part in self.parts.iter() {
                    match (components.next(), part) {
                        (None, _) => return false,
                        (Some(_), None) => {}
                        (Some(c), Some(literal)) if c == &**literal => {}
                        (Some(_), Some(_)) => return false,
                    }
                }
                components.next().is_none()
            }
        }
    }

    /// Which of two patterns that match the same URI wins the call
    /// (rpc_pattern_based_registration.md); `Greater` means `self`. An exact pattern
    /// beats a prefix pattern, which beats a wildcard pattern; among prefixes the
    /// longer wins; among wildcards the longer first run of literal components wins,
    /// then the longer second run, and so on. Two different patterns that both match
    /// one URI never compare `Equal`.
    pub fn precedence(&self, other: &Matcher) -> Ordering {
        fn class(p: MatchPolicy) -> u8 {
            match p {
                MatchPolicy::Exact => 2,
                MatchPolicy::Prefix => 1,
                MatchPolicy::Wildcard => 0,
            }
        }
        class(self.policy)
            .cmp(&class(other.policy))
            .then_with(|| match self.policy {
                MatchPolicy::Exact => Ordering::Equal,
                MatchPolicy::Prefix => self.pattern.len().cmp(&other.pattern.len()),
                MatchPolicy::Wildcard => self.rank.cmp(&other.rank),
            })
    }
}

/// Is `uri` in the namespace the spec reserves for WAMP itself (first component
/// `wamp`)? Clients must not register or publish such URIs.
pub fn is_reserved(uri: &str) -> bool {
    uri.split('.').next() == Some("wamp")
}

/// What is wrong with one URI component.
enum Problem {
    Empty,
    Character,
}

/// The one rule for a URI component: non-empty, and made of the allowed characters.
fn component_problem(c: &str, check: UriCheck) -> Option<Problem> {
    let allowed = match check {
        UriCheck::Loose => !c.chars().any(|ch| ch == '#' || is_python_space(ch)),
        UriCheck::Strict => c
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
    };
    if c.is_empty() {
        Some(Problem::Empty)
    } else if !allowed {
        Some(Problem::Character)
    } else {
        None
    }
}

/// One non-empty URI component under the given rules.
fn valid_component(c: &str, check: UriCheck) -> bool {
    component_problem(c, check).is_none()
}

/// Python's `\s` on `str` (what the spec's regular expressions use): Unicode
/// whitespace plus the ASCII information separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use MatchPolicy::{Exact, Prefix, Wildcard};
    use UriCheck::{Loose, Strict};

    #[test]
    fn spec_example_uris_are_valid() {
        for uri in [
            "com.myapp.mytopic1",
            "com.myapp.myprocedure1",
            "com.myapp.myerror1",
            "wamp.error.not_authorized",
            "wamp.error.procedure_already_exists",
        ] {
            assert!(is_valid(uri, Strict), "{uri}");
            assert!(is_valid(uri, Loose), "{uri}");
        }
    }

    #[test]
    fn loose_and_strict_rules() {
        for bad in [
            "", ".", "a.", ".a", "a..b", "a b", "a#b", "a.b c", "a\tb", "a\u{a0}b", "a\u{1f}b",
        ] {
            assert!(!is_valid(bad, Loose), "{bad:?} is not a loose URI");
            assert!(!is_valid(bad, Strict), "{bad:?} is not a strict URI");
        }
        for loose_only in [
            "com.MyApp.topic",
            "com.my-app.topic",
            "de.müller.x",
            "a/b.c",
        ] {
            assert!(is_valid(loose_only, Loose), "{loose_only:?}");
            assert!(!is_valid(loose_only, Strict), "{loose_only:?}");
        }
        assert!(is_valid("a", Strict));
        assert!(is_valid("0.1_x", Strict));
    }

    #[test]
    fn reserved_namespace() {
        assert!(is_reserved("wamp.session.on_join"));
        assert!(is_reserved("wamp"));
        assert!(!is_reserved("wampx.topic"));
        assert!(!is_reserved("com.wamp.topic"));
    }

    #[test]
    fn pattern_validity() {
        // Wildcard: empty components allowed anywhere (spec's regex).
        for p in [
            "com.myapp..userevent",
            "com..create",
            "..",
            "a..",
            "",
            "com.myapp.x",
        ] {
            assert!(is_valid_pattern(p, Wildcard, Loose), "{p:?}");
        }
        assert!(is_valid_pattern("com..create", Wildcard, Strict));
        assert!(!is_valid_pattern("com..Create", Wildcard, Strict));
        assert!(!is_valid_pattern("com. .create", Wildcard, Loose));
        assert!(!is_valid_pattern("com.#.create", Wildcard, Loose));
        // Prefix: only the last component may be empty.
        for p in ["com.myapp.topic.emergency", "com.myapp.", "com", ""] {
            assert!(is_valid_pattern(p, Prefix, Loose), "{p:?}");
            assert!(is_valid_pattern(p, Prefix, Strict), "{p:?}");
        }
        for p in ["com..myapp", ".com", "com.my app"] {
            assert!(!is_valid_pattern(p, Prefix, Loose), "{p:?}");
        }
        // Exact: a plain URI.
        assert!(is_valid_pattern("com.myapp.topic", Exact, Strict));
        assert!(!is_valid_pattern("com..topic", Exact, Loose));
        assert!(!is_valid_pattern("com.myapp.", Exact, Loose));
    }

    #[test]
    fn prefix_matching_spec_examples() {
        let sub = "com.myapp.topic.emergency";
        for topic in [
            "com.myapp.topic.emergency.11",
            "com.myapp.topic.emergency-low",
            "com.myapp.topic.emergency.category.severe",
            "com.myapp.topic.emergency",
        ] {
            assert!(matches(sub, Prefix, topic), "{topic}");
        }
        assert!(!matches(sub, Prefix, "com.myapp.topic.emerge"));

        let reg = "com.myapp.myobject1";
        for proc in [
            "com.myapp.myobject1.myprocedure1",
            "com.myapp.myobject1-mysubobject1",
            "com.myapp.myobject1.mysubobject1.myprocedure1",
            "com.myapp.myobject1",
        ] {
            assert!(matches(reg, Prefix, proc), "{proc}");
        }
        assert!(!matches(reg, Prefix, "com.myapp.myobject2"));
        assert!(!matches(reg, Prefix, "com.myapp.myobject"));
    }

    #[test]
    fn wildcard_matching_spec_examples() {
        let sub = "com.myapp..userevent";
        for topic in [
            "com.myapp.foo.userevent",
            "com.myapp.bar.userevent",
            "com.myapp.a12.userevent",
        ] {
            assert!(matches(sub, Wildcard, topic), "{topic}");
        }
        for topic in [
            "com.myapp.foo.userevent.bar",
            "com.myapp.foo.user",
            "com.myapp2.foo.userevent",
        ] {
            assert!(!matches(sub, Wildcard, topic), "{topic}");
        }

        let reg = "com.myapp..myprocedure1";
        assert!(matches(reg, Wildcard, "com.myapp.myobject1.myprocedure1"));
        assert!(matches(reg, Wildcard, "com.myapp.myobject2.myprocedure1"));
        for proc in [
            "com.myapp.myobject1.myprocedure1.mysubprocedure1",
            "com.myapp.myobject1.myprocedure2",
            "com.myapp2.myobject1.myprocedure1",
        ] {
            assert!(!matches(reg, Wildcard, proc), "{proc}");
        }
        // Leading, trailing and multiple wildcards.
        assert!(matches("..c", Wildcard, "a.b.c"));
        assert!(matches("a..", Wildcard, "a.b.c"));
        assert!(!matches("a..", Wildcard, "a.b"));
        assert!(matches("", Wildcard, "anything"));
        assert!(!matches("", Wildcard, "any.thing"));
    }

    #[test]
    fn exact_matching() {
        assert!(matches("com.a", Exact, "com.a"));
        assert!(!matches("com.a", Exact, "com.a.b"));
        assert!(!matches("com..a", Exact, "com.x.a"));
    }

    #[test]
    fn validate_says_why() {
        assert_eq!(validate("", Loose), Err(UriError::Empty));
        assert_eq!(
            validate("a..b", Loose),
            Err(UriError::EmptyComponent { index: 2 })
        );
        assert_eq!(
            validate("a.", Strict),
            Err(UriError::EmptyComponent { index: 2 })
        );
        assert_eq!(
            validate("com.my app", Loose),
            Err(UriError::LooseCharacter {
                component: "my app".into()
            })
        );
        assert_eq!(
            validate("com.MyApp", Strict),
            Err(UriError::StrictCharacter {
                component: "MyApp".into()
            })
        );
        assert_eq!(validate("com.MyApp", Loose), Ok(()));
        let text = validate("x.Orchard", Strict).unwrap_err().to_string();
        assert!(
            text.contains("\"Orchard\"") && text.contains("[0-9a-z_]"),
            "{text}"
        );
    }

    #[test]
    fn matcher_agrees_with_the_spec_examples() {
        let w = Matcher::new("com.myapp..userevent", Wildcard);
        assert!(w.matches("com.myapp.foo.userevent"));
        assert!(!w.matches("com.myapp.foo.userevent.bar"));
        assert!(!w.matches("com.myapp.foo.user"));
        assert!(!w.matches("com.myapp2.foo.userevent"));
        assert!(!w.matches("com.myapp"));
        assert!(Matcher::new("..", Wildcard).matches("a.b.c"));
        assert_eq!(w.pattern(), "com.myapp..userevent");
        assert_eq!(w.policy(), Wildcard);
    }

    #[test]
    fn wildcard_precedence_follows_spec_examples() {
        let r4 = Matcher::new("a1.b2..d4.e5", Wildcard);
        let r5 = Matcher::new("a1.b2.c33..e5", Wildcard);
        let r6 = Matcher::new("a1.b2..d4.e5..g7", Wildcard);
        let r7 = Matcher::new("a1.b2..d4..f6.g7", Wildcard);
        assert!(r4.matches("a1.b2.c33.d4.e5") && r5.matches("a1.b2.c33.d4.e5"));
        assert_eq!(r5.precedence(&r4), Ordering::Greater);
        assert!(r6.matches("a1.b2.c88.d4.e5.f6.g7") && r7.matches("a1.b2.c88.d4.e5.f6.g7"));
        assert_eq!(r6.precedence(&r7), Ordering::Greater);
    }

    #[test]
    fn precedence_across_policies() {
        let exact = Matcher::new("a.b.c", Exact);
        let short = Matcher::new("a.", Prefix);
        let long = Matcher::new("a.b", Prefix);
        let wild = Matcher::new("a.b.", Wildcard);
        for m in [&exact, &short, &long, &wild] {
            assert!(m.matches("a.b.c"), "{m:?}");
        }
        assert_eq!(exact.precedence(&long), Ordering::Greater);
        assert_eq!(long.precedence(&short), Ordering::Greater);
        assert_eq!(short.precedence(&wild), Ordering::Greater);
        assert_eq!(wild.precedence(&exact), Ordering::Less);
    }

    #[test]
    fn match_policy_names_round_trip() {
        for p in [Exact, Prefix, Wildcard] {
            assert_eq!(MatchPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(MatchPolicy::parse("regex"), None);
    }
}

/// The compiled [`Matcher`] against a naive reference written from the spec's wording.
#[cfg(test)]
mod prop_tests {
    use super::*;
    use proptest::prelude::*;

    /// Wildcard matching as the spec words it: same number of components, and every
    /// non-empty pattern component equal to the URI's.
    fn naive_matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
        match policy {
            MatchPolicy::Exact => pattern == uri,
            MatchPolicy::Prefix => uri.len() >= pattern.len() && &uri[..pattern.len()] == pattern,
            MatchPolicy::Wildcard => {
                let p: Vec<&str> = pattern.split('.').collect();
                let u: Vec<&str> = uri.split('.').collect();
                p.len() == u.len() && p.iter().zip(&u).all(|(p, u)| p.is_empty() || p == u)
            }
        }
    }

    /// Precedence of two wildcard patterns matching one URI (so of equal length):
    /// comparing their literal/wildcard masks component by component, a literal where
    /// the other has a wildcard wins; that is the same as "the longer first run of
    /// literals, then the longer second run, ...".
    fn naive_wildcard_precedence(a: &str, b: &str) -> Ordering {
        let mask = |p: &str| p.split('.').map(|c| !c.is_empty()).collect::<Vec<bool>>();
        mask(a).cmp(&mask(b))
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["", "a", "b", "ab", " ", "#"]),
            1..6,
        )
        .prop_map(|c| c.join("."))
    }

    fn policy() -> impl Strategy<Value = MatchPolicy> {
        prop::sample::select(vec![
            MatchPolicy::Exact,
            MatchPolicy::Prefix,
            MatchPolicy::Wildcard,
        ])
    }

    proptest! {
        #[test]
        fn matcher_agrees_with_the_reference(p in text(), policy in policy(), uri in text()) {
            let m = Matcher::new(&p, policy);
            prop_assert_eq!(m.matches(&uri), naive_matches(&p, policy, &uri));
            prop_assert_eq!(matches(&p, policy, &uri), m.matches(&uri));
        }

        #[test]
        fn precedence_agrees_with_the_reference(
            a in text(), pa in policy(), b in text(), pb in policy(), uri in text()
        ) {
            let (ma, mb) = (Matcher::new(&a, pa), Matcher::new(&b, pb));
            prop_assert_eq!(ma.precedence(&mb), mb.precedence(&ma).reverse());
            if ma.matches(&uri) && mb.matches(&uri) {
                if (a.as_str(), pa) != (b.as_str(), pb) {
                    prop_assert_ne!(ma.precedence(&mb), Ordering::Equal);
                }
                if pa == MatchPolicy::Wildcard && pb == MatchPolicy::Wildcard {
                    prop_assert_eq!(ma.precedence(&mb), naive_wildcard_precedence(&a, &b));
                }
            }
        }
    }
}
