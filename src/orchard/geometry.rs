//! Geometry as the map keeps it and as an import checks it.
//!
//! Kept: GeoJSON geometry objects as text (lon/lat), read back into `geo` types.
//! Checked on import: every position is a longitude and a latitude within range
//! (projected coordinates, in metres, are out of range and refused), rings are closed and
//! have at least 4 positions, polygons are valid by `geo`'s [`Validation`] (no
//! self-intersection...), lines have 2 distinct points.

use std::fmt;

use geo::{Coord, LineString, MultiPolygon, Polygon, Validation};
use geojson::{GeometryValue, Position};

use super::import::Problem;

/// A ring of a (multi)polygon, as an error names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingAt {
    /// The polygon's index in a MultiPolygon (`None` for a Polygon).
    pub polygon: Option<usize>,
    /// The ring's index in its polygon (0 is the exterior).
    pub ring: usize,
}

impl fmt::Display for RingAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ring {
            0 => write!(f, "the exterior ring")?,
            n => write!(f, "interior ring {n}")?,
        }
        if let Some(p) = self.polygon {
            write!(f, " of polygon {p}")?;
        }
        Ok(())
    }
}

/// A longitude and latitude in range, as a `geo` coordinate (x = lon, y = lat).
pub(crate) fn lon_lat(lon: f64, lat: f64) -> Result<Coord<f64>, Problem> {
    if lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0 {
        Ok(Coord { x: lon, y: lat })
    } else {
        Err(Problem::OutOfRange { lon, lat })
    }
}

/// A GeoJSON position (longitude, latitude, an altitude ignored).
pub(crate) fn coord(p: &Position) -> Result<Coord<f64>, Problem> {
    match p.as_slice() {
        [lon, lat, ..] => lon_lat(*lon, *lat),
        other => Err(Problem::BadPosition {
            numbers: other.len(),
        }),
    }
}

/// A row's centre line: at least 2 positions, 2 of them distinct.
pub(crate) fn line(positions: &[Position]) -> Result<LineString<f64>, Problem> {
    if positions.len() < 2 {
        return Err(Problem::ShortLine {
            positions: positions.len(),
        });
    }
    let line: LineString<f64> = positions
        .iter()
        .map(coord)
        .collect::<Result<Vec<_>, _>>()?
        .into();
    line.check_validation()
        .map_err(|e| Problem::InvalidGeometry(e.to_string()))?;
    Ok(line)
}

fn ring(positions: &[Position], at: RingAt) -> Result<LineString<f64>, Problem> {
    if positions.len() < 4 {
        return Err(Problem::ShortRing {
            at,
            positions: positions.len(),
        });
    }
    let coords = positions.iter().map(coord).collect::<Result<Vec<_>, _>>()?;
    if coords.first() != coords.last() {
        return Err(Problem::UnclosedRing { at });
    }
    Ok(coords.into())
}

