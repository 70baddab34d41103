//! The orchard map: trees, rows, blocks, boundary and no-spray zones, kept in SQLite
//! (feature `orchard`), with their import, export and queries. Read by `verger map`,
//! by the map component (which plans the spray windows) and by the simulator.
//!
//! All coordinates are WGS 84 degrees; geometry in lon/lat order (as GeoJSON), measured
//! on a local metric [`Frame`]. Documented table by table in `docs/map.md`.

pub mod frame;

pub use frame::Frame;

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
