//! The sprayer's core, free of I/O: orders in, valve states and finished sprays out.
//!
//! One [`Driver`] owns the scheduler, the fail-safe rules, the GNSS clock map, the recent
//! track and the sprays running. The shell (`lib.rs`) feeds it what happens, each event
//! with the monotonic instant it happened (µs), calls [`Driver::poll`] after each, and
//! carries out the [`Effects`]: the board's outputs, the records to commit, the state to
//! publish. Tests drive it on injected time.
//!
//! A spray is one opening of one section's valve for one order: it starts when the valve
//! is switched on and ends when it is switched off (or switched to another order). Its
//! record is finished once the track covers its end (the spray stops at the canopy one
//! valve latency after the switch, so the position comes with a later fix) or after
//! [`POSITION_WAIT`].

use std::collections::{HashMap, VecDeque};

use verger::civil::rfc3339_from_unix_micros;
use verger::contract::dose::Product;
use verger::contract::gnss::unix_micros;
use verger::contract::sprayer::{
    ApplyRequest, ApplyResult, SafeReason, SprayEnd, StopAllResult, ValvePayload, WithdrawRequest,
    WithdrawResult,
};
use verger::records::NewRecord;

use crate::command::{self, Apply, Limits};
use crate::safety::Safety;
use crate::schedule::{Change, ClockMap, Command, Micros, Scheduler, Valve};

/// How long a finished spray waits for a fix past its end before it is recorded with
/// the positions known (µs).
pub const POSITION_WAIT: Micros = 1_000_000;

/// How much track is kept for the records' positions (µs of GNSS time).
const TRACK_SPAN: Micros = 30_000_000;

/// What the driver is set with.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The sections and the limits orders are held to.
    pub limits: Limits,
    /// From valve switch to spray at the canopy, µs.
    pub valve_latency: Micros,
    /// Fixed delay of the receiver's output behind its epoch, µs (taken off the clock map).
    pub receiver_latency: Micros,
    /// No fix for longer than this: safe state, µs.
    pub max_fix_gap: Micros,
    /// Fixes the clock map keeps.
    pub clock_window: usize,
    /// Who operates the sprayer (on every record).
    pub operator: Option<String>,
}

/// Why an order was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Out of range or malformed; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The sprayer holds its safe state.
    #[error("the sprayer holds its valves closed ({0}): no order is taken until it clears")]
    Unavailable(SafeReason),
}

/// What the shell must do after an event.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    /// The valves changed: every section's new state, in board order.
    pub outputs: Option<Vec<Valve>>,
    /// Sprays finished and ready for the record.
    pub records: Vec<NewRecord>,
    /// The published state changed (valves, safe state, pending orders).
    pub state_changed: bool,
}

/// What an order carries besides its timing.
#[derive(Debug, Clone, PartialEq)]
struct Order {
    revision: u32,
    tree_id: String,
    volume_l: f64,
    product: Product,
    parcel: Option<String>,
    crop: Option<String>,
}

/// A valve open for an order.
#[derive(Debug, Clone)]
struct Running {
    plan_id: String,
    order: Order,
    /// Switched on (mono µs).
    on: Micros,
    /// Current flow and since when (mono µs).
    flow: f64,
    flow_since: Micros,
    /// Litres delivered before `flow_since`.
    litres: f64,
    /// How it will end when its valve closes (completed unless something cut it).
    end: Option<SprayEnd>,
}

/// A spray waiting for the track to cover its end.
#[derive(Debug, Clone)]
struct Finished {
    record: NewRecord,
    open_gnss: Micros,
    close_gnss: Micros,
    /// Monotonic time it finished.
    at: Micros,
}

/// The sprayer's core (see the module documentation).
#[derive(Debug)]
pub struct Driver {
    config: DriverConfig,
    scheduler: Scheduler,
    safety: Safety,
    clock: ClockMap,
    orders: HashMap<String, Order>,
    running: Vec<Option<Running>>,
    /// (GNSS µs, lat, lon) of recent fixes, in time order.
    track: VecDeque<(Micros, f64, f64)>,
    finished: Vec<Finished>,
    fault: Option<SafeReason>,
    outputs_changed: bool,
    state_changed: bool,
    stopping: bool,
}

