//! The dose module's side of the contract (`orchard.dose.*`): what the map asks it
//! (`orchard.dose.treat`, also published by the map on `orchard.map.target`), its
//! decision (the result of `treat`, also published on `orchard.dose.decision`), and its
//! settings (`orchard.dose.get_settings`, `orchard.dose.set_settings`, retained on
//! `orchard.dose.settings`), with their checks. Documented in `docs/contract.md`, "Dose".

use serde::{Deserialize, Deserializer, Serialize};

use super::map::{Side, TreePayload, WithdrawReason, TARGET_TOPIC};
use super::sprayer::ApplyResult;
use super::{finite, finite_or_null, ContractPayload, Role};
use crate::config::{Problem, Validate};

pub use super::ERROR_INVALID_ARGUMENT;

/// Procedure (registered by the dose module, called by the map): treat one tree with
/// one section during one window, or withdraw that order.
pub const TREAT: &str = "orchard.dose.treat";
/// Procedure: the dose module's settings now.
pub const GET_SETTINGS: &str = "orchard.dose.get_settings";
/// Procedure: change the settings (a JSON merge patch, RFC 7386).
pub const SET_SETTINGS: &str = "orchard.dose.set_settings";
/// Topic: every decision (the result of each `orchard.dose.treat` that succeeded).
pub const DECISION_TOPIC: &str = "orchard.dose.decision";
/// Topic (retained): the settings, at start and on every change.
pub const SETTINGS_TOPIC: &str = "orchard.dose.settings";

pub use super::{ERROR_BUSY, ERROR_NOT_CONFIGURED, ERROR_NOT_SAVED, ERROR_UNAVAILABLE};

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
    /// The first field a spray cannot be recorded without that is empty
    /// (`product.name`, `product.authorisation`), if any.
    pub fn missing(&self) -> Option<&'static str> {
        if self.name.trim().is_empty() {
            Some("product.name")
        } else if self.authorisation.trim().is_empty() {
            Some("product.authorisation")
        } else {
            None
        }
    }

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

impl ContractPayload for TreatRequest {
    const URI: &'static str = TREAT;
    const SCHEMA: &'static str = "orchard.dose.treat.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
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

same_payload!(
    /// `orchard.map.target`: every order and withdrawal the map sends
    /// `orchard.dose.treat`, with the same fields, published for the UI and the records.
    TargetPayload(TreatRequest),
    TARGET_TOPIC,
    "orchard.map.target.schema.json",
    Role::Event
);

/// The dose models, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelName {
    /// Proportional to the fruit load.
    FruitLoad,
    /// Litres per cubic metre of canopy (tree-row-volume).
    CanopyVolume,
    /// Litres per hectare.
    ConstantRate,
}

impl ModelName {
    /// Every model.
    pub const ALL: [ModelName; 3] = [
        ModelName::FruitLoad,
        ModelName::CanopyVolume,
        ModelName::ConstantRate,
    ];

    /// `fruit_load`, `canopy_volume`, `constant_rate`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::FruitLoad => "fruit_load",
            ModelName::CanopyVolume => "canopy_volume",
            ModelName::ConstantRate => "constant_rate",
        }
    }
}

wire_enum!(ModelName, "dose model");

/// The model and its parameters (`model`, tagged by `name`; `docs/dose.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum ModelSettings {
    /// Proportional to the fruit load.
    FruitLoad {
        /// Litres for a side whatever its fruit.
        base_l: f64,
        /// Litres per 100 fruit, per side.
        l_per_100_fruit: f64,
        /// Fruit assumed for a tree without a count.
        missing_fruit_count: f64,
    },
    /// Litres per cubic metre of canopy.
    CanopyVolume {
        /// Litres per m³ of canopy (both sides).
        l_per_m3: f64,
        /// Volume assumed for a tree without canopy data, m³.
        missing_volume_m3: f64,
    },
    /// Litres per hectare.
    ConstantRate {
        /// Litres per hectare.
        l_per_ha: f64,
        /// Distance between rows, metres.
        row_spacing_m: f64,
    },
}

impl ModelSettings {
    /// Its name.
    pub fn name(&self) -> ModelName {
        match self {
            ModelSettings::FruitLoad { .. } => ModelName::FruitLoad,
            ModelSettings::CanopyVolume { .. } => ModelName::CanopyVolume,
            ModelSettings::ConstantRate { .. } => ModelName::ConstantRate,
        }
    }

