//! The map's procedures and topics (`orchard.map.*`) and what it sends the dose module
//! (`orchard.dose.treat`, in [`super::dose`]). Documented in `docs/contract.md`, "Map".

use serde::{Deserialize, Serialize};

use super::{finite, finite_or_null, ContractPayload, Role};

/// Procedure: the trees within `radius_m` of a point, nearest first.
pub const TREES_NEAR: &str = "orchard.map.trees_near";
/// Procedure: one tree by id.
pub const TREE: &str = "orchard.map.tree";
/// Procedure: is a point inside the boundary, inside no-spray zones?
pub const ZONE_AT: &str = "orchard.map.zone_at";
/// Procedure: what the map holds.
pub const INFO: &str = "orchard.map.info";
/// Procedure: the trees inside a box (for the UI), at most `limit`.
pub const TREES_IN_BBOX: &str = "orchard.map.trees_in_bbox";
/// Topic: every window ordered (or withdrawn), as sent to the dose module.
pub const TARGET_TOPIC: &str = "orchard.map.target";
/// Topic (retained): the planner's state and counters.
pub const STATUS_TOPIC: &str = "orchard.map.status";

/// Largest `radius_m` of `orchard.map.trees_near`, metres.
pub const MAX_RADIUS_M: f64 = 100.0;
/// `limit` of `orchard.map.trees_in_bbox` when the caller gives none.
pub const DEFAULT_BBOX_LIMIT: u32 = 1000;
/// Largest `limit` of `orchard.map.trees_in_bbox`.
pub const MAX_BBOX_LIMIT: u32 = 10_000;

pub use super::{ERROR_INVALID_ARGUMENT, ERROR_MAP, ERROR_NOT_FOUND};

/// A tree and the attributes a dose model reads (null: not surveyed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreePayload {
    /// Unique in the map.
    pub id: String,
    /// Its row, if known.
    pub row: Option<String>,
    /// Latitude, degrees WGS 84.
    #[serde(serialize_with = "finite")]
    pub lat: f64,
    /// Longitude, degrees WGS 84.
    #[serde(serialize_with = "finite")]
    pub lon: f64,
    /// Fruit on the tree (counted or estimated).
    #[serde(serialize_with = "finite_or_null")]
    pub fruit_count: Option<f64>,
    /// Canopy height, metres.
    #[serde(serialize_with = "finite_or_null")]
    pub canopy_height_m: Option<f64>,
    /// Canopy width (diameter seen from above), metres.
    #[serde(serialize_with = "finite_or_null")]
    pub canopy_width_m: Option<f64>,
    /// Canopy volume, cubic metres.
    #[serde(serialize_with = "finite_or_null")]
    pub canopy_volume_m3: Option<f64>,
    /// Any other attribute of the survey (`{}` when none).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[cfg(feature = "orchard")]
impl From<&crate::orchard::Tree> for TreePayload {
    fn from(t: &crate::orchard::Tree) -> TreePayload {
        TreePayload {
            id: t.id.clone(),
            row: t.row.clone(),
            lat: t.lat,
            lon: t.lon,
            fruit_count: t.fruit_count,
            canopy_height_m: t.canopy_height_m,
            canopy_width_m: t.canopy_width_m,
            canopy_volume_m3: t.canopy_volume_m3,
            extra: t.extra.clone(),
        }
    }
}

/// Examples: a surveyed tree and one with nothing but its position.
fn example_trees() -> [TreePayload; 2] {
    let mut extra = serde_json::Map::new();
    extra.insert("rootstock".into(), "M9".into());
    extra.insert("vigour".into(), serde_json::json!(0.82));
    let full = TreePayload {
        id: "B-07-042".into(),
        row: Some("B-07".into()),
        lat: 44.070_412_3,
        lon: 1.090_218_7,
        fruit_count: Some(148.0),
        canopy_height_m: Some(3.1),
        canopy_width_m: Some(1.35),
        canopy_volume_m3: Some(5.6),
        extra,
    };
    let bare = TreePayload {
        id: "17".into(),
        row: None,
        fruit_count: None,
        canopy_height_m: None,
        canopy_width_m: None,
        canopy_volume_m3: None,
        extra: serde_json::Map::new(),
        ..full.clone()
    };
    [full, bare]
}

