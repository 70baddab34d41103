//! The valve scheduler: commands say *when* (in GNSS time) a section opens and closes;
//! the scheduler turns them into valve states on the sprayer's own monotonic clock, so
//! router latency and jitter do not move the spray. Pure: times are plain microseconds,
//! the caller polls at [`Scheduler::next_deadline`].
//!
//! - [`ClockMap`] maps GNSS time to the monotonic clock from the fixes: each fix gives a
//!   pair (its GNSS time, the monotonic time it arrived); arrival = GNSS time + a fixed
//!   delay (receiver, serial line, decoding, router) + jitter that is never negative, so
//!   the smallest (arrival − GNSS) over the last fixes is the best offset. A configured
//!   `receiver_latency` (measured once per receiver) is taken off it.
//! - [`Scheduler`] holds the commands per section. A valve is switched `valve_latency`
//!   ahead of each instant, so that spray arrives at `open` and stops at `close`. A
//!   command for the same tree and section (or a higher revision of the same plan)
//!   replaces the pending one; a withdrawal cancels it (closing the valve if it is open);
//!   [`Scheduler::stop_all`] forgets everything and closes every valve.

use std::collections::VecDeque;

/// Microseconds: GNSS time since the Unix epoch, or monotonic time since the sprayer's
/// origin.
pub type Micros = i64;

/// GNSS time → monotonic time, learnt from fix arrivals.
#[derive(Debug, Clone)]
pub struct ClockMap {
    window: usize,
    samples: VecDeque<Micros>,
    receiver_latency: Micros,
}

impl ClockMap {
    /// A delay this far from the map's is a jump of the GNSS clock, µs.
    pub const JUMP: Micros = 1_000_000;

    /// A map over the last `window` fixes (at least 1), taking `receiver_latency` (µs)
    /// off the observed delay.
    pub fn new(window: usize, receiver_latency: Micros) -> ClockMap {
        ClockMap {
            window: window.max(1),
            samples: VecDeque::new(),
            receiver_latency,
        }
    }

    /// A fix of GNSS time `gnss` arrived at monotonic time `mono`. A fix whose delay
    /// differs from the map's by more than [`ClockMap::JUMP`] means the receiver's clock
    /// jumped (or a replay restarted): the map starts again from it.
    pub fn on_fix(&mut self, gnss: Micros, mono: Micros) {
        if let Some(o) = self.offset() {
            if (mono - gnss - self.receiver_latency - o).abs() > Self::JUMP {
                self.samples.clear();
            }
        }
        if self.samples.len() == self.window {
            self.samples.pop_front();
        }
        self.samples.push_back(mono - gnss);
    }

    /// Forget the fixes (the receiver or its clock changed).
    pub fn reset(&mut self) {
        self.samples.clear();
    }

    /// monotonic − GNSS, µs; `None` before the first fix.
    pub fn offset(&self) -> Option<Micros> {
        self.samples.iter().min().map(|o| o - self.receiver_latency)
    }

    /// The monotonic time of GNSS time `gnss`.
    pub fn to_mono(&self, gnss: Micros) -> Option<Micros> {
        self.offset().map(|o| gnss + o)
    }

    /// The GNSS time of monotonic time `mono`.
    pub fn to_gnss(&self, mono: Micros) -> Option<Micros> {
        self.offset().map(|o| mono - o)
    }
}

/// One spray command, on the monotonic clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The plan it belongs to (the map's `plan_id`).
    pub plan_id: String,
    /// Its revision: a higher one replaces a lower one.
    pub revision: u32,
    /// The tree it treats.
    pub tree_id: String,
    /// Index of the section.
    pub section: usize,
    /// Spray must arrive at the canopy then (monotonic µs).
    pub open: Micros,
    /// Spray must stop then (monotonic µs).
    pub close: Micros,
    /// Flow, L/min.
    pub flow_l_min: f64,
}

/// What a section's valve should do now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Valve {
    /// Closed.
    Closed,
    /// Open at this flow, L/min.
    Open(f64),
}

/// A change of one section's valve.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Index of the section.
    pub section: usize,
    /// Its new state.
    pub valve: Valve,
    /// The command it opens for (`None` when closing).
    pub plan_id: Option<String>,
}

/// The commands of every section and the valve states they give.
#[derive(Debug, Clone)]
pub struct Scheduler {
    valve_latency: Micros,
    commands: Vec<Vec<Command>>,
    state: Vec<(Valve, Option<String>)>,
    /// The last poll's instant: every switch due by then has been made (`MIN` after a
    /// change of the commands, until the next poll).
    polled: Micros,
}