    /// One example of each model (the values of `docs/dose.md`).
    pub fn examples() -> [ModelSettings; 3] {
        [
            ModelSettings::FruitLoad {
                base_l: 0.05,
                l_per_100_fruit: 0.04,
                missing_fruit_count: 100.0,
            },
            ModelSettings::CanopyVolume {
                l_per_m3: 0.094,
                missing_volume_m3: 3.0,
            },
            ModelSettings::ConstantRate {
                l_per_ha: 1000.0,
                row_spacing_m: 4.0,
            },
        ]
    }
}

/// Everything the dose module is set with: the result of `orchard.dose.get_settings`,
/// what it persists and what its `--config` file holds beside the service's own keys
/// (the `[dose]` section of `verger.toml`). Reads leniently
/// like every payload; the dose module reads it exactly (unknown keys refused, see
/// `verger::config::from_json_exact`) and validates it ([`Validate`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DoseSettings {
    /// The model.
    pub model: ModelSettings,
    /// Least volume for one side of a tree, litres.
    #[serde(serialize_with = "finite")]
    pub min_l: f64,
    /// Most volume for one side of a tree, litres.
    #[serde(serialize_with = "finite")]
    pub max_l: f64,
    /// What one section's nozzles deliver at most, L/min.
    #[serde(serialize_with = "finite")]
    pub max_flow_l_min: f64,
    /// The product sprayed (empty until set: nothing is sprayed without one).
    pub product: Product,
}

impl Default for DoseSettings {
    /// The tutorial's fruit-load model with a small base; no product named yet (a
    /// treatment cannot be recorded without one).
    fn default() -> DoseSettings {
        let [fruit_load, _, _] = ModelSettings::examples();
        DoseSettings {
            model: fruit_load,
            min_l: 0.02,
            max_l: 1.0,
            max_flow_l_min: 20.0,
            product: Product::default(),
        }
    }
}

impl Validate for DoseSettings {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let mut within = |field: &str, v: f64, low: f64, high: f64, unit: &str| {
            if !(v.is_finite() && v >= low && v <= high) {
                problems.push(Problem::new(
                    field,
                    format!("{v} is out of range: {low} to {high} {unit}"),
                ));
            }
        };
        match &self.model {
            ModelSettings::FruitLoad {
                base_l,
                l_per_100_fruit,
                missing_fruit_count,
            } => {
                within("model.base_l", *base_l, 0.0, 10.0, "L");
                within("model.l_per_100_fruit", *l_per_100_fruit, 0.0, 10.0, "L");
                within(
                    "model.missing_fruit_count",
                    *missing_fruit_count,
                    0.0,
                    10_000.0,
                    "fruit",
                );
            }
            ModelSettings::CanopyVolume {
                l_per_m3,
                missing_volume_m3,
            } => {
                within("model.l_per_m3", *l_per_m3, 0.0, 5.0, "L/m³");
                within(
                    "model.missing_volume_m3",
                    *missing_volume_m3,
                    0.0,
                    200.0,
                    "m³",
                );
            }
            ModelSettings::ConstantRate {
                l_per_ha,
                row_spacing_m,
            } => {
                within("model.l_per_ha", *l_per_ha, 0.0, 5000.0, "L/ha");
                within("model.row_spacing_m", *row_spacing_m, 0.5, 20.0, "m");
            }
        }
        within("min_l", self.min_l, 0.0, 10.0, "L");
        within("max_l", self.max_l, 0.0, 10.0, "L");
        within("max_flow_l_min", self.max_flow_l_min, 0.1, 500.0, "L/min");
        if self.min_l.is_finite() && self.max_l.is_finite() && self.min_l > self.max_l {
            problems.push(Problem::new("max_l", "must not be below min_l"));
        }
        for (field, value) in [
            ("product.name", &self.product.name),
            ("product.authorisation", &self.product.authorisation),
            ("product.target_pest", &self.product.target_pest),
        ] {
            if value.chars().count() > 200 {
                problems.push(Problem::new(field, "is longer than 200 characters"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl ContractPayload for DoseSettings {
    const URI: &'static str = GET_SETTINGS;
    const SCHEMA: &'static str = "orchard.dose.get_settings.result.schema.json";
    const ROLE: Role = Role::Result;
    /// The defaults (no product yet), then each model with a product.
    fn examples() -> Vec<Self> {
        let mut out = vec![DoseSettings::default()];
        out.extend(
            ModelSettings::examples()
                .into_iter()
                .map(|model| DoseSettings {
                    model,
                    max_l: 0.8,
                    product: Product::example(),
                    ..DoseSettings::default()
                }),
        );
        out
    }
}

same_payload!(
    /// `orchard.dose.set_settings` result: the settings now in force.
    SetSettingsResult(DoseSettings),
    SET_SETTINGS,
    "orchard.dose.set_settings.result.schema.json",
    Role::Result
);

same_payload!(
    /// `orchard.dose.settings` (retained): the settings, published at start and on every
    /// change. Settings do not age and stay valid when the dose module stops: no
    /// `published_at`, no testament.
    SettingsPayload(DoseSettings),
    SETTINGS_TOPIC,
    "orchard.dose.settings.schema.json",
    Role::Event
);

/// A member of a merge patch: absent (`None`: unchanged), `null` (`Some(None)`: back to
/// its default) or a value.
fn patch_member<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `orchard.dose.set_settings` arguments: a JSON merge patch (RFC 7386) of the
/// settings. A member absent is unchanged, `null` puts it back to its default, an object
/// is merged member by member, except `model` when its `name` changes: the new model
/// is then given whole (its parameters, nothing carried over from the old one).
///
/// On the wire any part of the settings may be given (`{"model": {"l_per_m3": 0.1}}`);
/// in Rust a patch gives the model and the product whole.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SettingsPatch {
    /// The model (with its parameters).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "patch_member"
    )]
    pub model: Option<Option<ModelSettings>>,
    /// Least volume for one side of a tree, litres.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "patch_member"
    )]
    pub min_l: Option<Option<f64>>,
    /// Most volume for one side of a tree, litres.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "patch_member"
    )]
    pub max_l: Option<Option<f64>>,
    /// What one section's nozzles deliver at most, L/min.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "patch_member"
    )]
    pub max_flow_l_min: Option<Option<f64>>,
    /// The product.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "patch_member"
    )]
    pub product: Option<Option<Product>>,
}

