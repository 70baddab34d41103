//! Trees generated along a row that no imported tree references: one every `spacing`
//! metres along its centre line, the first half a spacing from its start, with ids
//! `ROWID-001`, `ROWID-002`... and the row's tree attributes.

use geo::{Euclidean, InterpolateLine, Length};

use super::Attrs;
use crate::orchard::{Frame, Row, Tree};

/// The smallest tree spacing taken, metres: closer plants are not trees a sprayer aims
/// at, and a slip of the finger (0.0001) must not generate billions of them.
pub(crate) const MIN_TREE_SPACING_M: f64 = 0.1;

/// The trees along `row`, `spacing` metres apart (at least [`MIN_TREE_SPACING_M`]).
pub(crate) fn trees_along(row: &Row, spacing: f64, attrs: Attrs) -> Vec<Tree> {
    let Some(start) = row.line.0.first() else {
        return Vec::new();
    };
    let spacing = spacing.max(MIN_TREE_SPACING_M);
    // Measured on a plane tangent at the row's start: rows are far shorter than the
    // kilometres over which the frame stays within millimetres.
    let frame = Frame::new(start.y, start.x);
    let local = frame.line(&row.line);
    let length = Euclidean.length(&local);
    let mut trees = Vec::new();
    for k in 1u64.. {
        let along = spacing * (k as f64 - 0.5);
        if along > length {
            break;
        }
        let Some(p) = Euclidean.point_at_distance_from_start(&local, along) else {
            break;
        };
        let (lat, lon) = frame.to_wgs84(p.0);
        trees.push(attrs.tree(format!("{}-{k:03}", row.id), Some(row.id.clone()), lat, lon));
    }
    trees
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Distance, Geodesic, LineString, Point};

    #[test]
    fn trees_stand_every_spacing_from_half_a_spacing() {
        // A 10 m row due east, then 5 m due north (an L).
        let f = Frame::new(47.35, -0.62);
        let ll = |x: f64, y: f64| {
            let (lat, lon) = f.to_wgs84(geo::Coord { x, y });
            geo::Coord { x: lon, y: lat }
        };
        let row = Row {
            id: "R7".into(),
            block: None,
            line: LineString(vec![ll(0.0, 0.0), ll(10.0, 0.0), ll(10.0, 5.0)]),
        };
        let attrs = Attrs {
            canopy_height_m: Some(3.0),
            ..Attrs::default()
        };
        let trees = trees_along(&row, 2.0, attrs);
        // 15 m: trees at 1, 3, ..., 13 m.
        assert_eq!(trees.len(), 7);
        assert_eq!(trees[0].id, "R7-001");
        assert_eq!(trees[6].id, "R7-007");
        assert!(trees
            .iter()
            .all(|t| t.row.as_deref() == Some("R7") && t.canopy_height_m == Some(3.0)));
        let at = |t: &Tree| Point::new(t.lon, t.lat);
        let start = Point::new(ll(0.0, 0.0).x, ll(0.0, 0.0).y);
        assert!((Geodesic.distance(start, at(&trees[0])) - 1.0).abs() < 0.001);
        // The 6th tree (11 m along) is 1 m up the second leg.
        let corner = Point::new(ll(10.0, 1.0).x, ll(10.0, 1.0).y);
        assert!(Geodesic.distance(corner, at(&trees[5])) < 0.001);
        for pair in trees[..5].windows(2) {
            let d = Geodesic.distance(at(&pair[0]), at(&pair[1]));
            assert!((d - 2.0).abs() < 0.001, "{d}");
        }
        // Shorter than half a spacing: none.
        assert!(trees_along(&row, 40.0, attrs).is_empty());
        assert_eq!(trees_along(&row, 0.0, attrs).len(), 150);
    }
}
