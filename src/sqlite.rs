//! What verger's SQLite files share (the orchard map, the as-applied record): a schema
//! built by numbered migrations, each recorded in `schema_migrations` and the last one's
//! number in `PRAGMA user_version`; and telling a file of ours from a missing, empty,
//! foreign or non-SQLite one before anything writes to it. Each store words its own
//! errors (naming the file) from the values these return.

use std::path::Path;

use rusqlite::{Connection, ErrorCode};

/// One step of a schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Its number: 1 first, each the previous one's plus one.
    pub(crate) version: i64,
    /// What it does, in words (kept in `schema_migrations`).
    pub(crate) description: &'static str,
    /// The statements.
    pub(crate) sql: &'static str,
}

/// The table of applied migrations, created before the first one.
const BOOTSTRAP: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
";

/// The schema version `migrations` build (the last one's).
pub(crate) fn current_version(migrations: &[Migration]) -> i64 {
    migrations.last().map_or(0, |m| m.version)
}

/// `PRAGMA user_version`: the schema version of an open file (0 for a new one).
pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Apply every migration above version `from`, recording each (inside the caller's
/// transaction, so a failure leaves the schema as it was).
pub(crate) fn migrate(
    conn: &Connection,
    from: i64,
    migrations: &[Migration],
) -> rusqlite::Result<()> {
    conn.execute_batch(BOOTSTRAP)?;
    let applied_at = crate::contract::gnss::published_now();
    for m in migrations.iter().filter(|m| m.version > from) {
        conn.execute_batch(m.sql)?;
        conn.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.description, applied_at],
        )?;
        conn.pragma_update(None, "user_version", m.version)?;
    }
    Ok(())
}

/// What an open database file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    /// An empty database (a new or zero-length file): no tables, version 0.
    Empty,
    /// A file with the store's tables, of this schema version.
    Ours(i64),
    /// An SQLite database without the store's tables.
    Foreign,
    /// Not an SQLite database at all (a text file...).
    NotSqlite,
}

/// What the file open on `conn` holds, by its version and its tables: it is ours when
/// it has `schema_migrations` and every one of `tables`. Reads only.
pub(crate) fn inspect(conn: &Connection, tables: &[&str]) -> rusqlite::Result<Content> {
    let version = match user_version(conn) {
        Ok(v) => v,
        Err(e) if is_not_a_database(&e) => return Ok(Content::NotSqlite),
        Err(e) => return Err(e),
    };
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })?;
    if version == 0 && names.is_empty() {
        return Ok(Content::Empty);
    }
    let ours = ["schema_migrations"]
        .iter()
        .chain(tables)
        .all(|t| names.iter().any(|n| n == t));
    Ok(if version >= 1 && ours {
        Content::Ours(version)
    } else {
        Content::Foreign
    })
}

/// SQLite says the file is not a database.
pub(crate) fn is_not_a_database(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::NotADatabase)
}

/// Why a path that must be an existing file is not one.
#[derive(Debug)]
pub(crate) enum NotAFile {
    /// Nothing is there.
    Missing,
    /// Something else is (a folder...).
    Other,
    /// It cannot be looked at.
    Io(std::io::Error),
}

/// Whether `path` is an existing file (checked before SQLite would create one).
pub(crate) fn existing_file(path: &Path) -> Result<(), NotAFile> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(NotAFile::Other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(NotAFile::Missing),
        Err(e) => Err(NotAFile::Io(e)),
    }
}

/// A path named `name` in a fresh folder under the system's temporary folder (unit
/// tests of the stores; the folder is left for the system to clean).
#[cfg(test)]
pub(crate) fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "verger-db-{}-{:08x}",
        std::process::id(),
        crate::wamp::ids::random_id() & 0xFFFF_FFFF
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir.join(name)
}

/// The checks every store's migration list passes: numbered 1, 2, 3... and the last one
/// is the store's schema version (unit tests).
#[cfg(test)]
pub(crate) fn assert_numbered(migrations: &[Migration], schema_version: i64) {
    assert_eq!(current_version(migrations), schema_version);
    for (i, m) in migrations.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1, "{}", m.description);
    }
}

/// Make the file at `path` claim schema version `version`, as a newer verger would
/// leave it (unit tests).
#[cfg(test)]
pub(crate) fn set_user_version(path: &Path, version: i64) {
    Connection::open(path)
        .and_then(|c| c.pragma_update(None, "user_version", version))
        .expect("set user_version");
}