impl ContractPayload for SettingsPatch {
    const URI: &'static str = SET_SETTINGS;
    const SCHEMA: &'static str = "orchard.dose.set_settings.call.schema.json";
    const ROLE: Role = Role::Call;
    fn examples() -> Vec<Self> {
        let mut out: Vec<SettingsPatch> = ModelSettings::examples()
            .into_iter()
            .map(|model| SettingsPatch {
                model: Some(Some(model)),
                ..SettingsPatch::default()
            })
            .collect();
        out.push(SettingsPatch {
            min_l: Some(Some(0.03)),
            max_l: Some(Some(0.6)),
            max_flow_l_min: Some(Some(18.0)),
            product: Some(Some(Product::example())),
            ..SettingsPatch::default()
        });
        out.push(SettingsPatch {
            model: Some(None),
            min_l: Some(None),
            max_l: Some(None),
            max_flow_l_min: Some(None),
            product: Some(None),
        });
        out
    }
}

/// Which clamp set the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Clamp {
    /// The model's volume stood.
    None,
    /// Raised to `min_l`.
    Min,
    /// Lowered to `max_l`.
    Max,
}

impl Clamp {
    /// Every clamp.
    pub const ALL: [Clamp; 3] = [Clamp::None, Clamp::Min, Clamp::Max];

    /// `none`, `min`, `max`.
    pub fn as_str(self) -> &'static str {
        match self {
            Clamp::None => "none",
            Clamp::Min => "min",
            Clamp::Max => "max",
        }
    }
}

wire_enum!(Clamp, "clamp");

/// What the sprayer answered an order (`orchard.sprayer.apply`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyAnswer {
    /// false: the sprayer already held this revision or a higher one; nothing changed.
    pub scheduled: bool,
    /// GNSS time the valve will be switched on.
    pub switch_on: String,
    /// GNSS time it will be switched off.
    pub switch_off: String,
    /// Ordered too late for the valve latency: the spray reaches the canopy after `open`.
    pub late: bool,
}

impl From<&ApplyResult> for ApplyAnswer {
    fn from(r: &ApplyResult) -> ApplyAnswer {
        ApplyAnswer {
            scheduled: r.scheduled,
            switch_on: r.switch_on.clone(),
            switch_off: r.switch_off.clone(),
            late: r.late,
        }
    }
}

