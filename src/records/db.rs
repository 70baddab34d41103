//! The record database file: its schema (numbered migrations, as the map's), opening
//! it for writing (created if absent, an older schema migrated) or for reading only,
//! one transaction per batch of sprays, and the queries.
//!
//! Durability: the file is in WAL mode with `synchronous = FULL`, so a transaction is
//! on the disk (the log synced) when its COMMIT returns, and survives a crash of the
//! process and a power cut; an interrupted transaction is rolled back when the file is
//! next opened. A file that is not a verger record database is refused before anything
//! is written to it.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::export::{Exporter, Format};
use super::{AppliedRecord, NewRecord, RecordError, SprayEnd};
use crate::sqlite::{
    current_version, existing_file, inspect, migrate, user_version, Content, Migration, NotAFile,
};

/// The record schema version this verger writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for another one's write to finish (an export running
/// while the sprayer writes).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The tables that make a file a record database (besides `schema_migrations`).
const TABLES: &[&str] = &["sprays"];

/// Every migration, in order; the last one's version is [`SCHEMA_VERSION`]. Never edit
/// one that shipped: add the next.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "sprays, indexed by GNSS time",
    sql: r#"
CREATE TABLE sprays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    tree_id TEXT NOT NULL,
    section TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    opened_at_us INTEGER NOT NULL,
    closed_at TEXT NOT NULL,
    closed_at_us INTEGER NOT NULL,
    open_lat REAL,
    open_lon REAL,
    close_lat REAL,
    close_lon REAL,
    flow_l_min REAL NOT NULL,
    volume_l REAL NOT NULL,
    intended_volume_l REAL NOT NULL,
    product TEXT NOT NULL,
    authorisation TEXT NOT NULL,
    target_pest TEXT NOT NULL,
    parcel TEXT,
    crop TEXT,
    operator TEXT,
    "end" TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX sprays_opened_at ON sprays (opened_at_us);
CREATE INDEX sprays_closed_at ON sprays (closed_at_us);
"#,
}];

/// The columns an [`AppliedRecord`] is read from, in the order `read_spray` expects.
const COLUMNS: &str = "id, plan_id, revision, tree_id, section, opened_at, closed_at, \
    open_lat, open_lon, close_lat, close_lon, flow_l_min, volume_l, intended_volume_l, \
    product, authorisation, target_pest, parcel, crop, operator, \"end\", recorded_at";

const INSERT: &str = "INSERT INTO sprays (plan_id, revision, tree_id, section, \
    opened_at, opened_at_us, closed_at, closed_at_us, open_lat, open_lon, close_lat, \
    close_lon, flow_l_min, volume_l, intended_volume_l, product, authorisation, \
    target_pest, parcel, crop, operator, \"end\", recorded_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
    ?18, ?19, ?20, ?21, ?22, ?23)";

/// An as-applied record database.
#[derive(Debug)]
pub struct RecordDb {
    conn: Connection,
    path: PathBuf,
}

/// What a record holds, in short (`verger records info`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSummary {
    /// The file's schema version.
    pub schema_version: i64,
    /// Number of sprays.
    pub sprays: u64,
    /// GNSS time the first spray opened (RFC 3339 UTC); `None` for an empty record.
    pub first_opened_at: Option<String>,
    /// GNSS time the last spray opened.
    pub last_opened_at: Option<String>,
    /// Totals per product (by name, then authorisation number).
    pub products: Vec<ProductTotal>,
}

/// The sprays of one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductTotal {
    /// Product name.
    pub product: String,
    /// Its authorisation number.
    pub authorisation: String,
    /// Number of sprays.
    pub sprays: u64,
    /// Volume applied, litres (the sum of `volume_l`, to the microlitre).
    pub volume_l: f64,
    /// Volume ordered, litres (the sum of `intended_volume_l`, to the microlitre).
    pub intended_volume_l: f64,
}