/// `orchard.map.trees_near` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreesNearCall {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Radius, metres (0 < radius ≤ [`MAX_RADIUS_M`]).
    pub radius_m: f64,
}

impl ContractPayload for TreesNearCall {
    const URI: &'static str = TREES_NEAR;
    const SCHEMA: &'static str = "orchard.map.trees_near.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        vec![TreesNearCall {
            lat: 44.0704,
            lon: 1.0902,
            radius_m: 5.0,
        }]
    }
}

/// One tree of `orchard.map.trees_near` and its distance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearTree {
    /// The tree (its fields, flattened).
    #[serde(flatten)]
    pub tree: TreePayload,
    /// Distance from the point asked, metres (geodesic, WGS 84).
    pub distance_m: f64,
}

/// `orchard.map.trees_near` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreesNearResult {
    /// Nearest first (ties by id).
    pub trees: Vec<NearTree>,
}

impl ContractPayload for TreesNearResult {
    const URI: &'static str = TREES_NEAR;
    const SCHEMA: &'static str = "orchard.map.trees_near.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        let [a, b] = example_trees();
        vec![
            TreesNearResult {
                trees: vec![
                    NearTree {
                        tree: a,
                        distance_m: 1.21,
                    },
                    NearTree {
                        tree: b,
                        distance_m: 3.9,
                    },
                ],
            },
            TreesNearResult { trees: vec![] },
        ]
    }
}

/// `orchard.map.tree` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeCall {
    /// The tree's id.
    pub id: String,
}

impl ContractPayload for TreeCall {
    const URI: &'static str = TREE;
    const SCHEMA: &'static str = "orchard.map.tree.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        vec![TreeCall {
            id: "B-07-042".into(),
        }]
    }
}

impl ContractPayload for TreePayload {
    const URI: &'static str = TREE;
    const SCHEMA: &'static str = "orchard.map.tree.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        example_trees().into()
    }
}

/// `orchard.map.zone_at` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneAtCall {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

impl ContractPayload for ZoneAtCall {
    const URI: &'static str = ZONE_AT;
    const SCHEMA: &'static str = "orchard.map.zone_at.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        vec![ZoneAtCall {
            lat: 44.0704,
            lon: 1.0902,
        }]
    }
}

/// Where the map's boundary comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundaryKind {
    /// The map has none (nothing is sprayable).
    None,
    /// Imported from a file.
    Imported,
    /// Derived by verger from the rows and trees (`docs/map.md`).
    Derived,
}

impl BoundaryKind {
    /// Every kind.
    pub const ALL: [BoundaryKind; 3] = [
        BoundaryKind::None,
        BoundaryKind::Imported,
        BoundaryKind::Derived,
    ];
    /// The contract's spelling: `none`, `imported`, `derived`.
    pub fn as_str(self) -> &'static str {
        match self {
            BoundaryKind::None => "none",
            BoundaryKind::Imported => "imported",
            BoundaryKind::Derived => "derived",
        }
    }
}

wire_enum!(BoundaryKind, "boundary kind");

#[cfg(feature = "orchard")]
impl BoundaryKind {
    /// The kind of a map's boundary.
    pub fn of(boundary: Option<&crate::orchard::Boundary>) -> BoundaryKind {
        match boundary {
            None => BoundaryKind::None,
            Some(b) if b.derived => BoundaryKind::Derived,
            Some(_) => BoundaryKind::Imported,
        }
    }
}

/// A no-spray zone, named.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneRef {
    /// Its id.
    pub id: String,
    /// Why nothing may be sprayed there.
    pub reason: String,
}

