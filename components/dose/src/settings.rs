//! `verger-dose`'s settings: its `--config` file (how the service runs, and beside it
//! the dose settings to start with), and the dose settings themselves as the contract defines
//! them (`verger::contract::dose::DoseSettings`: the payload of
//! `orchard.dose.get_settings` / `set_settings`, what the state file holds; its `model`
//! is the pure [`crate::model::Model`]), with the clamps and the merge of a
//! `set_settings` patch. Every source
//! is read exactly: an unknown key is refused by name, every wrong value named at once.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use verger::config::{self, ConfigError, Problem, Validate};
use verger::contract::dose::DoseSettings;

use crate::model::Clamps;

/// At most this many orders wait for the sprayer at once, unless the settings say
/// otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 32;

/// The state file's name in the default state directory.
pub const STATE_FILE_NAME: &str = "dose-settings.json";

/// Flags of `verger-dose` (a flag given wins over the file).
#[derive(Clone, Debug, clap::Args)]
pub struct DoseArgs {
    /// Where the settings changed through `orchard.dose.set_settings` are kept (default:
    /// `state_file` of the settings, else `$STATE_DIRECTORY`, `$XDG_STATE_HOME/verger`
    /// or `~/.local/state/verger`, file `dose-settings.json`).
    #[arg(long = "state", value_name = "PATH")]
    pub state: Option<PathBuf>,
}

/// The `--config` file of `verger-dose` (its `[dose]` section of `verger.toml`): how the
/// service runs, and beside it, at the same level, the dose settings to start with.
///
/// ```toml
/// state_file = "/var/lib/verger/dose-settings.json"
/// max_in_flight = 32
///
/// min_l = 0.02
/// max_l = 1.0
/// max_flow_l_min = 20.0
///
/// [model]
/// name = "canopy_volume"
/// l_per_m3 = 0.094
/// missing_volume_m3 = 3.0
///
/// [product]
/// name = "Captan 80 WG"
/// authorisation = "2010471"
/// target_pest = "apple scab (Venturia inaequalis)"
/// ```
///
/// Unknown keys are refused by [`Settings::load`] (the exact loader), not by serde: the
/// dose settings are the contract's payload, which reads leniently. Read key by key (not
/// through `#[serde(flatten)]`, which would lose the line of a wrong value).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// The state file (the `--state` flag wins; see [`Settings::state_path`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_file: Option<PathBuf>,
    /// At most this many `orchard.sprayer.apply` calls at once; beyond, an order is
    /// refused with `orchard.error.busy`.
    pub max_in_flight: usize,
    /// The dose settings to start with when there is no state file yet (their keys
    /// beside the service's).
    #[serde(flatten)]
    pub dose: DoseSettings,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            state_file: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            dose: DoseSettings::default(),
        }
    }
}

impl<'de> Deserialize<'de> for Settings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Settings, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Settings;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the settings of verger-dose")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Settings, A::Error> {
                let mut s = Settings::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "state_file" => s.state_file = Some(map.next_value()?),
                        "max_in_flight" => s.max_in_flight = map.next_value()?,
                        // The fields of `DoseSettings` (the test
                        // `every_dose_setting_is_read_beside_the_service_s` holds them).
                        "model" => s.dose.model = map.next_value()?,
                        "min_l" => s.dose.min_l = map.next_value()?,
                        "max_l" => s.dose.max_l = map.next_value()?,
                        "max_flow_l_min" => s.dose.max_flow_l_min = map.next_value()?,
                        "product" => s.dose.product = map.next_value()?,
                        // Refused by name by the exact loader.
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(s)
            }
        }
        d.deserialize_map(Keys)
    }
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if !(1..=10_000).contains(&self.max_in_flight) {
            problems.push(Problem::new("max_in_flight", "must be between 1 and 10000"));
        }
        if self
            .state_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            problems.push(Problem::new("state_file", "must not be empty"));
        }
        if let Err(found) = self.dose.validate() {
            problems.extend(found);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl Settings {
    /// Read a `--config` file exactly: the dose settings are the contract's (lenient)
    /// payload, so keys they do not read are refused by the loader, not by serde.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        config::load_exact(path)
    }

    /// The state file: `flag`, else `state_file`, else the default of
    /// [`default_state_file`] (read from the environment).
    pub fn state_path(&self, flag: Option<PathBuf>) -> Option<PathBuf> {
        flag.or_else(|| self.state_file.clone())
            .or_else(|| default_state_file(|name| std::env::var_os(name)))
    }
}

