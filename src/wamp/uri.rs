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
    #[default]
    Exact,
    Prefix,
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

    pub fn parse(s: &str) -> Option<MatchPolicy> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }
}

/// Is `uri` a valid URI for a publish, call, or exact subscribe/register?
/// `wamp.` URIs are reserved: `allow_wamp_prefix` is false for client-chosen
/// registrations.
pub fn is_valid(uri: &str, check: UriCheck) -> bool {
    let _ = (uri, check);
    todo!("codec helper")
}

/// Is `pattern` valid for the given match policy? (Prefix patterns may end with a
/// component that is a prefix; wildcard patterns may have empty components, e.g.
/// `com..create`.)
pub fn is_valid_pattern(pattern: &str, policy: MatchPolicy, check: UriCheck) -> bool {
    let _ = (pattern, policy, check);
    todo!("codec helper")
}

/// Does `uri` match `pattern` under `policy`?
pub fn matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    let _ = (pattern, policy, uri);
    todo!("codec helper")
}