/// `orchard.map.zone_at` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneAtResult {
    /// Inside the orchard's boundary.
    pub inside_boundary: bool,
    /// Where the boundary comes from.
    pub boundary: BoundaryKind,
    /// The no-spray zones the point is in (empty: none).
    pub zones: Vec<ZoneRef>,
    /// Inside the boundary and in no zone.
    pub sprayable: bool,
}

impl ContractPayload for ZoneAtResult {
    const URI: &'static str = ZONE_AT;
    const SCHEMA: &'static str = "orchard.map.zone_at.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        BoundaryKind::ALL
            .into_iter()
            .map(|boundary| ZoneAtResult {
                inside_boundary: boundary != BoundaryKind::None,
                boundary,
                zones: vec![],
                sprayable: boundary != BoundaryKind::None,
            })
            .chain([ZoneAtResult {
                inside_boundary: true,
                boundary: BoundaryKind::Imported,
                zones: vec![ZoneRef {
                    id: "znt-ruisseau".into(),
                    reason: "5 m untreated buffer along the stream (ZNT)".into(),
                }],
                sprayable: false,
            }])
            .collect()
    }
}

/// The orchard's identity (the legal record names it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrchardPayload {
    /// Its name.
    pub name: Option<String>,
    /// The crop, e.g. `apple`.
    pub crop: Option<String>,
    /// The crop's EPPO code, e.g. `MABSD` (Malus domestica).
    pub eppo_code: Option<String>,
    /// The official parcel reference.
    pub parcel_ref: Option<String>,
}

/// A box in degrees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extent {
    /// Southern edge, latitude.
    pub south: f64,
    /// Western edge, longitude.
    pub west: f64,
    /// Northern edge, latitude.
    pub north: f64,
    /// Eastern edge, longitude.
    pub east: f64,
}

/// `orchard.map.info` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InfoResult {
    /// The orchard's identity.
    pub orchard: OrchardPayload,
    /// Trees.
    pub trees: u64,
    /// Rows.
    pub rows: u64,
    /// Blocks.
    pub blocks: u64,
    /// No-spray zones.
    pub zones: u64,
    /// Where the boundary comes from.
    pub boundary: BoundaryKind,
    /// Area inside the boundary, hectares (null without one).
    #[serde(serialize_with = "finite_or_null")]
    pub area_ha: Option<f64>,
    /// The box around everything mapped (null for an empty map).
    pub extent: Option<Extent>,
    /// Sum of the trees' canopy volumes, m³ (trees without one add nothing).
    pub canopy_volume_m3: f64,
    /// Sum of the trees' fruit counts.
    pub fruit_count: f64,
    /// The database's schema version.
    pub schema_version: u32,
}

impl ContractPayload for InfoResult {
    const URI: &'static str = INFO;
    const SCHEMA: &'static str = "orchard.map.info.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        let full = InfoResult {
            orchard: OrchardPayload {
                name: Some("Verger des Peyrières".into()),
                crop: Some("apple".into()),
                eppo_code: Some("MABSD".into()),
                parcel_ref: Some("FICTITIOUS-82-0001".into()),
            },
            trees: 4312,
            rows: 40,
            blocks: 2,
            zones: 1,
            boundary: BoundaryKind::Imported,
            area_ha: Some(3.1),
            extent: Some(Extent {
                south: 44.0691,
                west: 1.0883,
                north: 44.0712,
                east: 1.0911,
            }),
            canopy_volume_m3: 18_250.5,
            fruit_count: 612_004.0,
            schema_version: 1,
        };
        let empty = InfoResult {
            orchard: OrchardPayload {
                name: None,
                crop: None,
                eppo_code: None,
                parcel_ref: None,
            },
            trees: 0,
            rows: 0,
            blocks: 0,
            zones: 0,
            boundary: BoundaryKind::None,
            area_ha: None,
            extent: None,
            canopy_volume_m3: 0.0,
            fruit_count: 0.0,
            schema_version: 1,
        };
        let derived = InfoResult {
            boundary: BoundaryKind::Derived,
            ..full.clone()
        };
        vec![full, empty, derived]
    }
}