impl fmt::Display for RecordSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sprays: {}", self.sprays)?;
        if let (Some(first), Some(last)) = (&self.first_opened_at, &self.last_opened_at) {
            writeln!(f, "first: {first}")?;
            writeln!(f, "last: {last}")?;
        }
        for p in &self.products {
            writeln!(
                f,
                "product: {} (authorisation {}): {} sprays, {:.3} L applied ({:.3} L ordered)",
                p.product, p.authorisation, p.sprays, p.volume_l, p.intended_volume_l
            )?;
        }
        write!(f, "record schema version: {}", self.schema_version)
    }
}

impl RecordDb {
    /// Open the record at `path` for writing, creating it if absent and migrating an
    /// older schema: WAL mode, `synchronous = FULL`, foreign keys on. A file that is not
    /// a verger record database, or of a newer schema, is refused (naming it) and left
    /// as it was.
    pub fn create_or_open(path: &Path) -> Result<RecordDb, RecordError> {
        RecordDb::create_or_open_with(path, MIGRATIONS)
    }

    /// Open an existing record without ever writing to it (exports, `verger records`).
    /// An older schema is refused, saying when it will be migrated.
    pub fn open_read_only(path: &Path) -> Result<RecordDb, RecordError> {
        RecordDb::open_read_only_with(path, MIGRATIONS)
    }

