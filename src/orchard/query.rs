//! What the map is asked: trees near a point (nearest first), trees in a box, the zones
//! and boundary at a point, the stored items, and a summary ([`MapInfo`]).
//!
//! `trees_near` and `trees_in_bbox` go through the R*Tree (`trees_rtree`, a box of
//! 32-bit floats per tree, rounded outward) to a few candidates, then measure exactly:
//! distances on a [`Frame`] centred on the query point (within millimetres of the
//! geodesic distance over the 100 m a query may reach), with `geo`. The boundary and
//! zones are kept in memory for `zone_at`; containment is tested in lon/lat, which gives
//! the same answer as in the frame since the frame is a linear map of lon/lat.

use std::fmt;

use geo::{
    BoundingRect, Contains, Distance, Euclidean, GeodesicArea, Intersects, MultiPolygon, Point,
    Rect,
};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{geometry, Block, Boundary, Frame, MapDb, MapError, OrchardMeta, Row, Tree, Zone};

/// The largest radius [`MapDb::trees_near`] takes, metres: a sprayer looks a few metres
/// around it, and a bigger radius would read thousands of trees per call.
pub const MAX_NEAR_RADIUS_M: f64 = 100.0;

/// A box in WGS 84 degrees (not across the antimeridian).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Southern edge, latitude.
    pub south: f64,
    /// Western edge, longitude.
    pub west: f64,
    /// Northern edge, latitude.
    pub north: f64,
    /// Eastern edge, longitude.
    pub east: f64,
}

/// A tree and its distance from the point asked about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Near {
    /// The tree.
    pub tree: Tree,
    /// Its distance, metres.
    pub distance_m: f64,
}

/// The trees in a box, by id, at most as many as asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InBbox {
    /// The trees (the first ones by id when truncated).
    pub trees: Vec<Tree>,
    /// More trees are in the box than were returned.
    pub truncated: bool,
}

/// A no-spray zone, as named at a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRef {
    /// The zone's id.
    pub id: String,
    /// Why nothing may be sprayed there.
    pub reason: String,
}

/// What covers a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneAt {
    /// The point is inside the boundary (a point on its edge is not: the safe side).
    /// False when the map has no boundary.
    pub inside_boundary: bool,
    /// The no-spray zones the point is in (or on the edge of: the safe side), by id.
    pub zones: Vec<ZoneRef>,
    /// Where the map's boundary comes from.
    pub boundary: BoundaryKind,
}

/// Where the map's boundary comes from (the contract's type: `none`, `imported`,
/// `derived`).
pub use crate::contract::map::BoundaryKind;

/// What a map holds, in short (`verger map info`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapInfo {
    /// The map's schema version.
    pub schema_version: i64,
    /// The orchard's description.
    pub orchard: OrchardMeta,
    /// Number of trees.
    pub trees: u64,
    /// Number of rows.
    pub rows: u64,
    /// Number of blocks.
    pub blocks: u64,
    /// Number of no-spray zones.
    pub zones: u64,
    /// Where the boundary comes from.
    pub boundary: BoundaryKind,
    /// The box around everything in the map; `None` for an empty map.
    pub extent: Option<BBox>,
    /// The boundary's area, hectares (geodesic).
    pub boundary_area_ha: Option<f64>,
    /// The sum of the trees' canopy volumes, m³ (trees without one count 0).
    pub total_canopy_volume_m3: f64,
    /// The sum of the trees' fruit counts (trees without one count 0).
    pub total_fruit_count: f64,
}

impl fmt::Display for MapInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.orchard;
        if o.is_empty() {
            writeln!(f, "orchard: (no description imported)")?;
        } else {
            writeln!(f, "orchard: {}", o.name.as_deref().unwrap_or("(no name)"))?;
            if let Some(crop) = &o.crop {
                writeln!(f, "crop: {crop}")?;
            }
            if let Some(code) = &o.eppo_code {
                writeln!(f, "crop EPPO code: {code}")?;
            }
            if let Some(parcel) = &o.parcel_ref {
                writeln!(f, "parcel: {parcel}")?;
            }
        }
        writeln!(
            f,
            "trees: {}, rows: {}, blocks: {}, no-spray zones: {}",
            self.trees, self.rows, self.blocks, self.zones
        )?;
        match (self.boundary, self.boundary_area_ha) {
            (BoundaryKind::None, _) | (_, None) => writeln!(f, "boundary: none")?,
            (BoundaryKind::Imported, Some(ha)) => writeln!(f, "boundary: imported, {ha:.2} ha")?,
            (BoundaryKind::Derived, Some(ha)) => {
                writeln!(f, "boundary: derived from the trees and rows, {ha:.2} ha")?
            }
        }
        match &self.extent {
            Some(b) => writeln!(
                f,
                "extent: south {:.6}, west {:.6}, north {:.6}, east {:.6}",
                b.south, b.west, b.north, b.east
            )?,
            None => writeln!(f, "extent: none (the map is empty)")?,
        }
        writeln!(
            f,
            "canopy volume: {:.1} m³, fruit count: {}",
            self.total_canopy_volume_m3, self.total_fruit_count
        )?;
        write!(f, "map schema version: {}", self.schema_version)
    }
}