/// Where the state file goes by default: `$STATE_DIRECTORY` (a systemd unit's
/// `StateDirectory=`; its first entry), else `$XDG_STATE_HOME/verger`, else
/// `$HOME/.local/state/verger`; file [`STATE_FILE_NAME`]. `None` when none is set.
pub fn default_state_file(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let dir = if let Some(dirs) = set("STATE_DIRECTORY") {
        // systemd separates several state directories with ':'.
        let dirs = dirs.to_string_lossy().into_owned();
        PathBuf::from(dirs.split(':').next().unwrap_or_default())
    } else if let Some(xdg) = set("XDG_STATE_HOME") {
        PathBuf::from(xdg).join("verger")
    } else {
        PathBuf::from(set("HOME")?).join(".local/state/verger")
    };
    Some(dir.join(STATE_FILE_NAME))
}

/// The clamps of `settings`.
pub fn clamps(settings: &DoseSettings) -> Clamps {
    Clamps {
        min_l: settings.min_l,
        max_l: settings.max_l,
    }
}

/// Read dose settings from JSON (the state file, a patched copy of the settings)
/// exactly: an unknown key is refused by name, every wrong value named.
pub fn read_json(json: &Json) -> Result<DoseSettings, Vec<Problem>> {
    config::from_json_exact(json)
}

/// Problems in one line: `field: message; field: message`.
pub fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.field.is_empty() {
                p.message.clone()
            } else {
                p.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// JSON merge patch (RFC 7386): `patch` merged into `target`.
pub fn merge_patch(target: &mut Json, patch: &Json) {
    let Json::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Json::Object(serde_json::Map::new());
    }
    let Json::Object(into) = target else {
        return;
    };
    for (key, value) in members {
        if value.is_null() {
            into.remove(key);
        } else {
            merge_patch(into.entry(key.clone()).or_insert(Json::Null), value);
        }
    }
}