    /// [`RecordDb::create_or_open`] with a given list of migrations (tests add a
    /// future one).
    fn create_or_open_with(path: &Path, migrations: &[Migration]) -> Result<RecordDb, RecordError> {
        let sq = RecordError::sqlite(path);
        match existing_file(path) {
            Ok(()) | Err(NotAFile::Missing) => {}
            Err(e) => return Err(not_a_file(path, e)),
        }
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(&sq)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&sq)?;
        let current = current_version(migrations);
        // Look before writing anything: even the journal mode is written to the file.
        check_content(path, inspect(&conn, TABLES).map_err(&sq)?, current, true)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(&sq)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                "{}: SQLite keeps journal mode {mode} instead of WAL (commits stay durable, readers wait for writers)",
                path.display()
            );
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&sq)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(&sq)?;
        // Read the version again inside the write transaction: another process may
        // have created or migrated the file meanwhile.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sq)?;
        let found = check_content(path, inspect(&tx, TABLES).map_err(&sq)?, current, true)?;
        if found < current {
            migrate(&tx, found, migrations).map_err(&sq)?;
            tx.commit().map_err(&sq)?;
        } else {
            drop(tx);
        }
        Ok(RecordDb {
            conn,
            path: path.to_owned(),
        })
    }

    /// [`RecordDb::open_read_only`] with a given list of migrations.
    fn open_read_only_with(path: &Path, migrations: &[Migration]) -> Result<RecordDb, RecordError> {
        let sq = RecordError::sqlite(path);
        existing_file(path).map_err(|e| not_a_file(path, e))?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(&sq)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&sq)?;
        conn.pragma_update(None, "query_only", true).map_err(&sq)?;
        let current = current_version(migrations);
        let found = check_content(path, inspect(&conn, TABLES).map_err(&sq)?, current, false)?;
        if found < current {
            return Err(RecordError::NeedsMigration {
                path: path.to_owned(),
                found,
                current,
            });
        }
        Ok(RecordDb {
            conn,
            path: path.to_owned(),
        })
    }

    /// The file this record is in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema version.
    pub fn schema_version(&self) -> Result<i64, RecordError> {
        user_version(&self.conn).map_err(self.sqlite())
    }

    /// Record `records` in one transaction; returned with their ids and `recorded_at`
    /// (the wall clock when the transaction was written, RFC 3339 UTC, ms) only once
    /// the COMMIT returned, that is once they are on disk. Every record is checked
    /// first ([`NewRecord::check`]): one at fault fails the batch, naming its index, and
    /// nothing is written. An empty batch writes nothing.
    pub fn insert_batch(
        &mut self,
        records: &[NewRecord],
    ) -> Result<Vec<AppliedRecord>, RecordError> {
        let instants = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.instants().map_err(|e| match e {
                    RecordError::Invalid { field, reason, .. } => RecordError::Invalid {
                        index: Some(i),
                        field,
                        reason,
                    },
                    other => other,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let sq = RecordError::sqlite(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&sq)?;
        let recorded_at = crate::contract::gnss::published_now();
        let mut ids = Vec::with_capacity(records.len());
        {
            let mut insert = tx.prepare_cached(INSERT).map_err(&sq)?;
            for (r, t) in records.iter().zip(&instants) {
                insert
                    .execute(rusqlite::params![
                        r.plan_id,
                        r.revision,
                        r.tree_id,
                        r.section,
                        r.opened_at,
                        t.opened_at_us,
                        r.closed_at,
                        t.closed_at_us,
                        r.open_lat,
                        r.open_lon,
                        r.close_lat,
                        r.close_lon,
                        r.flow_l_min,
                        r.volume_l,
                        r.intended_volume_l,
                        r.product,
                        r.authorisation,
                        r.target_pest,
                        r.parcel,
                        r.crop,
                        r.operator,
                        r.end.as_str(),
                        recorded_at,
                    ])
                    .map_err(&sq)?;
                ids.push(tx.last_insert_rowid());
            }
        }
        tx.commit().map_err(&sq)?;
        Ok(records
            .iter()
            .zip(ids)
            .map(|(r, id)| r.clone().into_applied(id, recorded_at.clone()))
            .collect())
    }

    /// Every spray that opened at or after `from` and before `to` (GNSS time,
    /// microseconds since the Unix epoch; `None`: no bound), by opening time then id,
    /// to `each`, as they are read: the record is never in memory at once.
    pub fn each_spray<E: From<RecordError>>(
        &self,
        from: Option<i64>,
        to: Option<i64>,
        mut each: impl FnMut(AppliedRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let low = from.unwrap_or(i64::MIN);
        let high = match to {
            None => i64::MAX,
            Some(t) => match t.checked_sub(1) {
                Some(h) => h,
                None => return Ok(()),
            },
        };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sprays WHERE opened_at_us BETWEEN ?1 AND ?2 \
                 ORDER BY opened_at_us, id"
            ))
            .map_err(self.sqlite())?;
        let mut rows = stmt.query([low, high]).map_err(self.sqlite())?;
        while let Some(row) = rows.next().map_err(self.sqlite())? {
            each(self.read_spray(row)?)?;
        }
        Ok(())
    }

    /// The sprays of [`RecordDb::each_spray`], in a `Vec`.
    pub fn sprays(
        &self,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<AppliedRecord>, RecordError> {
        let mut out = Vec::new();
        self.each_spray(from, to, |r| {
            out.push(r);
            Ok::<(), RecordError>(())
        })?;
        Ok(out)
    }

    /// Write the sprays of [`RecordDb::each_spray`] to `out` in `format`; how many.
    pub fn export(
        &self,
        format: Format,
        from: Option<i64>,
        to: Option<i64>,
        out: &mut dyn Write,
    ) -> Result<u64, RecordError> {
        let mut exporter = Exporter::new(format, out)?;
        let mut n = 0;
        self.each_spray(from, to, |r| {
            n += 1;
            exporter.write(&r)
        })?;
        exporter.finish()?;
        Ok(n)
    }

    /// What the record holds, in short.
    pub fn summary(&self) -> Result<RecordSummary, RecordError> {
        let sq = self.sqlite();
        let sprays: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sprays", [], |r| r.get(0))
            .map_err(&sq)?;
        let end = |order: &str| {
            self.conn
                .query_row(
                    &format!(
                        "SELECT opened_at FROM sprays ORDER BY opened_at_us {order}, id {order} LIMIT 1"
                    ),
                    [],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(&sq)
        };
        let first_opened_at = end("ASC")?;
        let last_opened_at = end("DESC")?;
        let products = self
            .conn
            .prepare(
                "SELECT product, authorisation, count(*), total(volume_l), \
                 total(intended_volume_l) FROM sprays GROUP BY product, authorisation \
                 ORDER BY product, authorisation",
            )
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(ProductTotal {
                        product: r.get(0)?,
                        authorisation: r.get(1)?,
                        sprays: r.get::<_, i64>(2)?.unsigned_abs(),
                        volume_l: microlitres(r.get(3)?),
                        intended_volume_l: microlitres(r.get(4)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(&sq)?;
        Ok(RecordSummary {
            schema_version: self.schema_version()?,
            sprays: sprays.unsigned_abs(),
            first_opened_at,
            last_opened_at,
            products,
        })
    }

    /// SQLite's `PRAGMA integrity_check` of the whole file: the problems it finds, none
    /// when the file is sound.
    pub fn integrity_check(&self) -> Result<Vec<String>, RecordError> {
        let found: Vec<String> = self
            .conn
            .prepare("PRAGMA integrity_check")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(self.sqlite())?;
        Ok(if found == ["ok"] { Vec::new() } else { found })
    }

    /// Close the file, saying whether SQLite could (a write-ahead log is then merged
    /// into the database and removed).
    pub fn close(self) -> Result<(), RecordError> {
        let path = self.path;
        self.conn
            .close()
            .map_err(|(_, e)| RecordError::sqlite(&path)(e))
    }

    fn read_spray(&self, r: &rusqlite::Row<'_>) -> Result<AppliedRecord, RecordError> {
        let id: i64 = r.get(0).map_err(self.sqlite())?;
        let damaged = |what: String| RecordError::Damaged {
            path: self.path.clone(),
            what: format!("spray {id}: {what}"),
        };
        let get_err = |e: rusqlite::Error| damaged(e.to_string());
        let end: String = r.get(20).map_err(get_err)?;
        let end = SprayEnd::ALL
            .into_iter()
            .find(|e| e.as_str() == end)
            .ok_or_else(|| damaged(format!("unknown end {end:?}")))?;
        Ok(AppliedRecord {
            id,
            plan_id: r.get(1).map_err(get_err)?,
            revision: r.get(2).map_err(get_err)?,
            tree_id: r.get(3).map_err(get_err)?,
            section: r.get(4).map_err(get_err)?,
            opened_at: r.get(5).map_err(get_err)?,
            closed_at: r.get(6).map_err(get_err)?,
            open_lat: r.get(7).map_err(get_err)?,
            open_lon: r.get(8).map_err(get_err)?,
            close_lat: r.get(9).map_err(get_err)?,
            close_lon: r.get(10).map_err(get_err)?,
            flow_l_min: r.get(11).map_err(get_err)?,
            volume_l: r.get(12).map_err(get_err)?,
            intended_volume_l: r.get(13).map_err(get_err)?,
            product: r.get(14).map_err(get_err)?,
            authorisation: r.get(15).map_err(get_err)?,
            target_pest: r.get(16).map_err(get_err)?,
            parcel: r.get(17).map_err(get_err)?,
            crop: r.get(18).map_err(get_err)?,
            operator: r.get(19).map_err(get_err)?,
            end,
            recorded_at: r.get(21).map_err(get_err)?,
        })
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> RecordError + '_ {
        RecordError::sqlite(&self.path)
    }
}

/// A sum of litres rounded to the microlitre (a sum of floating-point volumes is a few
/// units off in its last digits).
fn microlitres(litres: f64) -> f64 {
    (litres * 1e6).round() / 1e6
}

/// The schema version of a file with content `content`, or why it cannot be used. An
/// empty file is version 0 when it may be `created`.
fn check_content(
    path: &Path,
    content: Content,
    current: i64,
    create: bool,
) -> Result<i64, RecordError> {
    let not = |reason: &str| RecordError::NotARecord {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    match content {
        Content::Empty if create => Ok(0),
        Content::Empty => Err(not("an empty database")),
        Content::Ours(v) if v > current => Err(RecordError::TooNew {
            path: path.to_owned(),
            found: v,
            supported: current,
        }),
        Content::Ours(v) => Ok(v),
        Content::Foreign => Err(not("an SQLite database without verger's record tables")),
        Content::NotSqlite => Err(not("not an SQLite database")),
    }
}

fn not_a_file(path: &Path, e: NotAFile) -> RecordError {
    match e {
        NotAFile::Missing => RecordError::NotFound {
            path: path.to_owned(),
        },
        NotAFile::Other => RecordError::NotARecord {
            path: path.to_owned(),
            reason: "not a file".into(),
        },
        NotAFile::Io(e) => RecordError::NotARecord {
            path: path.to_owned(),
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