/// The boundary and zones in memory, with their boxes, as of `data_version`.
#[derive(Debug)]
pub(crate) struct AreaCache {
    data_version: i64,
    kind: BoundaryKind,
    boundary: Option<(MultiPolygon<f64>, Rect<f64>)>,
    zones: Vec<(Zone, Rect<f64>)>,
}

const TREE_BY_ID: &str = concat!("SELECT ", tree_columns!(), " FROM trees t WHERE t.id = ?1");

/// Candidates from the R*Tree: boxes meeting ?2..?1 (longitude) and ?4..?3 (latitude).
const TREES_NEAR: &str = concat!(
    "SELECT ",
    tree_columns!(),
    " FROM trees_rtree r JOIN trees t ON t.rowid = r.id
     WHERE r.min_lon <= ?1 AND r.max_lon >= ?2 AND r.min_lat <= ?3 AND r.max_lat >= ?4"
);

/// The same, then exactly in the box, by id, at most ?5.
const TREES_IN_BOX: &str = concat!(
    "SELECT ",
    tree_columns!(),
    " FROM trees_rtree r JOIN trees t ON t.rowid = r.id
     WHERE r.min_lon <= ?1 AND r.max_lon >= ?2 AND r.min_lat <= ?3 AND r.max_lat >= ?4
       AND t.lon BETWEEN ?2 AND ?1 AND t.lat BETWEEN ?4 AND ?3
     ORDER BY t.id LIMIT ?5"
);

fn check_point(lat: f64, lon: f64) -> Result<(), MapError> {
    if !(lat.is_finite() && lat.abs() <= 90.0) {
        return Err(MapError::BadQuery(format!(
            "latitude {lat} is not within ±90°"
        )));
    }
    if !(lon.is_finite() && lon.abs() <= 180.0) {
        return Err(MapError::BadQuery(format!(
            "longitude {lon} is not within ±180°"
        )));
    }
    Ok(())
}