/// `orchard.map.trees_in_bbox` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreesInBboxCall {
    /// Southern edge, latitude.
    pub south: f64,
    /// Western edge, longitude.
    pub west: f64,
    /// Northern edge, latitude.
    pub north: f64,
    /// Eastern edge, longitude.
    pub east: f64,
    /// At most this many trees ([`DEFAULT_BBOX_LIMIT`] when null, at most
    /// [`MAX_BBOX_LIMIT`]).
    pub limit: Option<u32>,
}

impl ContractPayload for TreesInBboxCall {
    const URI: &'static str = TREES_IN_BBOX;
    const SCHEMA: &'static str = "orchard.map.trees_in_bbox.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        let call = TreesInBboxCall {
            south: 44.069,
            west: 1.088,
            north: 44.071,
            east: 1.091,
            limit: Some(500),
        };
        vec![
            call.clone(),
            TreesInBboxCall {
                limit: None,
                ..call
            },
        ]
    }
}

/// `orchard.map.trees_in_bbox` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreesInBboxResult {
    /// The trees (any order).
    pub trees: Vec<TreePayload>,
    /// True when the box holds more than `limit` trees (only `limit` are returned).
    pub truncated: bool,
}

impl ContractPayload for TreesInBboxResult {
    const URI: &'static str = TREES_IN_BBOX;
    const SCHEMA: &'static str = "orchard.map.trees_in_bbox.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        vec![
            TreesInBboxResult {
                trees: example_trees().into(),
                truncated: true,
            },
            TreesInBboxResult {
                trees: vec![],
                truncated: false,
            },
        ]
    }
}

/// Which side of the machine a section sprays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Left of the direction of travel.
    Left,
    /// Right of the direction of travel.
    Right,
}

impl Side {
    /// Both sides.
    pub const ALL: [Side; 2] = [Side::Left, Side::Right];
    /// `left` or `right`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

wire_enum!(Side, "side");

/// Why a fix was not planned on (`orchard.map.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FixRefusal {
    /// The GNSS status is not `fix` (or none was received).
    GnssNotFix,
    /// The fix is older than the age rule allows, or fixes stopped coming.
    StaleFix,
    /// Fix quality below the configured minimum.
    PoorQuality,
    /// No speed or course in the fix.
    NoVelocity,
    /// Slower than the configured minimum.
    TooSlow,
    /// Moving backwards.
    Reversing,
    /// The antenna is outside the orchard's boundary.
    OutsideBoundary,
}

impl FixRefusal {
    /// Every reason, in the order of the checks.
    pub const ALL: [FixRefusal; 7] = [
        FixRefusal::GnssNotFix,
        FixRefusal::StaleFix,
        FixRefusal::PoorQuality,
        FixRefusal::NoVelocity,
        FixRefusal::TooSlow,
        FixRefusal::Reversing,
        FixRefusal::OutsideBoundary,
    ];

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FixRefusal::GnssNotFix => "gnss_not_fix",
            FixRefusal::StaleFix => "stale_fix",
            FixRefusal::PoorQuality => "poor_quality",
            FixRefusal::NoVelocity => "no_velocity",
            FixRefusal::TooSlow => "too_slow",
            FixRefusal::Reversing => "reversing",
            FixRefusal::OutsideBoundary => "outside_boundary",
        }
    }
}

wire_enum!(FixRefusal, "fix refusal");

/// Why a window was not ordered (`orchard.map.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WindowRefusal {
    /// Its footprint touches a no-spray zone.
    NoSprayZone,
    /// Its footprint is not entirely inside the boundary.
    OutsideBoundary,
    /// That face of the tree was treated earlier in the job.
    AlreadyTreated,
    /// It would close before a command could open the valve.
    TooLate,
}

