//! The supervisor's decisions as plain values: when a component that ended starts
//! again ([`Backoff`]), and in what order everything stops ([`StopPlan`]). No I/O, no
//! clock: time is handed in, so both are tested on literal instants.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// The restart policy (`[supervisor]` of `verger.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The first wait.
    pub delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// A run at least this long resets the wait to `delay`.
    pub reset_after: Duration,
}

/// Exponential backoff for one component: each run that ends soon after its start
/// doubles the wait before the next start, up to the policy's maximum; a run that
/// lasted `reset_after` starts the count again.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: RestartPolicy,
    /// Short runs in a row so far.
    short_runs: u32,
    restarts: u64,
}

impl Backoff {
    /// No run ended yet.
    pub fn new(policy: RestartPolicy) -> Backoff {
        Backoff {
            policy,
            short_runs: 0,
            restarts: 0,
        }
    }

    /// A run that lasted `ran_for` ended and the component starts again: the wait
    /// before it does.
    pub fn next_delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.policy.reset_after {
            self.short_runs = 0;
        }
        let factor = 2u32.saturating_pow(self.short_runs.min(31));
        let delay = self
            .policy
            .delay
            .checked_mul(factor)
            .unwrap_or(self.policy.max_delay)
            .min(self.policy.max_delay);
        self.short_runs = self.short_runs.saturating_add(1);
        self.restarts += 1;
        delay
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }
}

/// What the shell does for the stop, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopAction {
    /// Send SIGTERM to these components (they stop cleanly within their own
    /// `--shutdown-timeout`).
    Terminate(Vec<String>),
    /// Send SIGKILL to these: they overran their stage's time, or a second signal came.
    Kill(Vec<String>),
    /// Every component has exited: stop the router (the last step).
    StopRouter,
}

/// The stop of `verger run`: the component that drives the valves first, alone, until it
/// has exited (its valves closed); then every other component together; then the
/// router. Each stage has `timeout` after its SIGTERM, then what is left of it is
/// killed. A second signal kills everything still running at once.
#[derive(Clone, Debug)]
pub struct StopPlan {
    stages: VecDeque<Vec<String>>,
    /// Still running (of every stage).
    running: BTreeSet<String>,
    /// Still running of the stage in progress.
    waiting: BTreeSet<String>,
    deadline: Option<Instant>,
    timeout: Duration,
    overran: Vec<String>,
    router_stopped: bool,
}

impl StopPlan {
    /// The plan for the components still running (`first`, if among them, stops
    /// alone before the others).
    pub fn new(running: impl IntoIterator<Item = String>, first: &str, timeout: Duration) -> Self {
        let running: BTreeSet<String> = running.into_iter().collect();
        let mut stages = VecDeque::new();
        if running.contains(first) {
            stages.push_back(vec![first.to_owned()]);
        }
        let rest: Vec<String> = running.iter().filter(|n| *n != first).cloned().collect();
        if !rest.is_empty() {
            stages.push_back(rest);
        }
        StopPlan {
            stages,
            running,
            waiting: BTreeSet::new(),
            deadline: None,
            timeout,
            overran: Vec::new(),
            router_stopped: false,
        }
    }

    /// The first actions (at the signal, `now`).
    pub fn start(&mut self, now: Instant) -> Vec<StopAction> {
        self.advance(now)
    }

    /// Component `name` has exited (by itself or because it was told to).
    pub fn exited(&mut self, name: &str, now: Instant) -> Vec<StopAction> {
        self.running.remove(name);
        self.waiting.remove(name);
        self.advance(now)
    }

    /// Time has come to `now`: what overran its stage is killed.
    pub fn tick(&mut self, now: Instant) -> Vec<StopAction> {
        match self.deadline {
            Some(deadline) if now >= deadline && !self.waiting.is_empty() => {
                self.deadline = None;
                let late: Vec<String> = self.waiting.iter().cloned().collect();
                self.overran.extend(late.iter().cloned());
                vec![StopAction::Kill(late)]
            }
            _ => Vec::new(),
        }
    }

    /// A second signal: everything still running is killed, no stage waits any more.
    pub fn force(&mut self, now: Instant) -> Vec<StopAction> {
        self.stages.clear();
        self.deadline = None;
        let all: Vec<String> = self.running.iter().cloned().collect();
        self.waiting = self.running.clone();
        let mut actions = Vec::new();
        if !all.is_empty() {
            actions.push(StopAction::Kill(all));
        }
        actions.extend(self.advance(now));
        actions
    }

    /// When [`StopPlan::tick`] must be called next, if at all.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the last action (stop the router) has been given.
    pub fn is_done(&self) -> bool {
        self.router_stopped
    }

    /// The components that had to be killed after their stage's time.
    pub fn overran(&self) -> &[String] {
        &self.overran
    }

