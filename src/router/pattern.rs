//! URI checks and pattern matching used by the broker and dealer (spec:
//! basic/building_blocks.md "URIs", advanced/pubsub_pattern_based_subscription.md,
//! advanced/rpc_pattern_based_registration.md).
//!
//! Validation is `wamp::uri`'s (one implementation of the spec's rules); what is
//! router-specific is the precompiled wildcard matcher with its precedence rank, and
//! [`PatternIndex`], the broker's and dealer's index of subscriptions/registrations.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::wamp::uri::MatchPolicy;
use crate::wamp::{Dict, Id};

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

/// What [`PatternIndex`] needs to know of an entry: the URI pattern it is keyed by.
pub(crate) trait Pattern {
    fn uri(&self) -> &str;
    fn policy(&self) -> MatchPolicy;
}

/// The meta API's `SubscriptionDetails`/`RegistrationDetails` fields common to both.
pub(crate) fn pattern_details(
    id: Id,
    created: Option<&str>,
    uri: &str,
    policy: MatchPolicy,
) -> Dict {
    let mut d = Dict::new();
    d.insert("id".into(), id.into());
    if let Some(c) = created {
        d.insert("created".into(), c.into());
    }
    d.insert("uri".into(), uri.into());
    d.insert("match".into(), policy.as_str().into());
    d
}

/// Subscriptions or registrations by id, indexed by (URI pattern, match policy) and
/// by the sessions attached to them.
///
/// Exact patterns are one hash lookup away; prefix and wildcard patterns are scanned
/// (wildcards precompiled). Matching allocates nothing.
#[derive(Debug)]
pub(crate) struct PatternIndex<T> {
    entries: HashMap<Id, T>,
    exact: HashMap<String, Id>,
    prefix: BTreeMap<String, Id>,
    wildcard: BTreeMap<String, (Id, Wildcard)>,
    /// Entries each session is attached to (for leaving sessions).
    by_session: HashMap<Id, BTreeSet<Id>>,
}

impl<T> Default for PatternIndex<T> {
    fn default() -> Self {
        PatternIndex {
            entries: HashMap::new(),
            exact: HashMap::new(),
            prefix: BTreeMap::new(),
            wildcard: BTreeMap::new(),
            by_session: HashMap::new(),
        }
    }
}

impl<T: Pattern> PatternIndex<T> {
    /// The entry for exactly this (uri, policy), if any.
    pub(crate) fn lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        match policy {
            MatchPolicy::Exact => self.exact.get(uri).copied(),
            MatchPolicy::Prefix => self.prefix.get(uri).copied(),
            MatchPolicy::Wildcard => self.wildcard.get(uri).map(|(id, _)| *id),
        }
    }

    pub(crate) fn get(&self, id: Id) -> Option<&T> {
        self.entries.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        self.entries.get_mut(&id)
    }

    /// No entry, pattern or attached session left (the maps agree).
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.exact.is_empty()
            && self.prefix.is_empty()
            && self.wildcard.is_empty()
            && self.by_session.is_empty()
    }

    /// Record that `session` is attached to entry `id`.
    pub(crate) fn attach(&mut self, session: Id, id: Id) {
        self.by_session.entry(session).or_default().insert(id);
    }

    /// Forget that `session` is attached to entry `id` (the entry itself stays).
    pub(crate) fn unattach(&mut self, session: Id, id: Id) {
        if let Some(set) = self.by_session.get_mut(&session) {
            set.remove(&id);
            if set.is_empty() {
                self.by_session.remove(&session);
            }
        }
    }

    /// The entries `session` was attached to, forgetting the session.
    pub(crate) fn take_session(&mut self, session: Id) -> BTreeSet<Id> {
        self.by_session.remove(&session).unwrap_or_default()
    }

    /// Add `entry` under `id`; its (uri, policy) must not be indexed yet.
    pub(crate) fn insert(&mut self, id: Id, entry: T) {
        let uri = entry.uri().to_owned();
        match entry.policy() {
            MatchPolicy::Exact => {
                self.exact.insert(uri, id);
            }
            MatchPolicy::Prefix => {
                self.prefix.insert(uri, id);
            }
            MatchPolicy::Wildcard => {
                let w = Wildcard::new(&uri);
                self.wildcard.insert(uri, (id, w));
            }
        }
        self.entries.insert(id, entry);
    }

    /// Remove entry `id` and its pattern.
    pub(crate) fn remove(&mut self, id: Id) -> Option<T> {
        let entry = self.entries.remove(&id)?;
        let uri = entry.uri();
        match entry.policy() {
            MatchPolicy::Exact => {
                self.exact.remove(uri);
            }
            MatchPolicy::Prefix => {
                self.prefix.remove(uri);
            }
            MatchPolicy::Wildcard => {
                self.wildcard.remove(uri);
            }
        }
        Some(entry)
    }

    /// Ids of all entries per match policy, ascending.
    pub(crate) fn list(&self) -> [Vec<Id>; 3] {
        let mut lists: [Vec<Id>; 3] = Default::default();
        for (id, e) in &self.entries {
            lists[e.policy() as usize].push(*id);
        }
        for l in &mut lists {
            l.sort_unstable();
        }
        lists
    }

    /// Every entry matching `uri`: exact first, then prefix, then wildcard
    /// (pattern-based subscription: all of them receive the event).
    pub(crate) fn for_each_match<'a>(&'a self, uri: &str, mut f: impl FnMut(Id, &'a T)) {
        let mut visit = |id: &Id| {
            if let Some(e) = self.entries.get(id) {
                f(*id, e);
            }
        };
        if let Some(id) = self.exact.get(uri) {
            visit(id);
        }
        for (prefix, id) in &self.prefix {
            if uri.starts_with(prefix.as_str()) {
                visit(id);
            }
        }
        for (id, w) in self.wildcard.values() {
            if w.matches(uri) {
                visit(id);
            }
        }
    }

    /// The single entry a call to `uri` is routed to
    /// (rpc_pattern_based_registration.md): exact, else the longest prefix, else the
    /// wildcard with the longest literal runs before each wildcard.
    pub(crate) fn best_match(&self, uri: &str) -> Option<Id> {
        if let Some(id) = self.exact.get(uri) {
            return Some(*id);
        }
        let prefix = self
            .prefix
            .iter()
            .filter(|(p, _)| uri.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, id)| *id);
        if prefix.is_some() {
            return prefix;
        }
        self.wildcard
            .values()
            .filter(|(_, w)| w.matches(uri))
            .max_by(|(_, a), (_, b)| a.precedence(b))
            .map(|(id, _)| *id)
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