impl Driver {
    /// A driver with every valve closed, in its safe state until the router, the board,
    /// the GNSS status and the fixes are all there.
    pub fn new(config: DriverConfig) -> Driver {
        let sections = config.limits.sections.len();
        Driver {
            scheduler: Scheduler::new(sections, config.valve_latency),
            safety: Safety::new(config.max_fix_gap),
            clock: ClockMap::new(config.clock_window, config.receiver_latency),
            orders: HashMap::new(),
            running: vec![None; sections],
            track: VecDeque::new(),
            finished: Vec::new(),
            fault: Some(SafeReason::Starting),
            outputs_changed: false,
            state_changed: true,
            stopping: false,
            config,
        }
    }

    /// A fix of GNSS time `gnss` (µs) at `lat`/`lon`, published `age` µs after its first
    /// byte reached the GNSS component, arrived at `now`.
    pub fn on_fix(&mut self, now: Micros, gnss: Micros, age: Micros, lat: f64, lon: f64) {
        self.clock.on_fix(gnss, now - age.max(0));
        self.safety.on_fix(now);
        if self.track.back().is_none_or(|&(t, _, _)| gnss > t) {
            self.track.push_back((gnss, lat, lon));
        } else if self
            .track
            .back()
            .is_some_and(|&(t, _, _)| gnss < t - TRACK_SPAN)
        {
            // The GNSS clock went back (a replay restarted): a new track.
            self.track.clear();
            self.track.push_back((gnss, lat, lon));
        }
        while self
            .track
            .front()
            .is_some_and(|&(t, _, _)| t < gnss - TRACK_SPAN)
        {
            self.track.pop_front();
        }
    }

    /// The GNSS status is `fix` (true) or anything else.
    pub fn on_gnss_status(&mut self, fix: bool) {
        self.safety.on_gnss_status(fix);
    }

    /// The router connection went up or down.
    pub fn on_connection(&mut self, up: bool) {
        self.safety.on_connection(up);
    }

    /// The board answers or not.
    pub fn on_board(&mut self, answering: bool) {
        self.safety.on_board(answering);
    }

    /// The sprayer is stopping: every valve closes for good.
    pub fn shutdown(&mut self) {
        self.stopping = true;
        self.safety.on_shutdown();
    }

    /// GNSS time at monotonic `now`, if the clock is known.
    pub fn gnss_now(&self, now: Micros) -> Option<Micros> {
        self.clock.to_gnss(now)
    }

    /// monotonic − GNSS, µs, if known.
    pub fn clock_offset(&self) -> Option<Micros> {
        self.clock.offset()
    }

    /// Why the valves are held closed (as of the last poll).
    pub fn fault(&self) -> Option<SafeReason> {
        self.fault
    }

    /// Orders scheduled and not finished.
    pub fn pending(&self) -> usize {
        self.scheduler.pending()
    }

    /// Sprays finished and not yet handed out (waiting for their end's position).
    pub fn unrecorded(&self) -> usize {
        self.finished.len() + self.running.iter().flatten().count()
    }

    /// Each section's valve, for the state topic.
    pub fn valves(&self) -> Vec<ValvePayload> {
        self.scheduler
            .valves()
            .into_iter()
            .zip(&self.config.limits.sections)
            .zip(&self.running)
            .map(|((valve, spec), running)| {
                let (open, flow) = match valve {
                    Valve::Open(f) => (true, f),
                    Valve::Closed => (false, 0.0),
                };
                ValvePayload {
                    section: spec.id.clone(),
                    open,
                    flow_l_min: flow,
                    duty_pct: duty_pct(valve, spec.max_flow_l_min),
                    tree_id: running.as_ref().map(|r| r.order.tree_id.clone()),
                    plan_id: running.as_ref().map(|r| r.plan_id.clone()),
                }
            })
            .collect()
    }

