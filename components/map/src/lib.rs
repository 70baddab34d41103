//! `verger-map`: the orchard map: which tree each sprayer section is about to pass.
//!
//! Shape (as `verger-gnss`): a pure core, [`plan`] (the spray windows, free of I/O and
//! tested on plain values), the map database of `verger::orchard`, and the async shell
//! [`run`] around them, with a thin `main`. The shell:
//!
//! - serves the map's procedures ([`service`]) from its own database connection;
//! - subscribes to `orchard.gnss.fix` and `orchard.gnss.status`; for each fix the age
//!   rule and the GNSS status accept, queries the trees around the antenna and runs the
//!   planner; a fix they refuse, a GNSS status leaving `fix`, or no fix for
//!   `max_fix_age` withdraws every window not finished;
//! - sends each order and withdrawal to `orchard.dose.treat` (at most `max_in_flight`
//!   orders at once: beyond, an order is dropped and counted, planning never waits;
//!   withdrawals always go) and publishes it on `orchard.map.target`;
//! - publishes its state and counters, retained, on `orchard.map.status` (on every change
//!   of state, and each second while counters move), with a `gone` testament.

pub mod plan;
pub mod service;
pub mod settings;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Semaphore};
use tokio::time::sleep_until;
use verger::civil::rfc3339_from_unix_micros;
use verger::client::{Client, ClientError, Event, PublishOptions, SubscribeOptions};
use verger::clock::{FieldClock, ScaleError};
use verger::component::{self, retained, Shutdown, LAST_WORDS_TIMEOUT};
use verger::contract::dose::{SectionPayload, TargetPayload, TreatRequest, WindowPayload, TREAT};
use verger::contract::gnss::{
    self, position_usable, published_now, unix_micros, AgeLimits, FixPayload, NotUsable,
    ReceiverState, StatusPayload,
};
use verger::contract::map::{
    BoundaryKind, FixRefusal, MapStatusPayload, PlanCounters, PlanningState, TreePayload,
    STATUS_TOPIC, TARGET_TOPIC,
};
use verger::orchard::{MapDb, MapError, Tree};

use plan::{Action, Area, FixInput, GnssMicros, PlanState, Planner};
pub use settings::{MapArgs, MapSettings};

/// The component's settings (`--config FILE`).
pub type Settings = MapSettings;

/// Why `verger-map` stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No database was named.
    #[error("no map database: give --db PATH (or `db` in the settings file); make one with `verger map import`")]
    NoDatabase,
    /// The database cannot be used.
    #[error("map database {}: {source}", path.display())]
    Map {
        /// The database.
        path: PathBuf,
        /// What is wrong.
        source: MapError,
    },
    /// The client failed for good.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// `VERGER_TIME_SCALE` is not a speed-up.
    #[error(transparent)]
    Clock(#[from] ScaleError),
}

/// Counters moving: status at most this often.
const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// Dose errors: one log line per burst; a burst ends after this much quiet.
const ERROR_BURST: Duration = Duration::from_secs(10);

