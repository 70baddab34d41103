//! `verger-sprayer`: drives the valve board on time, fails safe, keeps the legal record.
//!
//! Shape: pure cores free of I/O ([`schedule`]: GNSS-timed valve commands; [`command`]:
//! what an order may ask; [`safety`]: when the valves must close whatever the orders
//! say; [`driver`]: the three together, with the sprays and their records) and the
//! async shell [`run`] around them, with the board I/O in [`board`].
//!
//! The shell is one loop that owns the driver and the board: orders (from the
//! procedures, through a bounded queue), fixes, GNSS status, the router session and the
//! board's health come in; after each, the driver is polled and its effects carried out
//! at once (board first; then records committed on the record thread, each published on
//! `orchard.sprayer.applied` only once committed; the state published retained by a
//! separate task so the loop never waits for the router). The loop sleeps until the
//! driver's next deadline, the last 3 ms on a precise thread sleep, so valves switch
//! within a fraction of a millisecond of their instant.
//!
//! Every way out closes the valves: SIGINT/SIGTERM (closed before anything else), the
//! router or the board lost, fixes stopping or the GNSS status leaving `fix`; a panic
//! writes ALL_OFF straight to the board's device from the panic hook, then aborts (the
//! board's own watchdog closes its outputs if even that fails).

pub mod board;
pub mod command;
pub mod driver;
pub mod safety;
pub mod schedule;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use verger::client::{
    to_payload, Client, ClientError, Invocation, InvocationError, RegisterOptions, Registration,
    SubscribeOptions,
};
use verger::clock::{FieldClock, ScaleError};
use verger::component::{self, retained, Shutdown};
use verger::contract::gnss::{self, published_now, unix_micros, FixPayload, ReceiverState};
use verger::contract::map::ERROR_INVALID_ARGUMENT;
use verger::contract::sprayer::{
    AppliedRecord, ApplyRequest, ApplyResult, BoardPayload, SprayerState, SprayerStatePayload,
    StopAllRequest, StopAllResult, WithdrawRequest, WithdrawResult, APPLIED_TOPIC, APPLY,
    ERROR_UNAVAILABLE, STATE_TOPIC, STOP_ALL, WITHDRAW,
};
use verger::records::{NewRecord, RecordDb, RecordError, RecordWriter};
use verger::wamp::{Dict, Value};

use board::{AnyBoard, Board, BoardError, BoardHealth, BoardKind, Output};
use driver::{duty_pct, ApplyError, Driver};
use schedule::{Micros, Valve};
pub use settings::{SprayerArgs, SprayerSettings as Settings};

/// Orders waiting for the loop, at most.
const REQUEST_QUEUE: usize = 256;
/// How long before a deadline the loop stops trusting the runtime's timer (1 ms
/// granularity) and sleeps the rest precisely.
const PRECISE: Duration = Duration::from_millis(3);
/// How often a lost board is opened again.
const BOARD_RETRY: Duration = Duration::from_secs(1);