    /// Take an order at `now`.
    pub fn apply(&mut self, now: Micros, req: &ApplyRequest) -> Result<ApplyResult, ApplyError> {
        if let Some(reason) = self.safety.fault(now) {
            return Err(ApplyError::Unavailable(reason));
        }
        let now_gnss = self
            .clock
            .to_gnss(now)
            .ok_or(ApplyError::Unavailable(SafeReason::NoFix))?;
        let invalid = |m: String| ApplyError::Invalid(m);
        if req.product.name.trim().is_empty() {
            return Err(invalid(
                "product.name: missing (the treatment record names the product)".into(),
            ));
        }
        if req.product.authorisation.trim().is_empty() {
            return Err(invalid(
                "product.authorisation: missing (the treatment record needs the product's \
                 authorisation number)"
                    .into(),
            ));
        }
        if !(req.volume_l.is_finite() && req.volume_l >= 0.0) {
            return Err(invalid(format!(
                "volume_l: {} is not a volume (0 or more litres)",
                req.volume_l
            )));
        }
        if req.plan_id.trim().is_empty() {
            return Err(invalid("plan_id: missing".into()));
        }
        if req.revision == 0 {
            return Err(invalid("revision: must be 1 or more".into()));
        }
        let time = |field: &str, s: &str| {
            unix_micros(s).ok_or_else(|| {
                invalid(format!(
                    "{field}: {s:?} is not an RFC 3339 UTC time (e.g. 2026-04-14T09:12:34.410Z)"
                ))
            })
        };
        let (open, close) = (time("open", &req.open)?, time("close", &req.close)?);
        let section = command::check(
            &Apply {
                section: &req.section,
                tree_id: &req.tree_id,
                open,
                close,
                flow_l_min: req.flow_l_min,
            },
            now_gnss,
            &self.config.limits,
        )
        .map_err(|r| invalid(r.to_string()))?;
        let latency = self.config.valve_latency;
        if close - latency <= now_gnss {
            return Err(invalid(format!(
                "close: the window closes in {} ms, within the valve latency ({} ms): no spray \
                 could reach the canopy in it",
                (close - now_gnss) / 1000,
                latency / 1000
            )));
        }
        let offset = self.clock.offset().unwrap_or(0);
        let order = Order {
            revision: req.revision,
            tree_id: req.tree_id.clone(),
            volume_l: req.volume_l,
            product: req.product.clone(),
            parcel: req.parcel.clone(),
            crop: req.crop.clone(),
        };
        let scheduled = self.scheduler.add(Command {
            plan_id: req.plan_id.clone(),
            revision: req.revision,
            tree_id: req.tree_id.clone(),
            section,
            open: open + offset,
            close: close + offset,
            flow_l_min: req.flow_l_min,
        });
        if scheduled {
            if let Some(r) = self.running[section].as_mut() {
                if r.plan_id == req.plan_id {
                    r.order = order.clone();
                } else if r.order.tree_id == req.tree_id {
                    r.end = Some(SprayEnd::Replaced);
                }
            }
            self.orders.insert(req.plan_id.clone(), order);
            self.state_changed = true;
        }
        let held = self
            .orders
            .get(&req.plan_id)
            .map_or(req.revision, |o| o.revision);
        Ok(ApplyResult {
            plan_id: req.plan_id.clone(),
            revision: held,
            scheduled,
            switch_on: rfc3339(open - latency),
            switch_off: rfc3339(close - latency),
            late: open - latency < now_gnss,
        })
    }

    /// Withdraw an order at `now`.
    pub fn withdraw(&mut self, _now: Micros, req: &WithdrawRequest) -> WithdrawResult {
        let withdrawn = self.scheduler.withdraw(&req.plan_id, req.revision);
        if withdrawn {
            for r in self.running.iter_mut().flatten() {
                if r.plan_id == req.plan_id {
                    r.end = Some(SprayEnd::Withdrawn);
                }
            }
            self.orders.remove(&req.plan_id);
            self.state_changed = true;
        }
        WithdrawResult {
            plan_id: req.plan_id.clone(),
            withdrawn,
        }
    }

