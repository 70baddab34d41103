//! URI validation (spec: basic/building_blocks.md "URIs", advanced/uris.md) and
//! pattern matching for pattern-based subscriptions and registrations.

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
    !uri.is_empty() && uri.split('.').all(|c| valid_component(c, check))
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

/// Does `uri` match `pattern` under `policy`?
///
/// - exact: equal strings;
/// - prefix: `pattern` is a string prefix of `uri` (the spec's examples:
///   `com.myapp.topic.emergency` matches `com.myapp.topic.emergency-low`);
/// - wildcard: same number of `.`-separated components, and every non-empty pattern
///   component equals the URI's component at that position.
pub fn matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => {
            let mut p = pattern.split('.');
            let mut u = uri.split('.');
            loop {
                match (p.next(), u.next()) {
                    (None, None) => return true,
                    (Some(pc), Some(uc)) if pc.is_empty() || pc == uc => {}
                    _ => return false,
                }
            }
        }
    }
}

/// Is `uri` in the namespace the spec reserves for WAMP itself (first component
/// `wamp`)? Clients must not register or publish such URIs.
pub fn is_reserved(uri: &str) -> bool {
    uri.split('.').next() == Some("wamp")
}

/// One non-empty URI component under the given rules.
fn valid_component(c: &str, check: UriCheck) -> bool {
    !c.is_empty()
        && match check {
            UriCheck::Loose => !c.chars().any(|ch| ch == '#' || is_python_space(ch)),
            UriCheck::Strict => c
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        }
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
    fn match_policy_names_round_trip() {
        for p in [Exact, Prefix, Wildcard] {
            assert_eq!(MatchPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(MatchPolicy::parse("regex"), None);
    }
}
