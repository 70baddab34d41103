//! The state file: the dose settings last accepted through `orchard.dose.set_settings`,
//! as JSON (the same object as `orchard.dose.get_settings`). It wins over the
//! `--config` file at start, since it holds the operator's last choice; a state file
//! that cannot be read stops the module (never a silent fall-back to other settings).
//! Written atomically: a temporary file in the same directory, flushed to disk, renamed
//! over the old one, the directory flushed, so a crash leaves the old file or the new
//! one, never a mix.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use verger::contract::dose::DoseSettings;

use crate::settings::{describe, read_json};

/// Why the state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// It exists and cannot be read.
    #[error("cannot read the state file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// It is not valid settings.
    #[error("the state file {} is broken: {problem} (fix or remove it; it holds the settings last set through orchard.dose.set_settings)", path.display())]
    Broken {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the fields named.
        problem: String,
    },
    /// It cannot be written.
    #[error("cannot save the state file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// The settings in the state file at `path`; `None` when there is no such file yet.
pub fn load(path: &Path) -> Result<Option<DoseSettings>, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    let broken = |problem: String| StateError::Broken {
        path: path.to_owned(),
        problem,
    };
    let json: Json = serde_json::from_str(&text).map_err(|e| broken(format!("not JSON ({e})")))?;
    read_json(&json)
        .map(Some)
        .map_err(|problems| broken(describe(&problems)))
}

/// Write `settings` to `path` atomically (creating its directory if needed).
pub fn save(path: &Path, settings: &DoseSettings) -> Result<(), StateError> {
    let failed = |source| StateError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut text =
        serde_json::to_string_pretty(settings).map_err(|e| failed(std::io::Error::other(e)))?;
    text.push('\n');
    let written = (|| {
        std::fs::create_dir_all(&dir)?;
        let mut file = File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(failed)
}

#[cfg(test)]
mod tests {
    use verger::contract::dose::Product;

    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("verger-dose-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saved_settings_load_back() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("deeper/dose-settings.json");
        assert!(load(&path).unwrap().is_none(), "no file yet");
        let s = DoseSettings {
            max_l: 0.7,
            product: Product::example(),
            ..DoseSettings::default()
        };
        save(&path, &s).unwrap();
        assert_eq!(load(&path).unwrap(), Some(s.clone()));
        let changed = DoseSettings { min_l: 0.05, ..s };
        save(&path, &changed).unwrap();
        assert_eq!(load(&path).unwrap(), Some(changed));
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["dose-settings.json"], "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_broken_file_is_named_with_its_problem() {
        let dir = temp_dir("broken");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dose-settings.json");
        std::fs::write(&path, "{\"min_l\": ").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("not JSON"),
            "{e}"
        );
        std::fs::write(&path, r#"{"min_l": 50, "colour": "red"}"#).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains("min_l: 50 is out of range") && e.contains("colour: unknown field"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
