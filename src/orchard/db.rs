//! The map database file: its schema (created and upgraded by numbered migrations),
//! and opening it read-write or read-only.
//!
//! The schema version is `PRAGMA user_version`; every applied migration also has a row
//! in `schema_migrations` with the time it was applied. A map written by a newer verger
//! (a higher version) is refused; an older one is migrated by [`MapDb::open`] and by an
//! import, and refused by [`MapDb::open_read_only`], which never writes. The file uses
//! SQLite's rollback journal (the default): a map is written rarely and read often, and
//! one file is simpler to copy onto a tractor than a database with a write-ahead log.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::sqlite::{
    current_version, existing_file, is_not_a_database, user_version, Content, NotAFile,
};
pub(crate) use crate::sqlite::{migrate, Migration};

/// The map schema version this verger writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// Kibibytes of page cache per connection that reads (negative `cache_size` is KiB):
/// enough for the R*Tree's inner nodes of a 2-million-tree map, small enough for the map
/// component's memory budget.
const READ_CACHE_KIB: i64 = 8 * 1024;

/// How long a connection waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a map cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The file does not exist.
    #[error("no map at {} (create one with `verger map import FILE... --db {}`)", path.display(), path.display())]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The file exists but is not a verger map.
    #[error("{} is not a verger map: {reason}", path.display())]
    NotAMap {
        /// The file.
        path: PathBuf,
        /// What it is instead, in words.
        reason: String,
    },
    /// The map was written by a newer verger.
    #[error("{} was written by a newer verger (map schema version {found}; this verger reads versions up to {supported}): use a newer verger", path.display())]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest version this verger reads.
        supported: i64,
    },
    /// A read-only open of a map with an older schema, which would need writing.
    #[error("{} has map schema version {found}, older than this verger's {current}: migrate it first with `verger map migrate --db {}` (any `verger map import` into it migrates it too)", path.display(), path.display())]
    NeedsMigration {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The version this verger reads.
        current: i64,
    },
    /// Something stored in the map does not read back (a damaged or hand-edited file).
    #[error("{}: {what} (the map is damaged)", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What does not read back.
        what: String,
    },
    /// SQLite failed.
    #[error("{}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A query's arguments make no sense (a radius above the limit, latitude 95...).
    #[error("{0}")]
    BadQuery(String),
    /// Writing an export failed.
    #[error("cannot write the export: {0}")]
    Write(#[source] std::io::Error),
}

/// A map database. Queries are answered from the file (the R*Tree and indexes); the
/// boundary and zones are kept in memory for [`MapDb::zone_at`] and read again when
/// another connection changed the file.
#[derive(Debug)]
pub struct MapDb {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    pub(crate) areas: RefCell<Option<super::query::AreaCache>>,
}

/// Every migration, in order; the last one's version is [`SCHEMA_VERSION`]. Never edit
/// one that shipped: add the next.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "orchard, blocks, rows, trees with their R*Tree, boundary, zones",
    sql: "
CREATE TABLE orchard (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT,
    crop TEXT,
    eppo_code TEXT,
    parcel_ref TEXT
);
CREATE TABLE blocks (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT,
    variety TEXT,
    planting_year INTEGER,
    area TEXT
);
CREATE TABLE rows (
    id TEXT PRIMARY KEY NOT NULL,
    block TEXT,
    line TEXT NOT NULL
);
CREATE TABLE trees (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    row TEXT,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    fruit_count REAL,
    canopy_height_m REAL,
    canopy_width_m REAL,
    canopy_volume_m3 REAL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE VIRTUAL TABLE trees_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat);
CREATE TABLE boundary (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    area TEXT NOT NULL,
    derived INTEGER NOT NULL CHECK (derived IN (0, 1))
);
CREATE TABLE zones (
    id TEXT PRIMARY KEY NOT NULL,
    reason TEXT NOT NULL CHECK (reason <> ''),
    area TEXT NOT NULL
);
",
}];

/// What a database file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// An empty database (a new or zero-length file): no tables, version 0.
    Empty,
    /// A verger map of this schema version.
    Map(i64),
}

impl MapDb {
    /// Open an existing map for reading and writing, migrating an older schema.
    pub fn open(path: &Path) -> Result<MapDb, MapError> {
        MapDb::open_with(path, MIGRATIONS)
    }

