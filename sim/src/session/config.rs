//! The `verger.toml` a simulation runs: the demo's or a farmer's own, with the hardware
//! replaced by the virtual devices and everything the run writes moved into its run
//! folder. Pure: text in, text and what the simulator needs to know out.
//!
//! What is replaced, whatever the file says:
//! - `[gnss.source]`: the virtual receiver's pseudo-terminal;
//! - `[sprayer.board]`: the virtual valve board's pseudo-terminal (verger's protocol);
//! - `sprayer.record.db`: the run folder's `records.db` (a simulated spray never goes on
//!   the farm's legal record);
//! - `dose.state_file` (when the dose module is verger's): the run folder's, so the
//!   operator's saved settings on the tractor are neither used nor changed;
//! - `map.db`: the map given with `--map` (or the demo orchard when the file names none);
//! - `[router] listen`: any free port of 127.0.0.1, or no embedded router with `--router`.
//!
//! Everything else (the components' commands, the dose model, the sections, the
//! latencies) is the file's own, which is the point: a farmer's module and settings are
//! tried in simulation first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::{Table, Value};
use verger::orchard::SectionSettings;

/// The paths and choices the simulator imposes.
#[derive(Debug, Clone, PartialEq)]
pub struct Devices {
    /// The virtual receiver's link.
    pub gnss: PathBuf,
    /// The virtual valve board's link.
    pub board: PathBuf,
    /// The run's record database.
    pub records: PathBuf,
    /// The run's dose settings file.
    pub dose_state: PathBuf,
    /// The map to use instead of the file's (`--map`, or the demo when the file names
    /// none).
    pub map: Option<PathBuf>,
    /// An existing router instead of the embedded one.
    pub router: Option<String>,
}

/// What the simulator reads from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSetup {
    /// The run file.
    pub text: String,
    /// The sprayer's sections in board output order (their ids).
    pub board_sections: Vec<String>,
    /// The map's sections (where the nozzles are).
    pub map_sections: Vec<SectionSettings>,
    /// The sprayer's valve latency (the virtual board's modelled valves).
    pub valve_latency: Duration,
    /// The map database the file names (relative to its folder), when `--map` is not
    /// given.
    pub file_map: Option<PathBuf>,
    /// The constant rate the report compares with, L/ha: the dose module's when it is
    /// verger's `constant_rate` model, else [`BASELINE_L_PER_HA`].
    pub baseline_l_per_ha: f64,
}

/// The constant rate of the report's baseline when the dose model is not a constant
/// rate, L/ha: a common dilute rate for apple orchards (the `constant_rate` model's
/// example).
pub const BASELINE_L_PER_HA: f64 = 1000.0;

