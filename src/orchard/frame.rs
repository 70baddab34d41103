//! A local metric frame: WGS 84 latitude/longitude ↔ metres east/north of an origin.
//!
//! The `geo` crate measures (distances, containment, hulls, buffers) on planar
//! coordinates and has no map projection without the C library PROJ, so the orchard's
//! geometry is projected here onto the plane tangent to the WGS 84 ellipsoid at an
//! origin (an equirectangular projection scaled by the ellipsoid's radii of curvature
//! at the origin's latitude), then handed to `geo`. The scale error grows with the
//! distance from the origin: a 10 m distance is off by under 3 mm within 1 km of it and
//! under 1.5 cm within 5 km, up to 60° latitude (tested against `geo`'s geodesic distance). Whoever measures
//! at centimetre level (the planner) centres a frame on the tractor, where the error is
//! below a micrometre; a frame centred on the orchard serves for areas and overviews.

use geo::{Coord, LineString, MultiPolygon, Point, Polygon};

/// WGS 84 semi-major axis, metres.
const A: f64 = 6_378_137.0;
/// WGS 84 first eccentricity squared.
const E2: f64 = 6.694_379_990_141_33e-3;

/// A tangent plane at `origin`: `x` metres east, `y` metres north.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    lat0: f64,
    lon0: f64,
    m_per_deg_lat: f64,
    m_per_deg_lon: f64,
}

impl Frame {
    /// The frame centred on (`lat`, `lon`), in degrees.
    pub fn new(lat: f64, lon: f64) -> Frame {
        let phi = lat.to_radians();
        let w = 1.0 - E2 * phi.sin().powi(2);
        let meridional = A * (1.0 - E2) / w.powf(1.5);
        let prime_vertical = A / w.sqrt();
        Frame {
            lat0: lat,
            lon0: lon,
            m_per_deg_lat: meridional.to_radians(),
            m_per_deg_lon: (prime_vertical * phi.cos()).to_radians(),
        }
    }

    /// The origin (latitude, longitude), degrees.
    pub fn origin(&self) -> (f64, f64) {
        (self.lat0, self.lon0)
    }

    /// Metres per degree of latitude and of longitude at the origin.
    pub fn metres_per_degree(&self) -> (f64, f64) {
        (self.m_per_deg_lat, self.m_per_deg_lon)
    }

    /// (`lat`, `lon`) in degrees → metres east (`x`) and north (`y`) of the origin.
    pub fn to_local(&self, lat: f64, lon: f64) -> Coord<f64> {
        Coord {
            x: (lon - self.lon0) * self.m_per_deg_lon,
            y: (lat - self.lat0) * self.m_per_deg_lat,
        }
    }

    /// Metres east/north of the origin → (latitude, longitude) in degrees.
    pub fn to_wgs84(&self, c: Coord<f64>) -> (f64, f64) {
        (
            self.lat0 + c.y / self.m_per_deg_lat,
            self.lon0 + c.x / self.m_per_deg_lon,
        )
    }

    /// A GeoJSON-ordered coordinate (`x` = longitude, `y` = latitude) → local metres.
    pub fn lonlat_to_local(&self, c: Coord<f64>) -> Coord<f64> {
        self.to_local(c.y, c.x)
    }

    /// Local metres → a GeoJSON-ordered coordinate (`x` = longitude, `y` = latitude).
    pub fn local_to_lonlat(&self, c: Coord<f64>) -> Coord<f64> {
        let (lat, lon) = self.to_wgs84(c);
        Coord { x: lon, y: lat }
    }

    /// A point in lon/lat → local metres.
    pub fn point(&self, p: Point<f64>) -> Point<f64> {
        Point(self.lonlat_to_local(p.0))
    }

    /// A line in lon/lat → local metres.
    pub fn line(&self, l: &LineString<f64>) -> LineString<f64> {
        l.coords().map(|c| self.lonlat_to_local(*c)).collect()
    }

    /// A polygon in lon/lat → local metres.
    pub fn polygon(&self, p: &Polygon<f64>) -> Polygon<f64> {
        Polygon::new(
            self.line(p.exterior()),
            p.interiors().iter().map(|r| self.line(r)).collect(),
        )
    }

    /// A multipolygon in lon/lat → local metres.
    pub fn multi_polygon(&self, m: &MultiPolygon<f64>) -> MultiPolygon<f64> {
        MultiPolygon(m.iter().map(|p| self.polygon(p)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Distance, Euclidean, Geodesic};

    #[test]
    fn round_trips() {
        let f = Frame::new(47.35, -0.62);
        for (lat, lon) in [(47.35, -0.62), (47.36, -0.61), (47.30, -0.70)] {
            let (la, lo) = f.to_wgs84(f.to_local(lat, lon));
            assert!((la - lat).abs() < 1e-12 && (lo - lon).abs() < 1e-12);
        }
    }

    #[test]
    fn local_distances_match_geodesic_ones() {
        // Pairs of points 10 m apart, up to 5 km from the origin, at several latitudes
        // and bearings: the planar distance is within 3 mm of the geodesic one within
        // 1 km of the origin, within 1.5 cm within 5 km (up to 60° latitude).
        for lat0 in [0.0, 44.0, 51.6, 60.0] {
            let f = Frame::new(lat0, 3.0);
            for (dx, dy) in [
                (0.0, 0.0),
                (1000.0, 0.0),
                (0.0, -1000.0),
                (700.0, 700.0),
                (5000.0, 0.0),
                (0.0, -5000.0),
                (3500.0, 3500.0),
            ] {
                let tolerance = if f64::hypot(dx, dy) <= 1000.0 {
                    0.003
                } else {
                    0.015
                };
                let base = f.to_wgs84(Coord { x: dx, y: dy });
                for bearing in [0.0f64, 37.0, 90.0, 145.0] {
                    let b = bearing.to_radians();
                    let other = f.to_wgs84(Coord {
                        x: dx + 10.0 * b.sin(),
                        y: dy + 10.0 * b.cos(),
                    });
                    let planar = Euclidean.distance(
                        Point(f.to_local(base.0, base.1)),
                        Point(f.to_local(other.0, other.1)),
                    );
                    let true_m =
                        Geodesic.distance(Point::new(base.1, base.0), Point::new(other.1, other.0));
                    assert!(
                        (planar - true_m).abs() < tolerance,
                        "lat0 {lat0} at ({dx},{dy}) bearing {bearing}: {planar} vs {true_m}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_degree_of_latitude_is_about_111_km() {
        let (lat, lon) = Frame::new(45.0, 0.0).metres_per_degree();
        assert!((lat - 111_132.0).abs() < 5.0, "{lat}");
        assert!((lon - 78_847.0).abs() < 5.0, "{lon}");
    }
}