impl MapDb {
    pub(crate) fn read_tree(&self, r: &rusqlite::Row<'_>) -> Result<Tree, MapError> {
        let sq = self.sqlite();
        let id: String = r.get(0).map_err(&sq)?;
        let extra: String = r.get(8).map_err(&sq)?;
        let extra = match extra.as_str() {
            "{}" => serde_json::Map::new(),
            text => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return Err(self.damaged(format!("tree {id:?}: `extra` is not a JSON object"))),
            },
        };
        Ok(Tree {
            row: r.get(1).map_err(&sq)?,
            lat: r.get(2).map_err(&sq)?,
            lon: r.get(3).map_err(&sq)?,
            fruit_count: r.get(4).map_err(&sq)?,
            canopy_height_m: r.get(5).map_err(&sq)?,
            canopy_width_m: r.get(6).map_err(&sq)?,
            canopy_volume_m3: r.get(7).map_err(&sq)?,
            extra,
            id,
        })
    }

    /// The tree with this id.
    pub fn tree(&self, id: &str) -> Result<Option<Tree>, MapError> {
        let mut stmt = self
            .conn
            .prepare_cached(TREE_BY_ID)
            .map_err(self.sqlite())?;
        let mut rows = stmt.query(params![id]).map_err(self.sqlite())?;
        match rows.next().map_err(self.sqlite())? {
            Some(r) => self.read_tree(r).map(Some),
            None => Ok(None),
        }
    }

    /// The trees within `radius_m` metres (at most [`MAX_NEAR_RADIUS_M`]) of a point,
    /// nearest first (equally near ones by id).
    pub fn trees_near(&self, lat: f64, lon: f64, radius_m: f64) -> Result<Vec<Near>, MapError> {
        check_point(lat, lon)?;
        if !(radius_m.is_finite() && radius_m >= 0.0) {
            return Err(MapError::BadQuery(format!(
                "the radius must be 0 or more metres, not {radius_m}"
            )));
        }
        if radius_m > MAX_NEAR_RADIUS_M {
            return Err(MapError::BadQuery(format!(
                "a radius of {radius_m} m is above the limit of {MAX_NEAR_RADIUS_M} m"
            )));
        }
        let frame = Frame::new(lat, lon);
        let (m_lat, m_lon) = frame.metres_per_degree();
        // A little more than the radius: the exact test follows.
        let reach = radius_m * 1.01 + 0.01;
        let dlat = reach / m_lat;
        let dlon = (reach / m_lon.max(1e-3)).min(360.0);
        let mut stmt = self
            .conn
            .prepare_cached(TREES_NEAR)
            .map_err(self.sqlite())?;
        let mut rows = stmt
            .query(params![lon + dlon, lon - dlon, lat + dlat, lat - dlat])
            .map_err(self.sqlite())?;
        let here = Point::new(0.0, 0.0);
        let mut near = Vec::new();
        while let Some(r) = rows.next().map_err(self.sqlite())? {
            let (tlat, tlon): (f64, f64) = (
                r.get(2).map_err(self.sqlite())?,
                r.get(3).map_err(self.sqlite())?,
            );
            let distance_m = Euclidean.distance(here, Point(frame.to_local(tlat, tlon)));
            if distance_m <= radius_m {
                near.push(Near {
                    tree: self.read_tree(r)?,
                    distance_m,
                });
            }
        }
        near.sort_by(|a, b| {
            a.distance_m
                .total_cmp(&b.distance_m)
                .then_with(|| a.tree.id.cmp(&b.tree.id))
        });
        Ok(near)
    }

    /// The trees in `bbox` (edges included), by id, at most `limit` of them.
    pub fn trees_in_bbox(&self, bbox: BBox, limit: usize) -> Result<InBbox, MapError> {
        check_point(bbox.south, bbox.west)?;
        check_point(bbox.north, bbox.east)?;
        if bbox.south > bbox.north {
            return Err(MapError::BadQuery(format!(
                "the box's south edge ({}) is north of its north edge ({})",
                bbox.south, bbox.north
            )));
        }
        if bbox.west > bbox.east {
            return Err(MapError::BadQuery(format!(
                "the box's west edge ({}) is east of its east edge ({}); boxes across the antimeridian are not supported",
                bbox.west, bbox.east
            )));
        }
        let mut stmt = self
            .conn
            .prepare_cached(TREES_IN_BOX)
            .map_err(self.sqlite())?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let mut rows = stmt
            .query(params![bbox.east, bbox.west, bbox.north, bbox.south, fetch])
            .map_err(self.sqlite())?;
        let mut trees = Vec::new();
        let mut truncated = false;
        while let Some(r) = rows.next().map_err(self.sqlite())? {
            if trees.len() == limit {
                truncated = true;
                break;
            }
            trees.push(self.read_tree(r)?);
        }
        Ok(InBbox { trees, truncated })
    }

    /// Whether a point is inside the boundary, and the no-spray zones it is in.
    pub fn zone_at(&self, lat: f64, lon: f64) -> Result<ZoneAt, MapError> {
        check_point(lat, lon)?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(self.sqlite())?;
        let mut cache = self.areas.borrow_mut();
        let fresh = match cache.take() {
            Some(c) if c.data_version == version => c,
            _ => self.load_areas(version)?,
        };
        let areas = cache.insert(fresh);
        let p = Point::new(lon, lat);
        let inside_boundary = areas
            .boundary
            .as_ref()
            .is_some_and(|(b, rect)| rect.intersects(&p) && b.contains(&p));
        let zones = areas
            .zones
            .iter()
            .filter(|(z, rect)| rect.intersects(&p) && z.area.intersects(&p))
            .map(|(z, _)| ZoneRef {
                id: z.id.clone(),
                reason: z.reason.clone(),
            })
            .collect();
        Ok(ZoneAt {
            inside_boundary,
            zones,
            boundary: areas.kind,
        })
    }

    fn load_areas(&self, data_version: i64) -> Result<AreaCache, MapError> {
        let with_rect = |m: MultiPolygon<f64>| {
            let rect = m.bounding_rect();
            rect.map(|r| (m, r))
        };
        let boundary = self.boundary()?;
        Ok(AreaCache {
            data_version,
            kind: BoundaryKind::of(boundary.as_ref()),
            boundary: boundary.and_then(|b| with_rect(b.area)),
            zones: self
                .zones()?
                .into_iter()
                .filter_map(|z| {
                    let rect = z.area.bounding_rect()?;
                    Some((z, rect))
                })
                .collect(),
        })
    }

    /// The orchard's description (every field `None` when none was imported).
    pub fn orchard(&self) -> Result<OrchardMeta, MapError> {
        self.conn
            .query_row(
                "SELECT name, crop, eppo_code, parcel_ref FROM orchard WHERE id = 1",
                [],
                |r| {
                    Ok(OrchardMeta {
                        name: r.get(0)?,
                        crop: r.get(1)?,
                        eppo_code: r.get(2)?,
                        parcel_ref: r.get(3)?,
                    })
                },
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(self.sqlite())
    }

    fn area(&self, what: &str, text: &str) -> Result<MultiPolygon<f64>, MapError> {
        geometry::area_from_text(text).map_err(|e| self.damaged(format!("{what}: {e}")))
    }

    /// The boundary, if the map has one.
    pub fn boundary(&self) -> Result<Option<Boundary>, MapError> {
        let stored: Option<(String, bool)> = self
            .conn
            .query_row("SELECT area, derived FROM boundary WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(self.sqlite())?;
        match stored {
            None => Ok(None),
            Some((text, derived)) => Ok(Some(Boundary {
                area: self.area("the boundary", &text)?,
                derived,
            })),
        }
    }

    /// The no-spray zones, by id.
    pub fn zones(&self) -> Result<Vec<Zone>, MapError> {
        let stored: Vec<(String, String, String)> = self
            .conn
            .prepare("SELECT id, reason, area FROM zones ORDER BY id")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(self.sqlite())?;
        stored
            .into_iter()
            .map(|(id, reason, text)| {
                let area = self.area(&format!("zone {id:?}"), &text)?;
                Ok(Zone { id, reason, area })
            })
            .collect()
    }

    /// The rows, by id.
    pub fn rows(&self) -> Result<Vec<Row>, MapError> {
        let stored: Vec<(String, Option<String>, String)> = self
            .conn
            .prepare("SELECT id, block, line FROM rows ORDER BY id")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(self.sqlite())?;
        stored
            .into_iter()
            .map(|(id, block, text)| {
                let line = geometry::line_from_text(&text)
                    .map_err(|e| self.damaged(format!("row {id:?}: {e}")))?;
                Ok(Row { id, block, line })
            })
            .collect()
    }

    /// The blocks, by id.
    pub fn blocks(&self) -> Result<Vec<Block>, MapError> {
        type Stored = (
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let stored: Vec<Stored> = self
            .conn
            .prepare("SELECT id, name, variety, planting_year, area FROM blocks ORDER BY id")
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect()
            })
            .map_err(self.sqlite())?;
        stored
            .into_iter()
            .map(|(id, name, variety, planting_year, area)| {
                let area = match area {
                    Some(text) => Some(self.area(&format!("block {id:?}"), &text)?),
                    None => None,
                };
                Ok(Block {
                    id,
                    name,
                    variety,
                    planting_year,
                    area,
                })
            })
            .collect()
    }

    /// What the map holds, in short.
    pub fn info(&self) -> Result<MapInfo, MapError> {
        let sq = self.sqlite();
        let count = |table: &str| -> Result<u64, MapError> {
            self.conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(&sq)
        };
        type Sums = (f64, f64, Option<f64>, Option<f64>, Option<f64>, Option<f64>);
        let (volume, fruit, south, north, west, east): Sums = self
            .conn
            .query_row(
                "SELECT total(canopy_volume_m3), total(fruit_count), min(lat), max(lat), min(lon), max(lon) FROM trees",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .map_err(&sq)?;
        let boundary = self.boundary()?;
        let mut extent: Option<Rect<f64>> = match (south, north, west, east) {
            (Some(s), Some(n), Some(w), Some(e)) => Some(Rect::new((w, s), (e, n))),
            _ => None,
        };
        let mut grow = |r: Option<Rect<f64>>| {
            if let Some(r) = r {
                extent = Some(match extent {
                    None => r,
                    Some(e) => Rect::new(
                        (e.min().x.min(r.min().x), e.min().y.min(r.min().y)),
                        (e.max().x.max(r.max().x), e.max().y.max(r.max().y)),
                    ),
                });
            }
        };
        for row in self.rows()? {
            grow(row.line.bounding_rect());
        }
        for block in self.blocks()? {
            grow(block.area.and_then(|a| a.bounding_rect()));
        }
        for zone in self.zones()? {
            grow(zone.area.bounding_rect());
        }
        if let Some(b) = &boundary {
            grow(b.area.bounding_rect());
        }
        Ok(MapInfo {
            schema_version: self.schema_version()?,
            orchard: self.orchard()?,
            trees: count("trees")?,
            rows: count("rows")?,
            blocks: count("blocks")?,
            zones: count("zones")?,
            boundary: BoundaryKind::of(boundary.as_ref()),
            extent: extent.map(|r| BBox {
                south: r.min().y,
                west: r.min().x,
                north: r.max().y,
                east: r.max().x,
            }),
            boundary_area_ha: boundary.map(|b| b.area.geodesic_area_unsigned() / 10_000.0),
            total_canopy_volume_m3: volume,
            total_fruit_count: fruit,
        })
    }
}
