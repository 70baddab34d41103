//! Import of GeoJSON and CSV files into a map (`verger map import`), all or nothing.
//!
//! Every file is read and checked in memory first (`geojson.rs`, `csv.rs`), then
//! everything is written in one transaction (`write.rs`), rows without trees get trees
//! generated along them (`generate.rs`) and the boundary is derived when none was
//! imported. Any error leaves the database file as it was, byte for byte, and an import
//! into a new file that fails leaves no file behind. The formats are documented in
//! `docs/map.md`.

mod csv;
mod generate;
mod geojson;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use super::geometry::RingAt;
use super::{Block, MapDb, MapError, OrchardMeta, Row, Tree, Zone};

/// How an import treats rows and the map already there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Distance in metres between the trees generated along a row that no imported tree
    /// references (a row's own `tree_spacing_m` property wins). `None`: such rows get no
    /// trees, and the summary warns.
    pub tree_spacing_m: Option<f64>,
    /// Clear the map first, in the same transaction.
    pub replace: bool,
}

/// Where an import is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportProgress {
    /// Reading and checking the files.
    Reading {
        /// Bytes of the files read so far.
        bytes: u64,
        /// Bytes of all the files.
        total_bytes: u64,
        /// Features and CSV records read so far.
        items: u64,
    },
    /// Writing into the database.
    Writing {
        /// Items (trees, rows, blocks, zones...) written so far.
        items: u64,
        /// Items to write.
        total: u64,
    },
}

/// What became of the map's boundary in an import.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryOutcome {
    /// The map has nothing to derive one from (no trees, no rows) and none was imported.
    None,
    /// Boundary features were imported (united); they replace any earlier boundary.
    Imported,
    /// None was imported, so it was derived from the trees and rows.
    Derived,
    /// None was imported and the map keeps the boundary imported earlier.
    Kept,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportSummary {
    /// The map database.
    pub db: PathBuf,
    /// The files read.
    pub files: Vec<PathBuf>,
    /// The map was cleared first (`replace`).
    pub replaced: bool,
    /// Trees read from the files.
    pub trees: u64,
    /// Trees generated along rows.
    pub generated_trees: u64,
    /// Rows imported.
    pub rows: u64,
    /// Blocks imported.
    pub blocks: u64,
    /// No-spray zones imported.
    pub zones: u64,
    /// The orchard's description was imported.
    pub orchard: bool,
    /// What became of the boundary.
    pub boundary: BoundaryOutcome,
    /// For a derived boundary: how far it was widened beyond the hull, metres (half the
    /// row spacing).
    pub boundary_margin_m: Option<f64>,
    /// Features without a `kind` that verger does not read, counted by their
    /// `type`/`class` (or geometry type).
    pub skipped: BTreeMap<String, u64>,
    /// Things that were imported but look wrong.
    pub warnings: Vec<String>,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = if self.files.len() == 1 {
            "1 file".to_owned()
        } else {
            format!("{} files", self.files.len())
        };
        let how = if self.replaced {
            " (replacing the map)"
        } else {
            ""
        };
        writeln!(f, "imported {files} into {}{how}:", self.db.display())?;
        if self.generated_trees > 0 {
            writeln!(
                f,
                "  trees: {} ({} read, {} generated along rows)",
                self.trees + self.generated_trees,
                self.trees,
                self.generated_trees
            )?;
        } else {
            writeln!(f, "  trees: {}", self.trees)?;
        }
        writeln!(
            f,
            "  rows: {}, blocks: {}, no-spray zones: {}{}",
            self.rows,
            self.blocks,
            self.zones,
            if self.orchard {
                ", orchard description"
            } else {
                ""
            }
        )?;
        match (self.boundary, self.boundary_margin_m) {
            (BoundaryOutcome::Derived, Some(m)) => writeln!(
                f,
                "  boundary: derived (hull of the trees and rows, widened by {m:.2} m)"
            )?,
            (BoundaryOutcome::Derived, None) => writeln!(f, "  boundary: derived")?,
            (BoundaryOutcome::Imported, _) => writeln!(f, "  boundary: imported")?,
            (BoundaryOutcome::Kept, _) => writeln!(f, "  boundary: kept (imported earlier)")?,
            (BoundaryOutcome::None, _) => {
                writeln!(f, "  boundary: none (nothing to derive it from)")?
            }
        }
        if !self.skipped.is_empty() {
            let n: u64 = self.skipped.values().sum();
            let list: Vec<String> = self
                .skipped
                .iter()
                .map(|(label, count)| format!("{label} ({count})"))
                .collect();
            writeln!(
                f,
                "  skipped {n} features without a kind verger reads: {}",
                list.join(", ")
            )?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}

/// Where in an input file something is.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// The file as a whole.
    File,
    /// A GeoJSON feature: its index in `features` (from 0) and its id, if it has one.
    Feature {
        /// Index in the file's `features` array.
        index: usize,
        /// The feature's id (property `id`, else the feature's `id`).
        id: Option<String>,
    },
    /// A CSV record: its line (from 1) and, when one cell is at fault, its column.
    Line {
        /// Line number, from 1 (the header is line 1).
        line: u64,
        /// The column at fault: its number (from 1) and its name in the header.
        column: Option<(usize, String)>,
    },
}

