//! The boundary verger derives when none is imported: the convex hull of every tree and
//! every row vertex, widened by half the row spacing.
//!
//! The row spacing is, in this order of preference:
//! 1. with two rows or more, the median over rows (up to [`SAMPLE`] of them, evenly
//!    picked) of the distance from a row's midpoint to the nearest other row;
//! 2. else, with trees in two rows or more (by their `row`), the median over those rows
//!    of the distance from the mean position of a row's trees to the nearest tree of
//!    another row within [`SEARCH_M`];
//! 3. else [`DEFAULT_ROW_SPACING_M`].
//!
//! It is capped at [`MAX_ROW_SPACING_M`], so that two rows far apart do not widen the
//! boundary by tens of metres. Measured on a [`Frame`] centred on the map; hull and
//! widening are `geo`'s `ConvexHull` and `Buffer`.

use std::collections::HashMap;
use std::path::Path;

use geo::{
    Area, BoundingRect, Buffer, ConvexHull, Coord, Distance, Euclidean, InterpolateLine,
    LineString, MapCoords, MultiPoint, MultiPolygon, Point,
};
use rusqlite::{params, Connection};

use super::db::sqlite;
use super::{geometry, Frame, MapError};

/// Rows (or tree rows) sampled for the row spacing, at most.
pub(crate) const SAMPLE: usize = 200;

/// How far from a row's trees the nearest tree of another row is looked for, metres.
pub(crate) const SEARCH_M: f64 = 25.0;

/// The row spacing taken when neither rows nor trees tell it, metres.
pub(crate) const DEFAULT_ROW_SPACING_M: f64 = 2.0;

/// The largest row spacing taken, metres.
pub(crate) const MAX_ROW_SPACING_M: f64 = 20.0;

/// A derived boundary.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Derived {
    /// Its area, lon/lat.
    pub(crate) area: MultiPolygon<f64>,
    /// How far it extends beyond the hull: half the row spacing, metres.
    pub(crate) margin_m: f64,
}

/// The boundary of the map open on `conn` (`path` names it in errors), or `None` for a
/// map without trees or rows.
pub(crate) fn derive(conn: &Connection, path: &Path) -> Result<Option<Derived>, MapError> {
    let sq = sqlite(path);
    let rows: Vec<LineString<f64>> = conn
        .prepare("SELECT id, line FROM rows ORDER BY id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(&sq)?
        .into_iter()
        .map(|(id, text)| {
            geometry::line_from_text(&text).map_err(|e| MapError::Damaged {
                path: path.to_owned(),
                what: format!("row {id:?}: {e}"),
            })
        })
        .collect::<Result<_, _>>()?;
    // One pass over the trees: their points, and (for rule 2) their sums per row.
    let by_row = rows.len() < 2;
    let mut points: Vec<Coord<f64>> = Vec::new();
    let mut groups: HashMap<String, (f64, f64, u64)> = HashMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT lon, lat, row FROM trees")
            .map_err(&sq)?;
        let mut trees = stmt.query([]).map_err(&sq)?;
        while let Some(r) = trees.next().map_err(&sq)? {
            let c = Coord {
                x: r.get(0).map_err(&sq)?,
                y: r.get(1).map_err(&sq)?,
            };
            points.push(c);
            if by_row {
                if let Some(row) = r
                    .get_ref(2)
                    .map_err(&sq)?
                    .as_str_or_null()
                    .map_err(|e| sq(e.into()))?
                {
                    match groups.get_mut(row) {
                        Some(g) => *g = (g.0 + c.x, g.1 + c.y, g.2 + 1),
                        None => {
                            groups.insert(row.to_owned(), (c.x, c.y, 1));
                        }
                    }
                }
            }
        }
    }
    points.extend(rows.iter().flat_map(|r| r.0.iter().copied()));
    let Some(extent) = MultiPoint::from(points.clone()).bounding_rect() else {
        return Ok(None);
    };
    let centre = extent.center();
    let frame = Frame::new(centre.y, centre.x);

    let local_rows: Vec<LineString<f64>> = rows.iter().map(|r| frame.line(r)).collect();
    let spacing = match row_spacing(&local_rows) {
        Some(s) => s,
        None => tree_row_spacing(conn, groups)
            .map_err(&sq)?
            .unwrap_or(DEFAULT_ROW_SPACING_M),
    }
    .min(MAX_ROW_SPACING_M);
    let margin_m = spacing / 2.0;

    let mut local: Vec<Coord<f64>> = points.iter().map(|c| frame.lonlat_to_local(*c)).collect();
    // The same points give the same boundary whatever order they were stored in.
    local.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    local.dedup();
    let area = widened(&local, margin_m).map_coords(|c| frame.local_to_lonlat(c));
    Ok(Some(Derived { area, margin_m }))
}

/// The convex hull of `points` (local metres, not empty) widened by `margin`.
pub(crate) fn widened(points: &[Coord<f64>], margin: f64) -> MultiPolygon<f64> {
    let hull = MultiPoint::from(points.to_vec()).convex_hull();
    if hull.unsigned_area() > 1e-6 {
        hull.buffer(margin)
    } else {
        // One point, or all on a line: the hull is flat, widen its outline.
        hull.exterior().buffer(margin)
    }
}