impl Scheduler {
    /// `sections` sections, each valve taking `valve_latency` µs from command to spray.
    pub fn new(sections: usize, valve_latency: Micros) -> Scheduler {
        Scheduler {
            valve_latency,
            commands: vec![Vec::new(); sections],
            state: vec![(Valve::Closed, None); sections],
            polled: Micros::MIN,
        }
    }

    /// The valve states now in force.
    pub fn valves(&self) -> Vec<Valve> {
        self.state.iter().map(|(v, _)| *v).collect()
    }

    /// Does a command of plan `plan_id` wait or run?
    pub fn holds(&self, plan_id: &str) -> bool {
        self.commands.iter().flatten().any(|c| c.plan_id == plan_id)
    }

    /// Commands pending or running.
    pub fn pending(&self) -> usize {
        self.commands.iter().map(Vec::len).sum()
    }

    /// Add `command`, replacing any command of the same plan with a lower revision and
    /// any other command for the same tree in the same section. A lower or equal
    /// revision of a plan already known is ignored (calls may arrive out of order):
    /// `false` then.
    pub fn add(&mut self, command: Command) -> bool {
        let Some(list) = self.commands.get_mut(command.section) else {
            return false;
        };
        if list
            .iter()
            .any(|c| c.plan_id == command.plan_id && c.revision >= command.revision)
        {
            return false;
        }
        list.retain(|c| c.plan_id != command.plan_id && c.tree_id != command.tree_id);
        list.push(command);
        self.polled = Micros::MIN;
        true
    }

    /// Withdraw the plan `plan_id` at `revision`: its command is removed (a valve open
    /// for it closes at the next poll). A withdrawal older than the command is ignored.
    pub fn withdraw(&mut self, plan_id: &str, revision: u32) -> bool {
        let mut removed = false;
        for list in &mut self.commands {
            let before = list.len();
            list.retain(|c| !(c.plan_id == plan_id && c.revision < revision));
            removed |= list.len() != before;
        }
        self.polled = Micros::MIN;
        removed
    }

    /// Forget every command; every open valve closes. The changes to make now.
    pub fn stop_all(&mut self) -> Vec<Change> {
        self.polled = Micros::MIN;
        for list in &mut self.commands {
            list.clear();
        }
        let mut changes = Vec::new();
        for (section, state) in self.state.iter_mut().enumerate() {
            if state.0 != Valve::Closed {
                *state = (Valve::Closed, None);
                changes.push(Change {
                    section,
                    valve: Valve::Closed,
                    plan_id: None,
                });
            }
        }
        changes
    }

    /// When the valve of `c` must switch on and off (spray leaves the valve
    /// `valve_latency` before it reaches the canopy).
    fn switching(&self, c: &Command) -> (Micros, Micros) {
        (c.open - self.valve_latency, c.close - self.valve_latency)
    }

    /// The next instant something switches (a valve opens or closes), if any: after the
    /// last poll (a running command's opening is behind it: waking for it again would
    /// spin the loop for the whole spray).
    pub fn next_deadline(&self) -> Option<Micros> {
        self.commands
            .iter()
            .flatten()
            .flat_map(|c| {
                let (on, off) = self.switching(c);
                [on, off]
            })
            .filter(|t| *t > self.polled)
            .min()
    }

