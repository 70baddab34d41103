//! Writing what was read into the map, in one transaction: the map is migrated (or
//! created) and cleared if asked, rows without trees get theirs, every item is inserted
//! with one prepared statement per table, and the boundary is imported or derived.
//!
//! A new map is built in a hidden file beside its path and renamed into place once
//! complete, so a failed import leaves no file and an interrupted one never leaves a
//! half-written map under the name asked for.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, ErrorCode, TransactionBehavior};

use super::generate::trees_along;
use super::{
    At, BoundaryOutcome, ImportError, ImportOptions, ImportProgress, ImportSummary, Input, Loc,
};
use crate::orchard::db::{self, State, MIGRATIONS, SCHEMA_VERSION};
use crate::orchard::{boundary, geometry, rtree, MapError, Tree};

/// Page cache of an import's connection, KiB: the unique index of tree ids and the
/// R*Tree are written all over; a big cache keeps them off the disk until commit.
const IMPORT_CACHE_KIB: i64 = 256 * 1024;

/// Items written between two progress reports.
const PROGRESS_EVERY: u64 = 1 << 14;

/// Ids listed in a warning, at most.
const LISTED: usize = 5;

/// The database an import writes into.
pub(super) enum Target {
    /// A map (or an empty database) already there, open, at this schema version.
    Existing {
        path: PathBuf,
        conn: Connection,
        version: i64,
    },
    /// No file, or an empty one: the map is built beside it and moved into place.
    New { path: PathBuf },
}

