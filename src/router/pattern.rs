//! The broker's and dealer's index of subscriptions/registrations by URI pattern
//! (spec: advanced/pubsub_pattern_based_subscription.md,
//! advanced/rpc_pattern_based_registration.md).
//!
//! The URI rules and the matcher with its precedence are `wamp::uri`'s (one
//! implementation, fuzzed); this file only indexes entries so that routing is cheap.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::wamp::uri::{MatchPolicy, Matcher};
use crate::wamp::{Dict, Id};

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
/// with their precompiled [`Matcher`]s. Matching allocates nothing.
#[derive(Debug)]
pub(crate) struct PatternIndex<T> {
    entries: HashMap<Id, T>,
    exact: HashMap<String, Id>,
    prefix: BTreeMap<String, (Id, Matcher)>,
    wildcard: BTreeMap<String, (Id, Matcher)>,
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
            MatchPolicy::Prefix => self.prefix.get(uri).map(|(id, _)| *id),
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

    /// How many entries `session` is attached to.
    pub(crate) fn attached_count(&self, session: Id) -> usize {
        self.by_session.get(&session).map_or(0, BTreeSet::len)
    }

    /// Is `session` attached to entry `id`?
    pub(crate) fn is_attached(&self, session: Id, id: Id) -> bool {
        self.by_session
            .get(&session)
            .is_some_and(|set| set.contains(&id))
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
                let m = Matcher::new(&uri, MatchPolicy::Prefix);
                self.prefix.insert(uri, (id, m));
            }
            MatchPolicy::Wildcard => {
                let m = Matcher::new(&uri, MatchPolicy::Wildcard);
                self.wildcard.insert(uri, (id, m));
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
        for (id, m) in self.prefix.values().chain(self.wildcard.values()) {
            if m.matches(uri) {
                visit(id);
            }
        }
    }

    /// The single entry a call to `uri` is routed to
    /// (rpc_pattern_based_registration.md): exact, else the matching pattern that
    /// [`Matcher::precedence`] ranks first (the longest prefix, else the wildcard
    /// with the longest literal runs before each wildcard).
    pub(crate) fn best_match(&self, uri: &str) -> Option<Id> {
        if let Some(id) = self.exact.get(uri) {
            return Some(*id);
        }
        // Any matching prefix beats every wildcard: only scan wildcards without one.
        let best = |patterns: &BTreeMap<String, (Id, Matcher)>| {
            patterns
                .values()
                .filter(|(_, m)| m.matches(uri))
                .max_by(|(_, a), (_, b)| a.precedence(b))
                .map(|(id, _)| *id)
        };
        best(&self.prefix).or_else(|| best(&self.wildcard))
    }
}