    /// Bring the valves to what the commands ask at monotonic time `now`: the changes
    /// to make. Finished commands are dropped. Where two commands of a section overlap,
    /// the one that opened last sets the flow.
    pub fn poll(&mut self, now: Micros) -> Vec<Change> {
        self.polled = self.polled.max(now);
        let latency = self.valve_latency;
        let mut changes = Vec::new();
        for (section, list) in self.commands.iter_mut().enumerate() {
            list.retain(|c| c.close - latency > now);
            let active = list
                .iter()
                .filter(|c| c.open - latency <= now)
                .max_by_key(|c| c.open);
            let want = match active {
                Some(c) => (Valve::Open(c.flow_l_min), Some(c.plan_id.clone())),
                None => (Valve::Closed, None),
            };
            if self.state[section] != want {
                self.state[section] = want.clone();
                changes.push(Change {
                    section,
                    valve: want.0,
                    plan_id: want.1,
                });
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Micros = 1_000;

    fn cmd(
        plan: &str,
        rev: u32,
        tree: &str,
        section: usize,
        open: Micros,
        close: Micros,
    ) -> Command {
        Command {
            plan_id: plan.into(),
            revision: rev,
            tree_id: tree.into(),
            section,
            open,
            close,
            flow_l_min: 10.0,
        }
    }

    #[test]
    fn a_running_spray_does_not_wake_the_loop_again_for_its_opening() {
        let mut s = Scheduler::new(1, 300 * MS);
        s.add(cmd("p", 1, "t", 0, 1000 * MS, 1600 * MS));
        assert_eq!(s.next_deadline(), Some(700 * MS));
        s.poll(700 * MS);
        // Open: the next thing to do is closing, not the opening behind.
        assert_eq!(s.next_deadline(), Some(1300 * MS));
        s.poll(1000 * MS);
        assert_eq!(s.next_deadline(), Some(1300 * MS));
        // A command added late (its opening already due) is due at once.
        s.add(cmd("q", 1, "u", 0, 900 * MS, 2000 * MS));
        assert_eq!(s.next_deadline(), Some(600 * MS));
        s.poll(1300 * MS);
        assert_eq!(s.next_deadline(), Some(1700 * MS));
        s.poll(1700 * MS);
        assert_eq!(s.next_deadline(), None);
    }

    /// Poll every millisecond from `from` to `to`: each change with its instant.
    fn run(s: &mut Scheduler, from: Micros, to: Micros) -> Vec<(Micros, Change)> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            for c in s.poll(t) {
                out.push((t, c));
            }
            t += MS;
        }
        out
    }

    #[test]
    fn opens_and_closes_a_valve_latency_ahead() {
        // Spray wanted on the canopy from 1000 ms to 1500 ms; valves take 300 ms.
        let mut s = Scheduler::new(2, 300 * MS);
        assert!(s.add(cmd("a@right:1", 1, "a", 1, 1000 * MS, 1500 * MS)));
        assert_eq!(s.next_deadline(), Some(700 * MS));
        let changes = run(&mut s, 0, 2000 * MS);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].0, 700 * MS);
        assert_eq!(changes[0].1.valve, Valve::Open(10.0));
        assert_eq!(changes[0].1.section, 1);
        assert_eq!(changes[1].0, 1200 * MS);
        assert_eq!(changes[1].1.valve, Valve::Closed);
        assert_eq!(s.pending(), 0);
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn a_new_revision_replaces_and_an_old_one_is_ignored() {
        let mut s = Scheduler::new(1, 0);
        assert!(s.add(cmd("t@left:1", 1, "t", 0, 1000 * MS, 1500 * MS)));
        assert!(s.add(cmd("t@left:1", 3, "t", 0, 1100 * MS, 1700 * MS)));
        assert!(
            !s.add(cmd("t@left:1", 2, "t", 0, 900 * MS, 1000 * MS)),
            "out of order"
        );
        let changes = run(&mut s, 0, 2000 * MS);
        let at: Vec<Micros> = changes.iter().map(|(t, _)| *t / MS).collect();
        assert_eq!(at, [1100, 1700]);
    }

    #[test]
    fn another_plan_for_the_same_tree_and_section_replaces_the_pending_one() {
        let mut s = Scheduler::new(1, 0);
        s.add(cmd("t@left:1", 1, "t", 0, 1000 * MS, 1500 * MS));
        s.add(cmd("t@left:9", 1, "t", 0, 3000 * MS, 3500 * MS));
        assert_eq!(s.pending(), 1);
        let at: Vec<Micros> = run(&mut s, 0, 4000 * MS)
            .iter()
            .map(|(t, _)| *t / MS)
            .collect();
        assert_eq!(at, [3000, 3500]);
    }

    #[test]
    fn back_to_back_windows_keep_the_valve_open_and_switch_the_flow() {
        let mut s = Scheduler::new(1, 0);
        s.add(cmd("a@left:1", 1, "a", 0, 1000 * MS, 1500 * MS));
        let mut b = cmd("b@left:2", 1, "b", 0, 1500 * MS, 2000 * MS);
        b.flow_l_min = 14.0;
        s.add(b);
        let changes = run(&mut s, 0, 2500 * MS);
        let got: Vec<(Micros, Valve)> = changes.iter().map(|(t, c)| (*t / MS, c.valve)).collect();
        assert_eq!(
            got,
            [
                (1000, Valve::Open(10.0)),
                (1500, Valve::Open(14.0)),
                (2000, Valve::Closed)
            ]
        );
    }