/// The settings `patch` (an `orchard.dose.set_settings` call) makes of `current`: a
/// merge patch, except that a `model` naming another model replaces the model whole
/// (its parameters are not those of the old one); then read exactly and validated.
pub fn apply_patch(current: &DoseSettings, patch: &Json) -> Result<DoseSettings, Vec<Problem>> {
    if !patch.is_object() {
        return Err(vec![Problem::new(
            "",
            "the settings to change must be an object (keyword arguments)",
        )]);
    }
    let mut merged =
        serde_json::to_value(current).map_err(|e| vec![Problem::new("", e.to_string())])?;
    let new_model = patch
        .get("model")
        .and_then(|m| m.get("name"))
        .and_then(Json::as_str);
    if new_model.is_some_and(|name| name != current.model.name().as_str()) {
        merged["model"] = Json::Object(serde_json::Map::new());
    }
    merge_patch(&mut merged, patch);
    read_json(&merged)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use verger::contract::dose::{ModelName, Product};

    use super::*;
    use crate::model::Model;

    #[test]
    fn the_config_file_holds_the_service_and_the_dose() {
        let s: Settings = config::from_toml_str_exact("", "t").unwrap();
        assert_eq!(s, Settings::default());
        let s: Settings = config::from_toml_str_exact(
            "state_file = \"/tmp/d.json\"\nmax_in_flight = 4\nmax_l = 0.8\n[model]\nname = \"constant_rate\"\nl_per_ha = 800.0\nrow_spacing_m = 4.0\n",
            "t",
        )
        .unwrap();
        assert_eq!(s.max_in_flight, 4);
        assert_eq!(s.dose.max_l, 0.8);
        assert_eq!(
            s.dose.model,
            Model::ConstantRate {
                l_per_ha: 800.0,
                row_spacing_m: 4.0
            }
        );
        assert_eq!(s.state_path(None), Some(PathBuf::from("/tmp/d.json")));
        assert_eq!(
            s.state_path(Some("/x.json".into())),
            Some(PathBuf::from("/x.json"))
        );
    }

    #[test]
    fn every_dose_setting_is_read_beside_the_service_s() {
        let dose = DoseSettings {
            model: Model::examples()[1].clone(),
            min_l: 0.1,
            max_l: 0.7,
            max_flow_l_min: 12.0,
            product: Product::example(),
        };
        let mut table = toml::Table::try_from(&dose).unwrap();
        table.insert("max_in_flight".into(), 5.into());
        let s: Settings = config::from_toml_str_exact(&table.to_string(), "t").unwrap();
        assert_eq!(s.dose, dose);
        assert_eq!(s.max_in_flight, 5);
    }

    #[test]
    fn every_wrong_key_and_value_is_named_with_its_line() {
        let e = config::from_toml_str_exact::<Settings>(
            "max_in_flight = 0\nmin_l = -1.0\ncolour = \"red\"\nmax_l = \"lots\"\n[product]\nname = \"X\"\namm = \"1\"\nauthorisation = \"1\"\ntarget_pest = \"\"\n",
            "dose.toml",
        )
        .unwrap_err()
        .to_string();
        for part in [
            "line 1: max_in_flight: must be between 1 and 10000",
            "line 2: min_l: -1 is out of range",
            "line 3: colour: unknown field",
            "line 4: max_l: ",
            "line 7: product.amm: unknown field",
        ] {
            assert!(e.contains(part), "{part} in {e}");
        }
        let e = config::from_toml_str_exact::<Settings>("# s\nno_such_setting = 1\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml: line 2: no_such_setting"), "{e}");
    }

    #[test]
    fn the_default_state_file() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            default_state_file(env(&[
                ("STATE_DIRECTORY", "/var/lib/verger:/var/lib/other"),
                ("HOME", "/home/j")
            ])),
            Some(PathBuf::from("/var/lib/verger/dose-settings.json"))
        );
        assert_eq!(
            default_state_file(env(&[("XDG_STATE_HOME", "/s"), ("HOME", "/home/j")])),
            Some(PathBuf::from("/s/verger/dose-settings.json"))
        );
        assert_eq!(
            default_state_file(env(&[("HOME", "/home/j"), ("XDG_STATE_HOME", "")])),
            Some(PathBuf::from(
                "/home/j/.local/state/verger/dose-settings.json"
            ))
        );
        assert_eq!(default_state_file(env(&[])), None);
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The examples of RFC 7386, appendix A (a selection).
        for (target, patch, result) in [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ] {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, result, "{target} + {patch}");
        }
    }

    #[test]
    fn a_patch_changes_what_it_names() {
        let current = DoseSettings::default();
        let s = apply_patch(&current, &json!({"max_l": 0.5, "product": {"name": "X"}})).unwrap();
        assert_eq!((s.max_l, s.min_l), (0.5, current.min_l));
        assert_eq!(s.product.name, "X");
        // One parameter of the model in force.
        let s = apply_patch(&current, &json!({"model": {"base_l": 0.2}})).unwrap();
        assert!(matches!(s.model, Model::FruitLoad { base_l, .. } if base_l == 0.2));
        // Another model: given whole, nothing carried over.
        let s = apply_patch(
            &current,
            &json!({"model": {"name": "canopy_volume", "l_per_m3": 0.1, "missing_volume_m3": 2.0}}),
        )
        .unwrap();
        assert_eq!(s.model.name(), ModelName::CanopyVolume);
        let e = apply_patch(&current, &json!({"model": {"name": "constant_rate"}})).unwrap_err();
        assert_eq!(e[0].field, "model.l_per_ha", "{e:?}");
        // null: back to the default.
        let set = DoseSettings {
            product: Product::example(),
            ..current.clone()
        };
        assert_eq!(
            apply_patch(&set, &json!({"product": null}))
                .unwrap()
                .product,
            Product::default()
        );
    }

    #[test]
    fn a_wrong_patch_is_refused_by_name() {
        let current = DoseSettings::default();
        let fields = |patch: Json| -> Vec<String> {
            let mut f: Vec<String> = apply_patch(&current, &patch)
                .unwrap_err()
                .into_iter()
                .map(|p| p.field)
                .collect();
            f.sort();
            f
        };
        assert_eq!(
            fields(json!({"min_l": -1.0, "product": {"colour": "red"}, "speed": 1})),
            ["min_l", "product.colour", "speed"]
        );
        assert_eq!(
            fields(json!({"model": {"l_per_m3": 0.1}})),
            ["model.l_per_m3"]
        );
        assert_eq!(fields(json!({"max_l": "lots"})), ["max_l"]);
        assert_eq!(fields(json!({"model": {"name": "magic"}})), ["model.name"]);
        assert_eq!(fields(json!([1])), [""]);
    }
}