    /// Open an existing map without ever writing to it (the map component's way). A map
    /// with an older schema is refused, saying how to migrate it.
    pub fn open_read_only(path: &Path) -> Result<MapDb, MapError> {
        MapDb::open_read_only_with(path, MIGRATIONS)
    }

    /// [`MapDb::open`] with a given list of migrations (tests add a future one).
    pub(crate) fn open_with(path: &Path, migrations: &[Migration]) -> Result<MapDb, MapError> {
        let current = current_version(migrations);
        let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        match inspect(&conn, path)? {
            State::Empty => Err(not_a_map(path, "an empty database")),
            State::Map(v) if v > current => Err(too_new(path, v, current)),
            State::Map(v) => {
                if v < current {
                    let tx = conn.unchecked_transaction().map_err(sqlite(path))?;
                    migrate(&tx, v, migrations).map_err(sqlite(path))?;
                    tx.commit().map_err(sqlite(path))?;
                }
                Ok(MapDb::new(conn, path))
            }
        }
    }

    /// [`MapDb::open_read_only`] with a given list of migrations.
    pub(crate) fn open_read_only_with(
        path: &Path,
        migrations: &[Migration],
    ) -> Result<MapDb, MapError> {
        let current = current_version(migrations);
        let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(sqlite(path))?;
        match inspect(&conn, path)? {
            State::Empty => Err(not_a_map(path, "an empty database")),
            State::Map(v) if v > current => Err(too_new(path, v, current)),
            State::Map(v) if v < current => Err(MapError::NeedsMigration {
                path: path.to_owned(),
                found: v,
                current,
            }),
            State::Map(_) => Ok(MapDb::new(conn, path)),
        }
    }

    pub(crate) fn new(conn: Connection, path: &Path) -> MapDb {
        MapDb {
            conn,
            path: path.to_owned(),
            areas: RefCell::new(None),
        }
    }

    /// The file this map is in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The map's schema version.
    pub fn schema_version(&self) -> Result<i64, MapError> {
        user_version(&self.conn).map_err(sqlite(&self.path))
    }

    /// `what` went wrong reading SQLite.
    pub(crate) fn sqlite(&self) -> impl Fn(rusqlite::Error) -> MapError + '_ {
        sqlite(&self.path)
    }

    /// Something stored does not read back.
    pub(crate) fn damaged(&self, what: impl Into<String>) -> MapError {
        MapError::Damaged {
            path: self.path.clone(),
            what: what.into(),
        }
    }
}

/// Open a file that must exist, set up for reading.
fn open_existing(path: &Path, flags: OpenFlags) -> Result<Connection, MapError> {
    match existing_file(path) {
        Ok(()) => {}
        Err(NotAFile::Other) => return Err(not_a_map(path, "not a file")),
        Err(NotAFile::Missing) => {
            return Err(MapError::NotFound {
                path: path.to_owned(),
            })
        }
        Err(NotAFile::Io(e)) => {
            return Err(MapError::Sqlite {
                path: path.to_owned(),
                source: rusqlite::Error::InvalidPath(format!("{}: {e}", path.display()).into()),
            })
        }
    }
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sqlite(path))?;
    configure(&conn, READ_CACHE_KIB).map_err(opening(path))?;
    Ok(conn)
}

/// Open `path` for an import, creating it if absent.
pub(crate) fn open_for_import(path: &Path, cache_kib: i64) -> Result<Connection, MapError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite(path))?;
    configure(&conn, cache_kib).map_err(opening(path))?;
    Ok(conn)
}

fn configure(conn: &Connection, cache_kib: i64) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    Ok(())
}

/// What the file at `path` (open on `conn`) is: an empty database, a verger map (and its
/// version), or something else (an error naming the file).
pub(crate) fn inspect(conn: &Connection, path: &Path) -> Result<State, MapError> {
    match crate::sqlite::inspect(conn, &["trees"]).map_err(sqlite(path))? {
        Content::Empty => Ok(State::Empty),
        Content::Ours(v) => Ok(State::Map(v)),
        Content::Foreign => Err(not_a_map(
            path,
            "an SQLite database without verger's map tables",
        )),
        Content::NotSqlite => Err(not_a_map(path, "not an SQLite database")),
    }
}

