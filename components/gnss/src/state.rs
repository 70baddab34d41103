//! The GNSS component's logic, free of I/O: epochs, port events, publication results
//! and ticks go in (each with its injected time in µs), [`Action`]s come out.
//!
//! - Only [`EpochOutcome::Fix`] becomes [`Action::PublishFix`]; a no-fix epoch changes
//!   the state to `no_fix` (with its reason) and is never published as a fix.
//! - `state` is `fix` / `no_fix` after an epoch, `stale` once no epoch completed for
//!   `stale_after` (also right after start and after a reopen), `port_lost` while the
//!   source is gone. Every change of `state` (or of the no-fix reason) publishes a
//!   status at once; a status also goes out every `status_interval`.
//! - Quality changes within `fix` (RTK fixed/float flapping) do not publish a status:
//!   every fix carries its own quality. Logging of state and quality changes and of
//!   publish failures is throttled: the first one is logged, the rest of
//!   `log_interval` is summed up into one line with a count.
//! - While the source is lost (a wrong `--serial` path, an unplugged receiver, a TCP
//!   server away) the reason is logged when it starts and when it changes, and repeated
//!   every `lost_reminder_interval` (once a minute) so that a wrong path never retries
//!   silently forever.

use std::fmt;

use verger::contract::gnss::{micros_to_ms, ReceiverState, StatusCounters, StatusPayload};
use verger::nmea::{Counters, Epoch, EpochOutcome, Fix, Micros, NoFixReason, Quality};

/// Timing of the state machine, in µs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateConfig {
    /// No epoch for this long: `stale`.
    pub stale_after: Micros,
    /// Period of the status publication.
    pub status_interval: Micros,
    /// At most one log line per kind (state, quality, publish failures) per interval.
    pub log_interval: Micros,
    /// A fix whose last byte arrived longer ago than this when its publication comes up
    /// is dropped (`fixes_late`), never published late.
    pub max_fix_delay: Micros,
    /// While the source is lost, its reason is logged again this often.
    pub lost_reminder_interval: Micros,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            stale_after: 500_000,
            status_interval: 1_000_000,
            log_interval: 10_000_000,
            max_fix_delay: 200_000,
            lost_reminder_interval: 60_000_000,
        }
    }
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Publish `fix` on `orchard.gnss.fix` (retained), if
    /// [`GnssState::fix_publishable`] still holds when its turn comes.
    PublishFix {
        fix: Fix,
        first_arrival: Micros,
        last_arrival: Micros,
    },
    /// Publish this on `orchard.gnss.status` (retained).
    PublishStatus(StatusPayload),
    /// Write a log line.
    Log(Notice),
}

/// Log lines, already throttled.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// `state` changed; `more` earlier changes were counted but not logged.
    State {
        from: ReceiverState,
        to: ReceiverState,
        detail: Option<String>,
        more: u64,
    },
    /// Summary: `changes` more changes into `to` were counted but not logged; the
    /// state is `now`.
    StateChanges {
        to: ReceiverState,
        changes: u64,
        now: ReceiverState,
    },
    /// The fix quality changed `changes` times since the last such line (which reported
    /// `from`); it is `now` (`None`: no longer in `fix`).
    Quality {
        from: Option<Quality>,
        now: Option<Quality>,
        changes: u64,
    },
    /// `count` fixes could not be published since the last such line.
    PublishFailures { count: u64, error: String },
    /// `count` fixes were dropped as too old since the last such line.
    LateFixes { count: u64 },
    /// The source is still lost, for `for_s` seconds; `error` says why (reminder).
    StillLost { error: String, for_s: u64 },
    /// The source is still lost, for another reason now.
    LostReason { error: String },
}