/// Run the component on `client` with the map database `db` until `shutdown` is
/// requested.
pub async fn run(
    client: Client,
    shutdown: Shutdown,
    settings: MapSettings,
    db: PathBuf,
) -> Result<(), RunError> {
    let clock = FieldClock::from_env()?;
    let open = |path: &PathBuf| {
        MapDb::open_read_only(path).map_err(|source| RunError::Map {
            path: path.clone(),
            source,
        })
    };
    let planner_db = open(&db)?;
    let service_db = Arc::new(Mutex::new(open(&db)?));
    let loaded = (|| {
        Ok::<_, MapError>((
            planner_db.boundary()?,
            planner_db.zones()?,
            planner_db.info()?.trees,
        ))
    })()
    .map_err(|source| RunError::Map {
        path: db.clone(),
        source,
    })?;
    let (boundary, zones, trees) = loaded;
    let boundary_kind = BoundaryKind::of(boundary.as_ref());
    if boundary.is_none() {
        tracing::warn!("the map has no boundary: nothing will be sprayed");
    }
    tracing::info!(
        db = %db.display(),
        trees,
        zones = zones.len(),
        boundary = boundary_kind.as_str(),
        "map loaded"
    );
    let mut plan_config = settings.plan_config();
    // Sped up (a simulation), orders keep a floor of real time to travel to the sprayer.
    plan_config.lookahead = clock.floored_field(plan_config.lookahead);
    let planner = Planner::new(plan_config, Area::new(boundary.as_ref(), &zones));
    let token = shutdown.token().clone();
    let status = |state, counters| MapStatusPayload {
        state,
        holding_reason: None,
        pending: 0,
        trees,
        boundary: boundary_kind,
        counters,
        published_at: None,
    };
    let gone = status(PlanningState::Gone, PlanCounters::default());
    component::file_testament(&client, STATUS_TOPIC, &gone, &token).await;
    let _registrations = tokio::select! {
        _ = token.cancelled() => return Ok(()),
        r = service::register(&client, service_db) => r?,
    };
    let fixes = tokio::select! {
        _ = token.cancelled() => return Ok(()),
        s = client.subscribe(gnss::FIX_TOPIC, SubscribeOptions::default()) => s?,
    };
    let statuses = tokio::select! {
        _ = token.cancelled() => return Ok(()),
        s = client.subscribe(gnss::STATUS_TOPIC, SubscribeOptions {
            get_retained: true,
            ..SubscribeOptions::default()
        }) => s?,
    };
    let mut shell = Shell {
        client: client.clone(),
        db: planner_db,
        planner,
        settings,
        gnss_status: None,
        last_fix: None,
        clock,
        silence_at: None,
        in_flight: Arc::new(Semaphore::new(0)),
        failures: mpsc::unbounded_channel(),
        dose_errors: 0,
        dose_busy: 0,
        error_log: ErrorLog::default(),
        published: None,
        trees,
        boundary: boundary_kind,
    };
    shell.in_flight = Arc::new(Semaphore::new(shell.settings.planning.max_in_flight));
    shell.publish_status(true).await;
    shell.run(fixes, statuses, &token).await;
    let final_words = shell.stop().await;
    component::last_words(&client, STATUS_TOPIC, &final_words).await;
    Ok(())
}

/// A dose call that failed, reported back to the loop.
#[derive(Debug)]
struct Failure {
    plan_id: String,
    error: String,
}

/// One log line per burst of dose errors.
#[derive(Debug, Default)]
struct ErrorLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    fn note(&mut self, now: Instant, what: &str) {
        match self.last {
            Some(t) if now.duration_since(t) < ERROR_BURST => self.suppressed += 1,
            _ => {
                if self.suppressed > 0 {
                    tracing::warn!(
                        "{what} (and {} more dose errors in the previous burst)",
                        self.suppressed
                    );
                } else {
                    tracing::warn!(
                        "{what} (further dose errors of this burst are counted, not logged)"
                    );
                }
                self.suppressed = 0;
            }
        }
        self.last = Some(now);
    }
}

/// The component's state around the planner.
struct Shell {
    client: Client,
    db: MapDb,
    planner: Planner,
    settings: MapSettings,
    gnss_status: Option<StatusPayload>,
    /// GNSS time of the last fix planned on, and when it arrived.
    last_fix: Option<(GnssMicros, Instant)>,
    /// Field time (scaled in simulation, `verger::clock`).
    clock: FieldClock,
    /// When fixes will have stopped for `max_fix_age`.
    silence_at: Option<Instant>,
    in_flight: Arc<Semaphore>,
    failures: (
        mpsc::UnboundedSender<Failure>,
        mpsc::UnboundedReceiver<Failure>,
    ),
    dose_errors: u64,
    dose_busy: u64,
    error_log: ErrorLog,
    /// The last status published: its state and counters, and when.
    published: Option<(PlanningState, Option<FixRefusal>, PlanCounters, Instant)>,
    trees: u64,
    boundary: BoundaryKind,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("state", &self.planner.state())
            .finish_non_exhaustive()
    }
}

fn rfc3339(t: GnssMicros) -> String {
    rfc3339_from_unix_micros(t, 3)
}

impl Shell {
    async fn run(
        &mut self,
        mut fixes: verger::client::Subscription,
        mut statuses: verger::client::Subscription,
        token: &tokio_util::sync::CancellationToken,
    ) {
        let mut tick = tokio::time::interval(STATUS_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let silence = self.silence_at;
            tokio::select! {
                biased;
                _ = token.cancelled() => return,
                Some(e) = statuses.recv() => self.on_status(&e).await,
                Some(e) = fixes.recv() => self.on_fix(&e).await,
                Some(f) = self.failures.1.recv() => self.on_failure(f),
                _ = sleep_until(silence.unwrap_or_else(Instant::now).into()), if silence.is_some() => {
                    self.silence_at = None;
                    let now = self.gnss_now();
                    let actions = self.planner.refuse_fix(FixRefusal::StaleFix, now);
                    tracing::warn!("no usable fix for {:?}: holding", self.settings.planning.max_fix_age);
                    self.execute(actions).await;
                }
                _ = tick.tick() => self.publish_status(false).await,
            }
        }
    }

