use super::*;
use crate::contract::gnss::unix_micros;
use crate::records::tests::example;
use crate::sqlite::temp_path;

/// A spray of tree `tree` opening at `opened_at` (closing 0.6 s later).
fn spray(tree: &str, opened_at: &str) -> NewRecord {
    let us = unix_micros(opened_at).unwrap() + 600_000;
    NewRecord {
        plan_id: format!("{tree}@right:1"),
        tree_id: tree.into(),
        opened_at: opened_at.into(),
        closed_at: crate::civil::rfc3339_from_unix_micros(us, 3),
        ..example()
    }
}

fn pragma(db: &RecordDb, name: &str) -> String {
    db.conn
        .query_row(&format!("PRAGMA {name}"), [], |r| {
            r.get::<_, rusqlite::types::Value>(0)
        })
        .map(|v| match v {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
        .unwrap()
}

#[test]
fn the_last_migration_is_the_schema_version() {
    crate::sqlite::assert_numbered(MIGRATIONS, SCHEMA_VERSION);
}

#[test]
fn a_new_record_is_durable_and_records_its_migrations() {
    let path = temp_path("new.db");
    let db = RecordDb::create_or_open(&path).unwrap();
    assert_eq!(pragma(&db, "journal_mode"), "wal");
    assert_eq!(pragma(&db, "synchronous"), "2", "FULL");
    assert_eq!(pragma(&db, "foreign_keys"), "1");
    assert_eq!(db.schema_version().unwrap(), SCHEMA_VERSION);
    let n: i64 = db
        .conn
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, MIGRATIONS.len() as i64);
    assert!(db.integrity_check().unwrap().is_empty());
    drop(db);
    // Opened again: nothing to migrate, the same file.
    let db = RecordDb::create_or_open(&path).unwrap();
    assert_eq!(db.summary().unwrap().sprays, 0);
    let ro = RecordDb::open_read_only(&path).unwrap();
    assert_eq!(ro.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_batch_is_returned_as_stored_with_increasing_ids() {
    let path = temp_path("batch.db");
    let mut db = RecordDb::create_or_open(&path).unwrap();
    assert!(db.insert_batch(&[]).unwrap().is_empty());
    let batch = [
        spray("A-1", "2026-04-14T09:00:00.000Z"),
        spray("A-2", "2026-04-14T09:00:01.000Z"),
    ];
    let first = db.insert_batch(&batch).unwrap();
    let second = db
        .insert_batch(&[spray("A-3", "2026-04-14T09:00:02.000Z")])
        .unwrap();
    let ids: Vec<i64> = first.iter().chain(&second).map(|r| r.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for (r, new) in first.iter().zip(&batch) {
        assert_eq!(&NewRecord::from(r.clone()), new);
        assert!(
            crate::contract::gnss::parse_published_at(&r.recorded_at).is_some()
                && r.recorded_at.len() == 24,
            "{}",
            r.recorded_at
        );
    }
    let stored = RecordDb::open_read_only(&path)
        .unwrap()
        .sprays(None, None)
        .unwrap();
    assert_eq!(stored, [first, second].concat());
}

#[test]
fn a_batch_with_a_bad_record_names_it_and_writes_nothing() {
    let path = temp_path("bad.db");
    let mut db = RecordDb::create_or_open(&path).unwrap();
    let mut bad = spray("B-2", "2026-04-14T09:00:01.000Z");
    bad.flow_l_min = f64::INFINITY;
    let e = db
        .insert_batch(&[spray("B-1", "2026-04-14T09:00:00.000Z"), bad])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "record 1: field `flow_l_min`: inf is not a finite number"
    );
    assert_eq!(db.summary().unwrap().sprays, 0);
}

#[test]
fn the_time_range_includes_from_and_excludes_to() {
    let path = temp_path("range.db");
    let mut db = RecordDb::create_or_open(&path).unwrap();
    // Inserted out of order, two at the same instant.
    db.insert_batch(&[
        spray("C-3", "2026-04-14T10:00:00.000Z"),
        spray("C-1", "2026-04-14T09:00:00.000Z"),
        spray("C-2a", "2026-04-14T09:30:00.000Z"),
        spray("C-2b", "2026-04-14T09:30:00.000Z"),
    ])
    .unwrap();
    let t = |s: &str| unix_micros(s).unwrap();
    let trees = |from: Option<i64>, to: Option<i64>| -> Vec<String> {
        db.sprays(from, to)
            .unwrap()
            .into_iter()
            .map(|r| r.tree_id)
            .collect()
    };
    assert_eq!(trees(None, None), ["C-1", "C-2a", "C-2b", "C-3"]);
    let half_past = t("2026-04-14T09:30:00Z");
    assert_eq!(trees(Some(half_past), None), ["C-2a", "C-2b", "C-3"]);
    assert_eq!(trees(None, Some(half_past)), ["C-1"]);
    assert_eq!(
        trees(Some(half_past), Some(half_past + 1)),
        ["C-2a", "C-2b"]
    );
    assert_eq!(
        trees(Some(half_past + 1), Some(t("2026-04-14T10:00:00Z"))),
        [""; 0]
    );
    assert_eq!(trees(Some(half_past), Some(half_past)), [""; 0]);
    assert_eq!(trees(None, Some(i64::MIN)), [""; 0]);
    assert_eq!(trees(Some(i64::MIN), Some(i64::MAX)).len(), 4);
}

#[test]
fn the_summary_counts_and_adds_up_per_product() {
    let path = temp_path("summary.db");
    let mut db = RecordDb::create_or_open(&path).unwrap();
    let empty = db.summary().unwrap();
    assert_eq!(
        empty,
        RecordSummary {
            schema_version: SCHEMA_VERSION,
            sprays: 0,
            first_opened_at: None,
            last_opened_at: None,
            products: Vec::new(),
        }
    );
    let mut other = spray("D-2", "2026-04-14T08:00:00.000Z");
    other.product = "Another 50 SC".into();
    other.authorisation = "2990002".into();
    other.volume_l = 0.5;
    other.intended_volume_l = 0.25;
    db.insert_batch(&[
        spray("D-1", "2026-04-14T09:00:00.000Z"),
        other,
        spray("D-3", "2026-04-14T11:00:00.000Z"),
    ])
    .unwrap();
    let s = db.summary().unwrap();
    assert_eq!(s.sprays, 3);
    assert_eq!(
        s.first_opened_at.as_deref(),
        Some("2026-04-14T08:00:00.000Z")
    );
    assert_eq!(
        s.last_opened_at.as_deref(),
        Some("2026-04-14T11:00:00.000Z")
    );
    let e = example();
    assert_eq!(
        s.products,
        [
            ProductTotal {
                product: "Another 50 SC".into(),
                authorisation: "2990002".into(),
                sprays: 1,
                volume_l: 0.5,
                intended_volume_l: 0.25,
            },
            ProductTotal {
                product: e.product.clone(),
                authorisation: e.authorisation.clone(),
                sprays: 2,
                volume_l: 2.0 * e.volume_l,
                intended_volume_l: 2.0 * e.intended_volume_l,
            },
        ]
    );
    let text = s.to_string();
    assert!(
        text.contains(
            "sprays: 3\nfirst: 2026-04-14T08:00:00.000Z\nlast: 2026-04-14T11:00:00.000Z\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("product: Another 50 SC (authorisation 2990002): 1 sprays, 0.500 L applied (0.250 L ordered)"),
        "{text}"
    );
}

#[test]
fn what_is_not_a_record_is_refused_naming_it_and_left_as_it_was() {
    let text = temp_path("notes.txt");
    std::fs::write(&text, "not a database, just words\n".repeat(40)).unwrap();
    // A map stands for any SQLite file of verger's with other tables.
    let map = temp_path("orchard.db");
    Connection::open(&map)
        .unwrap()
        .execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT, applied_at TEXT);
             CREATE TABLE trees (id TEXT);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    let dir = temp_path("folder");
    std::fs::create_dir(&dir).unwrap();
    for (path, says) in [
        (&text, "notes.txt is not a verger record database: not an SQLite database"),
        (
            &map,
            "orchard.db is not a verger record database: an SQLite database without verger's record tables",
        ),
        (&dir, "folder is not a verger record database: not a file"),
    ] {
        let before = std::fs::read(path).ok();
        for e in [
            RecordDb::create_or_open(path).unwrap_err(),
            RecordDb::open_read_only(path).unwrap_err(),
        ] {
            assert!(e.to_string().contains(says), "{e}");
        }
        assert_eq!(std::fs::read(path).ok(), before, "{}", path.display());
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        assert!(!wal.exists(), "{} left a log", path.display());
    }
    let map_mode: String = Connection::open(&map)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(map_mode, "delete", "the map was not turned into WAL");

    let missing = temp_path("missing.db");
    let e = RecordDb::open_read_only(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with("no record database at") && e.contains("missing.db"),
        "{e}"
    );
    assert!(!missing.exists());
    let empty = temp_path("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let e = RecordDb::open_read_only(&empty).unwrap_err().to_string();
    assert!(
        e.contains("empty.db is not a verger record database: an empty database"),
        "{e}"
    );
    // ... which a writer makes a record of.
    RecordDb::create_or_open(&empty).unwrap();
    RecordDb::open_read_only(&empty).unwrap();
}

#[test]
fn a_newer_record_is_refused_both_ways() {
    let path = temp_path("newer.db");
    drop(RecordDb::create_or_open(&path).unwrap());
    crate::sqlite::set_user_version(&path, SCHEMA_VERSION + 1);
    for e in [
        RecordDb::create_or_open(&path).unwrap_err(),
        RecordDb::open_read_only(&path).unwrap_err(),
    ] {
        assert!(matches!(e, RecordError::TooNew { found, .. } if found == SCHEMA_VERSION + 1));
        let text = e.to_string();
        assert!(
            text.contains("newer.db was written by a newer verger"),
            "{text}"
        );
    }
}

#[test]
fn an_older_record_is_migrated_by_a_writer_and_refused_read_only() {
    // A made-up version 2 on top of the real schema stands for the next release.
    let next = [
        MIGRATIONS[0],
        Migration {
            version: 2,
            description: "test: a column more",
            sql: "ALTER TABLE sprays ADD COLUMN note TEXT;",
        },
    ];
    let path = temp_path("old.db");
    let mut db = RecordDb::create_or_open(&path).unwrap();
    db.insert_batch(&[spray("E-1", "2026-04-14T09:00:00.000Z")])
        .unwrap();
    drop(db);
    let e = RecordDb::open_read_only_with(&path, &next).unwrap_err();
    assert!(
        matches!(
            e,
            RecordError::NeedsMigration {
                found: 1,
                current: 2,
                ..
            }
        ),
        "{e}"
    );
    let db = RecordDb::create_or_open_with(&path, &next).unwrap();
    assert_eq!(db.schema_version().unwrap(), 2);
    assert_eq!(db.sprays(None, None).unwrap()[0].tree_id, "E-1");
    drop(db);
    RecordDb::open_read_only_with(&path, &next).unwrap();
    assert!(matches!(
        RecordDb::open_read_only(&path).unwrap_err(),
        RecordError::TooNew {
            found: 2,
            supported: 1,
            ..
        }
    ));
}

#[test]
fn a_reader_sees_what_a_writer_committed_while_it_writes() {
    let path = temp_path("live.db");
    let mut writer = RecordDb::create_or_open(&path).unwrap();
    writer
        .insert_batch(&[spray("F-1", "2026-04-14T09:00:00.000Z")])
        .unwrap();
    let reader = RecordDb::open_read_only(&path).unwrap();
    assert_eq!(reader.summary().unwrap().sprays, 1);
    writer
        .insert_batch(&[spray("F-2", "2026-04-14T09:00:01.000Z")])
        .unwrap();
    assert_eq!(reader.summary().unwrap().sprays, 2);
}

#[test]
fn a_row_that_does_not_read_back_is_damage_named_by_its_id() {
    let path = temp_path("damaged.db");
    let mut db = RecordDb::create_or_open(&path).unwrap();
    let id = db
        .insert_batch(&[spray("G-1", "2026-04-14T09:00:00.000Z")])
        .unwrap()[0]
        .id;
    db.conn
        .execute("UPDATE sprays SET \"end\" = 'exploded'", [])
        .unwrap();
    let e = db.sprays(None, None).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: spray {id}: unknown end \"exploded\" (the record database is damaged)",
            path.display()
        )
    );
}

#[test]
fn export_writes_the_range_and_counts_it() {
    let path = temp_path("export.db");
    let mut db = RecordDb::create_or_open(&path).unwrap();
    db.insert_batch(&[
        spray("H-1", "2026-04-14T09:00:00.000Z"),
        spray("H-2", "2026-04-15T09:00:00.000Z"),
    ])
    .unwrap();
    let mut out = Vec::new();
    let from = unix_micros("2026-04-15T00:00:00Z");
    let n = db.export(Format::Csv, from, None, &mut out).unwrap();
    assert_eq!(n, 1);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().nth(1).unwrap().contains(",H-2,"), "{text}");
}