/// Why the sprayer could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No board configured.
    #[error("no valve board: give --board PATH (or a [board] table in the settings file)")]
    NoBoard,
    /// No record database configured.
    #[error(
        "no record database: give --records PATH (or `db` in [record]); nothing is sprayed \
         without its record"
    )]
    NoRecords,
    /// The record database cannot be used.
    #[error("record database {}: {source}", path.display())]
    Records {
        /// The database.
        path: PathBuf,
        /// What is wrong.
        source: RecordError,
    },
    /// The board cannot be opened.
    #[error(transparent)]
    Board(#[from] BoardError),
    /// `VERGER_TIME_SCALE` is not a speed-up.
    #[error(transparent)]
    Clock(#[from] ScaleError),
    /// The router refused a registration or subscription.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// An order handed from a procedure to the loop, with where to answer.
enum Request {
    Apply(
        Box<ApplyRequest>,
        oneshot::Sender<Result<ApplyResult, ApplyError>>,
    ),
    Withdraw(WithdrawRequest, oneshot::Sender<WithdrawResult>),
    StopAll(StopAllRequest, oneshot::Sender<StopAllResult>),
}

/// Run the component on `client` until `shutdown` is requested.
pub async fn run(client: Client, shutdown: Shutdown, settings: Settings) -> Result<(), RunError> {
    let clock = FieldClock::from_env()?;
    let board_settings = settings.board.clone().ok_or(RunError::NoBoard)?;
    let db_path = settings.record.db.clone().ok_or(RunError::NoRecords)?;
    let writer = RecordDb::create_or_open(&db_path)
        .and_then(RecordWriter::new)
        .map_err(|source| RunError::Records {
            path: db_path.clone(),
            source,
        })?;
    let writer = Arc::new(writer);
    let sections = settings.sections.len();
    let board = board::open(&board_settings, sections).await?;
    install_panic_hook(&board);
    let token = shutdown.token().clone();
    let gone = SprayerStatePayload::gone(0, None);
    component::file_testament(&client, STATE_TOPIC, &gone, &token).await;
    let (requests_tx, requests) = mpsc::channel(REQUEST_QUEUE);
    let _registrations = tokio::select! {
        _ = token.cancelled() => return Ok(()),
        r = register(&client, requests_tx) => r?,
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
    let (state_tx, state_rx) = watch::channel(None);
    let publisher = tokio::spawn(publish_states(client.clone(), state_rx));
    let (committed_tx, committed) = mpsc::unbounded_channel();
    let health = board.health();
    let mut shell = Shell {
        clock,
        driver: Driver::new({
            // Sped up (a simulation), the fix gap keeps a floor of real time.
            let mut config = settings.driver_config();
            let gap = clock.floored_field(settings.timing.max_fix_gap);
            config.max_fix_gap = Micros::try_from(gap.as_micros()).unwrap_or(Micros::MAX);
            config
        }),
        settings,
        board_settings,
        board: Some(board),
        health,
        board_retry: None,
        last_write: Instant::now(),
        writer,
        commits: JoinSet::new(),
        committed_tx,
        records: 0,
        record_errors: 0,
        client: client.clone(),
        state_tx,
        panic_after_open: test_panic_requested(),
    };
    shell
        .run(requests, fixes, statuses, committed, &token)
        .await;
    shell.stop().await;
    drop(shell.state_tx);
    let _ = publisher.await;
    let last = SprayerStatePayload::gone(shell.records, Some(published_now()));
    component::last_words(&client, STATE_TOPIC, &last).await;
    Ok(())
}

/// The sprayer's shell: the loop's state (see the crate documentation).
struct Shell {
    clock: FieldClock,
    driver: Driver,
    settings: Settings,
    board_settings: board::BoardSettings,
    board: Option<AnyBoard>,
    health: watch::Receiver<BoardHealth>,
    board_retry: Option<Instant>,
    last_write: Instant,
    writer: Arc<RecordWriter>,
    commits: JoinSet<()>,
    committed_tx: mpsc::UnboundedSender<Result<(), ()>>,
    records: u64,
    record_errors: u64,
    client: Client,
    state_tx: watch::Sender<Option<SprayerStatePayload>>,
    panic_after_open: bool,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("fault", &self.driver.fault())
            .finish_non_exhaustive()
    }
}

impl Shell {
    /// Monotonic µs since the sprayer started.
    /// Field time now, µs (the monotonic clock, scaled in simulation).
    fn mono(&self) -> Micros {
        self.clock.now_us()
    }

    fn instant(&self, mono: Micros) -> Instant {
        Instant::from_std(self.clock.instant_of(mono))
    }

    async fn run(
        &mut self,
        mut requests: mpsc::Receiver<Request>,
        mut fixes: verger::client::Subscription,
        mut statuses: verger::client::Subscription,
        mut committed: mpsc::UnboundedReceiver<Result<(), ()>>,
        token: &tokio_util::sync::CancellationToken,
    ) {
        let mut session = self.client.state();
        self.driver
            .on_connection(session.borrow_and_update().is_established());
        let answering = self.health.borrow_and_update().answering;
        self.driver.on_board(answering);
        self.step().await;
        loop {
            let deadline = self.driver.next_deadline().map(|d| self.instant(d));
            let heartbeat = self.last_write + board::HEARTBEAT_PERIOD;
            let wake = [deadline, Some(heartbeat), self.board_retry]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(heartbeat);
            tokio::select! {
                biased;
                _ = token.cancelled() => break,
                changed = session.changed() => {
                    if changed.is_err() {
                        self.driver.on_connection(false);
                    } else {
                        let up = session.borrow_and_update().is_established();
                        self.driver.on_connection(up);
                    }
                }
                changed = self.health.changed(), if self.board.is_some() => {
                    if changed.is_ok() {
                        let h = self.health.borrow_and_update().clone();
                        if h.gone {
                            let why = h.last_error.unwrap_or_else(|| "the device is gone".into());
                            self.board_lost(why);
                        } else {
                            self.driver.on_board(h.answering);
                            self.publish_state();
                        }
                    }
                }
                Some(request) = requests.recv() => self.on_request(request),
                event = fixes.recv() => match event {
                    Some(event) => self.on_fix(&event),
                    None => tracing::error!("the fix subscription ended"),
                },
                event = statuses.recv() => {
                    if let Some(event) = event {
                        match event.kwargs_as::<gnss::StatusPayload>() {
                            Ok(s) => self.driver.on_gnss_status(s.state == ReceiverState::Fix),
                            Err(e) => tracing::warn!("unreadable GNSS status: {e}"),
                        }
                    }
                }
                Some(done) = committed.recv() => {
                    match done {
                        Ok(()) => self.records += 1,
                        Err(()) => self.record_errors += 1,
                    }
                    self.publish_state();
                }
                _ = tokio::time::sleep_until(wake.checked_sub(PRECISE).unwrap_or(wake)) => {
                    precise_wait(wake);
                }
            }
            self.step().await;
        }
    }

    fn on_fix(&mut self, event: &verger::client::Event) {
        let now = self.mono();
        match event.kwargs_as::<FixPayload>() {
            Ok(fix) => match unix_micros(&fix.time) {
                Some(t) => {
                    // The GNSS component measures its delay on the real clock.
                    let age = (fix.age_ms * 1000.0 * self.clock.scale()) as Micros;
                    self.driver.on_fix(now, t, age, fix.lat, fix.lon);
                }
                None => tracing::warn!("a fix with an unreadable time {:?}", fix.time),
            },
            Err(e) => tracing::warn!("unreadable fix: {e}"),
        }
    }

    fn on_request(&mut self, request: Request) {
        let now = self.mono();
        match request {
            Request::Apply(req, reply) => {
                let _ = reply.send(self.driver.apply(now, &req));
            }
            Request::Withdraw(req, reply) => {
                let _ = reply.send(self.driver.withdraw(now, &req));
            }
            Request::StopAll(req, reply) => {
                let result = self.driver.stop_all(now);
                tracing::info!(
                    reason = req.reason.as_deref().unwrap_or("none given"),
                    closed = ?result.closed,
                    cancelled = result.cancelled,
                    "stop_all"
                );
                let _ = reply.send(result);
            }
        }
    }

    /// Poll the driver and carry out its effects: the board first.
    async fn step(&mut self) {
        let fault_before = self.driver.fault();
        let effects = self.driver.poll(self.mono());
        let fault = self.driver.fault();
        if fault != fault_before {
            match fault {
                Some(reason) => tracing::warn!(%reason, "safe state: every valve closed"),
                None => tracing::info!("ready: valves follow the orders"),
            }
        }
        let entered_fault = fault.is_some() && fault != fault_before;
        if let Some(valves) = &effects.outputs {
            self.write_outputs(valves).await;
        } else if entered_fault {
            self.write_outputs(&vec![Valve::Closed; self.settings.sections.len()])
                .await;
        } else if self.last_write.elapsed() >= board::HEARTBEAT_PERIOD {
            self.heartbeat().await;
        }
        if self.board.is_none() && self.board_retry.is_some_and(|t| t <= Instant::now()) {
            self.reopen_board().await;
        }
        for record in effects.records {
            self.commit(record);
        }
        if effects.state_changed || entered_fault {
            self.publish_state();
        }
        if self.panic_after_open
            && effects
                .outputs
                .iter()
                .flatten()
                .any(|v| *v != Valve::Closed)
        {
            panic!("test panic after a valve opened (VERGER_SPRAYER_TEST_PANIC)");
        }
    }

    async fn write_outputs(&mut self, valves: &[Valve]) {
        self.last_write = Instant::now();
        let Some(board) = self.board.as_mut() else {
            return;
        };
        let written = if valves.iter().all(|v| *v == Valve::Closed) {
            board.all_off().await
        } else {
            let outputs: Vec<Output> = valves
                .iter()
                .zip(&self.settings.sections)
                .map(|(v, s)| match v {
                    Valve::Closed => Output::CLOSED,
                    open => Output::new(true, duty_pct(*open, s.max_flow_l_min))
                        .unwrap_or(Output::CLOSED),
                })
                .collect();
            board.set(&outputs).await
        };
        if let Err(e) = written {
            self.board_lost(e);
        }
    }

    async fn heartbeat(&mut self) {
        self.last_write = Instant::now();
        if let Some(board) = self.board.as_mut() {
            if let Err(e) = board.heartbeat().await {
                self.board_lost(e);
            }
        }
    }

    fn board_lost(&mut self, e: impl std::fmt::Display) {
        tracing::error!(
            "valve board lost: {e}; every valve held closed, reopening every {BOARD_RETRY:?}"
        );
        self.board = None;
        self.board_retry = Some(Instant::now() + BOARD_RETRY);
        self.driver.on_board(false);
        self.publish_state();
    }

    async fn reopen_board(&mut self) {
        match board::open(&self.board_settings, self.settings.sections.len()).await {
            Ok(b) => {
                tracing::info!("valve board open again");
                install_panic_hook(&b);
                self.health = b.health();
                let answering = self.health.borrow_and_update().answering;
                self.driver.on_board(answering);
                self.board = Some(b);
                self.board_retry = None;
            }
            Err(e) => {
                tracing::debug!("valve board still unavailable: {e}");
                self.board_retry = Some(Instant::now() + BOARD_RETRY);
            }
        }
    }

    /// Commit `record` on the record thread; publish it once committed.
    fn commit(&mut self, record: NewRecord) {
        // Reap the commits that are done: a day of sprays must not pile up finished tasks.
        while self.commits.try_join_next().is_some() {}
        let writer = self.writer.clone();
        let client = self.client.clone();
        let done = self.committed_tx.clone();
        self.commits.spawn(async move {
            match writer.commit(record).await {
                Ok(applied) => {
                    let _ = done.send(Ok(()));
                    publish_applied(&client, &applied).await;
                }
                Err(e) => {
                    tracing::error!("a spray could not be recorded: {e}");
                    let _ = done.send(Err(()));
                }
            }
        });
    }

    fn state(&self) -> SprayerStatePayload {
        let valves = self.driver.valves();
        let fault = self.driver.fault();
        let health = self.health.borrow().clone();
        let board_error = match &self.board {
            None => Some(format!(
                "the valve board at {} is gone",
                self.board_settings.port.display()
            )),
            Some(_) => health.last_error.clone(),
        };
        SprayerStatePayload {
            state: if fault.is_some() {
                SprayerState::Safe
            } else {
                SprayerState::Ready
            },
            safe_reason: fault,
            flow_l_min: valves.iter().map(|v| v.flow_l_min).sum(),
            valves,
            pending: self.driver.pending() as u64,
            board: Some(BoardPayload {
                kind: match self.board_settings.kind {
                    BoardKind::Serial => "serial".into(),
                    BoardKind::LcRelay => "lc_relay".into(),
                },
                answering: self.board.is_some() && health.answering,
                watchdog_tripped: health.watchdog_tripped,
                error: board_error,
            }),
            records: self.records,
            clock_offset_ms: self.driver.clock_offset().map(|o| {
                let wall = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros() as Micros);
                (self.mono() - o - wall) as f64 / 1000.0
            }),
            published_at: Some(published_now()),
        }
    }

    fn publish_state(&self) {
        let state = self.state();
        self.state_tx.send_replace(Some(state));
    }

    /// Close everything for good, then record what was running.
    async fn stop(&mut self) {
        self.driver.shutdown();
        let effects = self.driver.poll(self.mono());
        let closed = vec![Valve::Closed; self.settings.sections.len()];
        self.write_outputs(effects.outputs.as_deref().unwrap_or(&closed))
            .await;
        tracing::info!("stopping: every valve closed");
        for record in effects.records {
            self.commit(record);
        }
        self.publish_state();
        while self.commits.join_next().await.is_some() {}
        if self.record_errors > 0 {
            tracing::error!(
                failed = self.record_errors,
                "some sprays could not be recorded (see above)"
            );
        }
    }
}

/// Sleep the last stretch before `wake` on the thread (the runtime's timer has a 1 ms
/// granularity): at most [`PRECISE`].
fn precise_wait(wake: Instant) {
    let left = wake.saturating_duration_since(Instant::now());
    if !left.is_zero() && left <= PRECISE {
        tokio::task::block_in_place(|| std::thread::sleep(left));
    }
}

/// Publish every state handed over (the latest when several came meanwhile).
async fn publish_states(client: Client, mut states: watch::Receiver<Option<SprayerStatePayload>>) {
    while states.changed().await.is_ok() {
        let state = states.borrow_and_update().clone();
        if let Some(state) = state {
            if let Err(e) = client.publish_typed(STATE_TOPIC, &state, retained()).await {
                tracing::debug!("state not published: {e}");
            }
        }
    }
}

async fn publish_applied(client: &Client, applied: &AppliedRecord) {
    if let Err(e) = client
        .publish_typed(APPLIED_TOPIC, applied, Default::default())
        .await
    {
        tracing::debug!("applied record {} not published: {e}", applied.id);
    }
}

/// On a panic: ALL_OFF straight to the board's device, the usual report, then abort
/// (never go on with a sprayer in an unknown state).
fn install_panic_hook(board: &AnyBoard) {
    let off = match board.emergency_off() {
        Ok(off) => Some(off),
        Err(e) => {
            tracing::warn!(
                "no emergency stop for a panic ({e}): the board's watchdog is the backstop"
            );
            None
        }
    };
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(off) = &off {
            off.fire();
        }
        report(info);
        std::process::abort();
    }));
}