    fn advance(&mut self, now: Instant) -> Vec<StopAction> {
        while self.waiting.is_empty() {
            match self.stages.pop_front() {
                Some(stage) => {
                    let stage: Vec<String> = stage
                        .into_iter()
                        .filter(|n| self.running.contains(n))
                        .collect();
                    if !stage.is_empty() {
                        self.waiting = stage.iter().cloned().collect();
                        self.deadline = Some(now + self.timeout);
                        return vec![StopAction::Terminate(stage)];
                    }
                }
                None if !self.router_stopped => {
                    self.router_stopped = true;
                    self.deadline = None;
                    return vec![StopAction::StopRouter];
                }
                None => return Vec::new(),
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn policy() -> RestartPolicy {
        RestartPolicy {
            delay: S,
            max_delay: 8 * S,
            reset_after: 60 * S,
        }
    }

    #[test]
    fn waits_double_up_to_the_maximum() {
        let mut b = Backoff::new(policy());
        let waits: Vec<u64> = (0..6)
            .map(|_| b.next_delay(Duration::from_millis(100)).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        assert_eq!(b.restarts(), 6);
    }

    #[test]
    fn a_long_run_starts_the_count_again() {
        let mut b = Backoff::new(policy());
        b.next_delay(S);
        b.next_delay(S);
        assert_eq!(b.next_delay(S), 4 * S);
        assert_eq!(b.next_delay(60 * S), S, "ran a minute: first wait again");
        assert_eq!(b.next_delay(S), 2 * S);
        assert_eq!(b.restarts(), 5);
    }

    #[test]
    fn huge_counts_stay_at_the_maximum() {
        let mut b = Backoff::new(RestartPolicy {
            delay: Duration::from_secs(3000),
            max_delay: Duration::from_secs(3600),
            reset_after: S,
        });
        for _ in 0..100 {
            assert!(b.next_delay(Duration::ZERO) <= Duration::from_secs(3600));
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn plan(running: &[&str]) -> StopPlan {
        StopPlan::new(names(running), "sprayer", 5 * S)
    }

    #[test]
    fn the_sprayer_first_then_the_others_then_the_router() {
        let t0 = Instant::now();
        let mut p = plan(&["dose", "gnss", "map", "sprayer"]);
        assert_eq!(p.start(t0), [StopAction::Terminate(names(&["sprayer"]))]);
        assert_eq!(p.deadline(), Some(t0 + 5 * S));
        // Another component ending meanwhile changes nothing of the order.
        assert_eq!(p.exited("gnss", t0 + S), []);
        let t1 = t0 + 2 * S;
        assert_eq!(
            p.exited("sprayer", t1),
            [StopAction::Terminate(names(&["dose", "map"]))]
        );
        assert_eq!(p.deadline(), Some(t1 + 5 * S));
        assert_eq!(p.exited("map", t1), []);
        assert_eq!(p.exited("dose", t1 + S), [StopAction::StopRouter]);
        assert!(p.is_done());
        assert!(p.overran().is_empty());
        assert_eq!(p.deadline(), None);
    }

    #[test]
    fn a_stage_that_overruns_is_killed_and_the_next_goes_on() {
        let t0 = Instant::now();
        let mut p = plan(&["map", "sprayer"]);
        p.start(t0);
        assert_eq!(p.tick(t0 + 4 * S), []);
        assert_eq!(p.tick(t0 + 5 * S), [StopAction::Kill(names(&["sprayer"]))]);
        assert_eq!(p.tick(t0 + 6 * S), [], "killed once");
        assert_eq!(
            p.exited("sprayer", t0 + 5 * S),
            [StopAction::Terminate(names(&["map"]))]
        );
        assert_eq!(p.exited("map", t0 + 6 * S), [StopAction::StopRouter]);
        assert_eq!(p.overran(), ["sprayer"]);
    }

    #[test]
    fn without_a_sprayer_the_others_stop_at_once() {
        let t0 = Instant::now();
        let mut p = plan(&["gnss", "map"]);
        assert_eq!(
            p.start(t0),
            [StopAction::Terminate(names(&["gnss", "map"]))]
        );
        let mut p = plan(&[]);
        assert_eq!(p.start(t0), [StopAction::StopRouter]);
        assert!(p.is_done());
    }

    #[test]
    fn a_second_signal_kills_everything_left() {
        let t0 = Instant::now();
        let mut p = plan(&["map", "sprayer"]);
        p.start(t0);
        assert_eq!(
            p.force(t0 + S),
            [StopAction::Kill(names(&["map", "sprayer"]))]
        );
        assert_eq!(p.exited("sprayer", t0 + S), []);
        assert_eq!(p.exited("map", t0 + S), [StopAction::StopRouter]);
        let mut p = plan(&[]);
        p.start(t0);
        assert_eq!(p.force(t0), []);
        assert!(p.is_done());
    }
}
