//! The dose module's settings: the model and its parameters, the clamps, the nozzles'
//! capacity, and the product sprayed (it goes on the legal record). The same struct is
//! the `--config` file, the payload of `orchard.dose.get_settings` / `set_settings` and
//! what is persisted; every value is checked, and every wrong one named at once.

use serde::{Deserialize, Serialize};
use verger::config::{Problem, Validate};

use crate::model::{Clamps, Model};

/// The model and its parameters (`[model]`, tagged by `name`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
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
    /// The model to compute with.
    pub fn model(&self) -> Model {
        match *self {
            ModelSettings::FruitLoad {
                base_l,
                l_per_100_fruit,
                missing_fruit_count,
            } => Model::FruitLoad {
                base_l,
                l_per_100_fruit,
                missing_fruit_count,
            },
            ModelSettings::CanopyVolume {
                l_per_m3,
                missing_volume_m3,
            } => Model::CanopyVolume {
                l_per_m3,
                missing_volume_m3,
            },
            ModelSettings::ConstantRate {
                l_per_ha,
                row_spacing_m,
            } => Model::ConstantRate {
                l_per_ha,
                row_spacing_m,
            },
        }
    }
}

/// The plant protection product sprayed (the treatment record names it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Its commercial name.
    pub name: String,
    /// Its authorisation number (in France the AMM number).
    pub authorisation: String,
    /// The pest or disease treated.
    pub target_pest: String,
}

/// Everything the dose module is set with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoseSettings {
    /// The model.
    pub model: ModelSettings,
    /// Least volume for one side of a tree, litres.
    pub min_l: f64,
    /// Most volume for one side of a tree, litres.
    pub max_l: f64,
    /// What one section's nozzles deliver at most, L/min.
    pub max_flow_l_min: f64,
    /// The product sprayed.
    pub product: Product,
}

impl Default for DoseSettings {
    /// The tutorial's fruit-load model with a small base; no product named yet (a
    /// treatment cannot be recorded without one).
    fn default() -> DoseSettings {
        DoseSettings {
            model: ModelSettings::FruitLoad {
                base_l: 0.05,
                l_per_100_fruit: 0.04,
                missing_fruit_count: 100.0,
            },
            min_l: 0.02,
            max_l: 1.0,
            max_flow_l_min: 20.0,
            product: Product::default(),
        }
    }
}

impl DoseSettings {
    /// The clamps.
    pub fn clamps(&self) -> Clamps {
        Clamps {
            min_l: self.min_l,
            max_l: self.max_l,
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
            if value.len() > 200 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use verger::config::{from_toml_str, ConfigError};

    #[test]
    fn each_model_reads_from_toml() {
        let s: DoseSettings = from_toml_str("", "t").unwrap();
        assert_eq!(s, DoseSettings::default());
        let s: DoseSettings = from_toml_str(
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
            s.model.model(),
            Model::CanopyVolume {
                l_per_m3: 0.08,
                missing_volume_m3: 3.0
            }
        );
        assert_eq!(s.max_l, 0.8);
        assert_eq!(s.product.authorisation, "2010471");
        let s: DoseSettings = from_toml_str(
            "[model]\nname = \"constant_rate\"\nl_per_ha = 800.0\nrow_spacing_m = 4.0\n",
            "t",
        )
        .unwrap();
        assert_eq!(s.model.model().name(), "constant_rate");
    }

    #[test]
    fn wrong_values_and_unknown_keys_are_named() {
        let e = from_toml_str::<DoseSettings>(
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
        let e = from_toml_str::<DoseSettings>("[model]\nname = \"magic\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("magic"), "{e}");
        let e = from_toml_str::<DoseSettings>(
            "[model]\nname = \"fruit_load\"\nbase_l = 0.1\nl_per_100_fruit = 0.1\nmissing_fruit_count = 1\nl_per_m3 = 1\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("l_per_m3"), "{e}");
    }

    #[test]
    fn the_settings_travel_as_json_and_back() {
        let s = DoseSettings::default();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["model"]["name"], "fruit_load");
        assert_eq!(json["model"]["l_per_100_fruit"], 0.04);
        let back: DoseSettings = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
    }
}
