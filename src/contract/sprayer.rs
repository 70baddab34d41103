//! The sprayer's side of the contract: the orders it takes (`orchard.sprayer.apply`,
//! `orchard.sprayer.withdraw`, `orchard.sprayer.stop_all`), the state it publishes
//! (`orchard.sprayer.state`, retained) and every spray it executed, once committed to the
//! as-applied record (`orchard.sprayer.applied`).
//!
//! Times named in GNSS time are RFC 3339 UTC strings, as in the fixes.

use serde::{Deserialize, Serialize};

use super::dose::Product;
use super::{finite, finite_or_null, ContractPayload, Role};

/// Procedure (registered by the sprayer, called by the dose module): spray one tree with
/// one section between two GNSS instants.
pub const APPLY: &str = "orchard.sprayer.apply";
/// Procedure: cancel an order (close its valve if it is open).
pub const WITHDRAW: &str = "orchard.sprayer.withdraw";
/// Procedure: close every valve now and forget every order.
pub const STOP_ALL: &str = "orchard.sprayer.stop_all";
/// Topic (retained): the valves, the safe state and the board.
pub const STATE_TOPIC: &str = "orchard.sprayer.state";
/// Topic: one executed spray, published once it is committed to the record.
pub const APPLIED_TOPIC: &str = "orchard.sprayer.applied";
pub use super::{ERROR_INVALID_ARGUMENT, ERROR_UNAVAILABLE};

/// `orchard.sprayer.apply` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// The order's identity (the map's `plan_id`): a later call with the same `plan_id`
    /// and a higher `revision` replaces it.
    pub plan_id: String,
    /// 1 first; a lower or equal revision of an order already held is ignored.
    pub revision: u32,
    /// The section (its `id` in the sprayer's settings: `left`, `right`...).
    pub section: String,
    /// The tree treated: required, nothing opens a valve without one.
    pub tree_id: String,
    /// GNSS time the spray must reach the canopy (the sprayer switches the valve its
    /// latency earlier).
    pub open: String,
    /// GNSS time the spray must stop at the canopy.
    pub close: String,
    /// Flow for the section, L/min (above 0, at most the section's capacity).
    #[serde(serialize_with = "finite")]
    pub flow_l_min: f64,
    /// Volume the dose module decided for this window, litres (the record keeps it next
    /// to what was applied).
    #[serde(serialize_with = "finite")]
    pub volume_l: f64,
    /// The product sprayed (name and authorisation number are required).
    pub product: Product,
    /// The parcel treated (cadastral or CAP reference), if known.
    pub parcel: Option<String>,
    /// The crop treated (e.g. `apple`, `apple (Gala)`), if known.
    pub crop: Option<String>,
}

impl ContractPayload for ApplyRequest {
    const URI: &'static str = APPLY;
    const SCHEMA: &'static str = "orchard.sprayer.apply.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        let full = ApplyRequest {
            plan_id: "B-07-042@right:311".into(),
            revision: 2,
            section: "right".into(),
            tree_id: "B-07-042".into(),
            open: "2026-04-14T09:12:34.410Z".into(),
            close: "2026-04-14T09:12:35.085Z".into(),
            flow_l_min: 11.6,
            volume_l: 0.13,
            product: Product::example(),
            parcel: Some("FICTITIOUS-82-0001".into()),
            crop: Some("apple (Gala)".into()),
        };
        let bare = ApplyRequest {
            parcel: None,
            crop: None,
            ..full.clone()
        };
        vec![full, bare]
    }
}

/// `orchard.sprayer.apply` result: the order is scheduled (or ignored as out of date).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyResult {
    /// The order's identity.
    pub plan_id: String,
    /// The revision now held for it.
    pub revision: u32,
    /// false: a revision as high or higher was already held, this call changed nothing.
    pub scheduled: bool,
    /// GNSS time the valve will be switched on (`open` minus the valve latency).
    pub switch_on: String,
    /// GNSS time it will be switched off.
    pub switch_off: String,
    /// Ordered later than the valve latency allows: the spray will reach the canopy
    /// after `open` (the sprayer opens as soon as it can and records what it did).
    pub late: bool,
}

impl ContractPayload for ApplyResult {
    const URI: &'static str = APPLY;
    const SCHEMA: &'static str = "orchard.sprayer.apply.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        let done = ApplyResult {
            plan_id: "B-07-042@right:311".into(),
            revision: 2,
            scheduled: true,
            switch_on: "2026-04-14T09:12:34.110Z".into(),
            switch_off: "2026-04-14T09:12:34.785Z".into(),
            late: false,
        };
        vec![
            done.clone(),
            ApplyResult {
                scheduled: false,
                late: true,
                ..done
            },
        ]
    }
}