/// A place in a named file.
#[derive(Debug, Clone, PartialEq)]
pub struct At {
    /// The file.
    pub file: PathBuf,
    /// Where in it.
    pub place: Place,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match &self.place {
            Place::File => Ok(()),
            Place::Feature { index, id: None } => write!(f, ", features[{index}]"),
            Place::Feature {
                index,
                id: Some(id),
            } => write!(f, ", features[{index}] (id {id:?})"),
            Place::Line { line, column: None } => write!(f, ", line {line}"),
            Place::Line {
                line,
                column: Some((n, name)),
            } => write!(f, ", line {line}, column {n} ({name})"),
        }
    }
}

/// The feature kinds verger reads, as an error lists them.
pub const KINDS: &str = "orchard, block, row, tree, boundary, no_spray";

/// What is wrong with one feature, record or cell.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// A `kind` verger does not know (never skipped: a typo must not drop a zone).
    #[error("unknown kind {kind:?} (verger reads: {KINDS})")]
    UnknownKind {
        /// The kind given.
        kind: String,
    },
    /// `kind` is not a string.
    #[error("`kind` must be a string, not {found}")]
    KindNotText {
        /// The JSON given, shortened.
        found: String,
    },
    /// An element of `features` that is not a Feature.
    #[error("not a Feature (its `type` is {found:?})")]
    NotAFeature {
        /// Its `type`.
        found: String,
    },
    /// A feature that needs an id has none.
    #[error("a {kind} needs an `id` (a property, or the feature's id)")]
    MissingId {
        /// The feature's kind.
        kind: &'static str,
    },
    /// A no-spray zone without a reason.
    #[error("a no_spray zone needs a non-empty `reason` (it goes into refusals and records)")]
    MissingReason,
    /// A second orchard description.
    #[error("a second orchard feature (the first is at {first})")]
    SecondOrchard {
        /// Where the first one is.
        first: String,
    },
    /// A geometry of the wrong type for the feature's kind.
    #[error("a {kind} needs {expected} geometry, not {found}")]
    WrongGeometry {
        /// The feature's kind.
        kind: &'static str,
        /// The geometry types it takes.
        expected: &'static str,
        /// What it has (`none` for a null geometry).
        found: String,
    },
    /// A position that is not [longitude, latitude].
    #[error("a position needs a longitude and a latitude, this one has {numbers} number(s)")]
    BadPosition {
        /// How many numbers it has.
        numbers: usize,
    },
    /// A coordinate out of range: not WGS 84 degrees.
    #[error("longitude {lon}, latitude {lat} is out of range (longitude within ±180°, latitude within ±90°): coordinates must be WGS 84 degrees, not projected metres")]
    OutOfRange {
        /// The longitude (x) given.
        lon: f64,
        /// The latitude (y) given.
        lat: f64,
    },
    /// A ring whose last position is not its first.
    #[error("{at} is not closed: its last position must repeat its first")]
    UnclosedRing {
        /// Which ring.
        at: RingAt,
    },
    /// A ring of fewer than 4 positions.
    #[error(
        "{at} has {positions} positions; a ring needs at least 4 (the first repeated at the end)"
    )]
    ShortRing {
        /// Which ring.
        at: RingAt,
        /// How many it has.
        positions: usize,
    },
    /// A polygon without rings, or a MultiPolygon without polygons.
    #[error("an empty polygon")]
    EmptyPolygon,
    /// A line of fewer than 2 positions.
    #[error("a line needs at least 2 positions, this one has {positions}")]
    ShortLine {
        /// How many it has.
        positions: usize,
    },
    /// A geometry `geo` finds invalid (self-intersecting ring, overlapping polygons...).
    #[error("invalid geometry: {0}")]
    InvalidGeometry(String),
    /// A value that must be a number is not one.
    #[error("`{name}` must be a number, not {value}")]
    NotANumber {
        /// The property or column.
        name: String,
        /// What it holds, shortened.
        value: String,
    },
    /// A value that must be a whole number is not one.
    #[error("`{name}` must be a whole number, not {value}")]
    NotAWholeNumber {
        /// The property or column.
        name: String,
        /// What it holds, shortened.
        value: String,
    },
    /// A measure that cannot be negative is.
    #[error("`{name}` must not be negative, not {value}")]
    Negative {
        /// The property or column.
        name: String,
        /// Its value.
        value: f64,
    },
    /// A tree spacing that is not a positive number of metres.
    #[error("`tree_spacing_m` must be a positive number of metres, not {value}")]
    BadSpacing {
        /// Its value.
        value: f64,
    },
    /// A value that must be text (or an id, text or a whole number) is not.
    #[error("`{name}` must be text, not {value}")]
    NotText {
        /// The property.
        name: String,
        /// What it holds, shortened.
        value: String,
    },
    /// A CSV header without a required column.
    #[error("no `{column}` column (the header must name id, row, lat and lon)")]
    MissingColumn {
        /// The missing column.
        column: &'static str,
    },
    /// A CSV header naming a column twice.
    #[error("the header names `{column}` twice")]
    DuplicateColumn {
        /// The column.
        column: String,
    },
    /// A CSV column verger refuses (a CSV file holds trees only).
    #[error("a `{column}` column: a CSV file holds trees only (use GeoJSON for other kinds)")]
    ReservedColumn {
        /// The column.
        column: String,
    },
    /// An empty cell where a value is required.
    #[error("`{column}` is empty; every tree needs one")]
    MissingValue {
        /// The column.
        column: &'static str,
    },
    /// A CSV record with another number of fields than the header.
    #[error("{found} fields where the header has {expected}")]
    FieldCount {
        /// Fields of the header.
        expected: u64,
        /// Fields of the record.
        found: u64,
    },
    /// Text that is not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No input file was named.
    #[error("nothing to import: name at least one GeoJSON or CSV file")]
    NoFiles,
    /// The `tree_spacing_m` option is not a positive number.
    #[error("the tree spacing must be a positive number of metres, not {0}")]
    BadSpacing(f64),
    /// An input file cannot be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A GeoJSON file that is not JSON.
    #[error("{}: not JSON: line {line}, column {column}: {message}", file.display())]
    NotJson {
        /// The file.
        file: PathBuf,
        /// Line of the first error, from 1.
        line: usize,
        /// Column of the first error, from 1.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// JSON that is not a GeoJSON FeatureCollection or Feature.
    #[error("{}: not a GeoJSON FeatureCollection or Feature: {message}", file.display())]
    NotGeoJson {
        /// The file.
        file: PathBuf,
        /// What is wrong, with its line and column when known.
        message: String,
    },
    /// A coordinate reference system other than WGS 84 longitude/latitude.
    #[error("{}: coordinate reference system {crs} is not supported: verger reads WGS 84 longitude/latitude (CRS84, EPSG:4326); reproject the file", file.display())]
    Crs {
        /// The file.
        file: PathBuf,
        /// The `crs` member, as JSON.
        crs: String,
    },
    /// One feature, record or cell is wrong.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where.
        at: Box<At>,
        /// What is wrong.
        problem: Problem,
    },
    /// An id used twice in what is imported.
    #[error("{at}: {kind} id {id:?} is used twice (also at {first})")]
    Duplicate {
        /// `tree`, `row`, `block`, `no_spray zone`, or `generated tree`.
        kind: &'static str,
        /// The id.
        id: String,
        /// The second use.
        at: Box<At>,
        /// The first use.
        first: Box<At>,
    },
    /// An id already in the map.
    #[error("{at}: {kind} id {id:?} is already in the map {} (import with --replace to start the map afresh)", db.display())]
    AlreadyInMap {
        /// `tree`, `row`, `block`, `no_spray zone`, or `generated tree`.
        kind: &'static str,
        /// The id.
        id: String,
        /// Where it is in the files.
        at: Box<At>,
        /// The map.
        db: PathBuf,
    },
    /// The map cannot be opened or written.
    #[error(transparent)]
    Map(#[from] MapError),
    /// The new map file cannot be moved into place.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The map file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A GeoJSON FeatureCollection (or a lone Feature).
    GeoJson,
    /// A CSV file of trees.
    Csv,
}