/// `orchard.dose.treat` result: the dose module's decision for one order, and what the
/// sprayer answered. A withdrawal sprays nothing: no model, volumes and flow 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreatResult {
    /// The order (the map's `plan_id`).
    pub plan_id: String,
    /// Its revision.
    pub revision: u32,
    /// The tree.
    pub tree_id: String,
    /// The section's id.
    pub section: String,
    /// The order was a withdrawal (or a dose of nothing), forwarded to the sprayer as
    /// `orchard.sprayer.withdraw`.
    pub withdrawn: bool,
    /// The map's reason for the withdrawal (null for an order).
    pub withdraw_reason: Option<WithdrawReason>,
    /// The model used (null for a withdrawal).
    pub model: Option<ModelName>,
    /// What the model asked, litres, before the clamps (null for a withdrawal).
    #[serde(serialize_with = "finite_or_null")]
    pub model_volume_l: Option<f64>,
    /// What should go on the tree, litres: after `min_l`/`max_l`, before the nozzles'
    /// capacity (null for a withdrawal).
    #[serde(serialize_with = "finite_or_null")]
    pub intended_volume_l: Option<f64>,
    /// Which clamp set `intended_volume_l`.
    pub clamped: Clamp,
    /// What the flow ordered delivers over the window, litres (`flow_l_min` × the
    /// window's minutes; below `intended_volume_l` when under-dosed).
    #[serde(serialize_with = "finite")]
    pub volume_l: f64,
    /// The flow ordered, L/min.
    #[serde(serialize_with = "finite")]
    pub flow_l_min: f64,
    /// The nozzles cannot deliver `intended_volume_l` in the window: the tree gets
    /// `volume_l`.
    pub under_dosed: bool,
    /// The window (null for a withdrawal).
    pub window: Option<WindowPayload>,
    /// The sprayer's answer to the order (null for a withdrawal).
    pub sprayer: Option<ApplyAnswer>,
    /// For a withdrawal: the sprayer held a lower revision of the order and cancelled
    /// it (false: it held none, or it had finished); null for an order.
    pub cancelled: Option<bool>,
    /// When the dose module decided (its wall clock, RFC 3339 UTC, ms).
    pub decided_at: String,
}

impl ContractPayload for TreatResult {
    const URI: &'static str = TREAT;
    const SCHEMA: &'static str = "orchard.dose.treat.result.schema.json";
    const ROLE: Role = Role::Result;
    fn examples() -> Vec<Self> {
        let order = TreatResult {
            plan_id: "B-07-042@right:311".into(),
            revision: 1,
            tree_id: "B-07-042".into(),
            section: "right".into(),
            withdrawn: false,
            withdraw_reason: None,
            model: Some(ModelName::FruitLoad),
            model_volume_l: Some(0.1092),
            intended_volume_l: Some(0.1092),
            clamped: Clamp::None,
            volume_l: 0.1092,
            flow_l_min: 9.706_666_666_666_667,
            under_dosed: false,
            window: Some(WindowPayload {
                open: "2026-04-14T09:12:34.410Z".into(),
                close: "2026-04-14T09:12:35.085Z".into(),
            }),
            sprayer: Some(ApplyAnswer {
                scheduled: true,
                switch_on: "2026-04-14T09:12:34.110Z".into(),
                switch_off: "2026-04-14T09:12:34.785Z".into(),
                late: false,
            }),
            cancelled: None,
            decided_at: "2026-04-14T09:12:33.124Z".into(),
        };
        let raised = TreatResult {
            revision: 2,
            model: Some(ModelName::CanopyVolume),
            model_volume_l: Some(0.01),
            intended_volume_l: Some(0.02),
            clamped: Clamp::Min,
            volume_l: 0.02,
            flow_l_min: 1.777_777_777_777_778,
            sprayer: Some(ApplyAnswer {
                scheduled: false,
                late: true,
                ..order.sprayer.clone().expect("set above")
            }),
            ..order.clone()
        };
        let capped = TreatResult {
            revision: 3,
            model: Some(ModelName::ConstantRate),
            model_volume_l: Some(1.35),
            intended_volume_l: Some(1.0),
            clamped: Clamp::Max,
            volume_l: 0.225,
            flow_l_min: 20.0,
            under_dosed: true,
            ..order.clone()
        };
        let mut out = vec![order.clone(), raised, capped];
        out.extend(WithdrawReason::ALL.into_iter().map(|r| TreatResult {
            revision: 4,
            withdrawn: true,
            withdraw_reason: Some(r),
            model: None,
            model_volume_l: None,
            intended_volume_l: None,
            clamped: Clamp::None,
            volume_l: 0.0,
            flow_l_min: 0.0,
            under_dosed: false,
            window: None,
            sprayer: None,
            cancelled: Some(r != WithdrawReason::MapStopped),
            ..order.clone()
        }));
        out
    }
}