fn polygon(rings: &[Vec<Position>], index: Option<usize>) -> Result<Polygon<f64>, Problem> {
    let Some((exterior, interiors)) = rings.split_first() else {
        return Err(Problem::EmptyPolygon);
    };
    let exterior = ring(
        exterior,
        RingAt {
            polygon: index,
            ring: 0,
        },
    )?;
    let interiors = interiors
        .iter()
        .enumerate()
        .map(|(i, r)| {
            ring(
                r,
                RingAt {
                    polygon: index,
                    ring: i + 1,
                },
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

/// An area (Polygon or MultiPolygon) as a MultiPolygon, checked; `None` if the geometry
/// is of another type. `validate`: also check it is valid (`geo`'s [`Validation`]), as
/// an import does; what the map stores was checked when it was imported.
pub(crate) fn area(
    value: &GeometryValue,
    validate: bool,
) -> Option<Result<MultiPolygon<f64>, Problem>> {
    let checked = match value {
        GeometryValue::Polygon { coordinates } => polygon(coordinates, None).and_then(|p| {
            if validate {
                p.check_validation()
                    .map_err(|e| Problem::InvalidGeometry(e.to_string()))?;
            }
            Ok(MultiPolygon(vec![p]))
        }),
        GeometryValue::MultiPolygon { coordinates } => coordinates
            .iter()
            .enumerate()
            .map(|(i, rings)| polygon(rings, Some(i)))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|polygons| {
                if polygons.is_empty() {
                    return Err(Problem::EmptyPolygon);
                }
                let m = MultiPolygon(polygons);
                if validate {
                    m.check_validation()
                        .map_err(|e| Problem::InvalidGeometry(e.to_string()))?;
                }
                Ok(m)
            }),
        _ => return None,
    };
    Some(checked)
}

/// GeoJSON geometry text of a geometry (as stored).
pub(crate) fn to_text(value: GeometryValue) -> String {
    serde_json::to_string(&geojson::Geometry::new(value))
        .expect("a geometry of finite numbers always serializes")
}

/// GeoJSON geometry text of an area.
pub(crate) fn area_text(area: &MultiPolygon<f64>) -> String {
    to_text(GeometryValue::from(area))
}

/// GeoJSON geometry text of a line.
pub(crate) fn line_text(line: &LineString<f64>) -> String {
    to_text(GeometryValue::from(line))
}

/// An area read back from stored text.
pub(crate) fn area_from_text(text: &str) -> Result<MultiPolygon<f64>, String> {
    let g: geojson::Geometry = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match area(&g.value, false) {
        Some(Ok(m)) => Ok(m),
        Some(Err(p)) => Err(p.to_string()),
        None => Err(format!("a {} where an area belongs", g.value.type_name())),
    }
}

/// A line read back from stored text.
pub(crate) fn line_from_text(text: &str) -> Result<LineString<f64>, String> {
    let g: geojson::Geometry = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match &g.value {
        GeometryValue::LineString { coordinates } => line(coordinates).map_err(|p| p.to_string()),
        other => Err(format!("a {} where a line belongs", other.type_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(json: &str) -> GeometryValue {
        serde_json::from_str::<geojson::Geometry>(json)
            .unwrap()
            .value
    }

    #[test]
    fn areas_are_checked() {
        let square = r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}"#;
        assert_eq!(area(&value(square), true).unwrap().unwrap().0.len(), 1);

        let open = r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}"#;
        assert_eq!(
            area(&value(open), true).unwrap().unwrap_err(),
            Problem::UnclosedRing {
                at: RingAt {
                    polygon: None,
                    ring: 0
                }
            }
        );
        let short = r#"{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[0,0]]]]}"#;
        let e = area(&value(short), true).unwrap().unwrap_err();
        assert_eq!(e.to_string(), "the exterior ring of polygon 0 has 3 positions; a ring needs at least 4 (the first repeated at the end)");
        let bowtie = r#"{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}"#;
        let e = area(&value(bowtie), true).unwrap().unwrap_err().to_string();
        assert!(e.contains("self-intersection"), "{e}");
        let metres = r#"{"type":"Polygon","coordinates":[[[500000,200000],[500010,200000],[500010,200010],[500000,200000]]]}"#;
        assert!(matches!(
            area(&value(metres), true).unwrap().unwrap_err(),
            Problem::OutOfRange { .. }
        ));
        assert!(area(&value(r#"{"type":"Point","coordinates":[0,0]}"#), true).is_none());
    }

    #[test]
    fn lines_need_two_distinct_positions() {
        let one = r#"{"type":"LineString","coordinates":[[0,0]]}"#;
        let GeometryValue::LineString { coordinates } = value(one) else {
            unreachable!()
        };
        assert_eq!(
            line(&coordinates).unwrap_err(),
            Problem::ShortLine { positions: 1 }
        );
        let same = r#"{"type":"LineString","coordinates":[[0,0],[0,0]]}"#;
        let GeometryValue::LineString { coordinates } = value(same) else {
            unreachable!()
        };
        assert!(matches!(
            line(&coordinates).unwrap_err(),
            Problem::InvalidGeometry(_)
        ));
        let short = r#"{"type":"LineString","coordinates":[[0],[1,1]]}"#;
        let GeometryValue::LineString { coordinates } = value(short) else {
            unreachable!()
        };
        assert_eq!(
            line(&coordinates).unwrap_err(),
            Problem::BadPosition { numbers: 1 }
        );
    }

    #[test]
    fn stored_text_reads_back() {
        let square = r#"{"type":"Polygon","coordinates":[[[0.5,0],[1,0],[1,1],[0.5,0]]]}"#;
        let m = area(&value(square), true).unwrap().unwrap();
        assert_eq!(area_from_text(&area_text(&m)).unwrap(), m);
        assert!(area_from_text(r#"{"type":"Point","coordinates":[0,0]}"#).is_err());
        assert!(area_from_text("nonsense").is_err());
    }
}