impl Format {
    /// The format of `file`: by its extension (`.geojson`, `.json`, `.csv`), else by its
    /// first character (`{` is GeoJSON, anything else CSV).
    pub fn of(file: &Path, bytes: &[u8]) -> Format {
        let ext = file
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("geojson" | "json") => Format::GeoJson,
            Some("csv") => Format::Csv,
            _ => match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{') => Format::GeoJson,
                _ => Format::Csv,
            },
        }
    }
}

/// Where an item came from, compactly: the file's index and the feature index or CSV
/// line (a map may hold millions of trees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) file: usize,
    pub(crate) item: u64,
}

/// The tree attributes a row passes on to the trees generated along it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Attrs {
    pub(crate) fruit_count: Option<f64>,
    pub(crate) canopy_height_m: Option<f64>,
    pub(crate) canopy_width_m: Option<f64>,
    pub(crate) canopy_volume_m3: Option<f64>,
}

/// The numeric tree attributes, by name (property and CSV column).
pub(crate) const ATTRS: [&str; 4] = [
    "fruit_count",
    "canopy_height_m",
    "canopy_width_m",
    "canopy_volume_m3",
];

impl Attrs {
    pub(crate) fn set(&mut self, name: &str, value: Option<f64>) {
        match name {
            "fruit_count" => self.fruit_count = value,
            "canopy_height_m" => self.canopy_height_m = value,
            "canopy_width_m" => self.canopy_width_m = value,
            _ => self.canopy_volume_m3 = value,
        }
    }