impl WindowRefusal {
    /// Every reason.
    pub const ALL: [WindowRefusal; 4] = [
        WindowRefusal::NoSprayZone,
        WindowRefusal::OutsideBoundary,
        WindowRefusal::AlreadyTreated,
        WindowRefusal::TooLate,
    ];

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowRefusal::NoSprayZone => "no_spray_zone",
            WindowRefusal::OutsideBoundary => "outside_boundary",
            WindowRefusal::AlreadyTreated => "already_treated",
            WindowRefusal::TooLate => "too_late",
        }
    }
}

wire_enum!(WindowRefusal, "window refusal");

/// Why an ordered window was withdrawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WithdrawReason {
    /// A refused fix (the vehicle stopped, reversed, left the boundary, lost its fix...).
    Fix(FixRefusal),
    /// A new prediction makes it forbidden.
    Window(WindowRefusal),
    /// Its tree left the section's lane (the vehicle turned away).
    OffCourse,
    /// verger-map is stopping: nobody will correct the window any more.
    MapStopped,
}

impl WithdrawReason {
    /// Every reason.
    pub const ALL: [WithdrawReason; 11] = [
        WithdrawReason::Fix(FixRefusal::GnssNotFix),
        WithdrawReason::Fix(FixRefusal::StaleFix),
        WithdrawReason::Fix(FixRefusal::PoorQuality),
        WithdrawReason::Fix(FixRefusal::NoVelocity),
        WithdrawReason::Fix(FixRefusal::TooSlow),
        WithdrawReason::Fix(FixRefusal::Reversing),
        WithdrawReason::Fix(FixRefusal::OutsideBoundary),
        WithdrawReason::Window(WindowRefusal::NoSprayZone),
        WithdrawReason::Window(WindowRefusal::OutsideBoundary),
        WithdrawReason::OffCourse,
        WithdrawReason::MapStopped,
    ];

    /// The contract's spelling (the refusal's, `off_course` or `map_stopped`). `outside_boundary`
    /// covers both the antenna and the window leaving the boundary.
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawReason::Fix(r) => r.as_str(),
            WithdrawReason::Window(r) => r.as_str(),
            WithdrawReason::OffCourse => "off_course",
            WithdrawReason::MapStopped => "map_stopped",
        }
    }
}

wire_enum!(WithdrawReason, "withdrawal reason");

/// The planner's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanningState {
    /// No fix received yet.
    Waiting,
    /// The last fix was planned on.
    Planning,
    /// The last fix was refused (`holding_reason`).
    Holding,
    /// verger-map is not running (its testament, or its last words).
    Gone,
}

impl PlanningState {
    /// Every state.
    pub const ALL: [PlanningState; 4] = [
        PlanningState::Waiting,
        PlanningState::Planning,
        PlanningState::Holding,
        PlanningState::Gone,
    ];
    /// `waiting`, `planning`, `holding`, `gone`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanningState::Waiting => "waiting",
            PlanningState::Planning => "planning",
            PlanningState::Holding => "holding",
            PlanningState::Gone => "gone",
        }
    }
}

wire_enum!(PlanningState, "planning state");

/// Fixes refused, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct FixRefusals {
    pub gnss_not_fix: u64,
    pub stale_fix: u64,
    pub poor_quality: u64,
    pub no_velocity: u64,
    pub too_slow: u64,
    pub reversing: u64,
    pub outside_boundary: u64,
}

impl FixRefusals {
    /// The count of `reason`.
    pub fn get_mut(&mut self, reason: FixRefusal) -> &mut u64 {
        match reason {
            FixRefusal::GnssNotFix => &mut self.gnss_not_fix,
            FixRefusal::StaleFix => &mut self.stale_fix,
            FixRefusal::PoorQuality => &mut self.poor_quality,
            FixRefusal::NoVelocity => &mut self.no_velocity,
            FixRefusal::TooSlow => &mut self.too_slow,
            FixRefusal::Reversing => &mut self.reversing,
            FixRefusal::OutsideBoundary => &mut self.outside_boundary,
        }
    }
}

/// Windows refused, by reason (each window once).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct WindowRefusals {
    pub no_spray_zone: u64,
    pub outside_boundary: u64,
    pub already_treated: u64,
    pub too_late: u64,
}