impl Notice {
    /// Whether this deserves a warning rather than an info line.
    pub fn is_warning(&self) -> bool {
        match self {
            Notice::State { to, .. } => {
                matches!(to, ReceiverState::Stale | ReceiverState::PortLost)
            }
            Notice::StateChanges { to, .. } => {
                matches!(to, ReceiverState::Stale | ReceiverState::PortLost)
            }
            Notice::Quality { .. } => false,
            Notice::PublishFailures { .. }
            | Notice::LateFixes { .. }
            | Notice::StillLost { .. }
            | Notice::LostReason { .. } => true,
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::State {
                from,
                to,
                detail,
                more,
            } => {
                write!(f, "state {from} -> {to}")?;
                if let Some(d) = detail {
                    write!(f, " ({d})")?;
                }
                if *more > 0 {
                    write!(f, " [{more} more state changes not logged before this]")?;
                }
                Ok(())
            }
            Notice::StateChanges { to, changes, now } => {
                write!(f, "state -> {to} {changes} more times; now {now}")
            }
            Notice::Quality { from, now, changes } => {
                let from = from.map_or("none", Quality::as_str);
                let now = now.map_or("none", Quality::as_str);
                if *changes == 1 {
                    write!(f, "fix quality {from} -> {now}")
                } else {
                    write!(
                        f,
                        "fix quality changed {changes} times since {from}, now {now}"
                    )
                }
            }
            Notice::PublishFailures { count, error } => {
                write!(
                    f,
                    "{count} fixes not published ({error}); dropped, not queued"
                )
            }
            Notice::LateFixes { count } => {
                write!(f, "{count} fixes dropped: too old to publish")
            }
            Notice::StillLost { error, for_s } => {
                write!(f, "still no data for {for_s} s, retrying: {error}")
            }
            Notice::LostReason { error } => write!(f, "source still lost, now: {error}"),
        }
    }
}

/// At most one log line per interval: the first event is logged at once, later ones
/// are counted and summed up in one line when the interval is over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Batch {
    last: Option<Micros>,
    pending: u64,
}

impl Batch {
    fn may_log(&self, now: Micros, interval: Micros) -> bool {
        self.last.is_none_or(|t| now.saturating_sub(t) >= interval)
    }

    /// Count one event; `Some(events since the last line)` when a line is due now.
    fn add(&mut self, now: Micros, interval: Micros) -> Option<u64> {
        self.pending += 1;
        self.flush(now, interval)
    }