    pub(crate) fn tree(self, id: String, row: Option<String>, lat: f64, lon: f64) -> Tree {
        Tree {
            id,
            row,
            lat,
            lon,
            fruit_count: self.fruit_count,
            canopy_height_m: self.canopy_height_m,
            canopy_width_m: self.canopy_width_m,
            canopy_volume_m3: self.canopy_volume_m3,
            extra: serde_json::Map::new(),
        }
    }
}

/// A row as read, with what it takes to generate its trees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowInput {
    pub(crate) row: Row,
    pub(crate) spacing: Option<f64>,
    pub(crate) attrs: Attrs,
}

/// Everything read from the files, checked, before anything is written.
#[derive(Debug, Default)]
pub(crate) struct Input {
    pub(crate) files: Vec<(PathBuf, Format)>,
    pub(crate) orchard: Option<(Loc, OrchardMeta)>,
    pub(crate) blocks: Vec<(Loc, Block)>,
    pub(crate) rows: Vec<(Loc, RowInput)>,
    pub(crate) trees: Vec<Tree>,
    pub(crate) tree_locs: Vec<Loc>,
    pub(crate) boundaries: Vec<(Loc, geo::MultiPolygon<f64>)>,
    pub(crate) zones: Vec<(Loc, Zone)>,
    pub(crate) skipped: BTreeMap<String, u64>,
    /// Features and records read.
    pub(crate) items: u64,
}