/// Why the file cannot be simulated (after `verger config check` found nothing wrong).
#[derive(Debug, thiserror::Error)]
pub enum SimConfigError {
    /// Not TOML, or not what `verger.toml` holds.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize, Default)]
struct SprayerPart {
    #[serde(default)]
    sections: Option<Vec<SprayerSection>>,
    #[serde(default)]
    timing: Option<Timing>,
}

#[derive(Deserialize)]
struct SprayerSection {
    id: String,
}

#[derive(Deserialize)]
struct Timing {
    #[serde(default, with = "verger::config::duration::option")]
    valve_latency: Option<Duration>,
}

#[derive(Deserialize, Default)]
struct MapPart {
    #[serde(default)]
    db: Option<PathBuf>,
    #[serde(default)]
    sections: Option<Vec<SectionSettings>>,
}

/// The sprayer's default valve latency (its `[timing] valve_latency`).
pub const DEFAULT_VALVE_LATENCY: Duration = Duration::from_millis(300);

/// `text` (a `verger.toml`, already checked) made into the simulation's run file.
pub fn prepare(text: &str, origin: &str, devices: &Devices) -> Result<SimSetup, SimConfigError> {
    let invalid = |message: String| SimConfigError::Invalid {
        origin: origin.to_owned(),
        message,
    };
    let mut root: Table = text.parse().map_err(|e| invalid(format!("{e}")))?;
    let part = |root: &Table, name: &str| {
        root.get(name)
            .cloned()
            .unwrap_or(Value::Table(Table::new()))
    };
    let sprayer: SprayerPart = part(&root, "sprayer")
        .try_into()
        .map_err(|e| invalid(format!("[sprayer]: {e}")))?;
    let map: MapPart = part(&root, "map")
        .try_into()
        .map_err(|e| invalid(format!("[map]: {e}")))?;
    let board_sections = match sprayer.sections {
        Some(s) => s.into_iter().map(|s| s.id).collect(),
        None => vec!["left".to_owned(), "right".to_owned()],
    };
    let valve_latency = sprayer
        .timing
        .and_then(|t| t.valve_latency)
        .unwrap_or(DEFAULT_VALVE_LATENCY);
    let baseline_l_per_ha = root
        .get("dose")
        .and_then(|d| d.get("model"))
        .filter(|m| m.get("name").and_then(Value::as_str) == Some("constant_rate"))
        .and_then(|m| m.get("l_per_ha"))
        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
        .unwrap_or(BASELINE_L_PER_HA);
    let dose_is_ours = root
        .get("components")
        .and_then(|c| c.get("dose"))
        .and_then(|d| d.get("command"))
        .is_none();

    let path = |p: &Path| Value::String(p.display().to_string());
    // The receiver.
    let gnss = table(&mut root, "gnss");
    let mut source = Table::new();
    source.insert("serial".into(), path(&devices.gnss));
    gnss.insert("source".into(), Value::Table(source));
    // The board and the record.
    let sprayer_t = table(&mut root, "sprayer");
    let mut board = Table::new();
    board.insert("kind".into(), "serial".into());
    board.insert("port".into(), path(&devices.board));
    sprayer_t.insert("board".into(), Value::Table(board));
    table(sprayer_t, "record").insert("db".into(), path(&devices.records));
    // The dose module's saved settings.
    if dose_is_ours {
        table(&mut root, "dose").insert("state_file".into(), path(&devices.dose_state));
    }
    // The map.
    if let Some(db) = &devices.map {
        table(&mut root, "map").insert("db".into(), path(db));
    }
    // The router.
    match &devices.router {
        Some(url) => {
            root.remove("router");
            root.insert("router".into(), Value::String(url.clone()));
        }
        None => {
            let router = table(&mut root, "router");
            router.insert("listen".into(), "127.0.0.1:0".into());
            // A tractor's router may also listen on a Unix socket: not in a simulation.
            router.remove("unix");
        }
    }
    Ok(SimSetup {
        text: toml::to_string(&root).map_err(|e| invalid(format!("{e}")))?,
        board_sections,
        map_sections: map.sections.unwrap_or_else(SectionSettings::defaults),
        valve_latency,
        file_map: map.db,
        baseline_l_per_ha,
    })
}

/// The sub-table `name` of `t`, made if missing (a non-table value is replaced: the
/// file was checked, so that does not happen).
fn table<'a>(t: &'a mut Table, name: &str) -> &'a mut Table {
    let entry = t
        .entry(name.to_owned())
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(Table::new());
    }
    match entry {
        Value::Table(t) => t,
        _ => unreachable!("made a table above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices() -> Devices {
        Devices {
            gnss: "/run/sim/gnss".into(),
            board: "/run/sim/valve-board".into(),
            records: "/run/sim/records.db".into(),
            dose_state: "/run/sim/dose-settings.json".into(),
            map: Some("/run/sim/map.db".into()),
            router: None,
        }
    }

    fn parsed(setup: &SimSetup) -> Table {
        setup.text.parse().expect("the run file is TOML")
    }

    #[test]
    fn the_hardware_and_the_files_written_are_the_simulations() {
        let text = r#"
[router]
listen = "0.0.0.0:8080"
unix = "/run/verger/router.sock"

[gnss.source]
serial = "/dev/ttyACM0"
baud = 115200

[map]
db = "/var/lib/verger/orchard.db"

[dose]
state_file = "/var/lib/verger/dose-settings.json"
[dose.model]
name = "constant_rate"
l_per_ha = 750.0

[sprayer.board]
kind = "lc_relay"
port = "/dev/ttyUSB0"

[[sprayer.sections]]
id = "l"
[[sprayer.sections]]
id = "r"
[[sprayer.sections]]
id = "top"

[sprayer.timing]
valve_latency = "250ms"

[sprayer.record]
db = "/var/lib/verger/records.db"
operator = "J. Martin"
"#;
        let setup = prepare(text, "verger.toml", &devices()).unwrap();
        let t = parsed(&setup);
        assert_eq!(t["router"]["listen"].as_str(), Some("127.0.0.1:0"));
        assert!(t["router"].get("unix").is_none());
        assert_eq!(
            t["gnss"]["source"]["serial"].as_str(),
            Some("/run/sim/gnss")
        );
        assert!(t["gnss"]["source"].get("baud").is_none());
        assert_eq!(t["sprayer"]["board"]["kind"].as_str(), Some("serial"));
        assert_eq!(
            t["sprayer"]["board"]["port"].as_str(),
            Some("/run/sim/valve-board")
        );
        assert_eq!(
            t["sprayer"]["record"]["db"].as_str(),
            Some("/run/sim/records.db")
        );
        assert_eq!(
            t["sprayer"]["record"]["operator"].as_str(),
            Some("J. Martin")
        );
        assert_eq!(
            t["dose"]["state_file"].as_str(),
            Some("/run/sim/dose-settings.json")
        );
        assert_eq!(t["map"]["db"].as_str(), Some("/run/sim/map.db"));
        assert_eq!(setup.board_sections, ["l", "r", "top"]);
        assert_eq!(setup.valve_latency, Duration::from_millis(250));
        assert_eq!(setup.baseline_l_per_ha, 750.0);
        assert_eq!(setup.map_sections, SectionSettings::defaults());
        assert_eq!(
            setup.file_map.as_deref(),
            Some(Path::new("/var/lib/verger/orchard.db"))
        );
    }

    #[test]
    fn an_empty_file_gets_the_defaults_and_a_farmers_module_keeps_its_section() {
        let setup = prepare("", "demo", &devices()).unwrap();
        assert_eq!(setup.board_sections, ["left", "right"]);
        assert_eq!(setup.valve_latency, DEFAULT_VALVE_LATENCY);
        assert_eq!(setup.baseline_l_per_ha, BASELINE_L_PER_HA);
        assert_eq!(setup.file_map, None);
        assert!(parsed(&setup)["dose"].get("state_file").is_some());

        let text = "[components.dose]\ncommand = \"python3 my_dose.py\"\n[dose]\nrate = 2\n";
        let t = parsed(&prepare(text, "verger.toml", &devices()).unwrap());
        assert!(
            t["dose"].get("state_file").is_none(),
            "not verger's dose module"
        );
        assert_eq!(t["dose"]["rate"].as_integer(), Some(2));
        assert_eq!(
            t["components"]["dose"]["command"].as_str(),
            Some("python3 my_dose.py")
        );
    }

    #[test]
    fn an_existing_router_replaces_the_embedded_one() {
        let d = Devices {
            router: Some("ws://10.0.0.2:8080/ws".into()),
            map: None,
            ..devices()
        };
        let t = parsed(&prepare("[router]\nlisten = \"0.0.0.0:9\"\n", "f", &d).unwrap());
        assert_eq!(t["router"].as_str(), Some("ws://10.0.0.2:8080/ws"));
        assert!(t.get("map").is_none_or(|m| m.get("db").is_none()));
    }

    #[test]
    fn the_map_sections_are_read() {
        let text = r#"
[[map.sections]]
id = "left"
side = "left"
forward_m = -2.0
lateral_m = 0.5
reach_m = 3.0
"#;
        let setup = prepare(text, "f", &devices()).unwrap();
        assert_eq!(setup.map_sections.len(), 1);
        assert_eq!(setup.map_sections[0].forward_m, -2.0);
    }
}
