//! The R*Tree of trees (`trees_rtree`, SQLite's R*Tree module): emptied and, when
//! empty, packed in one go.
//!
//! SQLite inserts R*Tree entries one at a time, reading and rewriting the nodes on each
//! entry's path: about 4 µs a tree, most of a big import's time. An import into an empty
//! R*Tree (a new map, `replace`, a map without trees yet) instead packs it here: the
//! entries, already in Hilbert-curve order, fill the leaves evenly, then each level
//! above, and the nodes go straight into the module's shadow tables (`trees_rtree_node`,
//! `_rowid`, `_parent`) in its documented node format: a 2-byte depth (root only), a
//! 2-byte cell count, then cells of an 8-byte id and the box as 4-byte floats (minimum
//! rounded down, maximum up), all big-endian. A packed tree also answers queries faster
//! (its boxes barely overlap). The tests check every packed tree with SQLite's own
//! `rtreecheck()`. An import into a map that already has trees inserts its entries
//! through the module, one prepared statement.

use rusqlite::{params, Connection};

/// Bytes of one cell: the id and 2 dimensions × (min, max) as 4-byte floats.
const CELL: usize = 8 + 4 * 4;

/// Whether the R*Tree has no entry.
pub(crate) fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM trees_rtree_rowid)",
        [],
        |r| r.get(0),
    )
}

/// Remove every entry (as the module leaves a new R*Tree: an empty root, node 1).
pub(crate) fn clear(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM trees_rtree_rowid;
         DELETE FROM trees_rtree_parent;
         DELETE FROM trees_rtree_node WHERE nodeno <> 1;
         UPDATE trees_rtree_node SET data = zeroblob(length(data)) WHERE nodeno = 1;",
    )
}

/// One entry: the tree's rowid and its point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry {
    pub(crate) rowid: i64,
    pub(crate) lon: f64,
    pub(crate) lat: f64,
}