impl Input {
    /// The place of `loc` for an error, with the item's id.
    pub(crate) fn at(&self, loc: Loc, id: Option<&str>) -> At {
        let (file, format) = &self.files[loc.file];
        let place = match format {
            Format::GeoJson => Place::Feature {
                index: loc.item as usize,
                id: id.map(str::to_owned),
            },
            Format::Csv => Place::Line {
                line: loc.item,
                column: None,
            },
        };
        At {
            file: file.clone(),
            place,
        }
    }

    /// Read and check one file's bytes into this input.
    fn read(
        &mut self,
        file: &Path,
        bytes: &[u8],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), ImportError> {
        let format = Format::of(file, bytes);
        self.files.push((file.to_owned(), format));
        let index = self.files.len() - 1;
        match format {
            Format::GeoJson => geojson::read(self, index, file, bytes),
            Format::Csv => csv::read(self, index, file, bytes, progress),
        }
    }
}

/// Read and check one file as an import would, without a database (for fuzzing and
/// dry runs): the number of features or records read, or the first error.
pub fn check(file: &Path, bytes: &[u8]) -> Result<u64, ImportError> {
    let mut input = Input::default();
    input.read(file, bytes, &mut |_, _| {})?;
    Ok(input.items)
}

/// A JSON value shortened for an error message.
pub(crate) fn shown(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(37).collect();
        format!("{cut}...")
    } else {
        text
    }
}

impl MapDb {
    /// Import `files` (GeoJSON or CSV, see `docs/map.md`) into the map at `path`,
    /// creating it if absent: all files are read and checked first, then written in one
    /// transaction. On any error nothing is written: an existing file is left byte for
    /// byte as it was, and a map that did not exist is not created.
    pub fn import(
        path: &Path,
        files: &[PathBuf],
        options: &ImportOptions,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, ImportError> {
        if files.is_empty() {
            return Err(ImportError::NoFiles);
        }
        if let Some(s) = options.tree_spacing_m {
            if !(s.is_finite() && s > 0.0) {
                return Err(ImportError::BadSpacing(s));
            }
        }
        // Refuse a database that is not a map (or too new) before reading anything.
        let target = write::Target::prepare(path)?;

        let mut input = Input::default();
        let mut total_bytes = 0;
        for file in files {
            total_bytes += std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        }
        let mut done_bytes = 0;
        for file in files {
            let bytes = std::fs::read(file).map_err(|source| ImportError::Read {
                file: file.clone(),
                source,
            })?;
            let base = done_bytes;
            let mut report = |bytes: u64, items: u64| {
                progress(ImportProgress::Reading {
                    bytes: base + bytes,
                    total_bytes,
                    items,
                })
            };
            input.read(file, &bytes, &mut report)?;
            done_bytes += bytes.len() as u64;
            progress(ImportProgress::Reading {
                bytes: done_bytes,
                total_bytes,
                items: input.items,
            });
        }
        target.write(input, options, progress)
    }
}
