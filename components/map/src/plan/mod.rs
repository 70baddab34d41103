//! The planner: from each trusted fix and the trees around it, which tree each sprayer
//! section treats next and when (the spray window), as orders and withdrawals for the
//! dose module. Pure: plain values in, actions out; time is the fixes' GNSS time.
//!
//! Rules (documented for operators in `docs/map.md`, "Planning"):
//!
//! - A fix plans only if its quality is at least the configured minimum, it has a speed
//!   and course, the vehicle moves at least the minimum speed and is not reversing, and
//!   the antenna is inside the boundary. The shell refuses the fixes the GNSS status or
//!   the age rule rules out ([`Planner::refuse_fix`]). A refused fix withdraws every
//!   window not yet finished.
//! - A window is ordered once per tree and section, when its opening minus the valve
//!   latency minus the look-ahead is less than the horizon away; its footprint must lie
//!   inside the boundary and touch no no-spray zone; a face of a tree already treated
//!   (same height band, within 90°) in this job is not treated again.
//! - An ordered window is ordered again (a new revision superseding the old) when the
//!   prediction moves one of its ends by more than the re-planning distance, and
//!   withdrawn when its tree leaves the section's lane (the vehicle turned away).

pub mod area;
pub mod direction;
pub mod geometry;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use verger::nmea::Quality;
use verger::orchard::Tree;

pub use area::{Area, Forbidden};
pub use direction::Direction;
pub use geometry::{Motion, Section, Window};
pub use verger::contract::map::{
    FixRefusal, PlanCounters as Counters, Side, WindowRefusal, WithdrawReason,
};

use geometry::angle_between;

/// GNSS time: microseconds since the Unix epoch, as the receiver tells it (UTC).
pub type GnssMicros = i64;

/// How the planner works (from the component's settings).
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// The sprayer's sections.
    pub sections: Vec<Section>,
    /// Time from a valve command to spray at the nozzles.
    pub valve_latency: Duration,
    /// How long before (window opening − valve latency) an order must reach the sprayer.
    pub lookahead: Duration,
    /// How far beyond that deadline windows are ordered (so that an order is never
    /// missed between two fixes; re-planning corrects early orders).
    pub horizon: Duration,
    /// A new prediction moving a window's end by more than this is ordered again, metres.
    pub replan_distance_m: f64,
    /// The poorest fix quality planned on.
    pub min_quality: Quality,
    /// Slowest speed planned on, m/s.
    pub min_speed_mps: f64,
    /// Canopy width assumed for a tree the map gives none, metres.
    pub default_canopy_width_m: f64,
}

impl PlanConfig {
    /// Radius around the antenna that holds every tree the next windows can involve,
    /// metres: the distance covered over valve latency + look-ahead + horizon, the
    /// sections' offsets and reach, and a canopy on either side (for the neighbours that
    /// split a hedge).
    pub fn search_radius_m(&self, speed_mps: f64) -> f64 {
        let ahead =
            (self.valve_latency + self.lookahead + self.horizon).as_secs_f64() * speed_mps.max(0.0);
        let offsets = self
            .sections
            .iter()
            .map(|s| s.forward_m.hypot(s.lateral_m + s.reach_m))
            .fold(0.0, f64::max);
        ahead + offsets + 2.0 * self.default_canopy_width_m.max(2.0) + 1.0
    }
}

/// One fix as the planner reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct FixInput {
    /// GNSS time of the epoch.
    pub time: GnssMicros,
    /// Antenna latitude, degrees.
    pub lat: f64,
    /// Antenna longitude, degrees.
    pub lon: f64,
    /// Solution quality.
    pub quality: Quality,
    /// Speed over ground, m/s.
    pub speed_mps: Option<f64>,
    /// Course over ground, degrees true.
    pub course_deg: Option<f64>,
    /// Dual-antenna heading, degrees true.
    pub heading_deg: Option<f64>,
}

/// A spray order for the dose module (`orchard.dose.treat`).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// `TREE@SECTION:N`: the same for every revision of one window of one tree for one
    /// section; unique in the job (N counts the windows ordered).
    pub plan_id: String,
    /// 1 for the first order; a higher revision supersedes the lower ones.
    pub revision: u32,
    /// The tree, with its attributes.
    pub tree: Tree,
    /// Index of the section in [`PlanConfig::sections`].
    pub section: usize,
    /// GNSS time the nozzles reach the canopy.
    pub open: GnssMicros,
    /// GNSS time they leave it.
    pub close: GnssMicros,
    /// Bearing from the tree to the nozzles (the face sprayed), degrees.
    pub face_deg: f64,
    /// Speed the window was predicted at, m/s.
    pub speed_mps: f64,
    /// Ordered later than the look-ahead asks (the sprayer may open late).
    pub late: bool,
}

