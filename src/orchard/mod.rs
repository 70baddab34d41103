//! The orchard map: trees, rows, blocks, boundary and no-spray zones, kept in SQLite
//! (feature `orchard`), with their import, export and queries. Read by `verger map`,
//! by the map component (which plans the spray windows) and by the simulator.
//!
//! All coordinates are WGS 84 degrees; geometry in lon/lat order (as GeoJSON), measured
//! on a local metric [`Frame`]. Documented table by table in `docs/map.md`.
//!
//! - [`MapDb`] (`db.rs`): the database file, its schema and migrations, opening it.
//! - [`import`]: reading GeoJSON and CSV files (all or nothing) into a map.
//! - `query.rs`: what the map component asks (trees near a point, in a box, zones at a
//!   point) and [`MapInfo`].
//! - `export.rs`: the map written back as GeoJSON or CSV (round-trips with import).
//! - `boundary.rs`: the boundary derived from the trees and rows when none is imported.
//! - `geometry.rs`: geometry as stored (GeoJSON text) and as checked on import.
//! - `rtree.rs`: the R*Tree of trees, packed in one go when an import fills it.

/// The columns a [`Tree`] is read from, in the order `read_tree` expects.
macro_rules! tree_columns {
    () => {
        "t.id, t.row, t.lat, t.lon, t.fruit_count, t.canopy_height_m, \
         t.canopy_width_m, t.canopy_volume_m3, t.extra"
    };
}

mod boundary;
mod db;
mod export;
pub mod frame;
mod geometry;
pub mod import;
mod query;
mod rtree;
mod section;

pub use db::{MapDb, MapError, SCHEMA_VERSION};
pub use frame::Frame;
pub use import::{ImportError, ImportOptions, ImportProgress, ImportSummary};
pub use query::{BBox, BoundaryKind, InBbox, MapInfo, Near, ZoneAt, ZoneRef, MAX_NEAR_RADIUS_M};
pub use section::SectionSettings;

use geo::{LineString, MultiPolygon};
use serde::{Deserialize, Serialize};

/// One tree (or one plant position generated along a row) and the attributes a dose
/// model reads. Attributes a survey did not measure are `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Unique in the map.
    pub id: String,
    /// The row it stands in, if known.
    pub row: Option<String>,
    /// WGS 84 degrees.
    pub lat: f64,
    /// WGS 84 degrees.
    pub lon: f64,
    /// Fruit counted or estimated on the tree.
    pub fruit_count: Option<f64>,
    /// Canopy height, metres (from the ground to the top).
    pub canopy_height_m: Option<f64>,
    /// Canopy width, metres (its diameter as seen from above).
    pub canopy_width_m: Option<f64>,
    /// Canopy volume, cubic metres.
    pub canopy_volume_m3: Option<f64>,
    /// Any other attribute, as a JSON object (`{}` when none).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A planted row (its centre line, lon/lat).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Unique in the map.
    pub id: String,
    /// The block it belongs to, if known.
    pub block: Option<String>,
    /// The centre line, lon/lat.
    pub line: LineString<f64>,
}

/// A block: trees of one variety planted the same year, often managed as one.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Unique in the map.
    pub id: String,
    /// Its name, if it has one besides its id.
    pub name: Option<String>,
    /// The variety (cultivar) planted.
    pub variety: Option<String>,
    /// The year it was planted.
    pub planting_year: Option<i64>,
    /// Its area, lon/lat, if known.
    pub area: Option<MultiPolygon<f64>>,
}

/// What the map says about the orchard as a whole (each field absent when not imported).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrchardMeta {
    /// The orchard's name.
    pub name: Option<String>,
    /// The crop, in words (e.g. `apple`).
    pub crop: Option<String>,
    /// The crop's EPPO code (e.g. `MABSD` for apple), as plant protection products are
    /// authorised per crop.
    pub eppo_code: Option<String>,
    /// The official reference of the land parcel (e.g. the cadastral or LPIS id).
    pub parcel_ref: Option<String>,
}

impl OrchardMeta {
    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self == &OrchardMeta::default()
    }
}

/// A no-spray zone (e.g. a buffer strip along water), lon/lat.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Unique in the map.
    pub id: String,
    /// Why nothing may be sprayed there (goes into refusals and records).
    pub reason: String,
    /// Its area, lon/lat.
    pub area: MultiPolygon<f64>,
}

/// The orchard's boundary, lon/lat: spraying is allowed only inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    /// Its area, lon/lat.
    pub area: MultiPolygon<f64>,
    /// True when verger derived it from the rows and trees (no boundary was imported).
    pub derived: bool,
}