impl Target {
    /// Check what is at `path` before anything is read: a file that is not a map, or a
    /// map too new, is refused now.
    pub(super) fn prepare(path: &Path) -> Result<Target, ImportError> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.len() == 0 => Ok(Target::New {
                path: path.to_owned(),
            }),
            Ok(m) if m.is_file() => {
                let conn = db::open_for_import(path, IMPORT_CACHE_KIB)?;
                let version = match db::inspect(&conn, path)? {
                    State::Empty => 0,
                    State::Map(v) if v > SCHEMA_VERSION => {
                        return Err(db::too_new(path, v, SCHEMA_VERSION).into())
                    }
                    State::Map(v) => v,
                };
                Ok(Target::Existing {
                    path: path.to_owned(),
                    conn,
                    version,
                })
            }
            Ok(_) => Err(db::not_a_map(path, "not a file").into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::New {
                path: path.to_owned(),
            }),
            Err(source) => Err(ImportError::Create {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Write `input`; on any error nothing is left changed.
    pub(super) fn write(
        self,
        input: Input,
        options: &ImportOptions,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, ImportError> {
        match self {
            Target::Existing {
                path,
                mut conn,
                version,
            } => {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(db::sqlite(&path))?;
                db::migrate(&tx, version, MIGRATIONS).map_err(db::sqlite(&path))?;
                // Dropping the transaction on an error rolls it back.
                let summary = write_map(&tx, &path, input, options, progress)?;
                tx.commit().map_err(db::sqlite(&path))?;
                Ok(summary)
            }
            Target::New { path } => {
                let name = path
                    .file_name()
                    .map_or("map".into(), |n| n.to_string_lossy().into_owned());
                let temp = path.with_file_name(format!(".{name}.importing-{}", std::process::id()));
                let journal = {
                    let mut j = temp.clone().into_os_string();
                    j.push("-journal");
                    PathBuf::from(j)
                };
                let result = build_new(&temp, &path, input, options, progress);
                if result.is_err() {
                    let _ = std::fs::remove_file(&temp);
                    let _ = std::fs::remove_file(&journal);
                }
                result
            }
        }
    }
}

/// A new map: built in `temp`, synced, then renamed to `path`.
fn build_new(
    temp: &Path,
    path: &Path,
    input: Input,
    options: &ImportOptions,
    progress: &mut dyn FnMut(ImportProgress),
) -> Result<ImportSummary, ImportError> {
    let _ = std::fs::remove_file(temp);
    let mut conn = db::open_for_import(temp, IMPORT_CACHE_KIB)?;
    // The file is thrown away on failure: no journal on disk, no syncs but the last one.
    conn.pragma_update(None, "journal_mode", "MEMORY")
        .map_err(db::sqlite(temp))?;
    conn.pragma_update(None, "synchronous", "OFF")
        .map_err(db::sqlite(temp))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db::sqlite(temp))?;
    db::migrate(&tx, 0, MIGRATIONS).map_err(db::sqlite(temp))?;
    let mut summary = write_map(&tx, path, input, options, progress)?;
    tx.commit().map_err(db::sqlite(temp))?;
    conn.close().map_err(|(_, e)| db::sqlite(temp)(e))?;
    let create = |source| ImportError::Create {
        path: path.to_owned(),
        source,
    };
    std::fs::File::open(temp)
        .and_then(|f| f.sync_all())
        .map_err(create)?;
    std::fs::rename(temp, path).map_err(create)?;
    summary.db = path.to_owned();
    Ok(summary)
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

/// Everything of `input` into the map open on `conn` (inside a transaction); `path`
/// names the map in errors.
fn write_map(
    conn: &Connection,
    path: &Path,
    input: Input,
    options: &ImportOptions,
    progress: &mut dyn FnMut(ImportProgress),
) -> Result<ImportSummary, ImportError> {
    let sq = db::sqlite(path);
    if options.replace {
        conn.execute_batch(
            "DELETE FROM trees; DELETE FROM rows; DELETE FROM blocks;
             DELETE FROM zones; DELETE FROM boundary; DELETE FROM orchard;",
        )
        .map_err(&sq)?;
        rtree::clear(conn).map_err(&sq)?;
    }

    // Rows that trees stand in: those of this import and those already in the map.
    let imported: HashSet<&str> = input
        .trees
        .iter()
        .filter_map(|t| t.row.as_deref())
        .collect();
    let in_map: HashSet<String> = conn
        .prepare("SELECT DISTINCT row FROM trees WHERE row IS NOT NULL")
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect())
        .map_err(&sq)?;

    let mut warnings = Vec::new();
    let mut generated: Vec<(usize, Tree)> = Vec::new();
    let mut bare = Vec::new();
    let mut short = Vec::new();
    for (i, (_, r)) in input.rows.iter().enumerate() {
        if imported.contains(r.row.id.as_str()) || in_map.contains(&r.row.id) {
            continue;
        }
        match r.spacing.or(options.tree_spacing_m) {
            Some(spacing) => {
                let trees = trees_along(&r.row, spacing, r.attrs);
                if trees.is_empty() {
                    short.push(r.row.id.clone());
                }
                generated.extend(trees.into_iter().map(|t| (i, t)));
            }
            None => bare.push(r.row.id.clone()),
        }
    }
    if !bare.is_empty() {
        warnings.push(format!(
            "{} without trees: no tree stands in them and no tree spacing was given (give --tree-spacing-m, or tree_spacing_m on the row): {}",
            count(bare.len(), "row", "rows"),
            listed(&bare)
        ));
    }
    if !short.is_empty() {
        warnings.push(format!(
            "{} without trees: shorter than half the tree spacing: {}",
            count(short.len(), "row", "rows"),
            listed(&short)
        ));
    }

    // Trees count twice: once in `trees`, once in the R*Tree.
    let total = (input.blocks.len()
        + input.rows.len()
        + input.zones.len()
        + 2 * (input.trees.len() + generated.len())) as u64;
    let mut written = 0u64;
    let mut tick = |written: &mut u64| {
        *written += 1;
        if *written % PROGRESS_EVERY == 0 {
            progress(ImportProgress::Writing {
                items: *written,
                total,
            });
        }
    };
    // The error for item `index` of a kind whose insert broke a uniqueness constraint:
    // the id is either used earlier in this import or already in the map.
    let duplicate = |kind: &'static str, id: &str, at: At, first: Option<At>| match first {
        Some(first) => ImportError::Duplicate {
            kind,
            id: id.to_owned(),
            at: Box::new(at),
            first: Box::new(first),
        },
        None => ImportError::AlreadyInMap {
            kind,
            id: id.to_owned(),
            at: Box::new(at),
            db: path.to_owned(),
        },
    };
    let first_of = |items: &[(Loc, &str)], index: usize| -> Option<At> {
        let id = items[index].1;
        items[..index]
            .iter()
            .find(|(_, other)| *other == id)
            .map(|(loc, other)| input.at(*loc, Some(other)))
    };

    if let Some((_, meta)) = &input.orchard {
        conn.execute(
            "INSERT OR REPLACE INTO orchard (id, name, crop, eppo_code, parcel_ref) VALUES (1, ?1, ?2, ?3, ?4)",
            params![meta.name, meta.crop, meta.eppo_code, meta.parcel_ref],
        )
        .map_err(&sq)?;
    }

    {
        let mut insert = conn
            .prepare("INSERT INTO blocks (id, name, variety, planting_year, area) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(&sq)?;
        let ids: Vec<(Loc, &str)> = input
            .blocks
            .iter()
            .map(|(l, b)| (*l, b.id.as_str()))
            .collect();
        for (i, (loc, b)) in input.blocks.iter().enumerate() {
            let area = b.area.as_ref().map(geometry::area_text);
            insert
                .execute(params![b.id, b.name, b.variety, b.planting_year, area])
                .map_err(|e| match is_constraint(&e) {
                    true => duplicate(
                        "block",
                        &b.id,
                        input.at(*loc, Some(&b.id)),
                        first_of(&ids, i),
                    ),
                    false => sq(e).into(),
                })?;
            tick(&mut written);
        }
    }
    {
        let mut insert = conn
            .prepare("INSERT INTO rows (id, block, line) VALUES (?1, ?2, ?3)")
            .map_err(&sq)?;
        let ids: Vec<(Loc, &str)> = input
            .rows
            .iter()
            .map(|(l, r)| (*l, r.row.id.as_str()))
            .collect();
        for (i, (loc, r)) in input.rows.iter().enumerate() {
            let row = &r.row;
            insert
                .execute(params![row.id, row.block, geometry::line_text(&row.line)])
                .map_err(|e| match is_constraint(&e) {
                    true => duplicate(
                        "row",
                        &row.id,
                        input.at(*loc, Some(&row.id)),
                        first_of(&ids, i),
                    ),
                    false => sq(e).into(),
                })?;
            tick(&mut written);
        }
    }
    {
        let mut insert = conn
            .prepare("INSERT INTO zones (id, reason, area) VALUES (?1, ?2, ?3)")
            .map_err(&sq)?;
        let ids: Vec<(Loc, &str)> = input
            .zones
            .iter()
            .map(|(l, z)| (*l, z.id.as_str()))
            .collect();
        for (i, (loc, z)) in input.zones.iter().enumerate() {
            insert
                .execute(params![z.id, z.reason, geometry::area_text(&z.area)])
                .map_err(|e| match is_constraint(&e) {
                    true => duplicate(
                        "no_spray zone",
                        &z.id,
                        input.at(*loc, Some(&z.id)),
                        first_of(&ids, i),
                    ),
                    false => sq(e).into(),
                })?;
            tick(&mut written);
        }
    }
    {
        // Trees go in along a Hilbert curve over their extent: neighbours get nearby
        // rowids (a query reads fewer pages) and the R*Tree, filled in that order, gets
        // tight boxes.
        let all: Vec<&Tree> = input
            .trees
            .iter()
            .chain(generated.iter().map(|(_, t)| t))
            .collect();
        let imported = input.trees.len();
        // Where tree `k` of `all` comes from, for an error.
        let origin = |k: usize| -> (&'static str, At) {
            if k < imported {
                ("tree", input.at(input.tree_locs[k], Some(&all[k].id)))
            } else {
                let (loc, row) = &input.rows[generated[k - imported].0];
                ("generated tree", input.at(*loc, Some(&row.row.id)))
            }
        };
        let mut insert = conn
            .prepare(
                "INSERT INTO trees (id, row, lat, lon, fruit_count, canopy_height_m, canopy_width_m, canopy_volume_m3, extra)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(&sq)?;
        let mut boxes = Vec::with_capacity(all.len());
        for k in hilbert_order(&all) {
            let t = all[k];
            let extra = if t.extra.is_empty() {
                "{}".to_owned()
            } else {
                serde_json::Value::Object(t.extra.clone()).to_string()
            };
            let rowid = insert
                .insert(params![
                    t.id,
                    t.row,
                    t.lat,
                    t.lon,
                    t.fruit_count,
                    t.canopy_height_m,
                    t.canopy_width_m,
                    t.canopy_volume_m3,
                    extra
                ])
                .map_err(|e| {
                    if !is_constraint(&e) {
                        return sq(e).into();
                    }
                    // Used twice in this import (name the later use), or in the map.
                    match (0..all.len()).find(|&j| j != k && all[j].id == t.id) {
                        Some(j) => {
                            let (kind, at) = origin(k.max(j));
                            duplicate(kind, &t.id, at, Some(origin(k.min(j)).1))
                        }
                        None => {
                            let (kind, at) = origin(k);
                            duplicate(kind, &t.id, at, None)
                        }
                    }
                })?;
            boxes.push(rtree::Entry {
                rowid,
                lon: t.lon,
                lat: t.lat,
            });
            tick(&mut written);
        }
        // The R*Tree, in the same order: packed when empty, else entry by entry.
        if rtree::is_empty(conn).map_err(&sq)? {
            rtree::pack(conn, &boxes).map_err(&sq)?;
            written += boxes.len() as u64;
        } else {
            let mut index = conn
                .prepare(
                    "INSERT INTO trees_rtree (id, min_lon, max_lon, min_lat, max_lat) VALUES (?1, ?2, ?2, ?3, ?3)",
                )
                .map_err(&sq)?;
            for b in &boxes {
                index.execute(params![b.rowid, b.lon, b.lat]).map_err(&sq)?;
                tick(&mut written);
            }
        }
    }
    progress(ImportProgress::Writing {
        items: written,
        total,
    });

    // References to what the map does not have.
    let ids_in = |table: &str| -> Result<HashSet<String>, MapError> {
        conn.prepare(&format!("SELECT id FROM {table}"))
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<HashSet<String>>>()
            })
            .map_err(&sq)
    };
    let rows = ids_in("rows")?;
    let unknown: Vec<String> = unique(
        input
            .trees
            .iter()
            .filter_map(|t| t.row.as_ref())
            .filter(|r| !rows.contains(*r)),
    );
    if !unknown.is_empty() {
        warnings.push(format!(
            "trees stand in {} the map has no line for: {}",
            count(unknown.len(), "row", "rows"),
            listed(&unknown)
        ));
    }
    let blocks = ids_in("blocks")?;
    let unknown: Vec<String> = unique(
        input
            .rows
            .iter()
            .filter_map(|(_, r)| r.row.block.as_ref())
            .filter(|b| !blocks.contains(*b)),
    );
    if !unknown.is_empty() {
        warnings.push(format!(
            "rows belong to {} the map does not have: {}",
            count(unknown.len(), "block", "blocks"),
            listed(&unknown)
        ));
    }

    // The boundary: imported ones united, else derived while not imported before.
    let mut margin = None;
    let outcome = if !input.boundaries.is_empty() {
        // One is kept as it is (an export imports back unchanged); several are united.
        let united = match input.boundaries.as_slice() {
            [(_, one)] => one.clone(),
            several => geo::unary_union(several.iter().map(|(_, a)| a)),
        };
        conn.execute(
            "INSERT OR REPLACE INTO boundary (id, area, derived) VALUES (1, ?1, 0)",
            params![geometry::area_text(&united)],
        )
        .map_err(&sq)?;
        BoundaryOutcome::Imported
    } else {
        let derived: Option<bool> = conn
            .query_row("SELECT derived FROM boundary WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(&sq)?;
        if derived == Some(false) {
            BoundaryOutcome::Kept
        } else {
            match boundary::derive(conn, path)? {
                Some(d) => {
                    conn.execute(
                        "INSERT OR REPLACE INTO boundary (id, area, derived) VALUES (1, ?1, 1)",
                        params![geometry::area_text(&d.area)],
                    )
                    .map_err(&sq)?;
                    margin = Some(d.margin_m);
                    BoundaryOutcome::Derived
                }
                None => {
                    conn.execute("DELETE FROM boundary", []).map_err(&sq)?;
                    BoundaryOutcome::None
                }
            }
        }
    };

    Ok(ImportSummary {
        db: path.to_owned(),
        files: input.files.iter().map(|(f, _)| f.clone()).collect(),
        replaced: options.replace,
        trees: input.trees.len() as u64,
        generated_trees: generated.len() as u64,
        rows: input.rows.len() as u64,
        blocks: input.blocks.len() as u64,
        zones: input.zones.len() as u64,
        orchard: input.orchard.is_some(),
        boundary: outcome,
        boundary_margin_m: margin,
        skipped: input.skipped,
        warnings,
    })
}

/// "1 row", "3 rows".
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The first few ids, quoted, and how many more.
fn listed(ids: &[String]) -> String {
    let mut text = ids
        .iter()
        .take(LISTED)
        .map(|id| format!("{id:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > LISTED {
        text.push_str(&format!(" and {} more", ids.len() - LISTED));
    }
    text
}

/// Distinct values, in their first order.
fn unique<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values
        .filter(|v| seen.insert(v.as_str()))
        .cloned()
        .collect()
}

/// The indices of `trees` in the order of a Hilbert curve over their extent (65,536
/// steps a side), ties in file order.
fn hilbert_order(trees: &[&Tree]) -> Vec<usize> {
    let (mut west, mut east, mut south, mut north) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for t in trees {
        west = west.min(t.lon);
        east = east.max(t.lon);
        south = south.min(t.lat);
        north = north.max(t.lat);
    }
    let step = |v: f64, lo: f64, hi: f64| ((v - lo) / (hi - lo).max(1e-12) * 65_535.0) as u32;
    let mut keyed: Vec<(u64, usize)> = trees
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                hilbert(step(t.lon, west, east), step(t.lat, south, north)),
                i,
            )
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The distance along the Hilbert curve of order 16 of cell (`x`, `y`), each < 65,536.
fn hilbert(mut x: u32, mut y: u32) -> u64 {
    const SIDE: u32 = 1 << 16;
    let mut d = 0u64;
    let mut s = SIDE / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        // Rotate the quadrant so that the curve inside it runs the standard way.
        if ry == 0 {
            if rx == 1 {
                x = SIDE - 1 - x;
                y = SIDE - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hilbert_curve_visits_every_cell_once_stepping_to_neighbours() {
        // On a 4 x 4 corner of the curve: 16 distinct distances, each step one cell.
        let mut cells: Vec<(u64, u32, u32)> = (0..4)
            .flat_map(|x| (0..4).map(move |y| (hilbert(x, y), x, y)))
            .collect();
        cells.sort();
        for pair in cells.windows(2) {
            let ((d0, x0, y0), (d1, x1, y1)) = (pair[0], pair[1]);
            assert_eq!(d1, d0 + 1);
            assert_eq!(x0.abs_diff(x1) + y0.abs_diff(y1), 1);
        }
        assert_eq!(hilbert(0, 0), 0);
        assert_eq!(hilbert(65_535, 0), (1u64 << 32) - 1);
    }
}