/// `orchard.sprayer.withdraw` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WithdrawRequest {
    /// The order withdrawn.
    pub plan_id: String,
    /// The withdrawal's revision: it cancels every lower revision of the order (a later
    /// higher revision orders it again).
    pub revision: u32,
    /// Why, in the caller's words (the map's withdrawal reason), for the log and record.
    pub reason: Option<String>,
}

impl ContractPayload for WithdrawRequest {
    const URI: &'static str = WITHDRAW;
    const SCHEMA: &'static str = "orchard.sprayer.withdraw.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        let w = WithdrawRequest {
            plan_id: "B-07-042@right:311".into(),
            revision: 3,
            reason: Some("no_spray_zone".into()),
        };
        vec![w.clone(), WithdrawRequest { reason: None, ..w }]
    }
}

/// `orchard.sprayer.withdraw` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WithdrawResult {
    /// The order withdrawn.
    pub plan_id: String,
    /// false: no lower revision of it was held (unknown, finished or already replaced).
    pub withdrawn: bool,
}

impl ContractPayload for WithdrawResult {
    const URI: &'static str = WITHDRAW;
    const SCHEMA: &'static str = "orchard.sprayer.withdraw.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        let w = WithdrawResult {
            plan_id: "B-07-042@right:311".into(),
            withdrawn: true,
        };
        vec![
            w.clone(),
            WithdrawResult {
                withdrawn: false,
                ..w
            },
        ]
    }
}

/// `orchard.sprayer.stop_all` arguments (all optional: a call without any is fine).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StopAllRequest {
    /// Why, in the caller's words (logged).
    #[serde(default)]
    pub reason: Option<String>,
}

impl ContractPayload for StopAllRequest {
    const URI: &'static str = STOP_ALL;
    const SCHEMA: &'static str = "orchard.sprayer.stop_all.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        vec![
            StopAllRequest {
                reason: Some("operator".into()),
            },
            StopAllRequest { reason: None },
        ]
    }
}

/// `orchard.sprayer.stop_all` result: every valve is closed when it returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopAllResult {
    /// Sections that were open and were closed.
    pub closed: Vec<String>,
    /// Orders forgotten (pending or running).
    pub cancelled: u64,
}

impl ContractPayload for StopAllResult {
    const URI: &'static str = STOP_ALL;
    const SCHEMA: &'static str = "orchard.sprayer.stop_all.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        vec![
            StopAllResult {
                closed: vec!["left".into(), "right".into()],
                cancelled: 5,
            },
            StopAllResult {
                closed: Vec::new(),
                cancelled: 0,
            },
        ]
    }
}

/// Why the sprayer holds its valves closed whatever the orders say (its safe state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SafeReason {
    /// Not yet ready: no router session, no GNSS `fix` status or no fix yet.
    Starting,
    /// The router connection dropped.
    RouterLost,
    /// No fix for longer than the configured gap.
    NoFix,
    /// The GNSS status left `fix`.
    GnssNotFix,
    /// The valve board does not answer (or its device is gone).
    BoardLost,
    /// The sprayer is stopping (SIGINT/SIGTERM) or stopped.
    Shutdown,
}

impl SafeReason {
    /// Every reason.
    pub const ALL: [SafeReason; 6] = [
        SafeReason::Starting,
        SafeReason::RouterLost,
        SafeReason::NoFix,
        SafeReason::GnssNotFix,
        SafeReason::BoardLost,
        SafeReason::Shutdown,
    ];

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SafeReason::Starting => "starting",
            SafeReason::RouterLost => "router_lost",
            SafeReason::NoFix => "no_fix",
            SafeReason::GnssNotFix => "gnss_not_fix",
            SafeReason::BoardLost => "board_lost",
            SafeReason::Shutdown => "shutdown",
        }
    }
}

wire_enum!(SafeReason, "safe-state reason");

impl std::fmt::Display for SafeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sprayer's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SprayerState {
    /// Orders are taken and valves follow them.
    Ready,
    /// Every valve held closed (`safe_reason` says why); orders are refused.
    Safe,
    /// verger-sprayer is not running (its testament or last words).
    Gone,
}

impl SprayerState {
    /// Every state.
    pub const ALL: [SprayerState; 3] =
        [SprayerState::Ready, SprayerState::Safe, SprayerState::Gone];
    /// `ready`, `safe`, `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            SprayerState::Ready => "ready",
            SprayerState::Safe => "safe",
            SprayerState::Gone => "gone",
        }
    }
}

wire_enum!(SprayerState, "sprayer state");