    /// The GNSS time now, estimated from the last fix.
    fn gnss_now(&self) -> GnssMicros {
        match self.last_fix {
            Some((t, at)) => {
                let field = self.clock.to_field(at.elapsed());
                t + GnssMicros::try_from(field.as_micros()).unwrap_or(0)
            }
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| GnssMicros::try_from(d.as_micros()).unwrap_or(0))
                .unwrap_or(0),
        }
    }

    async fn on_status(&mut self, event: &Event) {
        let status: StatusPayload = match event.kwargs_as() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("ignored a malformed {}: {e}", gnss::STATUS_TOPIC);
                return;
            }
        };
        let lost = status.state != ReceiverState::Fix;
        self.gnss_status = Some(status);
        if lost && self.planner.pending() > 0 {
            let actions = self
                .planner
                .refuse_fix(FixRefusal::GnssNotFix, self.gnss_now());
            self.execute(actions).await;
        }
    }

    async fn on_fix(&mut self, event: &Event) {
        let fix: FixPayload = match event.kwargs_as() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("ignored a malformed {}: {e}", gnss::FIX_TOPIC);
                return;
            }
        };
        let Some(time) = unix_micros(&fix.time) else {
            tracing::warn!(time = %fix.time, "ignored a fix whose time is not RFC 3339 UTC");
            return;
        };
        // A fix's age is field time: at N× speed-up a delay of real time is N times
        // further down the track.
        let limits = AgeLimits {
            fix: self.clock.floored_real(self.settings.planning.max_fix_age),
            ..AgeLimits::default()
        };
        let usable = match &self.gnss_status {
            None => Err(FixRefusal::GnssNotFix),
            Some(status) => match position_usable(status, &fix, SystemTime::now(), &limits) {
                Ok(()) => Ok(()),
                Err(NotUsable::State(_)) => Err(FixRefusal::GnssNotFix),
                Err(_) => Err(FixRefusal::StaleFix),
            },
        };
        if let Err(reason) = usable {
            let actions = self.planner.refuse_received_fix(reason, time);
            self.execute(actions).await;
            return;
        }
        self.last_fix = Some((time, Instant::now()));
        self.silence_at =
            Some(Instant::now() + self.clock.floored_real(self.settings.planning.max_fix_age));
        let input = FixInput {
            time,
            lat: fix.lat,
            lon: fix.lon,
            quality: fix.quality,
            speed_mps: fix.speed_mps,
            course_deg: fix.course_deg,
            heading_deg: fix.heading_deg,
        };
        let radius = self
            .planner
            .config()
            .search_radius_m(fix.speed_mps.unwrap_or(0.0))
            .min(verger::contract::map::MAX_RADIUS_M);
        let trees: Vec<Tree> = match self.db.trees_near(fix.lat, fix.lon, radius) {
            Ok(near) => near.into_iter().map(|n| n.tree).collect(),
            Err(e) => {
                tracing::error!("map query failed, fix not planned: {e}");
                return;
            }
        };
        let actions = self.planner.on_fix(&input, &trees);
        self.execute(actions).await;
        if self.state_changed() {
            self.publish_status(true).await;
        }
    }

    /// Send the planner's actions to the dose module and the target topic.
    async fn execute(&mut self, actions: Vec<Action>) {
        for action in actions {
            let request = self.request(&action);
            let is_order = matches!(action, Action::Order(_));
            announce(&self.client, &request).await;
            let permit = if is_order {
                match self.in_flight.clone().try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        self.dose_busy += 1;
                        self.planner.dose_failed(&request.plan_id);
                        continue;
                    }
                }
            } else {
                None
            };
            let client = self.client.clone();
            let failures = self.failures.0.clone();
            tokio::spawn(async move {
                let outcome = client
                    .call_typed::<_, verger::wamp::Value>(TREAT, &request)
                    .await;
                drop(permit);
                if let Err(e) = outcome {
                    let _ = failures.send(Failure {
                        plan_id: request.plan_id,
                        error: e.to_string(),
                    });
                }
            });
        }
        while let Ok(f) = self.failures.1.try_recv() {
            self.on_failure(f);
        }
    }

    fn on_failure(&mut self, f: Failure) {
        self.dose_errors += 1;
        self.error_log.note(
            Instant::now(),
            &format!("{TREAT} failed for {}: {}", f.plan_id, f.error),
        );
        self.planner.dose_failed(&f.plan_id);
    }

    fn request(&self, action: &Action) -> TreatRequest {
        let sections = &self.planner.config().sections;
        let section = |i: usize| {
            let s = &sections[i];
            SectionPayload {
                id: s.id.clone(),
                side: s.side,
                bottom_m: s.bottom_m,
                top_m: s.top_m,
            }
        };
        match action {
            Action::Order(o) => TreatRequest {
                plan_id: o.plan_id.clone(),
                revision: o.revision,
                tree: TreePayload::from(&o.tree),
                section: section(o.section),
                window: Some(WindowPayload {
                    open: rfc3339(o.open),
                    close: rfc3339(o.close),
                }),
                withdraw_reason: None,
                late: o.late,
                face_deg: o.face_deg,
                speed_mps: o.speed_mps,
                published_at: published_now(),
            },
            Action::Withdraw(w) => TreatRequest {
                plan_id: w.plan_id.clone(),
                revision: w.revision,
                tree: TreePayload::from(&w.tree),
                section: section(w.section),
                window: None,
                withdraw_reason: Some(w.reason),
                late: false,
                face_deg: w.face_deg,
                speed_mps: 0.0,
                published_at: published_now(),
            },
        }
    }

    fn counters(&self) -> PlanCounters {
        PlanCounters {
            dose_errors: self.dose_errors,
            dose_busy: self.dose_busy,
            ..self.planner.counters().clone()
        }
    }

    fn state(&self) -> (PlanningState, Option<FixRefusal>) {
        match self.planner.state() {
            PlanState::Waiting => (PlanningState::Waiting, None),
            PlanState::Planning => (PlanningState::Planning, None),
            PlanState::Holding(r) => (PlanningState::Holding, Some(r)),
        }
    }

    fn state_changed(&self) -> bool {
        let (state, reason) = self.state();
        self.published
            .as_ref()
            .is_none_or(|(s, r, _, _)| (*s, *r) != (state, reason))
    }

    /// Publish the status: `now` forces it; else only when something changed.
    async fn publish_status(&mut self, now: bool) {
        let (state, reason) = self.state();
        let counters = self.counters();
        let changed = self
            .published
            .as_ref()
            .is_none_or(|(s, r, c, _)| (*s, *r, c) != (state, reason, &counters));
        if !now && !changed {
            return;
        }
        let payload = MapStatusPayload {
            state,
            holding_reason: reason,
            pending: self.planner.pending() as u64,
            trees: self.trees,
            boundary: self.boundary,
            counters: counters.clone(),
            published_at: Some(published_now()),
        };
        if let Err(e) = self
            .client
            .publish_typed(STATUS_TOPIC, &payload, retained())
            .await
        {
            tracing::debug!("status not published: {e}");
        }
        if (now || changed) && self.state_changed() {
            match reason {
                Some(r) => tracing::info!(reason = r.as_str(), "holding"),
                None => tracing::info!(state = state.as_str(), "planner"),
            }
        }
        self.published = Some((state, reason, counters, Instant::now()));
    }

    /// Shutdown: withdraw every window not finished (waiting for the dose module's
    /// answers, within the last words' time); the final status.
    async fn stop(&mut self) -> MapStatusPayload {
        let actions = self.planner.stop(self.gnss_now());
        if !actions.is_empty() {
            tracing::info!(
                windows = actions.len(),
                "withdrawing the windows in progress"
            );
            let calls = actions.iter().map(|action| {
                let request = self.request(action);
                let client = self.client.clone();
                async move {
                    announce(&client, &request).await;
                    client
                        .call_typed::<_, verger::wamp::Value>(TREAT, &request)
                        .await
                }
            });
            let answers =
                tokio::time::timeout(LAST_WORDS_TIMEOUT, futures_util::future::join_all(calls))
                    .await;
            match answers {
                Ok(answers) => {
                    let failed = answers.iter().filter(|a| a.is_err()).count();
                    if failed > 0 {
                        tracing::warn!(failed, "withdrawals the dose module did not take");
                    }
                }
                Err(_) => tracing::warn!("the dose module did not answer the withdrawals in time"),
            }
        }
        MapStatusPayload {
            state: PlanningState::Gone,
            holding_reason: None,
            pending: 0,
            trees: self.trees,
            boundary: self.boundary,
            counters: self.counters(),
            published_at: Some(published_now()),
        }
    }
}

/// Publish `request` on `orchard.map.target`, whatever becomes of its call.
async fn announce(client: &Client, request: &TreatRequest) {
    if let Err(e) = client
        .publish_typed(
            TARGET_TOPIC,
            &TargetPayload(request.clone()),
            PublishOptions::default(),
        )
        .await
    {
        tracing::debug!("target not published: {e}");
    }
}
