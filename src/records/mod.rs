//! The as-applied record (feature `records`): every spray the sprayer executed, one row
//! each, in an SQLite file that a grower keeps as the machine-readable treatment record
//! of Regulation (EU) 2023/564, and exports as CSV or GeoJSON (`verger records`).
//!
//! The sprayer commits a spray when its valve closes and publishes it on
//! `orchard.sprayer.applied` only once the commit returned: a spray it reports is on
//! disk, whatever happens next (WAL, `synchronous = FULL`). The row is the contract's
//! [`AppliedRecord`]; documented field by field, with the regulation's items and the
//! schema, in `docs/records.md`.
//!
//! - [`RecordDb`] (`db.rs`): the file, its schema by numbered migrations, opening it,
//!   [`RecordDb::insert_batch`] (one transaction), the queries and the summary.
//! - [`RecordWriter`] (`writer.rs`): a thread owning the database, fed by a bounded
//!   queue, committing everything queued in one transaction (group commit).
//! - [`Exporter`] (`export.rs`): CSV and GeoJSON written to any `io::Write`, no I/O of
//!   its own.

mod db;
mod export;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::contract::sprayer::{AppliedRecord, SprayEnd};
pub use db::{ProductTotal, RecordDb, RecordSummary, SCHEMA_VERSION};
pub use export::{Exporter, Format, FIELDS};
pub use writer::{RecordWriter, MAX_BATCH, QUEUE_CAPACITY};

/// A spray to record: an [`AppliedRecord`] before the database gives it its `id` and
/// `recorded_at`. Field meanings are those of [`AppliedRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewRecord {
    /// The order executed.
    pub plan_id: String,
    /// Its revision in force when the valve opened.
    pub revision: u32,
    /// The tree treated.
    pub tree_id: String,
    /// The section.
    pub section: String,
    /// GNSS time the spray reached the canopy (RFC 3339 UTC).
    pub opened_at: String,
    /// GNSS time it stopped (RFC 3339 UTC).
    pub closed_at: String,
    /// Antenna latitude at `opened_at`, WGS 84 degrees.
    pub open_lat: Option<f64>,
    /// Antenna longitude at `opened_at`, WGS 84 degrees.
    pub open_lon: Option<f64>,
    /// Antenna latitude at `closed_at`, WGS 84 degrees.
    pub close_lat: Option<f64>,
    /// Antenna longitude at `closed_at`, WGS 84 degrees.
    pub close_lon: Option<f64>,
    /// Flow, L/min.
    pub flow_l_min: f64,
    /// Volume applied, litres.
    pub volume_l: f64,
    /// Volume the dose module ordered, litres.
    pub intended_volume_l: f64,
    /// Product name.
    pub product: String,
    /// Its authorisation number.
    pub authorisation: String,
    /// The pest or disease targeted.
    pub target_pest: String,
    /// Parcel reference, if known.
    pub parcel: Option<String>,
    /// Crop, if known.
    pub crop: Option<String>,
    /// Who operated the sprayer, if known.
    pub operator: Option<String>,
    /// How the spray ended.
    pub end: SprayEnd,
}

/// The GNSS instants of a checked record, microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Instants {
    pub(crate) opened_at_us: i64,
    pub(crate) closed_at_us: i64,
}

impl NewRecord {
    /// The record as committed: with its `id` and `recorded_at`.
    pub fn into_applied(self, id: i64, recorded_at: String) -> AppliedRecord {
        AppliedRecord {
            id,
            plan_id: self.plan_id,
            revision: self.revision,
            tree_id: self.tree_id,
            section: self.section,
            opened_at: self.opened_at,
            closed_at: self.closed_at,
            open_lat: self.open_lat,
            open_lon: self.open_lon,
            close_lat: self.close_lat,
            close_lon: self.close_lon,
            flow_l_min: self.flow_l_min,
            volume_l: self.volume_l,
            intended_volume_l: self.intended_volume_l,
            product: self.product,
            authorisation: self.authorisation,
            target_pest: self.target_pest,
            parcel: self.parcel,
            crop: self.crop,
            operator: self.operator,
            end: self.end,
            recorded_at,
        }
    }

    /// Check what the database needs to hold the record faithfully: both times are
    /// RFC 3339 UTC (they are also stored as microseconds, for range queries), the
    /// numbers are finite and the coordinates are WGS 84 degrees. The first field at
    /// fault is named.
    pub fn check(&self) -> Result<(), RecordError> {
        self.instants().map(drop)
    }

    /// [`NewRecord::check`], returning the instants.
    pub(crate) fn instants(&self) -> Result<Instants, RecordError> {
        let time = |field: &'static str, value: &str| {
            crate::contract::gnss::unix_micros(value).ok_or_else(|| RecordError::Invalid {
                index: None,
                field,
                reason: format!(
                    "{value:?} is not an RFC 3339 UTC time (e.g. 2026-04-14T09:12:34.411Z)"
                ),
            })
        };
        let opened_at_us = time("opened_at", &self.opened_at)?;
        let closed_at_us = time("closed_at", &self.closed_at)?;
        for (field, v) in [
            ("flow_l_min", self.flow_l_min),
            ("volume_l", self.volume_l),
            ("intended_volume_l", self.intended_volume_l),
        ] {
            if !v.is_finite() {
                return Err(invalid(field, format!("{v} is not a finite number")));
            }
        }
        for (field, v, limit) in [
            ("open_lat", self.open_lat, 90.0),
            ("open_lon", self.open_lon, 180.0),
            ("close_lat", self.close_lat, 90.0),
            ("close_lon", self.close_lon, 180.0),
        ] {
            match v {
                Some(v) if !v.is_finite() || v.abs() > limit => {
                    return Err(invalid(
                        field,
                        format!("{v} is not WGS 84 degrees (-{limit} to {limit})"),
                    ))
                }
                _ => {}
            }
        }
        Ok(Instants {
            opened_at_us,
            closed_at_us,
        })
    }
}