/// The nearest 4-byte float on the side of `v` asked for (below for a minimum, above
/// for a maximum), as the R*Tree module stores coordinates.
fn float(v: f64, above: bool) -> f32 {
    let f = v as f32;
    let off = if above {
        f64::from(f) < v
    } else {
        f64::from(f) > v
    };
    if !off {
        return f;
    }
    let bits = f.to_bits();
    let away_from_zero = (f > 0.0) == above;
    let stepped = if f == 0.0 {
        // The smallest float of the sign wanted.
        if above {
            1
        } else {
            0x8000_0001
        }
    } else if away_from_zero {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(stepped)
}

/// A node's blob: depth (meaningful in the root only), cell count, cells.
fn node(size: usize, depth: u16, cells: &[(i64, [f32; 4])]) -> Vec<u8> {
    let mut data = vec![0u8; size];
    data[0..2].copy_from_slice(&depth.to_be_bytes());
    data[2..4].copy_from_slice(&(cells.len() as u16).to_be_bytes());
    for (i, (id, rect)) in cells.iter().enumerate() {
        let at = 4 + i * CELL;
        data[at..at + 8].copy_from_slice(&id.to_be_bytes());
        for (k, c) in rect.iter().enumerate() {
            data[at + 8 + 4 * k..at + 12 + 4 * k].copy_from_slice(&c.to_bits().to_be_bytes());
        }
    }
    data
}

/// The box around `cells`.
fn union(cells: &[(i64, [f32; 4])]) -> [f32; 4] {
    cells.iter().fold(
        [f32::MAX, f32::MIN, f32::MAX, f32::MIN],
        |[w, e, s, n], (_, r)| [w.min(r[0]), e.max(r[1]), s.min(r[2]), n.max(r[3])],
    )
}

/// Fill the empty R*Tree with `entries`, in their order (neighbours in space should be
/// neighbours in the slice: the order is what makes the boxes tight).
pub(crate) fn pack(conn: &Connection, entries: &[Entry]) -> rusqlite::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let size: usize = conn.query_row(
        "SELECT length(data) FROM trees_rtree_node WHERE nodeno = 1",
        [],
        |r| r.get::<_, i64>(0),
    )? as usize;
    let per_node = (size - 4) / CELL;
    clear(conn)?;
    let mut write_node =
        conn.prepare("INSERT OR REPLACE INTO trees_rtree_node (nodeno, data) VALUES (?1, ?2)")?;
    let mut write_rowid =
        conn.prepare("INSERT INTO trees_rtree_rowid (rowid, nodeno) VALUES (?1, ?2)")?;
    let mut write_parent =
        conn.prepare("INSERT INTO trees_rtree_parent (nodeno, parentnode) VALUES (?1, ?2)")?;

    let mut cells: Vec<(i64, [f32; 4])> = entries
        .iter()
        .map(|e| {
            let (lon, lat) = (e.lon, e.lat);
            (
                e.rowid,
                [
                    float(lon, false),
                    float(lon, true),
                    float(lat, false),
                    float(lat, true),
                ],
            )
        })
        .collect();
    let mut depth = 0u16;
    let mut next = 2i64;
    loop {
        // Leaves hold entries (their ids are trees' rowids), other nodes hold nodes.
        let mut place = |child: i64, parent: i64| -> rusqlite::Result<()> {
            if depth == 0 {
                write_rowid.execute(params![child, parent])?;
            } else {
                write_parent.execute(params![child, parent])?;
            }
            Ok(())
        };
        if cells.len() <= per_node {
            write_node.execute(params![1, node(size, depth, &cells)])?;
            for (child, _) in &cells {
                place(*child, 1)?;
            }
            return Ok(());
        }
        // As many nodes as needed, evenly filled (room is left for later inserts).
        let nodes = cells.len().div_ceil(per_node);
        let fill = cells.len().div_ceil(nodes);
        let mut upper = Vec::with_capacity(nodes);
        for chunk in cells.chunks(fill) {
            let number = next;
            next += 1;
            write_node.execute(params![number, node(size, 0, chunk)])?;
            for (child, _) in chunk {
                place(*child, number)?;
            }
            upper.push((number, union(chunk)));
        }
        cells = upper;
        depth += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_rounded_outward() {
        for v in [
            47.351_234_567_8_f64,
            -0.620_000_001,
            0.1,
            -0.1,
            1e-50,
            -1e-50,
            3.0,
        ] {
            let (lo, hi) = (float(v, false), float(v, true));
            assert!(f64::from(lo) <= v && v <= f64::from(hi), "{v}: {lo} {hi}");
            assert!(
                f64::from(hi) - f64::from(lo) <= v.abs() * 2e-7 + 2e-45,
                "{v}: {lo} {hi}"
            );
        }
        assert_eq!(float(3.0, false), 3.0);
    }

    /// An R*Tree like the map's, in memory.
    fn rtree() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE trees_rtree USING rtree(id, min_lon, max_lon, min_lat, max_lat)",
        )
        .unwrap();
        conn
    }

    fn check(conn: &Connection) {
        let verdict: String = conn
            .query_row("SELECT rtreecheck('trees_rtree')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(verdict, "ok");
    }

    fn count_in(conn: &Connection, w: f64, e: f64, s: f64, n: f64) -> i64 {
        conn.query_row(
            "SELECT count(*) FROM trees_rtree WHERE min_lon <= ?2 AND max_lon >= ?1 AND min_lat <= ?4 AND max_lat >= ?3",
            params![w, e, s, n],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn packed_trees_pass_rtreecheck_and_answer_like_inserted_ones() {
        for n in [1usize, 5, 51, 52, 400, 3000, 20_000] {
            // A grid, row by row: neighbours in the slice are neighbours in space.
            let side = (n as f64).sqrt().ceil() as usize;
            let entries: Vec<Entry> = (0..n)
                .map(|i| Entry {
                    rowid: i as i64 + 1,
                    lon: -0.62 + (i % side) as f64 * 1e-5,
                    lat: 47.35 + (i / side) as f64 * 1e-5,
                })
                .collect();
            let packed = rtree();
            pack(&packed, &entries).unwrap();
            check(&packed);
            let inserted = rtree();
            for e in &entries {
                inserted
                    .execute(
                        "INSERT INTO trees_rtree VALUES (?1, ?2, ?2, ?3, ?3)",
                        params![e.rowid, e.lon, e.lat],
                    )
                    .unwrap();
            }
            for (w, e, s, nn) in [
                (-1.0, 1.0, 40.0, 50.0),
                (-0.62, -0.61995, 47.35, 47.35005),
                (-0.619_97, -0.619_93, 47.350_02, 47.350_09),
                (10.0, 11.0, 10.0, 11.0),
            ] {
                assert_eq!(
                    count_in(&packed, w, e, s, nn),
                    count_in(&inserted, w, e, s, nn),
                    "{n} entries, box {w} {e} {s} {nn}"
                );
            }
            assert_eq!(count_in(&packed, -1.0, 1.0, 40.0, 50.0), n as i64);
            // The module takes over from a packed tree: insert more, delete some.
            for i in 0..200i64 {
                packed
                    .execute(
                        "INSERT INTO trees_rtree VALUES (?1, ?2, ?2, ?3, ?3)",
                        params![1_000_000 + i, -0.6 - i as f64 * 1e-6, 47.36],
                    )
                    .unwrap();
            }
            packed
                .execute("DELETE FROM trees_rtree WHERE id % 3 = 0", [])
                .unwrap();
            check(&packed);
            clear(&packed).unwrap();
            check(&packed);
            assert!(is_empty(&packed).unwrap());
            assert_eq!(count_in(&packed, -180.0, 180.0, -90.0, 90.0), 0);
        }
    }
}
