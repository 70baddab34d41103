//! Where spraying is allowed: inside the orchard's boundary and outside every no-spray
//! zone. Checked on a window's whole footprint, so a window that only touches a zone or
//! leaves the boundary is refused.
//!
//! The boundary and zones are projected once onto a [`Frame`] centred on the boundary;
//! footprints are projected onto the same frame, so containment and intersection are
//! exact between them whatever the frame's scale error.

use geo::{BoundingRect, Contains, Intersects, MultiPolygon, Point, Polygon, Rect};
use verger::orchard::{Boundary, Frame, Zone};

/// Why a place may not be sprayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forbidden {
    /// Outside the orchard's boundary (or the map has none).
    OutsideBoundary,
    /// In or touching this no-spray zone.
    Zone {
        /// Its id.
        id: String,
        /// Its reason.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct LocalZone {
    id: String,
    reason: String,
    area: MultiPolygon<f64>,
    bbox: Option<Rect<f64>>,
}

/// The sprayable area of a map.
#[derive(Debug, Clone)]
pub struct Area {
    frame: Frame,
    boundary: Option<MultiPolygon<f64>>,
    zones: Vec<LocalZone>,
}

impl Area {
    /// From the map's boundary (none: nothing is sprayable) and zones, lon/lat.
    pub fn new(boundary: Option<&Boundary>, zones: &[Zone]) -> Area {
        let centre = boundary
            .and_then(|b| b.area.bounding_rect())
            .or_else(|| zones.iter().find_map(|z| z.area.bounding_rect()))
            .map(|r| r.center())
            .unwrap_or_default();
        let frame = Frame::new(centre.y, centre.x);
        Area {
            frame,
            boundary: boundary.map(|b| frame.multi_polygon(&b.area)),
            zones: zones
                .iter()
                .map(|z| {
                    let area = frame.multi_polygon(&z.area);
                    LocalZone {
                        id: z.id.clone(),
                        reason: z.reason.clone(),
                        bbox: area.bounding_rect(),
                        area,
                    }
                })
                .collect(),
        }
    }

    /// Is the point (lat, lon) inside the boundary?
    pub fn inside_boundary(&self, lat: f64, lon: f64) -> bool {
        let p = Point(self.frame.to_local(lat, lon));
        self.boundary.as_ref().is_some_and(|b| b.contains(&p))
    }

    /// May `footprint` (lon/lat) be sprayed? Entirely inside the boundary and touching
    /// no zone.
    pub fn check(&self, footprint: &Polygon<f64>) -> Result<(), Forbidden> {
        let local = self.frame.polygon(footprint);
        if !self.boundary.as_ref().is_some_and(|b| b.contains(&local)) {
            return Err(Forbidden::OutsideBoundary);
        }
        let bbox = local.bounding_rect();
        for zone in &self.zones {
            let near = match (zone.bbox, bbox) {
                (Some(z), Some(f)) => z.intersects(&f),
                _ => true,
            };
            if near && zone.area.intersects(&local) {
                return Err(Forbidden::Zone {
                    id: zone.id.clone(),
                    reason: zone.reason.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, polygon};

    /// A square of `side` metres with its south-west corner `(x, y)` metres from
    /// (44°N, 1°E), as lon/lat.
    fn square(x: f64, y: f64, side: f64) -> Polygon<f64> {
        let f = Frame::new(44.0, 1.0);
        let c = |x: f64, y: f64| f.local_to_lonlat(coord! {x: x, y: y});
        polygon![
            c(x, y),
            c(x + side, y),
            c(x + side, y + side),
            c(x, y + side)
        ]
    }

    #[test]
    fn inside_outside_and_zones() {
        let boundary = Boundary {
            area: MultiPolygon(vec![square(0.0, 0.0, 100.0)]),
            derived: false,
        };
        let zone = Zone {
            id: "ditch".into(),
            reason: "water".into(),
            area: MultiPolygon(vec![square(90.0, 0.0, 10.0)]),
        };
        let area = Area::new(Some(&boundary), &[zone]);
        assert_eq!(area.check(&square(10.0, 10.0, 2.0)), Ok(()));
        assert_eq!(
            area.check(&square(99.0, 50.0, 2.0)),
            Err(Forbidden::OutsideBoundary),
            "straddles the boundary"
        );
        assert_eq!(
            area.check(&square(89.5, 5.0, 1.0)),
            Err(Forbidden::Zone {
                id: "ditch".into(),
                reason: "water".into()
            }),
            "touches the zone"
        );
        assert_eq!(
            area.check(&square(88.0, 5.0, 1.0)),
            Ok(()),
            "1 m short of it"
        );
        let f = Frame::new(44.0, 1.0);
        let (lat, lon) = f.to_wgs84(coord! {x: 50.0, y: 50.0});
        assert!(area.inside_boundary(lat, lon));
        let (lat, lon) = f.to_wgs84(coord! {x: 150.0, y: 50.0});
        assert!(!area.inside_boundary(lat, lon));
    }

    #[test]
    fn no_boundary_means_nowhere() {
        let area = Area::new(None, &[]);
        assert_eq!(
            area.check(&square(0.0, 0.0, 1.0)),
            Err(Forbidden::OutsideBoundary)
        );
        assert!(!area.inside_boundary(44.0, 1.0));
    }
}