/// An error of the first reads of a file: "not a database" is said in words.
fn opening(path: &Path) -> impl Fn(rusqlite::Error) -> MapError + '_ {
    move |e| {
        if is_not_a_database(&e) {
            not_a_map(path, "not an SQLite database")
        } else {
            sqlite(path)(e)
        }
    }
}

pub(crate) fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> MapError + '_ {
    move |source| MapError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn not_a_map(path: &Path, reason: &str) -> MapError {
    MapError::NotAMap {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(crate) fn too_new(path: &Path, found: i64, supported: i64) -> MapError {
    MapError::TooNew {
        path: path.to_owned(),
        found,
        supported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sqlite::temp_path as temp;

    fn new_map(path: &Path) {
        let conn = open_for_import(path, 1024).unwrap();
        migrate(&conn, 0, MIGRATIONS).unwrap();
    }

    #[test]
    fn the_last_migration_is_the_schema_version() {
        crate::sqlite::assert_numbered(MIGRATIONS, SCHEMA_VERSION);
    }

    #[test]
    fn a_new_map_opens_and_records_its_migrations() {
        let path = temp("new.db");
        new_map(&path);
        let db = MapDb::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
        let (n, at): (i64, String) = db
            .conn
            .query_row(
                "SELECT count(*), max(applied_at) FROM schema_migrations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
        assert!(at.ends_with('Z') && at.len() == 24, "{at}");
        MapDb::open_read_only(&path).unwrap();
    }

    #[test]
    fn an_older_map_is_migrated_by_open_and_refused_read_only() {
        // A made-up version 2 on top of the real schema stands for the next release.
        let next = [
            MIGRATIONS[0],
            Migration {
                version: 2,
                description: "test: a column more",
                sql: "ALTER TABLE zones ADD COLUMN note TEXT;",
            },
        ];
        let path = temp("old.db");
        new_map(&path);
        let e = MapDb::open_read_only_with(&path, &next).unwrap_err();
        assert!(
            matches!(
                e,
                MapError::NeedsMigration {
                    found: 1,
                    current: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("verger map migrate --db"), "{e}");

        let db = MapDb::open_with(&path, &next).unwrap();
        assert_eq!(db.schema_version().unwrap(), 2);
        let versions: Vec<i64> = db
            .conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(versions, [1, 2]);
        db.conn
            .execute(
                "INSERT INTO zones (id, reason, area, note) VALUES ('z', 'r', '{}', 'n')",
                [],
            )
            .unwrap();
        drop(db);
        MapDb::open_read_only_with(&path, &next).unwrap();
        // ... and this verger, which knows only version 1, now refuses it.
        let e = MapDb::open_read_only(&path).unwrap_err();
        assert!(
            matches!(
                e,
                MapError::TooNew {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_newer_map_is_refused_both_ways() {
        let path = temp("newer.db");
        new_map(&path);
        crate::sqlite::set_user_version(&path, SCHEMA_VERSION + 1);
        for e in [
            MapDb::open(&path).unwrap_err(),
            MapDb::open_read_only(&path).unwrap_err(),
        ] {
            assert!(matches!(e, MapError::TooNew { found, .. } if found == SCHEMA_VERSION + 1));
            let text = e.to_string();
            assert!(
                text.contains("newer verger") && text.contains("newer.db"),
                "{text}"
            );
        }
    }

    #[test]
    fn what_is_not_a_map_is_refused_naming_the_file() {
        let text = temp("notes.txt");
        std::fs::write(
            &text,
            "not a database at all, just some words in a file\n".repeat(20),
        )
        .unwrap();
        let e = MapDb::open(&text).unwrap_err().to_string();
        assert!(
            e.contains("notes.txt is not a verger map: not an SQLite database"),
            "{e}"
        );

        let other = temp("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = MapDb::open_read_only(&other).unwrap_err().to_string();
        assert!(
            e.contains("other.db is not a verger map: an SQLite database without"),
            "{e}"
        );

        let e = MapDb::open(&temp("missing.db")).unwrap_err().to_string();
        assert!(
            e.starts_with("no map at") && e.contains("verger map import"),
            "{e}"
        );
    }
}