/// The median of distances (of which there must be some).
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Indices of up to [`SAMPLE`] of `n` items, evenly picked.
fn sample(n: usize) -> impl Iterator<Item = usize> {
    let step = n.div_ceil(SAMPLE).max(1);
    (0..n).step_by(step)
}

/// Rule 1: the median distance from a row's midpoint to the nearest other row (local
/// metres); `None` with fewer than two rows.
pub(crate) fn row_spacing(rows: &[LineString<f64>]) -> Option<f64> {
    if rows.len() < 2 {
        return None;
    }
    let distances = sample(rows.len())
        .filter_map(|i| {
            let mid: Point<f64> = Euclidean.point_at_ratio_from_start(&rows[i], 0.5)?;
            rows.iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, other)| Euclidean.distance(&mid, other))
                .filter(|d| *d > 0.0)
                .min_by(f64::total_cmp)
        })
        .collect();
    median(distances)
}

/// Rule 2: from trees grouped by their row (sums of lon, lat and count per row), through
/// the R*Tree.
fn tree_row_spacing(
    conn: &Connection,
    sums: HashMap<String, (f64, f64, u64)>,
) -> rusqlite::Result<Option<f64>> {
    let mut groups: Vec<(String, f64, f64)> = sums
        .into_iter()
        .map(|(row, (lon, lat, n))| (row, lon / n as f64, lat / n as f64))
        .collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    if groups.len() < 2 {
        return Ok(None);
    }
    let mut near = conn.prepare(
        "SELECT t.lon, t.lat FROM trees_rtree r JOIN trees t ON t.rowid = r.id
         WHERE r.min_lon <= ?1 AND r.max_lon >= ?2 AND r.min_lat <= ?3 AND r.max_lat >= ?4
           AND t.row IS NOT NULL AND t.row <> ?5",
    )?;
    let mut distances = Vec::new();
    for i in sample(groups.len()) {
        let (row, lon, lat) = &groups[i];
        let frame = Frame::new(*lat, *lon);
        let (m_lat, m_lon) = frame.metres_per_degree();
        let (dlat, dlon) = (SEARCH_M / m_lat, SEARCH_M / m_lon.max(1.0));
        let nearest = near
            .query_map(
                params![lon + dlon, lon - dlon, lat + dlat, lat - dlat, row],
                |r| {
                    Ok(Coord {
                        x: r.get(0)?,
                        y: r.get(1)?,
                    })
                },
            )?
            .filter_map(Result::ok)
            .map(|c| {
                Euclidean.distance(
                    Point::from(frame.to_local(*lat, *lon)),
                    Point::from(frame.lonlat_to_local(c)),
                )
            })
            .filter(|d| *d > 0.0 && *d <= SEARCH_M)
            .min_by(f64::total_cmp);
        distances.extend(nearest);
    }
    Ok(median(distances))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Intersects};

    fn row(x: f64, length: f64) -> LineString<f64> {
        LineString::from(vec![(x, 0.0), (x, length)])
    }

    #[test]
    fn row_spacing_is_the_median_distance_to_the_next_row() {
        // Rows 3 m apart, one outlier gap of 10 m: the median ignores it.
        let rows: Vec<_> = [0.0, 3.0, 6.0, 9.0, 19.0, 22.0, 25.0]
            .iter()
            .map(|x| row(*x, 50.0))
            .collect();
        assert_eq!(row_spacing(&rows), Some(3.0));
        assert_eq!(row_spacing(&rows[..1]), None);
    }

    #[test]
    fn the_hull_is_widened_even_when_flat() {
        let square = [
            Coord { x: 0.0, y: 0.0 },
            Coord { x: 10.0, y: 0.0 },
            Coord { x: 10.0, y: 10.0 },
            Coord { x: 0.0, y: 10.0 },
            Coord { x: 5.0, y: 5.0 },
        ];
        let area = widened(&square, 1.5);
        for c in square {
            assert!(area.contains(&Point::from(c)));
        }
        assert!(area.contains(&Point::new(-1.4, 5.0)));
        assert!(!area.intersects(&Point::new(-1.6, 5.0)));

        let line = [Coord { x: 0.0, y: 0.0 }, Coord { x: 0.0, y: 10.0 }];
        let area = widened(&line, 1.0);
        assert!(area.contains(&Point::new(0.9, 5.0)));
        assert!(area.contains(&Point::new(0.0, 10.5)));
        assert!(!area.intersects(&Point::new(1.1, 5.0)));

        let one = [Coord { x: 3.0, y: 3.0 }];
        let area = widened(&one, 1.0);
        assert!(area.contains(&Point::new(3.5, 3.5)));
        assert!((area.unsigned_area() - std::f64::consts::PI).abs() < 0.1);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(sample(3).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(sample(1000).count(), 200);
    }
}
