//! What the map asks the dose module: `orchard.dose.treat` (its arguments; the dose
//! module's answer and its other procedures and topics arrive with the dose issue), and
//! the same order published on `orchard.map.target` for the UI and the records.

use serde::{Deserialize, Serialize};

use super::map::{Side, TreePayload, WithdrawReason, TARGET_TOPIC};
use super::{finite, finite_or_null, ContractPayload, Role};

/// Procedure (registered by the dose module, called by the map): treat one tree with
/// one section during one window, or withdraw that order.
pub const TREAT: &str = "orchard.dose.treat";

/// The plant protection product sprayed: part of the dose module's settings, sent with
/// every order to the sprayer, and written on every row of the treatment record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Its commercial name.
    pub name: String,
    /// Its authorisation number (in France the AMM number).
    pub authorisation: String,
    /// The pest or disease treated.
    pub target_pest: String,
}

impl Product {
    /// A fictitious product for examples and tests.
    pub fn example() -> Product {
        Product {
            name: "Exemplar 80 WG".into(),
            authorisation: "2990001".into(),
            target_pest: "apple scab (Venturia inaequalis)".into(),
        }
    }
}

/// A sprayer section, as the map knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SectionPayload {
    /// Its name, unique on the machine (`left`, `right`, `left.top`...).
    pub id: String,
    /// The side it sprays.
    pub side: Side,
    /// Lowest height it sprays, metres (a vertical section); null: from the ground.
    #[serde(serialize_with = "finite_or_null")]
    pub bottom_m: Option<f64>,
    /// Highest height it sprays, metres; null: no limit.
    #[serde(serialize_with = "finite_or_null")]
    pub top_m: Option<f64>,
}

/// When the nozzles will be level with the canopy, in GNSS time (RFC 3339 UTC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowPayload {
    /// The nozzles reach the canopy (spray must be arriving then).
    pub open: String,
    /// The nozzles leave it.
    pub close: String,
}

/// `orchard.dose.treat` arguments: one window of one tree for one section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreatRequest {
    /// `TREE@SECTION:N`, the same for every revision of one window; unique in a job.
    pub plan_id: String,
    /// 1 first; a higher revision of the same `plan_id` supersedes every lower one.
    pub revision: u32,
    /// The tree, with its attributes.
    pub tree: TreePayload,
    /// The section.
    pub section: SectionPayload,
    /// The window; null withdraws the order (see `withdraw_reason`): a valve opened
    /// for it closes, a pending opening is cancelled.
    pub window: Option<WindowPayload>,
    /// Why the order is withdrawn (null unless `window` is null).
    pub withdraw_reason: Option<WithdrawReason>,
    /// Ordered later than the look-ahead asks: the sprayer may open late.
    pub late: bool,
    /// Bearing from the tree to the nozzles (the face of the tree sprayed), degrees.
    #[serde(serialize_with = "finite")]
    pub face_deg: f64,
    /// Speed the window was predicted at, m/s.
    #[serde(serialize_with = "finite")]
    pub speed_mps: f64,
    /// When the map made the order (its wall clock, RFC 3339 UTC, ms).
    pub published_at: String,
}

impl TreatRequest {
    fn examples() -> Vec<TreatRequest> {
        let mut trees = <TreePayload as ContractPayload>::examples();
        let (tree, bare) = (trees.remove(0), trees.remove(0));
        let order = TreatRequest {
            plan_id: "B-07-042@right:311".into(),
            revision: 1,
            tree,
            section: SectionPayload {
                id: "right".into(),
                side: Side::Right,
                bottom_m: None,
                top_m: None,
            },
            window: Some(WindowPayload {
                open: "2026-04-14T09:12:34.410Z".into(),
                close: "2026-04-14T09:12:35.085Z".into(),
            }),
            withdraw_reason: None,
            late: false,
            face_deg: 282.0,
            speed_mps: 1.94,
            published_at: "2026-04-14T09:12:33.120Z".into(),
        };
        let top = TreatRequest {
            revision: 2,
            section: SectionPayload {
                id: "left.top".into(),
                side: Side::Left,
                bottom_m: Some(1.8),
                top_m: Some(4.0),
            },
            late: true,
            ..order.clone()
        };
        let mut out = vec![order.clone(), top];
        out.extend(WithdrawReason::ALL.into_iter().map(|r| TreatRequest {
            revision: 3,
            tree: bare.clone(),
            window: None,
            withdraw_reason: Some(r),
            ..order.clone()
        }));
        out
    }
}

impl ContractPayload for TreatRequest {
    const URI: &'static str = TREAT;
    const SCHEMA: &'static str = "orchard.dose.treat.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        TreatRequest::examples()
    }
}

/// `orchard.map.target`: every order and withdrawal the map sends `orchard.dose.treat`,
/// with the same fields, published for the UI and the records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetPayload(pub TreatRequest);

impl ContractPayload for TargetPayload {
    const URI: &'static str = TARGET_TOPIC;
    const SCHEMA: &'static str = "orchard.map.target.schema.json";
    fn examples() -> Vec<Self> {
        TreatRequest::examples()
            .into_iter()
            .map(TargetPayload)
            .collect()
    }
}