/// One section's valve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValvePayload {
    /// The section's id.
    pub section: String,
    /// The valve is switched on.
    pub open: bool,
    /// Flow commanded, L/min (0 when closed).
    #[serde(serialize_with = "finite")]
    pub flow_l_min: f64,
    /// PWM duty commanded, % (0 when closed).
    pub duty_pct: u8,
    /// The tree it sprays (null when closed).
    pub tree_id: Option<String>,
    /// The order it sprays for (null when closed).
    pub plan_id: Option<String>,
}

/// The valve board as the sprayer sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardPayload {
    /// `serial` (verger's protocol) or `lc_relay` (CH340 relays).
    pub kind: String,
    /// The board answers (always true for boards without feedback).
    pub answering: bool,
    /// The board's own watchdog closed its outputs (until the next command).
    pub watchdog_tripped: bool,
    /// The last problem, in words; null when fine.
    pub error: Option<String>,
}

/// `orchard.sprayer.state` (retained): published on every change of a valve, of the safe
/// state or of the board.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SprayerStatePayload {
    /// `ready`, `safe` or `gone`.
    pub state: SprayerState,
    /// Why the valves are held closed, while `safe`; else null.
    pub safe_reason: Option<SafeReason>,
    /// Every section, in board order.
    pub valves: Vec<ValvePayload>,
    /// Total flow of the open valves, L/min.
    #[serde(serialize_with = "finite")]
    pub flow_l_min: f64,
    /// Orders scheduled and not finished.
    pub pending: u64,
    /// The board (null in the testament).
    pub board: Option<BoardPayload>,
    /// Sprays committed to the record since the sprayer started.
    pub records: u64,
    /// GNSS time now, as learnt from the fixes, minus the sprayer's system clock, ms
    /// (null before the first fix): how far the computer's clock is from GNSS time.
    #[serde(serialize_with = "finite_or_null")]
    pub clock_offset_ms: Option<f64>,
    /// When verger-sprayer published it (RFC 3339 UTC, ms); null only in the testament.
    pub published_at: Option<String>,
}

impl ContractPayload for SprayerStatePayload {
    const URI: &'static str = STATE_TOPIC;
    const SCHEMA: &'static str = "orchard.sprayer.state.schema.json";
    fn examples() -> Vec<Self> {
        let spraying = SprayerStatePayload {
            state: SprayerState::Ready,
            safe_reason: None,
            valves: vec![
                ValvePayload {
                    section: "left".into(),
                    open: false,
                    flow_l_min: 0.0,
                    duty_pct: 0,
                    tree_id: None,
                    plan_id: None,
                },
                ValvePayload {
                    section: "right".into(),
                    open: true,
                    flow_l_min: 11.6,
                    duty_pct: 58,
                    tree_id: Some("B-07-042".into()),
                    plan_id: Some("B-07-042@right:311".into()),
                },
            ],
            flow_l_min: 11.6,
            pending: 3,
            board: Some(BoardPayload {
                kind: "serial".into(),
                answering: true,
                watchdog_tripped: false,
                error: None,
            }),
            records: 1204,
            clock_offset_ms: Some(41.3),
            published_at: Some("2026-04-14T09:12:34.412Z".into()),
        };
        let closed: Vec<ValvePayload> = spraying
            .valves
            .iter()
            .map(|v| ValvePayload {
                open: false,
                flow_l_min: 0.0,
                duty_pct: 0,
                tree_id: None,
                plan_id: None,
                ..v.clone()
            })
            .collect();
        let mut out = vec![spraying.clone()];
        out.extend(SafeReason::ALL.into_iter().map(|r| {
            SprayerStatePayload {
                state: SprayerState::Safe,
                safe_reason: Some(r),
                valves: closed.clone(),
                flow_l_min: 0.0,
                pending: 0,
                board: Some(BoardPayload {
                    kind: "lc_relay".into(),
                    answering: r != SafeReason::BoardLost,
                    watchdog_tripped: r == SafeReason::BoardLost,
                    error: (r == SafeReason::BoardLost)
                        .then(|| "the valve board at /dev/ttyUSB1 does not answer".into()),
                }),
                clock_offset_ms: None,
                ..spraying.clone()
            }
        }));
        out.push(SprayerStatePayload::gone(0, None));
        out
    }
}

impl SprayerStatePayload {
    /// `gone`: the testament (`published_at` null) or the sprayer's last words, with the
    /// sprays it committed.
    pub fn gone(records: u64, published_at: Option<String>) -> SprayerStatePayload {
        SprayerStatePayload {
            state: SprayerState::Gone,
            safe_reason: Some(SafeReason::Shutdown),
            valves: Vec::new(),
            flow_l_min: 0.0,
            pending: 0,
            board: None,
            records,
            clock_offset_ms: None,
            published_at,
        }
    }
}