same_payload!(
    /// `orchard.dose.decision`: every decision the dose module returned to
    /// `orchard.dose.treat`, with the same fields, for the UI and the records.
    DecisionPayload(TreatResult),
    DECISION_TOPIC,
    "orchard.dose.decision.schema.json",
    Role::Event
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{from_json_exact, from_toml_str_exact, ConfigError};

    #[test]
    fn each_model_reads_from_toml() {
        let s: DoseSettings = from_toml_str_exact("", "t").unwrap();
        assert_eq!(s, DoseSettings::default());
        let s: DoseSettings = from_toml_str_exact(
            r#"
            max_l = 0.8
            [model]
            name = "canopy_volume"
            l_per_m3 = 0.08
            missing_volume_m3 = 3.0
            [product]
            name = "Captan 80 WG"
            authorisation = "2010471"
            target_pest = "apple scab (Venturia inaequalis)"
            "#,
            "t",
        )
        .unwrap();
        assert_eq!(
            s.model,
            ModelSettings::CanopyVolume {
                l_per_m3: 0.08,
                missing_volume_m3: 3.0
            }
        );
        assert_eq!(s.max_l, 0.8);
        assert_eq!(s.product.authorisation, "2010471");
        assert_eq!(s.product.missing(), None);
        let s: DoseSettings = from_toml_str_exact(
            "[model]\nname = \"constant_rate\"\nl_per_ha = 800.0\nrow_spacing_m = 4.0\n",
            "t",
        )
        .unwrap();
        assert_eq!(s.model.name(), ModelName::ConstantRate);
    }

    #[test]
    fn wrong_values_and_unknown_keys_are_named() {
        let e = from_toml_str_exact::<DoseSettings>(
            "min_l = 0.5\nmax_l = 0.2\n[model]\nname = \"constant_rate\"\nl_per_ha = -5.0\nrow_spacing_m = 40.0\n",
            "t",
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = &e else {
            panic!("{e}")
        };
        let mut fields: Vec<&str> = problems.iter().map(|(_, p)| p.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["max_l", "model.l_per_ha", "model.row_spacing_m"],
            "{e}"
        );
        let e = from_toml_str_exact::<DoseSettings>("[model]\nname = \"magic\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("magic"), "{e}");
        // Another model's parameter, and a key of no model, refused by name (the
        // product's type itself stays lenient for the sprayer's calls).
        let e = from_toml_str_exact::<DoseSettings>(
            "[model]\nname = \"fruit_load\"\nbase_l = 0.1\nl_per_100_fruit = 0.1\nmissing_fruit_count = 1\nl_per_m3 = 1\n[product]\ncolour = \"red\"\nname = \"X\"\nauthorisation = \"1\"\ntarget_pest = \"\"\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("line 6: model.l_per_m3: unknown field")
                && e.contains("line 8: product.colour: unknown field"),
            "{e}"
        );
        let mut json = serde_json::to_value(DoseSettings::default()).unwrap();
        json["product"]["colour"] = "red".into();
        let problems = from_json_exact::<DoseSettings>(&json).unwrap_err();
        assert_eq!(problems, [Problem::new("product.colour", "unknown field")]);
    }

    #[test]
    fn the_settings_travel_as_json_and_back() {
        let s = DoseSettings::default();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["model"]["name"], "fruit_load");
        assert_eq!(json["model"]["l_per_100_fruit"], 0.04);
        let back: DoseSettings = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.product.missing(), Some("product.name"));
    }

    #[test]
    fn a_patch_member_is_absent_null_or_a_value() {
        let p: SettingsPatch =
            serde_json::from_value(serde_json::json!({"min_l": null, "max_l": 0.5})).unwrap();
        assert_eq!(
            p,
            SettingsPatch {
                min_l: Some(None),
                max_l: Some(Some(0.5)),
                ..SettingsPatch::default()
            }
        );
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"min_l": null, "max_l": 0.5})
        );
    }
}