/// An ordered window withdrawn: the sprayer must not open (or must close now).
#[derive(Debug, Clone, PartialEq)]
pub struct Withdrawal {
    /// The plan withdrawn.
    pub plan_id: String,
    /// Its new revision (supersedes every order of the plan).
    pub revision: u32,
    /// The tree.
    pub tree: Tree,
    /// Index of the section.
    pub section: usize,
    /// The face of the tree the window was for, degrees.
    pub face_deg: f64,
    /// Why.
    pub reason: WithdrawReason,
}

/// What the planner asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Order (or re-order) a window.
    Order(Order),
    /// Withdraw one.
    Withdraw(Withdrawal),
}

/// Whether the planner is ordering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanState {
    /// No fix yet.
    Waiting,
    /// The last fix was planned on.
    Planning,
    /// The last fix was refused.
    Holding(FixRefusal),
}

#[derive(Debug, Clone)]
struct Plan {
    plan_id: String,
    revision: u32,
    tree: Tree,
    open: GnssMicros,
    close: GnssMicros,
    face_deg: f64,
    dose_failed: bool,
}

/// The planner's state: ordered windows, treated faces, counters.
#[derive(Debug)]
pub struct Planner {
    config: PlanConfig,
    area: Area,
    direction: Direction,
    planned: HashMap<(String, usize), Plan>,
    refused: HashMap<(String, usize), GnssMicros>,
    /// Faces treated in this job: tree id → (section index, face bearing).
    treated: HashMap<String, Vec<(usize, f64)>>,
    counters: Counters,
    state: PlanState,
    sequence: u64,
}

fn micros(d: Duration) -> GnssMicros {
    GnssMicros::try_from(d.as_micros()).unwrap_or(GnssMicros::MAX)
}