/// How a spray ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SprayEnd {
    /// At the end of its window.
    Completed,
    /// Its order was withdrawn.
    Withdrawn,
    /// A new revision of its order (or another order for the same tree and section)
    /// replaced it.
    Replaced,
    /// `orchard.sprayer.stop_all`.
    StopAll,
    /// The safe state cut it short (see the state's `safe_reason` at that time).
    FailSafe,
}

impl SprayEnd {
    /// Every end.
    pub const ALL: [SprayEnd; 5] = [
        SprayEnd::Completed,
        SprayEnd::Withdrawn,
        SprayEnd::Replaced,
        SprayEnd::StopAll,
        SprayEnd::FailSafe,
    ];
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SprayEnd::Completed => "completed",
            SprayEnd::Withdrawn => "withdrawn",
            SprayEnd::Replaced => "replaced",
            SprayEnd::StopAll => "stop_all",
            SprayEnd::FailSafe => "fail_safe",
        }
    }
}

wire_enum!(SprayEnd, "spray end");

/// One executed spray: a row of the as-applied record (`verger records export`), and the
/// event `orchard.sprayer.applied` published once that row is committed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppliedRecord {
    /// The record's number in the database (increasing; unique in one database).
    pub id: i64,
    /// The order executed.
    pub plan_id: String,
    /// Its revision in force when the valve opened.
    pub revision: u32,
    /// The tree treated.
    pub tree_id: String,
    /// The section.
    pub section: String,
    /// GNSS time the spray reached the canopy (valve switched on + valve latency).
    pub opened_at: String,
    /// GNSS time it stopped (valve switched off + valve latency).
    pub closed_at: String,
    /// Antenna latitude at `opened_at` (interpolated between fixes), WGS 84; null
    /// without fixes around it.
    #[serde(serialize_with = "finite_or_null")]
    pub open_lat: Option<f64>,
    /// Antenna longitude at `opened_at`.
    #[serde(serialize_with = "finite_or_null")]
    pub open_lon: Option<f64>,
    /// Antenna latitude at `closed_at`.
    #[serde(serialize_with = "finite_or_null")]
    pub close_lat: Option<f64>,
    /// Antenna longitude at `closed_at`.
    #[serde(serialize_with = "finite_or_null")]
    pub close_lon: Option<f64>,
    /// Flow, L/min.
    #[serde(serialize_with = "finite")]
    pub flow_l_min: f64,
    /// Volume applied: flow × time the valve was open, litres.
    #[serde(serialize_with = "finite")]
    pub volume_l: f64,
    /// Volume the dose module ordered for the window, litres.
    #[serde(serialize_with = "finite")]
    pub intended_volume_l: f64,
    /// Product name.
    pub product: String,
    /// Its authorisation number (AMM in France).
    pub authorisation: String,
    /// The pest or disease targeted.
    pub target_pest: String,
    /// Parcel reference, if known.
    pub parcel: Option<String>,
    /// Crop, if known.
    pub crop: Option<String>,
    /// Who operated the sprayer (the sprayer's settings).
    pub operator: Option<String>,
    /// How the spray ended.
    pub end: SprayEnd,
    /// When it was committed (the sprayer's wall clock, RFC 3339 UTC, ms).
    pub recorded_at: String,
}

impl ContractPayload for AppliedRecord {
    const URI: &'static str = APPLIED_TOPIC;
    const SCHEMA: &'static str = "orchard.sprayer.applied.schema.json";
    fn examples() -> Vec<Self> {
        let product = Product::example();
        let full = AppliedRecord {
            id: 1205,
            plan_id: "B-07-042@right:311".into(),
            revision: 2,
            tree_id: "B-07-042".into(),
            section: "right".into(),
            opened_at: "2026-04-14T09:12:34.411Z".into(),
            closed_at: "2026-04-14T09:12:35.084Z".into(),
            open_lat: Some(44.104_412_3),
            open_lon: Some(1.085_121_7),
            close_lat: Some(44.104_424_8),
            close_lon: Some(1.085_130_2),
            flow_l_min: 11.6,
            volume_l: 0.130_1,
            intended_volume_l: 0.13,
            product: product.name,
            authorisation: product.authorisation,
            target_pest: product.target_pest,
            parcel: Some("FICTITIOUS-82-0001".into()),
            crop: Some("apple (Gala)".into()),
            operator: Some("J. Martin".into()),
            end: SprayEnd::Completed,
            recorded_at: "2026-04-14T09:12:35.090Z".into(),
        };
        let mut out = vec![full.clone()];
        out.extend(SprayEnd::ALL.into_iter().skip(1).map(|end| AppliedRecord {
            open_lat: None,
            open_lon: None,
            close_lat: None,
            close_lon: None,
            parcel: None,
            crop: None,
            operator: None,
            end,
            ..full.clone()
        }));
        out
    }
}