impl From<AppliedRecord> for NewRecord {
    /// The record without its `id` and `recorded_at` (to record it again elsewhere).
    fn from(r: AppliedRecord) -> NewRecord {
        NewRecord {
            plan_id: r.plan_id,
            revision: r.revision,
            tree_id: r.tree_id,
            section: r.section,
            opened_at: r.opened_at,
            closed_at: r.closed_at,
            open_lat: r.open_lat,
            open_lon: r.open_lon,
            close_lat: r.close_lat,
            close_lon: r.close_lon,
            flow_l_min: r.flow_l_min,
            volume_l: r.volume_l,
            intended_volume_l: r.intended_volume_l,
            product: r.product,
            authorisation: r.authorisation,
            target_pest: r.target_pest,
            parcel: r.parcel,
            crop: r.crop,
            operator: r.operator,
            end: r.end,
        }
    }
}

fn invalid(field: &'static str, reason: String) -> RecordError {
    RecordError::Invalid {
        index: None,
        field,
        reason,
    }
}

/// Why a record database cannot be opened, written or read. `Clone`: a failed group
/// commit gives the same error to every record of its transaction.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// The file does not exist (reading).
    #[error("no record database at {}", path.display())]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The file exists but is not a verger record database.
    #[error("{} is not a verger record database: {reason}", path.display())]
    NotARecord {
        /// The file.
        path: PathBuf,
        /// What it is instead, in words.
        reason: String,
    },
    /// The file was written by a newer verger.
    #[error("{} was written by a newer verger (record schema version {found}; this verger reads versions up to {supported}): use a newer verger", path.display())]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest version this verger reads.
        supported: i64,
    },
    /// A read-only open of a file with an older schema, which would need writing.
    #[error("{} has record schema version {found}, older than this verger's {current}: it is migrated when the sprayer next opens it for writing", path.display())]
    NeedsMigration {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The version this verger reads.
        current: i64,
    },
    /// A record handed in cannot be stored as it is (nothing was written).
    #[error("{}field `{field}`: {reason}", .index.map(|i| format!("record {i}: ")).unwrap_or_default())]
    Invalid {
        /// Its position in the batch, when it came in one.
        index: Option<usize>,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Something stored does not read back (a damaged or hand-edited file).
    #[error("{}: {what} (the record database is damaged)", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What does not read back.
        what: String,
    },
    /// SQLite failed: for a write, nothing of the transaction was committed.
    #[error("{}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: Arc<rusqlite::Error>,
    },
    /// The writer's thread cannot be started.
    #[error("{}: cannot start the record writer: {source}", path.display())]
    Thread {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: Arc<std::io::Error>,
    },
    /// The writer is closed (or its thread ended): the record was not committed.
    #[error("{}: the record writer is closed; the record was not committed", path.display())]
    Closed {
        /// The file.
        path: PathBuf,
    },
    /// Writing an export failed.
    #[error("cannot write the export: {0}")]
    Write(Arc<std::io::Error>),
}

impl RecordError {
    /// An SQLite error on `path`, for `map_err`.
    pub(crate) fn sqlite(path: &std::path::Path) -> impl Fn(rusqlite::Error) -> RecordError + '_ {
        move |e| RecordError::Sqlite {
            path: path.to_owned(),
            source: Arc::new(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn example() -> NewRecord {
        NewRecord::from(AppliedRecord::examples().remove(0))
    }

    use crate::contract::ContractPayload;

    #[test]
    fn a_record_round_trips_through_new_record() {
        for r in AppliedRecord::examples() {
            let back = NewRecord::from(r.clone()).into_applied(r.id, r.recorded_at.clone());
            assert_eq!(back, r);
        }
    }

    #[test]
    fn check_names_the_field_at_fault() {
        assert!(example().check().is_ok());
        let cases: Vec<(NewRecord, &str)> = vec![
            (
                NewRecord {
                    opened_at: "yesterday".into(),
                    ..example()
                },
                "field `opened_at`: \"yesterday\" is not an RFC 3339 UTC time (e.g. 2026-04-14T09:12:34.411Z)",
            ),
            (
                NewRecord {
                    closed_at: "2026-04-14T09:12:35+02:00".into(),
                    ..example()
                },
                "field `closed_at`",
            ),
            (
                NewRecord {
                    volume_l: f64::NAN,
                    ..example()
                },
                "field `volume_l`: NaN is not a finite number",
            ),
            (
                NewRecord {
                    close_lon: Some(452_000.0),
                    ..example()
                },
                "field `close_lon`: 452000 is not WGS 84 degrees (-180 to 180)",
            ),
            (
                NewRecord {
                    open_lat: Some(f64::INFINITY),
                    ..example()
                },
                "field `open_lat`",
            ),
        ];
        for (record, says) in cases {
            let e = record.check().unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let e = RecordError::Invalid {
            index: Some(3),
            field: "opened_at",
            reason: "x".into(),
        };
        assert_eq!(e.to_string(), "record 3: field `opened_at`: x");
    }
}