impl WindowRefusals {
    /// The count of `reason`.
    pub fn get_mut(&mut self, reason: WindowRefusal) -> &mut u64 {
        match reason {
            WindowRefusal::NoSprayZone => &mut self.no_spray_zone,
            WindowRefusal::OutsideBoundary => &mut self.outside_boundary,
            WindowRefusal::AlreadyTreated => &mut self.already_treated,
            WindowRefusal::TooLate => &mut self.too_late,
        }
    }
}

/// Running totals of the planner since verger-map started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCounters {
    /// Fixes received.
    pub fixes: u64,
    /// Fixes planned on.
    pub fixes_planned: u64,
    /// Fixes refused, by reason.
    pub fixes_refused: FixRefusals,
    /// Windows refused, by reason.
    pub windows_refused: WindowRefusals,
    /// Windows ordered (first revisions).
    pub orders: u64,
    /// Windows ordered again after a change of speed or course.
    pub replans: u64,
    /// Orders withdrawn.
    pub withdrawals: u64,
    /// Orders sent later than the look-ahead asks.
    pub late: u64,
    /// Windows the nozzles went through with an order in force.
    pub completed: u64,
    /// `orchard.dose.treat` calls that failed (dose module absent or erring).
    pub dose_errors: u64,
    /// Orders not sent because too many calls were already in flight.
    pub dose_busy: u64,
}

/// `orchard.map.status` (retained): the planner's state and counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapStatusPayload {
    /// `waiting`, `planning`, `holding` or `gone`.
    pub state: PlanningState,
    /// Why the last fix was refused, while `holding`; else null.
    pub holding_reason: Option<FixRefusal>,
    /// Windows ordered and not finished.
    pub pending: u64,
    /// Trees in the map.
    pub trees: u64,
    /// Where the map's boundary comes from.
    pub boundary: BoundaryKind,
    /// Running totals.
    pub counters: PlanCounters,
    /// When verger-map published it (RFC 3339 UTC, ms); null only in the testament.
    pub published_at: Option<String>,
}

impl ContractPayload for MapStatusPayload {
    const URI: &'static str = STATUS_TOPIC;
    const SCHEMA: &'static str = "orchard.map.status.schema.json";
    fn examples() -> Vec<Self> {
        let mut counters = PlanCounters {
            fixes: 36_000,
            fixes_planned: 35_420,
            orders: 8_611,
            replans: 402,
            withdrawals: 12,
            late: 3,
            completed: 8_590,
            dose_errors: 2,
            dose_busy: 0,
            ..PlanCounters::default()
        };
        for (i, r) in FixRefusal::ALL.into_iter().enumerate() {
            *counters.fixes_refused.get_mut(r) = 10 * i as u64 + 1;
        }
        for (i, r) in WindowRefusal::ALL.into_iter().enumerate() {
            *counters.windows_refused.get_mut(r) = 3 * i as u64 + 2;
        }
        let planning = MapStatusPayload {
            state: PlanningState::Planning,
            holding_reason: None,
            pending: 4,
            trees: 4312,
            boundary: BoundaryKind::Imported,
            counters,
            published_at: Some("2026-04-14T09:12:33.120Z".into()),
        };
        let mut out: Vec<MapStatusPayload> = FixRefusal::ALL
            .into_iter()
            .map(|r| MapStatusPayload {
                state: PlanningState::Holding,
                holding_reason: Some(r),
                pending: 0,
                ..planning.clone()
            })
            .collect();
        out.push(MapStatusPayload {
            state: PlanningState::Waiting,
            counters: PlanCounters::default(),
            boundary: BoundaryKind::Derived,
            ..planning.clone()
        });
        out.push(MapStatusPayload {
            state: PlanningState::Gone,
            published_at: None,
            boundary: BoundaryKind::None,
            trees: 0,
            pending: 0,
            ..planning.clone()
        });
        out.insert(0, planning);
        out
    }
}