    /// Close every valve and forget every order at `now`.
    pub fn stop_all(&mut self, now: Micros) -> StopAllResult {
        let cancelled = self.scheduler.pending() as u64;
        let closed = self
            .running
            .iter()
            .zip(&self.config.limits.sections)
            .filter(|(r, _)| r.is_some())
            .map(|(_, s)| s.id.clone())
            .collect();
        self.close_everything(now, SprayEnd::StopAll);
        StopAllResult { closed, cancelled }
    }

    /// Forget every order and close every valve, ending the sprays running with `end`.
    fn close_everything(&mut self, now: Micros, end: SprayEnd) {
        for r in self.running.iter_mut().flatten() {
            r.end.get_or_insert(end);
        }
        let changes = self.scheduler.stop_all();
        self.orders.clear();
        self.carry_out(now, changes);
        self.state_changed = true;
    }

    /// When [`Driver::poll`] must run next, whatever happens meanwhile.
    pub fn next_deadline(&self) -> Option<Micros> {
        let mut next = self.scheduler.next_deadline();
        if self.fault.is_none() {
            next = min_opt(next, self.safety.next_deadline());
        }
        let waiting = self.finished.iter().map(|f| f.at + POSITION_WAIT).min();
        min_opt(next, waiting)
    }

    /// Bring everything to what it must be at `now`.
    pub fn poll(&mut self, now: Micros) -> Effects {
        let fault = if self.safety.may_open(now) {
            None
        } else {
            self.safety.fault(now)
        };
        if fault != self.fault {
            self.fault = fault;
            self.state_changed = true;
        }
        if fault.is_some() {
            if self.scheduler.pending() > 0 || self.running.iter().any(Option::is_some) {
                self.close_everything(now, SprayEnd::FailSafe);
            }
        } else {
            let changes = self.scheduler.poll(now);
            self.carry_out(now, changes);
        }
        let before = self.orders.len();
        let scheduler = &self.scheduler;
        let running = &self.running;
        self.orders.retain(|plan, _| {
            scheduler.holds(plan) || running.iter().flatten().any(|r| &r.plan_id == plan)
        });
        self.state_changed |= before != self.orders.len();
        let records = self.take_records(now);
        Effects {
            outputs: std::mem::take(&mut self.outputs_changed).then(|| self.scheduler.valves()),
            records,
            state_changed: std::mem::take(&mut self.state_changed),
        }
    }

    /// Follow the scheduler's valve changes: sprays start, change flow, end.
    fn carry_out(&mut self, now: Micros, changes: Vec<Change>) {
        for change in changes {
            self.outputs_changed = true;
            self.state_changed = true;
            let slot = change.section;
            let same_plan = self.running[slot]
                .as_ref()
                .is_some_and(|r| Some(&r.plan_id) == change.plan_id.as_ref());
            match change.valve {
                Valve::Open(flow) if same_plan => {
                    if let Some(r) = self.running[slot].as_mut() {
                        r.litres += litres(r.flow, now - r.flow_since);
                        r.flow = flow;
                        r.flow_since = now;
                    }
                }
                valve => {
                    if let Some(r) = self.running[slot].take() {
                        self.finish(now, slot, r);
                    }
                    if let (Valve::Open(flow), Some(plan)) = (valve, change.plan_id) {
                        if let Some(order) = self.orders.get(&plan) {
                            self.running[slot] = Some(Running {
                                plan_id: plan,
                                order: order.clone(),
                                on: now,
                                flow,
                                flow_since: now,
                                litres: 0.0,
                                end: None,
                            });
                        }
                    }
                }
            }
        }
    }