    /// `Some(count)` when counted events wait and the interval is over.
    fn flush(&mut self, now: Micros, interval: Micros) -> Option<u64> {
        if self.pending == 0 || !self.may_log(now, interval) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

/// The component's state.
#[derive(Debug)]
pub struct GnssState {
    config: StateConfig,
    source: String,
    state: ReceiverState,
    quality: Option<Quality>,
    no_fix_reason: Option<NoFixReason>,
    /// Completion time of the last epoch of this connection.
    last_epoch: Option<Micros>,
    next_status: Micros,
    counters: StatusCounters,
    /// One throttle per target state, so that a flapping fix/no_fix never hides the
    /// first `stale` or `port_lost`.
    state_log: [Batch; 5],
    quality_log: Batch,
    /// The quality the last quality line reported.
    logged_quality: Option<Quality>,
    failure_log: Batch,
    last_failure: String,
    late_log: Batch,
    /// Why the source is lost, since when, and when to say it again.
    lost: Option<Lost>,
}

#[derive(Debug)]
struct Lost {
    error: String,
    since: Micros,
    remind_at: Micros,
}

impl GnssState {
    /// A new component at `now`: `stale` until the first epoch; the first status is
    /// due at once.
    pub fn new(config: StateConfig, source: String, now: Micros) -> GnssState {
        GnssState {
            config,
            source,
            state: ReceiverState::Stale,
            quality: None,
            no_fix_reason: None,
            last_epoch: None,
            next_status: now,
            counters: StatusCounters::default(),
            state_log: Default::default(),
            quality_log: Batch::default(),
            logged_quality: None,
            failure_log: Batch::default(),
            last_failure: String::new(),
            late_log: Batch::default(),
            lost: None,
        }
    }

    pub fn state(&self) -> ReceiverState {
        self.state
    }

    pub fn counters(&self) -> StatusCounters {
        self.counters
    }

    /// The status as it would be published at `now`.
    pub fn status(&self, now: Micros) -> StatusPayload {
        StatusPayload {
            state: self.state,
            quality: self.quality.filter(|_| self.state == ReceiverState::Fix),
            no_fix_reason: self
                .no_fix_reason
                .filter(|_| self.state == ReceiverState::NoFix),
            source: self.source.clone(),
            last_epoch_age_ms: self.last_epoch.map(|t| micros_to_ms(now.saturating_sub(t))),
            counters: self.counters,
            // Set by the shell from the wall clock, right before it publishes.
            published_at: None,
        }
    }

    /// The decoder's counters, after every push.
    pub fn on_decoder_counters(&mut self, counters: Counters) {
        self.counters.set_decoder(counters);
    }

    /// An epoch completed (at `now`).
    pub fn on_epoch(&mut self, epoch: Epoch, now: Micros, out: &mut Vec<Action>) {
        if self.state == ReceiverState::PortLost {
            // A late epoch from before the loss: the port is gone, keep saying so.
            return;
        }
        self.last_epoch = Some(now);
        match epoch.outcome {
            EpochOutcome::Fix(fix) => {
                let quality = fix.quality;
                if self.state == ReceiverState::Fix && self.quality != Some(quality) {
                    self.quality_changed(quality, now, out);
                }
                self.quality = Some(quality);
                if self.state != ReceiverState::Fix {
                    self.logged_quality = Some(quality);
                    let detail = Some(quality.as_str().to_owned());
                    self.set_state(ReceiverState::Fix, detail, now, out);
                }
                out.push(Action::PublishFix {
                    fix,
                    first_arrival: epoch.first_arrival,
                    last_arrival: epoch.last_arrival,
                });
            }
            EpochOutcome::NoFix { reason, .. } => {
                self.quality = None;
                let changed =
                    self.state != ReceiverState::NoFix || self.no_fix_reason != Some(reason);
                self.no_fix_reason = Some(reason);
                if changed {
                    let detail = Some(reason.as_str().to_owned());
                    self.set_state(ReceiverState::NoFix, detail, now, out);
                }
            }
        }
    }

    /// The source is open (again): `stale` until its first epoch.
    pub fn on_port_opened(&mut self, now: Micros, out: &mut Vec<Action>) {
        self.last_epoch = None;
        self.quality = None;
        self.lost = None;
        if self.state != ReceiverState::Stale {
            let detail = Some("source open, waiting for data".to_owned());
            self.set_state(ReceiverState::Stale, detail, now, out);
        }
    }

    /// The source is gone (or could not be opened).
    /// The source reports it again when the reason changes.
    pub fn on_port_lost(&mut self, error: &str, now: Micros, out: &mut Vec<Action>) {
        self.last_epoch = None;
        self.quality = None;
        let remind_at = now.saturating_add(self.config.lost_reminder_interval.max(1));
        match &mut self.lost {
            Some(lost) if self.state == ReceiverState::PortLost => {
                if lost.error != error {
                    lost.error = error.to_owned();
                    lost.remind_at = remind_at;
                    out.push(Action::Log(Notice::LostReason {
                        error: error.to_owned(),
                    }));
                }
            }
            _ => {
                self.lost = Some(Lost {
                    error: error.to_owned(),
                    since: now,
                    remind_at,
                });
                if self.state != ReceiverState::PortLost {
                    self.set_state(ReceiverState::PortLost, Some(error.to_owned()), now, out);
                }
            }
        }
    }

    /// Whether a fix whose last byte arrived at `last_arrival` may still be published
    /// at `now`; if not, it is counted as late.
    pub fn fix_publishable(&mut self, last_arrival: Micros, now: Micros) -> bool {
        if now.saturating_sub(last_arrival) <= self.config.max_fix_delay {
            return true;
        }
        self.counters.fixes_late += 1;
        self.late_log.pending += 1;
        false
    }

    /// A fix was handed to the router.
    pub fn on_fix_published(&mut self) {
        self.counters.fixes_published += 1;
    }

    /// A fix could not be published (router away: `NotConnected`).
    pub fn on_fix_publish_failed(&mut self, error: String, now: Micros, out: &mut Vec<Action>) {
        self.counters.publish_failures += 1;
        self.last_failure = error;
        if let Some(count) = self.failure_log.add(now, self.config.log_interval) {
            out.push(Action::Log(Notice::PublishFailures {
                count,
                error: self.last_failure.clone(),
            }));
        }
    }

    /// Time passed: staleness, the periodic status, throttled summaries.
    pub fn on_tick(&mut self, now: Micros, out: &mut Vec<Action>) {
        if matches!(self.state, ReceiverState::Fix | ReceiverState::NoFix)
            && self
                .last_epoch
                .is_some_and(|t| now.saturating_sub(t) >= self.config.stale_after)
        {
            let detail = format!("no epoch for {} ms", self.config.stale_after / 1000);
            self.quality = None;
            self.set_state(ReceiverState::Stale, Some(detail), now, out);
        }
        if now >= self.next_status {
            out.push(Action::PublishStatus(self.status(now)));
            // A fixed schedule; after a long pause, resume from now rather than catch up.
            self.next_status += self.config.status_interval.max(1);
            if self.next_status <= now {
                self.next_status = now + self.config.status_interval.max(1);
            }
        }
        let interval = self.config.log_interval;
        for to in ReceiverState::ALL {
            if let Some(changes) = self.state_log[to as usize].flush(now, interval) {
                out.push(Action::Log(Notice::StateChanges {
                    to,
                    changes,
                    now: self.state,
                }));
            }
        }
        if let Some(changes) = self.quality_log.flush(now, interval) {
            let current = self.quality.filter(|_| self.state == ReceiverState::Fix);
            out.push(Action::Log(Notice::Quality {
                from: self.logged_quality,
                now: current,
                changes,
            }));
            self.logged_quality = current;
        }
        if let Some(count) = self.failure_log.flush(now, interval) {
            out.push(Action::Log(Notice::PublishFailures {
                count,
                error: self.last_failure.clone(),
            }));
        }
        if let Some(count) = self.late_log.flush(now, interval) {
            out.push(Action::Log(Notice::LateFixes { count }));
        }
        if let Some(lost) = self.lost.as_mut().filter(|l| now >= l.remind_at) {
            lost.remind_at = now.saturating_add(self.config.lost_reminder_interval.max(1));
            out.push(Action::Log(Notice::StillLost {
                error: lost.error.clone(),
                for_s: now.saturating_sub(lost.since) / 1_000_000,
            }));
        }
    }

    /// When `on_tick` must run next: the stale deadline or the next status.
    pub fn next_deadline(&self) -> Micros {
        let stale = match self.state {
            ReceiverState::Fix | ReceiverState::NoFix => self
                .last_epoch
                .map(|t| t + self.config.stale_after)
                .unwrap_or(Micros::MAX),
            _ => Micros::MAX,
        };
        let remind = self.lost.as_ref().map_or(Micros::MAX, |l| l.remind_at);
        stale.min(self.next_status).min(remind)
    }

    fn set_state(
        &mut self,
        to: ReceiverState,
        detail: Option<String>,
        now: Micros,
        out: &mut Vec<Action>,
    ) {
        let from = self.state;
        self.state = to;
        if let Some(n) = self.state_log[to as usize].add(now, self.config.log_interval) {
            out.push(Action::Log(Notice::State {
                from,
                to,
                detail,
                more: n - 1,
            }));
        }
        out.push(Action::PublishStatus(self.status(now)));
    }

    fn quality_changed(&mut self, to: Quality, now: Micros, out: &mut Vec<Action>) {
        if let Some(changes) = self.quality_log.add(now, self.config.log_interval) {
            out.push(Action::Log(Notice::Quality {
                from: self.logged_quality,
                now: Some(to),
                changes,
            }));
            self.logged_quality = Some(to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verger::nmea::UtcTime;

    const MS: Micros = 1000;

    fn fix(quality: Quality) -> Fix {
        Fix {
            time: UtcTime {
                year: 2020,
                month: 3,
                day: 18,
                hour: 13,
                minute: 28,
                second: 19,
                nanos: 600_000_000,
                decimals: 2,
            },
            lat: 41.5,
            lon: -93.7,
            alt_m: Some(278.2),
            quality,
            sats: Some(10),
            hdop: Some(0.9),
            speed_mps: None,
            course_deg: None,
            heading_deg: None,
            lat_err_m: None,
            lon_err_m: None,
            alt_err_m: None,
            diff_age_s: None,
        }
    }

    fn epoch(outcome: EpochOutcome, at: Micros) -> Epoch {
        Epoch {
            outcome,
            first_arrival: at.saturating_sub(5 * MS),
            last_arrival: at,
            sentences: 2,
        }
    }

    fn fix_epoch(q: Quality, at: Micros) -> Epoch {
        epoch(EpochOutcome::Fix(fix(q)), at)
    }

    fn no_fix_epoch(reason: NoFixReason, at: Micros) -> Epoch {
        epoch(EpochOutcome::NoFix { reason, time: None }, at)
    }

    fn statuses(actions: &[Action]) -> Vec<(ReceiverState, Option<Quality>, Option<NoFixReason>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::PublishStatus(s) => Some((s.state, s.quality, s.no_fix_reason)),
                _ => None,
            })
            .collect()
    }

    fn fixes(actions: &[Action]) -> Vec<Quality> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::PublishFix { fix, .. } => Some(fix.quality),
                _ => None,
            })
            .collect()
    }

