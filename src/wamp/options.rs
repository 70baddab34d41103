//! Enumerated option values of the spec that both peers use: the client sends them,
//! the router parses them. (`match` is [`MatchPolicy`](super::uri::MatchPolicy), next
//! to the URI rules it selects.)

/// `REGISTER.Options.invoke`: which callee of a shared registration gets a call
/// (spec: advanced/rpc_shared_registration.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InvokePolicy {
    /// Only one callee may register the procedure (the default).
    #[default]
    Single,
    /// The callees in turn, in order of registration.
    RoundRobin,
    /// A callee picked at random.
    Random,
    /// The callee that registered first.
    First,
    /// The callee that registered last.
    Last,
}

impl InvokePolicy {
    /// The spec's option value (`"single"`, `"roundrobin"`, `"random"`, `"first"`,
    /// `"last"`).
    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }

    /// The policy for an option value, `None` for values the spec does not define.
    pub fn parse(s: &str) -> Option<InvokePolicy> {
        match s {
            "single" => Some(InvokePolicy::Single),
            "roundrobin" => Some(InvokePolicy::RoundRobin),
            "random" => Some(InvokePolicy::Random),
            "first" => Some(InvokePolicy::First),
            "last" => Some(InvokePolicy::Last),
            _ => None,
        }
    }
}

/// `CANCEL.Options.mode`: how a call is canceled (spec: advanced/rpc_call_canceling.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CancelMode {
    /// The dealer answers the caller at once and does not tell the callee.
    Skip,
    /// The dealer interrupts the callee and answers the caller once the callee did.
    Kill,
    /// The dealer interrupts the callee and answers the caller at once (the default).
    #[default]
    KillNoWait,
}

impl CancelMode {
    /// The spec's option value (`"skip"`, `"kill"`, `"killnowait"`).
    pub fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }

    /// The mode for an option value, `None` for values the spec does not define.
    pub fn parse(s: &str) -> Option<CancelMode> {
        match s {
            "skip" => Some(CancelMode::Skip),
            "kill" => Some(CancelMode::Kill),
            "killnowait" => Some(CancelMode::KillNoWait),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_round_trip() {
        for p in [
            InvokePolicy::Single,
            InvokePolicy::RoundRobin,
            InvokePolicy::Random,
            InvokePolicy::First,
            InvokePolicy::Last,
        ] {
            assert_eq!(InvokePolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(InvokePolicy::parse("round-robin"), None);
        for m in [CancelMode::Skip, CancelMode::Kill, CancelMode::KillNoWait] {
            assert_eq!(CancelMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(CancelMode::parse("nope"), None);
    }
}