    /// A valve closed at `now` (or switched to another order): the spray's record.
    fn finish(&mut self, now: Micros, section: usize, r: Running) {
        let total = r.litres + litres(r.flow, now - r.flow_since);
        let minutes = (now - r.on) as f64 / 60e6;
        let latency = self.config.valve_latency;
        let offset = self.clock.offset().unwrap_or(0);
        let (open_gnss, close_gnss) = (r.on + latency - offset, now + latency - offset);
        let record = NewRecord {
            plan_id: r.plan_id,
            revision: r.order.revision,
            tree_id: r.order.tree_id,
            section: self.config.limits.sections[section].id.clone(),
            opened_at: rfc3339(open_gnss),
            closed_at: rfc3339(close_gnss),
            open_lat: None,
            open_lon: None,
            close_lat: None,
            close_lon: None,
            flow_l_min: if minutes > 0.0 {
                total / minutes
            } else {
                r.flow
            },
            volume_l: total,
            intended_volume_l: r.order.volume_l,
            product: r.order.product.name,
            authorisation: r.order.product.authorisation,
            target_pest: r.order.product.target_pest,
            parcel: r.order.parcel,
            crop: r.order.crop,
            operator: self.config.operator.clone(),
            end: r.end.unwrap_or(SprayEnd::Completed),
        };
        self.finished.push(Finished {
            record,
            open_gnss,
            close_gnss,
            at: now,
        });
    }

    /// The finished sprays whose end the track covers, or that waited long enough (all
    /// of them when stopping), with their positions.
    fn take_records(&mut self, now: Micros) -> Vec<NewRecord> {
        let last = self.track.back().map(|&(t, _, _)| t);
        let stopping = self.stopping;
        let (ready, waiting): (Vec<Finished>, Vec<Finished>) = std::mem::take(&mut self.finished)
            .into_iter()
            .partition(|f| {
                stopping || now - f.at >= POSITION_WAIT || last.is_some_and(|t| t >= f.close_gnss)
            });
        self.finished = waiting;
        ready
            .into_iter()
            .map(|mut f| {
                if let Some((lat, lon)) = position_at(&self.track, f.open_gnss) {
                    (f.record.open_lat, f.record.open_lon) = (Some(lat), Some(lon));
                }
                if let Some((lat, lon)) = position_at(&self.track, f.close_gnss) {
                    (f.record.close_lat, f.record.close_lon) = (Some(lat), Some(lon));
                }
                f.record
            })
            .collect()
    }
}

/// PWM duty for a valve: its flow as a share of the section's capacity, to the nearest
/// percent, at least 1 % when open.
pub fn duty_pct(valve: Valve, max_flow_l_min: f64) -> u8 {
    match valve {
        Valve::Closed => 0,
        Valve::Open(flow) => {
            let pct = (flow / max_flow_l_min * 100.0).round();
            pct.clamp(1.0, 100.0) as u8
        }
    }
}

/// Litres delivered at `flow` L/min for `us` microseconds.
fn litres(flow: f64, us: Micros) -> f64 {
    flow * us.max(0) as f64 / 60e6
}

fn rfc3339(t: Micros) -> String {
    rfc3339_from_unix_micros(t, 3)
}

fn min_opt(a: Option<Micros>, b: Option<Micros>) -> Option<Micros> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The position at GNSS time `t`: interpolated between the fixes around it, or the
/// nearest fix when `t` is outside the track by at most 0.5 s.
fn position_at(track: &VecDeque<(Micros, f64, f64)>, t: Micros) -> Option<(f64, f64)> {
    const REACH: Micros = 500_000;
    let after = track.iter().position(|&(ft, _, _)| ft >= t);
    match after {
        Some(0) => {
            let (ft, lat, lon) = track[0];
            (ft - t <= REACH).then_some((lat, lon))
        }
        Some(i) => {
            let (t0, lat0, lon0) = track[i - 1];
            let (t1, lat1, lon1) = track[i];
            let k = (t - t0) as f64 / (t1 - t0).max(1) as f64;
            Some((lat0 + k * (lat1 - lat0), lon0 + k * (lon1 - lon0)))
        }
        None => {
            let &(ft, lat, lon) = track.back()?;
            (t - ft <= REACH).then_some((lat, lon))
        }
    }
}

#[cfg(test)]
mod tests;