    fn logs(actions: &[Action]) -> Vec<&Notice> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Log(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    fn new() -> GnssState {
        GnssState::new(
            StateConfig::default(),
            "serial:/dev/ttyUSB0@115200".into(),
            0,
        )
    }

    #[test]
    fn starts_stale_and_publishes_a_status_at_once_then_at_1_hz() {
        let mut s = new();
        let mut out = Vec::new();
        assert_eq!(s.next_deadline(), 0);
        s.on_tick(0, &mut out);
        assert_eq!(statuses(&out), [(ReceiverState::Stale, None, None)]);
        assert_eq!(s.next_deadline(), 1_000 * MS);
        out.clear();
        s.on_tick(999 * MS, &mut out);
        assert!(out.is_empty());
        s.on_tick(1_000 * MS, &mut out);
        assert_eq!(statuses(&out).len(), 1);
        // After a long pause the schedule resumes from now.
        out.clear();
        s.on_tick(10_500 * MS, &mut out);
        assert_eq!(statuses(&out).len(), 1);
        assert_eq!(s.next_deadline(), 11_500 * MS);
    }

    #[test]
    fn only_fix_epochs_are_published_and_no_fix_shows_its_reason_on_status() {
        let mut s = new();
        let mut out = Vec::new();
        s.on_epoch(
            no_fix_epoch(NoFixReason::Invalid, 100 * MS),
            100 * MS,
            &mut out,
        );
        assert!(fixes(&out).is_empty());
        assert_eq!(
            statuses(&out),
            [(ReceiverState::NoFix, None, Some(NoFixReason::Invalid))]
        );
        out.clear();
        // Same reason again: nothing changed, no status.
        s.on_epoch(
            no_fix_epoch(NoFixReason::Invalid, 200 * MS),
            200 * MS,
            &mut out,
        );
        assert!(out.is_empty());
        // Another reason: a status.
        s.on_epoch(
            no_fix_epoch(NoFixReason::Simulation, 300 * MS),
            300 * MS,
            &mut out,
        );
        assert_eq!(
            statuses(&out),
            [(ReceiverState::NoFix, None, Some(NoFixReason::Simulation))]
        );
        out.clear();
        s.on_epoch(
            fix_epoch(Quality::DeadReckoning, 400 * MS),
            400 * MS,
            &mut out,
        );
        assert_eq!(fixes(&out), [Quality::DeadReckoning]);
        assert_eq!(
            statuses(&out),
            [(ReceiverState::Fix, Some(Quality::DeadReckoning), None)]
        );
        // The status comes before the fix of the same epoch.
        assert!(matches!(out.last(), Some(Action::PublishFix { .. })));
    }

    #[test]
    fn no_epoch_for_stale_after_is_stale_and_data_brings_it_back() {
        let mut s = new();
        let mut out = Vec::new();
        s.on_tick(0, &mut out);
        s.on_epoch(fix_epoch(Quality::RtkFixed, 100 * MS), 100 * MS, &mut out);
        assert_eq!(s.next_deadline(), 600 * MS);
        out.clear();
        s.on_tick(599 * MS, &mut out);
        assert_eq!(s.state(), ReceiverState::Fix);
        s.on_tick(600 * MS, &mut out);
        assert_eq!(s.state(), ReceiverState::Stale);
        assert_eq!(statuses(&out), [(ReceiverState::Stale, None, None)]);
        assert!(logs(&out)[0].is_warning());
        out.clear();
        s.on_epoch(fix_epoch(Quality::RtkFloat, 700 * MS), 700 * MS, &mut out);
        assert_eq!(
            statuses(&out),
            [(ReceiverState::Fix, Some(Quality::RtkFloat), None)]
        );
        assert_eq!(s.status(750 * MS).last_epoch_age_ms, Some(50.0));
    }

    #[test]
    fn stale_after_counts_from_the_last_epoch_fix_or_not() {
        // A 1 Hz receiver with `--stale-after 1500ms`, driven by the deadlines the state
        // machine asks for: never stale while epochs come, stale 1.5 s after the last.
        let config = StateConfig {
            stale_after: 1_500 * MS,
            ..StateConfig::default()
        };
        let mut s = GnssState::new(config, "udp:0.0.0.0:9999".into(), 0);
        let mut out = Vec::new();
        let mut now = 0;
        for i in 1..=6u64 {
            let at = i * 1_000 * MS;
            while s.next_deadline() < at {
                now = s.next_deadline();
                s.on_tick(now, &mut out);
            }
            if i % 2 == 0 {
                s.on_epoch(fix_epoch(Quality::RtkFixed, at), at, &mut out);
            } else {
                s.on_epoch(no_fix_epoch(NoFixReason::Void, at), at, &mut out);
            }
            assert_ne!(s.state(), ReceiverState::Stale, "at {at}");
        }
        assert!(now < 6_000 * MS);
        // The 1 Hz status comes before the stale deadline.
        assert_eq!(s.next_deadline(), 6_000 * MS);
        s.on_tick(6_000 * MS, &mut out);
        assert_eq!(s.next_deadline(), 7_000 * MS);
        s.on_tick(7_000 * MS, &mut out);
        assert_eq!(s.state(), ReceiverState::Fix);
        assert_eq!(s.next_deadline(), 7_500 * MS);
        s.on_tick(7_499 * MS, &mut out);
        assert_eq!(s.state(), ReceiverState::Fix);
        out.clear();
        s.on_tick(7_500 * MS, &mut out);
        assert_eq!(statuses(&out), [(ReceiverState::Stale, None, None)]);
        let stale = s.status(7_500 * MS);
        assert_eq!(stale.last_epoch_age_ms, Some(1_500.0));
        // Once stale, only the periodic status is due; no second stale report.
        assert_eq!(s.next_deadline(), 8_000 * MS);
        out.clear();
        s.on_tick(8_000 * MS, &mut out);
        assert_eq!(statuses(&out), [(ReceiverState::Stale, None, None)]);
        assert!(logs(&out).is_empty());
    }

    #[test]
    fn port_lost_then_reopened() {
        let mut s = new();
        let mut out = Vec::new();
        s.on_epoch(fix_epoch(Quality::RtkFixed, 100 * MS), 100 * MS, &mut out);
        out.clear();
        s.on_port_lost("No such file or directory", 150 * MS, &mut out);
        assert_eq!(statuses(&out), [(ReceiverState::PortLost, None, None)]);
        assert_eq!(s.status(150 * MS).last_epoch_age_ms, None);
        // No stale deadline while the port is lost; a straggling epoch changes nothing.
        assert_eq!(s.next_deadline(), 0);
        out.clear();
        s.on_epoch(fix_epoch(Quality::RtkFixed, 160 * MS), 160 * MS, &mut out);
        assert!(out.is_empty());
        s.on_port_lost("No such file or directory", 300 * MS, &mut out);
        assert!(out.is_empty(), "one report per outage and reason");
        s.on_port_opened(2_000 * MS, &mut out);
        assert_eq!(statuses(&out), [(ReceiverState::Stale, None, None)]);
        out.clear();
        s.on_epoch(
            fix_epoch(Quality::RtkFixed, 2_100 * MS),
            2_100 * MS,
            &mut out,
        );
        assert_eq!(fixes(&out), [Quality::RtkFixed]);
        assert_eq!(s.state(), ReceiverState::Fix);
    }

    /// A serial path that does not exist: said at once (with the source's words: the
    /// path, how to list ports), again once a minute, and at once when it changes.
    #[test]
    fn a_lost_source_is_reported_at_once_then_once_a_minute() {
        let mut s = new();
        let mut out = Vec::new();
        let missing = "serial port /dev/ttyUSB9 does not exist: ... `ls -l /dev/serial/by-id/`";
        s.on_port_lost(missing, 0, &mut out);
        assert_eq!(statuses(&out), [(ReceiverState::PortLost, None, None)]);
        let first = logs(&out)[0].to_string();
        assert!(
            first.contains("port_lost") && first.contains(missing),
            "{first}"
        );
        // Retries report the same reason: nothing new.
        out.clear();
        s.on_port_lost(missing, 2_000 * MS, &mut out);
        assert!(out.is_empty());
        // Driven by the deadlines: a status every second, a reminder every minute.
        let mut reminders = Vec::new();
        let mut now = 0;
        while now < 180_000 * MS {
            now = s.next_deadline();
            s.on_tick(now, &mut out);
            for n in logs(&out) {
                reminders.push((now, n.clone()));
            }
            out.clear();
        }
        assert_eq!(
            reminders,
            [60_000, 120_000, 180_000]
                .map(|t| (
                    t * MS,
                    Notice::StillLost {
                        error: missing.to_owned(),
                        for_s: t / 1000
                    }
                ))
                .to_vec()
        );
        assert!(reminders[0].1.is_warning());
        // Another reason: said at once, and the minute starts again.
        let denied = "no permission to open serial port /dev/ttyUSB9: ... dialout";
        s.on_port_lost(denied, 190_000 * MS, &mut out);
        assert_eq!(
            logs(&out),
            [&Notice::LostReason {
                error: denied.to_owned()
            }]
        );
        let still = |out: &Vec<Action>| {
            logs(out)
                .iter()
                .any(|n| matches!(n, Notice::StillLost { .. }))
        };
        out.clear();
        s.on_tick(249_999 * MS, &mut out);
        assert!(!still(&out));
        s.on_tick(250_000 * MS, &mut out);
        assert!(still(&out), "a minute after the new reason");
        out.clear();
        s.on_port_opened(260_000 * MS, &mut out);
        out.clear();
        s.on_tick(400_000 * MS, &mut out);
        assert!(!still(&out), "no reminder once the port is back");
    }

    #[test]
    fn flapping_quality_publishes_every_fix_but_logs_at_most_once_per_interval() {
        let mut s = new();
        let mut out = Vec::new();
        let mut all = Vec::new();
        // 5 flips a second for 25 s at 10 Hz.
        for i in 0..250u64 {
            let t = 100 * MS * (i + 1);
            let q = if (i / 2) % 2 == 0 {
                Quality::RtkFixed
            } else {
                Quality::RtkFloat
            };
            s.on_epoch(fix_epoch(q, t), t, &mut out);
            s.on_tick(t, &mut out);
            all.append(&mut out);
        }
        assert_eq!(fixes(&all).len(), 250);
        let quality_lines: Vec<_> = logs(&all)
            .into_iter()
            .filter(|n| matches!(n, Notice::Quality { .. }))
            .collect();
        // One at the first flip (0.3 s), then one summary per 10 s.
        assert_eq!(quality_lines.len(), 3, "{quality_lines:?}");
        assert!(matches!(
            quality_lines[0],
            Notice::Quality { changes: 1, .. }
        ));
        match quality_lines[1] {
            Notice::Quality { changes, .. } => assert!(*changes >= 40, "{changes}"),
            other => panic!("{other:?}"),
        }
        // Quality flips are not state changes: statuses only at 1 Hz and the first fix.
        // (the first at 0.1 s, due since start, then every second up to 25 s).
        assert_eq!(statuses(&all).len(), 1 + 26);
    }

    #[test]
    fn publish_failures_are_counted_and_logged_in_batches() {
        let mut s = new();
        let mut out = Vec::new();
        for i in 0..100 {
            s.on_fix_publish_failed("not connected".into(), i * 100 * MS, &mut out);
        }
        assert_eq!(s.counters().publish_failures, 100);
        let lines: Vec<_> = logs(&out).into_iter().cloned().collect();
        assert_eq!(lines.len(), 1);
        s.on_tick(10_000 * MS, &mut out);
        let counts: Vec<u64> = logs(&out)
            .into_iter()
            .filter_map(|n| match n {
                Notice::PublishFailures { count, .. } => Some(*count),
                _ => None,
            })
            .collect();
        assert_eq!(counts, [1, 99]);
        assert!(lines[0].to_string().contains("dropped, not queued"));
    }

    #[test]
    fn fixes_that_waited_too_long_are_dropped_not_published_late() {
        let mut s = new();
        assert!(s.fix_publishable(1_000 * MS, 1_200 * MS));
        assert!(!s.fix_publishable(1_000 * MS, 1_201 * MS));
        assert_eq!(s.counters().fixes_late, 1);
        let mut out = Vec::new();
        s.on_tick(2_000 * MS, &mut out);
        assert!(logs(&out)
            .iter()
            .any(|n| matches!(n, Notice::LateFixes { count: 1 })));
    }

    #[test]
    fn state_change_logs_are_throttled() {
        let mut s = new();
        let mut out = Vec::new();
        for i in 0..20u64 {
            let t = i * 100 * MS;
            if i % 2 == 0 {
                s.on_epoch(fix_epoch(Quality::Autonomous, t), t, &mut out);
            } else {
                s.on_epoch(no_fix_epoch(NoFixReason::Invalid, t), t, &mut out);
            }
        }
        // Every state change is on the status topic, but only the first into each state
        // is logged so far.
        assert_eq!(statuses(&out).len(), 20);
        assert_eq!(logs(&out).len(), 2);
        // ... and the first `stale` is not hidden by the flapping.
        out.clear();
        s.on_tick(2_400 * MS, &mut out);
        assert_eq!(s.state(), ReceiverState::Stale);
        assert_eq!(logs(&out).len(), 1);
        out.clear();
        s.on_tick(10_100 * MS, &mut out);
        let summaries: Vec<_> = logs(&out)
            .into_iter()
            .filter_map(|n| match n {
                Notice::StateChanges { to, changes, .. } => Some((*to, *changes)),
                _ => None,
            })
            .collect();
        assert_eq!(
            summaries,
            [(ReceiverState::Fix, 9), (ReceiverState::NoFix, 9)]
        );
    }
}