impl Planner {
    /// A planner for `area` with `config`.
    pub fn new(config: PlanConfig, area: Area) -> Planner {
        Planner {
            config,
            area,
            direction: Direction::default(),
            planned: HashMap::new(),
            refused: HashMap::new(),
            treated: HashMap::new(),
            counters: Counters::default(),
            state: PlanState::Waiting,
            sequence: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PlanConfig {
        &self.config
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Planning or holding, and why.
    pub fn state(&self) -> PlanState {
        self.state
    }

    /// Windows ordered and not yet finished.
    pub fn pending(&self) -> usize {
        self.planned.len()
    }

    /// The dose module refused or failed an order of `plan_id`: the window stays
    /// planned (a later revision may go through) but is not counted as a treated face.
    pub fn dose_failed(&mut self, plan_id: &str) {
        if let Some(plan) = self.planned.values_mut().find(|p| p.plan_id == plan_id) {
            plan.dose_failed = true;
        }
    }

    /// `TREE@SECTION:N`, N counting the windows ordered in this job (unique).
    fn new_plan_id(&mut self, tree: &str, section: usize) -> String {
        self.sequence += 1;
        format!(
            "{tree}@{}:{}",
            self.config.sections[section].id, self.sequence
        )
    }

    /// The GNSS status left `fix`, or fixes stopped coming, at GNSS time `time`: the
    /// refusal is counted; every window not finished is withdrawn.
    pub fn refuse_fix(&mut self, reason: FixRefusal, time: GnssMicros) -> Vec<Action> {
        *self.counters.fixes_refused.get_mut(reason) += 1;
        self.state = PlanState::Holding(reason);
        self.withdraw_all(WithdrawReason::Fix(reason), time)
    }

    /// A fix received that the shell refuses (GNSS status not `fix`, too old): counted
    /// as received and refused; every window not finished is withdrawn.
    pub fn refuse_received_fix(&mut self, reason: FixRefusal, time: GnssMicros) -> Vec<Action> {
        self.counters.fixes += 1;
        self.refuse_fix(reason, time)
    }

    /// verger-map stops at GNSS time `time`: every window not finished is withdrawn
    /// (nobody would correct it any more).
    pub fn stop(&mut self, time: GnssMicros) -> Vec<Action> {
        self.withdraw_all(WithdrawReason::MapStopped, time)
    }

    /// Plan on one fix, given the trees around it (within
    /// [`PlanConfig::search_radius_m`] of the antenna).
    pub fn on_fix(&mut self, fix: &FixInput, trees: &[Tree]) -> Vec<Action> {
        self.counters.fixes += 1;
        let motion = match self.motion(fix) {
            Ok(m) => m,
            Err(reason) => {
                *self.counters.fixes_refused.get_mut(reason) += 1;
                self.state = PlanState::Holding(reason);
                return self.withdraw_all(WithdrawReason::Fix(reason), fix.time);
            }
        };
        self.counters.fixes_planned += 1;
        self.state = PlanState::Planning;
        let now = fix.time;
        let latency = micros(self.config.valve_latency);
        let lookahead = micros(self.config.lookahead);
        let horizon = micros(self.config.horizon);
        let mut actions = Vec::new();
        let mut seen: HashSet<(String, usize)> = HashSet::new();
        for index in 0..self.config.sections.len() {
            let section = &self.config.sections[index];
            let windows =
                geometry::windows(&motion, section, trees, self.config.default_canopy_width_m);
            for w in windows {
                let key = (w.tree.id.clone(), index);
                seen.insert(key.clone());
                if let Some(plan) = self.planned.get(&key) {
                    if let Some(action) = self.replan(&key, plan.clone(), &w, &motion) {
                        actions.push(action);
                    }
                    continue;
                }
                if self.refused.contains_key(&key) {
                    continue;
                }
                if w.open - latency - lookahead - now > horizon {
                    continue;
                }
                let refusal = if self.already_treated(&w.tree.id, index, w.face_deg) {
                    Some(WindowRefusal::AlreadyTreated)
                } else if w.close - latency <= now {
                    Some(WindowRefusal::TooLate)
                } else {
                    self.area.check(&w.footprint).err().map(|f| match f {
                        Forbidden::OutsideBoundary => WindowRefusal::OutsideBoundary,
                        Forbidden::Zone { .. } => WindowRefusal::NoSprayZone,
                    })
                };
                if let Some(refusal) = refusal {
                    *self.counters.windows_refused.get_mut(refusal) += 1;
                    self.refused.insert(key, w.close);
                    continue;
                }
                let late = w.open - latency - lookahead < now;
                if late {
                    self.counters.late += 1;
                }
                self.counters.orders += 1;
                let plan = Plan {
                    plan_id: self.new_plan_id(&key.0, key.1),
                    revision: 1,
                    tree: w.tree.clone(),
                    open: w.open,
                    close: w.close,
                    face_deg: w.face_deg,
                    dose_failed: false,
                };
                actions.push(Action::Order(self.order(
                    &key,
                    &plan,
                    motion.speed_mps,
                    late,
                )));
                self.planned.insert(key, plan);
            }
        }
        // Ordered windows that are no longer ahead of a section: finished, or off course.
        let gone: Vec<(String, usize)> = self
            .planned
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            let Some(plan) = self.planned.remove(&key) else {
                continue;
            };
            if plan.close <= now + latency {
                self.complete(&key, &plan);
            } else {
                actions.push(self.withdrawal(&key, plan, WithdrawReason::OffCourse, now));
            }
        }
        self.refused.retain(|_, close| *close > now - 1_000_000);
        actions
    }

    /// Check the fix; the vehicle's motion if it may be planned on.
    fn motion(&mut self, fix: &FixInput) -> Result<Motion, FixRefusal> {
        let rank = |q: Quality| Quality::ALL.iter().position(|x| *x == q);
        let (Some(speed), Some(course)) = (fix.speed_mps, fix.course_deg) else {
            return Err(if rank(fix.quality) > rank(self.config.min_quality) {
                FixRefusal::PoorQuality
            } else {
                FixRefusal::NoVelocity
            });
        };
        let facing = self
            .direction
            .update(fix.time, speed, course, fix.heading_deg);
        if rank(fix.quality) > rank(self.config.min_quality) {
            return Err(FixRefusal::PoorQuality);
        }
        if speed < self.config.min_speed_mps {
            return Err(FixRefusal::TooSlow);
        }
        if facing.reversing {
            return Err(FixRefusal::Reversing);
        }
        if !self.area.inside_boundary(fix.lat, fix.lon) {
            return Err(FixRefusal::OutsideBoundary);
        }
        Ok(Motion {
            time: fix.time,
            lat: fix.lat,
            lon: fix.lon,
            speed_mps: speed,
            course_deg: course,
            body_deg: facing.body_deg,
        })
    }

    fn already_treated(&self, tree: &str, section: usize, face_deg: f64) -> bool {
        let band = |s: usize| {
            let s = &self.config.sections[s];
            (s.bottom_m, s.top_m)
        };
        self.treated.get(tree).is_some_and(|faces| {
            faces
                .iter()
                .any(|(s, face)| band(*s) == band(section) && angle_between(*face, face_deg) < 90.0)
        })
    }

    fn complete(&mut self, key: &(String, usize), plan: &Plan) {
        self.counters.completed += 1;
        if !plan.dose_failed {
            self.treated
                .entry(key.0.clone())
                .or_default()
                .push((key.1, plan.face_deg));
        }
    }

    fn order(&self, key: &(String, usize), plan: &Plan, speed_mps: f64, late: bool) -> Order {
        Order {
            plan_id: plan.plan_id.clone(),
            revision: plan.revision,
            tree: plan.tree.clone(),
            section: key.1,
            open: plan.open,
            close: plan.close,
            face_deg: plan.face_deg,
            speed_mps,
            late,
        }
    }

    /// Withdraw `plan`; a window already open counts as a (partly) treated face.
    fn withdrawal(
        &mut self,
        key: &(String, usize),
        plan: Plan,
        reason: WithdrawReason,
        now: GnssMicros,
    ) -> Action {
        self.counters.withdrawals += 1;
        if now >= plan.open - micros(self.config.valve_latency) {
            self.complete(key, &plan);
        }
        Action::Withdraw(Withdrawal {
            plan_id: plan.plan_id.clone(),
            revision: plan.revision + 1,
            section: key.1,
            face_deg: plan.face_deg,
            reason,
            tree: plan.tree,
        })
    }

    fn withdraw_all(&mut self, reason: WithdrawReason, now: GnssMicros) -> Vec<Action> {
        let latency = micros(self.config.valve_latency);
        let mut keys: Vec<(String, usize)> = self.planned.keys().cloned().collect();
        keys.sort();
        let mut actions = Vec::new();
        for key in keys {
            let Some(plan) = self.planned.remove(&key) else {
                continue;
            };
            if plan.close <= now + latency {
                self.complete(&key, &plan);
            } else {
                actions.push(self.withdrawal(&key, plan, reason, now));
            }
        }
        actions
    }

    /// A new prediction for an ordered window: a new revision if it moved more than the
    /// re-planning distance, a withdrawal if it became forbidden.
    fn replan(
        &mut self,
        key: &(String, usize),
        mut plan: Plan,
        w: &Window<'_>,
        motion: &Motion,
    ) -> Option<Action> {
        let now = motion.time;
        let opened = now >= plan.open - micros(self.config.valve_latency);
        let metres = |a: GnssMicros, b: GnssMicros| (a - b).abs() as f64 / 1e6 * motion.speed_mps;
        let moved_open = if opened {
            0.0
        } else {
            metres(w.open, plan.open)
        };
        let moved = moved_open.max(metres(w.close, plan.close));
        if moved <= self.config.replan_distance_m {
            return None;
        }
        if let Err(f) = self.area.check(&w.footprint) {
            let refusal = match f {
                Forbidden::OutsideBoundary => WindowRefusal::OutsideBoundary,
                Forbidden::Zone { .. } => WindowRefusal::NoSprayZone,
            };
            *self.counters.windows_refused.get_mut(refusal) += 1;
            self.planned.remove(key);
            self.refused.insert(key.clone(), w.close);
            return Some(self.withdrawal(key, plan, WithdrawReason::Window(refusal), now));
        }
        plan.revision += 1;
        if !opened {
            plan.open = w.open;
        }
        plan.close = w.close;
        plan.face_deg = w.face_deg;
        plan.dose_failed = false;
        self.counters.replans += 1;
        let order = self.order(key, &plan, motion.speed_mps, false);
        self.planned.insert(key.clone(), plan);
        Some(Action::Order(order))
    }
}

#[cfg(test)]
mod tests;