/// Debug builds only: `VERGER_SPRAYER_TEST_PANIC=1` panics once a valve opened (the
/// fail-safe tests' way to make the real binary panic mid-spray).
fn test_panic_requested() -> bool {
    cfg!(debug_assertions) && std::env::var_os("VERGER_SPRAYER_TEST_PANIC").is_some()
}

fn error(uri: &str, message: impl Into<String>) -> InvocationError {
    let mut kwargs = Dict::new();
    kwargs.insert("message".into(), Value::Str(message.into()));
    InvocationError::new(uri).with_kwargs(kwargs)
}

fn stopped() -> InvocationError {
    error(ERROR_UNAVAILABLE, "the sprayer is stopping")
}

/// Register the procedures: each hands its order to the loop and waits for the answer.
async fn register(
    client: &Client,
    requests: mpsc::Sender<Request>,
) -> Result<Vec<Registration>, ClientError> {
    let mut out = Vec::new();
    let tx = requests.clone();
    out.push(
        client
            .register_typed(
                APPLY,
                RegisterOptions::default(),
                move |req: ApplyRequest| {
                    let tx = tx.clone();
                    async move {
                        let (reply, answer) = oneshot::channel();
                        tx.send(Request::Apply(Box::new(req), reply))
                            .await
                            .map_err(|_| stopped())?;
                        match answer.await.map_err(|_| stopped())? {
                            Ok(r) => Ok(r),
                            Err(ApplyError::Invalid(m)) => Err(error(ERROR_INVALID_ARGUMENT, m)),
                            Err(e @ ApplyError::Unavailable(_)) => {
                                Err(error(ERROR_UNAVAILABLE, e.to_string()))
                            }
                        }
                    }
                },
            )
            .await?,
    );
    let tx = requests.clone();
    out.push(
        client
            .register_typed(
                WITHDRAW,
                RegisterOptions::default(),
                move |req: WithdrawRequest| {
                    let tx = tx.clone();
                    async move {
                        let (reply, answer) = oneshot::channel();
                        tx.send(Request::Withdraw(req, reply))
                            .await
                            .map_err(|_| stopped())?;
                        answer.await.map_err(|_| stopped())
                    }
                },
            )
            .await?,
    );
    let tx = requests;
    out.push(
        client
            .register(
                STOP_ALL,
                RegisterOptions::default(),
                move |inv: Invocation| {
                    let tx = tx.clone();
                    async move {
                        // Every argument is optional: a bare call is a stop too.
                        let req = if inv.args.is_empty() && inv.kwargs.is_empty() {
                            StopAllRequest::default()
                        } else {
                            inv.value_as()?
                        };
                        let (reply, answer) = oneshot::channel();
                        tx.send(Request::StopAll(req, reply))
                            .await
                            .map_err(|_| stopped())?;
                        let result = answer.await.map_err(|_| stopped())?;
                        to_payload(&result).map_err(|e| error(ERROR_UNAVAILABLE, e.to_string()))
                    }
                },
            )
            .await?,
    );
    Ok(out)
}