    #[test]
    fn overlapping_windows_the_later_sets_the_flow() {
        let mut s = Scheduler::new(1, 0);
        s.add(cmd("a@left:1", 1, "a", 0, 1000 * MS, 1600 * MS));
        let mut b = cmd("b@left:2", 1, "b", 0, 1400 * MS, 2000 * MS);
        b.flow_l_min = 14.0;
        s.add(b);
        let got: Vec<(Micros, Valve)> = run(&mut s, 0, 2500 * MS)
            .iter()
            .map(|(t, c)| (*t / MS, c.valve))
            .collect();
        assert_eq!(
            got,
            [
                (1000, Valve::Open(10.0)),
                (1400, Valve::Open(14.0)),
                (2000, Valve::Closed)
            ]
        );
    }

    #[test]
    fn a_withdrawal_closes_an_open_valve_and_cancels_a_pending_one() {
        let mut s = Scheduler::new(2, 0);
        s.add(cmd("a@left:1", 1, "a", 0, 1000 * MS, 2000 * MS));
        s.add(cmd("b@right:2", 1, "b", 1, 3000 * MS, 4000 * MS));
        run(&mut s, 0, 1200 * MS);
        assert_eq!(s.valves(), [Valve::Open(10.0), Valve::Closed]);
        assert!(
            !s.withdraw("a@left:1", 1),
            "an older revision does not withdraw"
        );
        assert!(s.withdraw("a@left:1", 2));
        assert!(s.withdraw("b@right:2", 2));
        let changes = s.poll(1201 * MS);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].valve, Valve::Closed);
        assert!(
            run(&mut s, 1202 * MS, 5000 * MS).is_empty(),
            "b never opens"
        );
    }

    #[test]
    fn stop_all_closes_everything_and_forgets() {
        let mut s = Scheduler::new(2, 0);
        s.add(cmd("a@left:1", 1, "a", 0, 0, 2000 * MS));
        s.add(cmd("b@right:2", 1, "b", 1, 0, 2000 * MS));
        s.add(cmd("c@right:3", 1, "c", 1, 3000 * MS, 4000 * MS));
        s.poll(10 * MS);
        assert_eq!(s.valves(), [Valve::Open(10.0), Valve::Open(10.0)]);
        let closed = s.stop_all();
        assert_eq!(closed.len(), 2);
        assert_eq!(s.valves(), [Valve::Closed, Valve::Closed]);
        assert_eq!(s.pending(), 0);
        assert!(run(&mut s, 11 * MS, 5000 * MS).is_empty());
    }

    #[test]
    fn unknown_section_is_refused() {
        let mut s = Scheduler::new(2, 0);
        assert!(!s.add(cmd("a@x:1", 1, "a", 2, 0, 1000)));
    }

    #[test]
    fn the_clock_map_takes_the_least_delayed_fix() {
        // Fixes every 100 ms of GNSS time arrive 40 ms later plus 0–25 ms of jitter;
        // the receiver itself is known to add 15 ms of those 40.
        let mut c = ClockMap::new(50, 15 * MS);
        assert_eq!(c.to_mono(0), None);
        let gnss0: Micros = 1_790_000_000_000_000;
        let mono0: Micros = 5_000_000;
        let jitter = [7, 0, 25, 3, 12, 18, 1, 9, 22, 4];
        for (i, j) in jitter.iter().cycle().take(60).enumerate() {
            let g = gnss0 + i as Micros * 100 * MS;
            c.on_fix(g, mono0 + (g - gnss0) + 40 * MS + j * MS);
        }
        // Monotonic = GNSS − gnss0 + mono0 + 25 ms (40 − 15).
        assert_eq!(c.to_mono(gnss0 + 1000 * MS), Some(mono0 + 1025 * MS));
        assert_eq!(c.to_gnss(mono0 + 1025 * MS), Some(gnss0 + 1000 * MS));
        c.reset();
        assert_eq!(c.offset(), None);
    }

    #[test]
    fn the_clock_map_follows_a_jump_of_the_gnss_clock() {
        let mut m = ClockMap::new(10, 0);
        m.on_fix(1_000 * MS, 1_050 * MS);
        assert_eq!(m.offset(), Some(50 * MS));
        // The receiver's time jumps 10 s back (a replay restarted): the old samples
        // would put every window 10 s off.
        m.on_fix(1_000 * MS, 11_060 * MS);
        assert_eq!(m.offset(), Some(10_060 * MS));
        m.on_fix(1_100 * MS, 11_155 * MS);
        assert_eq!(m.offset(), Some(10_055 * MS));
    }

    #[test]
    fn the_clock_map_forgets_old_fixes() {
        let mut c = ClockMap::new(3, 0);
        c.on_fix(0, 10);
        c.on_fix(100, 150);
        c.on_fix(200, 260);
        assert_eq!(c.offset(), Some(10));
        c.on_fix(300, 370);
        assert_eq!(c.offset(), Some(50), "the first fix left the window");
    }
}
