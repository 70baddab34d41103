//! Synthetic orchards: a pure function from [`OrchardParams`] to an orchard map in
//! verger's import format (a GeoJSON `FeatureCollection`), and a streaming CSV writer of
//! its trees for orchards too big to hold in memory.
//!
//! # Layout
//!
//! The generator works in an orchard frame of metres: `a` along the rows (from each
//! row's first tree towards [`OrchardParams::row_bearing_deg`]) and `c` across them, to
//! the right of that direction. The first tree of the first row stands at `a = c = 0`,
//! at [`OrchardParams::origin_lat`]/[`OrchardParams::origin_lon`]; the frame is turned
//! into WGS 84 through [`verger::orchard::Frame`].
//!
//! Blocks stand side by side across the rows, left to right, in the order given; the
//! alley between two blocks is as wide as the row spacing of the block to its right.
//! Large orchards group their blocks into [`Bands`] that follow each other along the
//! rows, a headland apart. Headlands lie beyond the nominal row ends; the left and right
//! edges of the boundary may be oblique to the rows (a [`Edge`] gives the margin at each
//! end), and a [`NoSprayStrip`] runs along one of them, so that its inner edge crosses
//! the outermost row at a shallow angle when that edge is oblique.
//!
//! # Attributes
//!
//! Each tree's vigour is a smooth field (a linear trend across and along the rows plus
//! two long waves: soil patches) plus per-tree noise; canopy height, canopy width and
//! fruit count are that vigour, with a little noise of their own, mapped onto the ranges
//! of the tree's block by a logistic curve (so no value piles up on a bound). The canopy volume is the tree's share of the fruit wall:
//! `(canopy_height_m - TRUNK_M) × canopy_width_m × min(canopy_width_m, tree spacing)`
//! (see [`TRUNK_M`]).
//!
//! # Determinism
//!
//! Every random draw is a splitmix64 hash of the seed and of what it is drawn for (a
//! tree's block, row and position, or a wave of the field), written here in a few
//! lines: the output depends on the parameters only, never on a crate version or on the
//! order of generation, and the GeoJSON and the CSV of one orchard hold the same trees.
//! Numbers are written with Rust's shortest round-trip formatting, coordinates rounded
//! to 7 decimals (about 1 cm), sizes to the centimetre, volumes to 0.01 m³.

use std::collections::HashSet;
use std::f64::consts::TAU;
use std::io::{self, BufWriter, Write};

use geo::Coord;
use serde_json::{Map, Value};
use verger::orchard::Frame;

/// Clear trunk under the canopy, metres: the canopy volume counts the height above it.
pub const TRUNK_M: f64 = 0.5;

/// Decimals of a written coordinate (1e-7° is about 1 cm).
const COORD_DECIMALS: i32 = 7;
/// Decimals of a written size (canopy height and width, metres).
const SIZE_DECIMALS: i32 = 2;
/// Decimals of a written volume (cubic metres).
const VOLUME_DECIMALS: i32 = 2;

/// Header of the tree CSV, in verger's import format.
pub const CSV_HEADER: &str =
    "id,row,lat,lon,fruit_count,canopy_height_m,canopy_width_m,canopy_volume_m3";

// ---------------------------------------------------------------------------------------
// Parameters

/// Everything the generator needs; [`demo_orchard`] and [`benchmark_1000ha`] are two
/// complete examples.
#[derive(Debug, Clone, PartialEq)]
pub struct OrchardParams {
    /// Name of the orchard (property `name` of the `orchard` feature).
    pub name: String,
    /// Crop, e.g. `apple`.
    pub crop: String,
    /// EPPO code of the crop, e.g. `MABSD` (Malus domestica).
    pub eppo_code: String,
    /// Land-registry (cadastral) reference of the parcel.
    pub parcel_ref: String,
    /// Latitude of the first tree position of the first row, WGS 84 degrees.
    pub origin_lat: f64,
    /// Longitude of the first tree position of the first row, WGS 84 degrees.
    pub origin_lon: f64,
    /// Direction in which rows run from their first tree, degrees clockwise from north.
    pub row_bearing_deg: f64,
    /// Nominal row length, metres: a row holds as many trees at its block's spacing as
    /// fit in it, the first at its start.
    pub row_length_m: f64,
    /// Headland before the row starts (where tractors turn), metres.
    pub headland_start_m: f64,
    /// Headland after the nominal row ends, metres.
    pub headland_end_m: f64,
    /// The boundary's left edge (looking along the rows), from the leftmost row.
    pub left_edge: Edge,
    /// The boundary's right edge, from the rightmost row.
    pub right_edge: Edge,
    /// The blocks, left to right (and band after band, see [`Self::bands`]).
    pub blocks: Vec<BlockParams>,
    /// How blocks are grouped into bands along the rows; `None`: one band of all blocks.
    pub bands: Option<Bands>,
    /// Probability that a tree position is empty (dead or removed tree), 0 to 1.
    pub missing_rate: f64,
    /// Runs of consecutive empty positions (a replanting gap), on top of the random ones.
    pub replant_gaps: Vec<ReplantGap>,
    /// A no-spray strip along the left or right edge of the boundary.
    pub no_spray: Option<NoSprayStrip>,
    /// How the trees' vigour varies over the orchard.
    pub variation: Variation,
    /// Seed of every random draw.
    pub seed: u64,
}

/// The distance from the outermost row to a boundary edge, at the start of the orchard
/// (beyond the start headland) and at its end (beyond the end headland); in between it
/// varies linearly, so an edge not parallel to the rows has two different values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// Metres, at the start of the orchard.
    pub at_start_m: f64,
    /// Metres, at the end of the orchard.
    pub at_end_m: f64,
}

/// A side of the orchard, looking along the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Left of the row direction (the first rows).
    Left,
    /// Right of the row direction (the last rows).
    Right,
}

/// Blocks grouped into bands that follow each other along the rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    /// Blocks side by side in one band (the last band may hold fewer).
    pub blocks_per_band: usize,
    /// Headland between two bands, from the nominal row end of one to the row start of
    /// the next, metres.
    pub headland_between_m: f64,
}

/// One block: rows of one variety planted the same year.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockParams {
    /// Unique id (letters, digits, `-`, `_`); prefixes its rows' and trees' ids.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Variety (cultivar).
    pub variety: String,
    /// Year of planting.
    pub planting_year: i32,
    /// Rootstock, written as the trees' extra attribute `rootstock` when given.
    pub rootstock: Option<String>,
    /// Number of rows.
    pub rows: u32,
    /// Distance between neighbouring rows, metres.
    pub row_spacing_m: f64,
    /// Distance between neighbouring trees of a row, metres.
    pub tree_spacing_m: f64,
    /// Canopy height, metres (from the ground to the top).
    pub canopy_height_m: Span,
    /// Canopy width, metres (the diameter seen from above).
    pub canopy_width_m: Span,
    /// Fruit count.
    pub fruit_count: Span,
}

/// The range of an attribute in a block, `min <= max`: the weakest trees come close to
/// `min`, the most vigorous close to `max`, and no tree leaves it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
}

impl Span {
    /// The value for a vigour `t` (0.5 on average): a logistic curve from `min` (far
    /// below 0) to `max` (far above 1), steepest at 0.5, so that values neither pile up
    /// on a bound nor leave the range.
    fn at(self, t: f64) -> f64 {
        let s = 0.5 + 0.5 * (2.5 * (t - 0.5)).tanh();
        self.min + (self.max - self.min) * s
    }
}

/// Consecutive empty tree positions in one row (trees removed, not yet replanted).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplantGap {
    /// Id of the block.
    pub block: String,
    /// Row in the block, from 1.
    pub row: u32,
    /// First empty position in the row, from 1.
    pub first_tree: u32,
    /// Number of empty positions.
    pub count: u32,
}

/// A no-spray strip (e.g. a buffer along a watercourse) along one boundary edge, over
/// the whole length of the orchard.
#[derive(Debug, Clone, PartialEq)]
pub struct NoSprayStrip {
    /// Unique id of the zone.
    pub id: String,
    /// Why nothing may be sprayed there (non-empty).
    pub reason: String,
    /// The edge it runs along.
    pub side: Side,
    /// Width, metres, measured square to the edge.
    pub width_m: f64,
}

/// How the trees' vigour (0: weakest, 1: most vigorous; 0.5 on average) varies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variation {
    /// Change of vigour per 100 m across the rows, left to right.
    pub trend_across_per_100m: f64,
    /// Change of vigour per 100 m along the rows.
    pub trend_along_per_100m: f64,
    /// Amplitude of the soil patches (two long waves of random direction and phase).
    pub patch_amplitude: f64,
    /// Wavelength of the first wave, metres (the second's is 1.618 times longer).
    pub patch_wavelength_m: f64,
    /// Standard deviation of a tree's vigour around the field (the canopy height and
    /// width each get a third of it on top).
    pub tree_noise: f64,
    /// Standard deviation of a tree's fruit load around its vigour.
    pub fruit_noise: f64,
}

/// What a set of parameters yields, without writing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Blocks.
    pub blocks: usize,
    /// Rows.
    pub rows: usize,
    /// Tree positions (trees plus empty positions).
    pub tree_positions: u64,
    /// Trees written.
    pub trees: u64,
    /// Empty positions (random ones and replanting gaps).
    pub missing: u64,
    /// Area inside the boundary, square metres.
    pub area_m2: f64,
}

// ---------------------------------------------------------------------------------------
// Errors

/// Parameters the generator refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamsError {
    /// A number outside its valid range (or not finite).
    #[error("{field} must be {expected}, got {value}")]
    OutOfRange {
        /// The parameter.
        field: String,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        value: f64,
    },
    /// A text that must not be empty is.
    #[error("{0} must not be empty")]
    Empty(String),
    /// No blocks.
    #[error("an orchard needs at least one block")]
    NoBlocks,
    /// A block id that is empty or has other characters than letters, digits, `-`, `_`.
    #[error("block id {0:?} must be letters, digits, '-' or '_'")]
    BadBlockId(String),
    /// Two blocks with one id.
    #[error("two blocks have the id {0:?}")]
    DuplicateBlock(String),
    /// A replanting gap in a block that does not exist.
    #[error("replanting gap in unknown block {0:?}")]
    UnknownBlock(String),
    /// A replanting gap outside its block's rows or trees.
    #[error(
        "replanting gap of {count} trees from tree {first_tree} of row {row} of block \
         {block:?} does not fit in the block ({rows} rows of {trees} trees)"
    )]
    GapOutside {
        /// Its block.
        block: String,
        /// Its row.
        row: u32,
        /// Its first position.
        first_tree: u32,
        /// Its length.
        count: u32,
        /// Rows of the block.
        rows: u32,
        /// Trees per row of the block.
        trees: u32,
    },
    /// The no-spray strip is wider than the orchard somewhere.
    #[error("the no-spray strip ({width_m} m) is wider than the orchard ({orchard_m} m)")]
    StripTooWide {
        /// The strip's width across the rows.
        width_m: f64,
        /// The orchard's narrowest width across the rows.
        orchard_m: f64,
    },
}

/// Why an orchard could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Refused parameters.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// The writer failed.
    #[error("writing the orchard: {0}")]
    Io(#[from] io::Error),
}

fn check_range(
    field: &str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), ParamsError> {
    if value.is_finite() && ok {
        Ok(())
    } else {
        Err(ParamsError::OutOfRange {
            field: field.to_owned(),
            expected,
            value,
        })
    }
}

fn check_text(field: &str, value: &str) -> Result<(), ParamsError> {
    if value.trim().is_empty() {
        Err(ParamsError::Empty(field.to_owned()))
    } else {
        Ok(())
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl BlockParams {
    /// Tree positions per row.
    fn trees_per_row(&self, row_length_m: f64) -> u32 {
        // The epsilon keeps a row of exactly n spacings from losing its last tree.
        (row_length_m / self.tree_spacing_m + 1e-9).floor() as u32 + 1
    }
}

impl OrchardParams {
    /// Refuses parameters that make no orchard (every generator function calls it).
    pub fn check(&self) -> Result<(), ParamsError> {
        check_text("name", &self.name)?;
        check_text("crop", &self.crop)?;
        check_text("eppo_code", &self.eppo_code)?;
        check_text("parcel_ref", &self.parcel_ref)?;
        check_range(
            "origin_lat",
            self.origin_lat,
            self.origin_lat.abs() <= 80.0,
            "a latitude within 80° of the equator",
        )?;
        check_range(
            "origin_lon",
            self.origin_lon,
            self.origin_lon.abs() <= 180.0,
            "a longitude",
        )?;
        check_range("row_bearing_deg", self.row_bearing_deg, true, "finite")?;
        check_range(
            "row_length_m",
            self.row_length_m,
            self.row_length_m > 0.0,
            "positive",
        )?;
        if self.blocks.is_empty() {
            return Err(ParamsError::NoBlocks);
        }
        let mut ids = HashSet::new();
        let mut widest_row_spacing: f64 = 0.0;
        let mut widest_tree_spacing: f64 = 0.0;
        for b in &self.blocks {
            if !valid_id(&b.id) {
                return Err(ParamsError::BadBlockId(b.id.clone()));
            }
            if !ids.insert(b.id.as_str()) {
                return Err(ParamsError::DuplicateBlock(b.id.clone()));
            }
            let field = |name: &str| format!("block {}: {name}", b.id);
            check_text(&field("name"), &b.name)?;
            check_text(&field("variety"), &b.variety)?;
            if let Some(r) = &b.rootstock {
                check_text(&field("rootstock"), r)?;
            }
            check_range(&field("rows"), f64::from(b.rows), b.rows > 0, "at least 1")?;
            check_range(
                &field("row_spacing_m"),
                b.row_spacing_m,
                b.row_spacing_m > 0.0,
                "positive",
            )?;
            check_range(
                &field("tree_spacing_m"),
                b.tree_spacing_m,
                b.tree_spacing_m > 0.0 && b.tree_spacing_m <= self.row_length_m,
                "positive and at most the row length",
            )?;
            for (name, span, low) in [
                ("canopy_height_m", b.canopy_height_m, TRUNK_M),
                ("canopy_width_m", b.canopy_width_m, 0.0),
                ("fruit_count", b.fruit_count, 0.0),
            ] {
                check_range(&field(name), span.min, span.min > low, "above its floor")?;
                check_range(
                    &field(name),
                    span.max,
                    span.max >= span.min,
                    "at least its min",
                )?;
            }
            widest_row_spacing = widest_row_spacing.max(b.row_spacing_m);
            widest_tree_spacing = widest_tree_spacing.max(b.tree_spacing_m);
        }
        // Headlands and edges leave at least half a spacing around the blocks, so the
        // block polygons stay inside the boundary.
        for (name, v) in [
            ("headland_start_m", self.headland_start_m),
            ("headland_end_m", self.headland_end_m),
        ] {
            check_range(
                name,
                v,
                v >= widest_tree_spacing / 2.0,
                "at least half the widest tree spacing",
            )?;
        }
        for (name, v) in [
            ("left_edge.at_start_m", self.left_edge.at_start_m),
            ("left_edge.at_end_m", self.left_edge.at_end_m),
            ("right_edge.at_start_m", self.right_edge.at_start_m),
            ("right_edge.at_end_m", self.right_edge.at_end_m),
        ] {
            check_range(
                name,
                v,
                v >= widest_row_spacing / 2.0,
                "at least half the widest row spacing",
            )?;
        }
        if let Some(bands) = &self.bands {
            check_range(
                "bands.blocks_per_band",
                bands.blocks_per_band as f64,
                bands.blocks_per_band > 0,
                "at least 1",
            )?;
            check_range(
                "bands.headland_between_m",
                bands.headland_between_m,
                bands.headland_between_m >= widest_tree_spacing,
                "at least the widest tree spacing",
            )?;
        }
        check_range(
            "missing_rate",
            self.missing_rate,
            (0.0..1.0).contains(&self.missing_rate),
            "in [0, 1)",
        )?;
        for g in &self.replant_gaps {
            let b = self
                .blocks
                .iter()
                .find(|b| b.id == g.block)
                .ok_or_else(|| ParamsError::UnknownBlock(g.block.clone()))?;
            let trees = b.trees_per_row(self.row_length_m);
            let fits = g.row >= 1
                && g.row <= b.rows
                && g.first_tree >= 1
                && g.count >= 1
                && u64::from(g.first_tree) + u64::from(g.count) - 1 <= u64::from(trees);
            if !fits {
                return Err(ParamsError::GapOutside {
                    block: g.block.clone(),
                    row: g.row,
                    first_tree: g.first_tree,
                    count: g.count,
                    rows: b.rows,
                    trees,
                });
            }
        }
        let v = &self.variation;
        for (name, value, ok) in [
            (
                "variation.trend_across_per_100m",
                v.trend_across_per_100m,
                true,
            ),
            (
                "variation.trend_along_per_100m",
                v.trend_along_per_100m,
                true,
            ),
            (
                "variation.patch_amplitude",
                v.patch_amplitude,
                v.patch_amplitude >= 0.0,
            ),
            (
                "variation.patch_wavelength_m",
                v.patch_wavelength_m,
                v.patch_wavelength_m > 0.0,
            ),
            ("variation.tree_noise", v.tree_noise, v.tree_noise >= 0.0),
            ("variation.fruit_noise", v.fruit_noise, v.fruit_noise >= 0.0),
        ] {
            check_range(name, value, ok, "finite and not negative")?;
        }
        if let Some(z) = &self.no_spray {
            if !valid_id(&z.id) {
                return Err(ParamsError::Empty(
                    "no_spray.id (letters, digits, '-', '_')".into(),
                ));
            }
            check_text("no_spray.reason", &z.reason)?;
            check_range("no_spray.width_m", z.width_m, z.width_m > 0.0, "positive")?;
        }
        Ok(())
    }

    /// Counts and area of the orchard these parameters give (walks every tree position
    /// without building the trees: fast even for millions).
    pub fn summary(&self) -> Result<Summary, ParamsError> {
        let layout = Layout::new(self)?;
        let mut tree_positions = 0;
        let mut missing = 0;
        for row in &layout.rows {
            tree_positions += u64::from(row.trees);
            missing += (0..row.trees).filter(|&t| layout.missing(row, t)).count() as u64;
        }
        let ring = layout.boundary_ring();
        let area_m2 = ring
            .windows(2)
            .map(|w| w[0].1 * w[1].0 - w[1].1 * w[0].0)
            .sum::<f64>()
            .abs()
            / 2.0;
        Ok(Summary {
            blocks: self.blocks.len(),
            rows: layout.rows.len(),
            tree_positions,
            trees: tree_positions - missing,
            missing,
            area_m2,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Randomness: splitmix64, as a counter-based hash

/// One step of splitmix64 (Steele, Lea and Flood 2014): advances `state`, returns the
/// next output.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a draw is for: one stream per use, so adding a use changes no other.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
enum Stream {
    Missing = 1,
    Vigour = 2,
    Height = 3,
    Width = 4,
    Fruit = 5,
    Patch = 6,
}

/// A uniform draw in [0, 1) for `stream` and the key `parts`.
fn uniform(seed: u64, stream: Stream, parts: [u64; 4]) -> f64 {
    let mut state = seed ^ (stream as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut h = splitmix64(&mut state);
    for p in parts {
        state = h ^ p;
        h = splitmix64(&mut state);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// An approximately normal draw (mean 0, standard deviation 1, within ±3.5): the sum
/// of four uniforms, rescaled.
fn normal(seed: u64, stream: Stream, key: [u64; 3]) -> f64 {
    let sum: f64 = (0..4)
        .map(|i| uniform(seed, stream, [key[0], key[1], key[2], i]))
        .sum();
    (sum - 2.0) * 3f64.sqrt()
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    // `+ 0.0` turns a -0.0 into 0.0.
    (x * scale).round() / scale + 0.0
}

// ---------------------------------------------------------------------------------------
// Layout: where rows, blocks and edges are, in the orchard frame (a along, c across)

struct RowSite {
    block: usize,
    /// Row in its block, from 0.
    index: u32,
    id: String,
    /// Start of the row (its first tree position) along the rows.
    a0: f64,
    /// Position across the rows.
    c: f64,
    trees: u32,
    /// Replanting gaps, positions from 0: (first, count).
    gaps: Vec<(u32, u32)>,
}

struct BlockSite {
    a_low: f64,
    a_high: f64,
    c_low: f64,
    c_high: f64,
}

struct Layout<'p> {
    p: &'p OrchardParams,
    frame: Frame,
    sin_b: f64,
    cos_b: f64,
    rows: Vec<RowSite>,
    blocks: Vec<BlockSite>,
    a_min: f64,
    a_max: f64,
    /// `c` of the left edge at `a_min` and at `a_max`.
    left: (f64, f64),
    /// `c` of the right edge at `a_min` and at `a_max`.
    right: (f64, f64),
    /// Centre of the orchard, for the trends.
    mid: (f64, f64),
    /// Two waves: (direction cos, direction sin, wavenumber, phase).
    waves: [(f64, f64, f64, f64); 2],
    tree_digits: usize,
}

/// A generated tree.
struct TreeOut {
    id: String,
    row: usize,
    lat: f64,
    lon: f64,
    fruit_count: i64,
    height: f64,
    width: f64,
    volume: f64,
}

impl<'p> Layout<'p> {
    fn new(p: &'p OrchardParams) -> Result<Self, ParamsError> {
        p.check()?;
        let per_band = p.bands.map_or(p.blocks.len(), |b| b.blocks_per_band);
        let band_pitch = p.row_length_m + p.bands.map_or(0.0, |b| b.headland_between_m);
        let bands = p.blocks.chunks(per_band);
        let mut rows = Vec::new();
        let mut blocks = Vec::new();
        let mut c_max: f64 = 0.0;
        for (band, chunk) in bands.enumerate() {
            let a0 = band as f64 * band_pitch;
            let mut c = 0.0;
            for (k, b) in chunk.iter().enumerate() {
                let block = band * per_band + k;
                let trees = b.trees_per_row(p.row_length_m);
                if k > 0 {
                    c += b.row_spacing_m;
                }
                // Blocks meet half-way across the alley between them.
                let c_low = c - b.row_spacing_m / 2.0;
                for index in 0..b.rows {
                    if index > 0 {
                        c += b.row_spacing_m;
                    }
                    let gaps = p
                        .replant_gaps
                        .iter()
                        .filter(|g| g.block == b.id && g.row == index + 1)
                        .map(|g| (g.first_tree - 1, g.count))
                        .collect();
                    rows.push(RowSite {
                        block,
                        index,
                        id: String::new(),
                        a0,
                        c,
                        trees,
                        gaps,
                    });
                }
                let next_spacing = chunk
                    .get(k + 1)
                    .map_or(b.row_spacing_m, |n| n.row_spacing_m);
                let half_tree = b.tree_spacing_m / 2.0;
                blocks.push(BlockSite {
                    a_low: a0 - half_tree,
                    a_high: a0 + f64::from(trees - 1) * b.tree_spacing_m + half_tree,
                    c_low,
                    c_high: c + next_spacing / 2.0,
                });
            }
            c_max = c_max.max(c);
        }
        let a_min = -p.headland_start_m;
        let last_band = (p.blocks.len() - 1) / per_band;
        let a_max = last_band as f64 * band_pitch + p.row_length_m + p.headland_end_m;
        let left = (-p.left_edge.at_start_m, -p.left_edge.at_end_m);
        let right = (
            c_max + p.right_edge.at_start_m,
            c_max + p.right_edge.at_end_m,
        );
        if let Some(z) = &p.no_spray {
            let width = strip_offset(z.width_m, a_max - a_min, right.0 - right.1);
            let narrowest = (right.0 - left.0).min(right.1 - left.1);
            if width >= narrowest {
                return Err(ParamsError::StripTooWide {
                    width_m: width,
                    orchard_m: narrowest,
                });
            }
        }
        let wave = |i: u64, stretch: f64| {
            let dir = TAU * uniform(p.seed, Stream::Patch, [i, 0, 0, 0]);
            let phase = TAU * uniform(p.seed, Stream::Patch, [i, 1, 0, 0]);
            let k = TAU / (p.variation.patch_wavelength_m * stretch);
            (dir.cos(), dir.sin(), k, phase)
        };
        let digits = |n: u64| n.to_string().len();
        let row_digits = digits(
            p.blocks
                .iter()
                .map(|b| u64::from(b.rows))
                .max()
                .unwrap_or(1),
        )
        .max(2);
        let tree_digits = digits(
            p.blocks
                .iter()
                .map(|b| u64::from(b.trees_per_row(p.row_length_m)))
                .max()
                .unwrap_or(1),
        )
        .max(3);
        for row in &mut rows {
            row.id = format!(
                "{}-{:0w$}",
                p.blocks[row.block].id,
                row.index + 1,
                w = row_digits
            );
        }
        let bearing = p.row_bearing_deg.to_radians();
        Ok(Layout {
            p,
            frame: Frame::new(p.origin_lat, p.origin_lon),
            sin_b: bearing.sin(),
            cos_b: bearing.cos(),
            rows,
            blocks,
            a_min,
            a_max,
            left,
            right,
            mid: (
                (a_min + a_max) / 2.0,
                (left.0 + left.1 + right.0 + right.1) / 4.0,
            ),
            waves: [wave(0, 1.0), wave(1, 1.618)],
            tree_digits,
        })
    }

    /// Orchard frame → (longitude, latitude), rounded.
    fn lonlat(&self, a: f64, c: f64) -> [f64; 2] {
        let east = a * self.sin_b + c * self.cos_b;
        let north = a * self.cos_b - c * self.sin_b;
        let (lat, lon) = self.frame.to_wgs84(Coord { x: east, y: north });
        [round_to(lon, COORD_DECIMALS), round_to(lat, COORD_DECIMALS)]
    }

    /// A closed ring in lon/lat from corners in the orchard frame.
    fn ring(&self, corners: &[(f64, f64)]) -> Vec<[f64; 2]> {
        corners.iter().map(|&(a, c)| self.lonlat(a, c)).collect()
    }

    /// The boundary's corners (a, c), counter-clockwise on the map, closed.
    fn boundary_ring(&self) -> [(f64, f64); 5] {
        [
            (self.a_min, self.left.0),
            (self.a_min, self.right.0),
            (self.a_max, self.right.1),
            (self.a_max, self.left.1),
            (self.a_min, self.left.0),
        ]
    }

    /// The no-spray strip's corners (a, c), counter-clockwise, closed.
    fn strip_ring(&self, z: &NoSprayStrip) -> [(f64, f64); 5] {
        let (outer, inward) = match z.side {
            Side::Left => (self.left, 1.0),
            Side::Right => (self.right, -1.0),
        };
        let w = inward * strip_offset(z.width_m, self.a_max - self.a_min, outer.0 - outer.1);
        let (s, e) = (outer.0, outer.1);
        let (lo_s, hi_s, lo_e, hi_e) = if w > 0.0 {
            (s, s + w, e, e + w)
        } else {
            (s + w, s, e + w, e)
        };
        [
            (self.a_min, lo_s),
            (self.a_min, hi_s),
            (self.a_max, hi_e),
            (self.a_max, lo_e),
            (self.a_min, lo_s),
        ]
    }

    fn missing(&self, row: &RowSite, t: u32) -> bool {
        row.gaps
            .iter()
            .any(|&(first, count)| t >= first && t < first + count)
            || uniform(
                self.p.seed,
                Stream::Missing,
                [row.block as u64, u64::from(row.index), u64::from(t), 0],
            ) < self.p.missing_rate
    }

    /// The smooth vigour field at (a, c), before per-tree noise.
    fn field(&self, a: f64, c: f64) -> f64 {
        let v = &self.p.variation;
        let waves: f64 = self
            .waves
            .iter()
            .map(|&(dx, dy, k, phase)| (k * (a * dx + c * dy) + phase).cos())
            .sum::<f64>()
            / 2.0;
        0.5 + v.trend_across_per_100m * (c - self.mid.1) / 100.0
            + v.trend_along_per_100m * (a - self.mid.0) / 100.0
            + v.patch_amplitude * waves
    }

    /// The tree at position `t` of row `r`, `None` where it is missing.
    fn tree(&self, r: usize, t: u32) -> Option<TreeOut> {
        let row = &self.rows[r];
        if self.missing(row, t) {
            return None;
        }
        let b = &self.p.blocks[row.block];
        let v = &self.p.variation;
        let a = row.a0 + f64::from(t) * b.tree_spacing_m;
        let key = [row.block as u64, u64::from(row.index), u64::from(t)];
        let seed = self.p.seed;
        let vigour = self.field(a, row.c) + v.tree_noise * normal(seed, Stream::Vigour, key);
        let height = round_to(
            b.canopy_height_m
                .at(vigour + v.tree_noise / 3.0 * normal(seed, Stream::Height, key)),
            SIZE_DECIMALS,
        );
        let width = round_to(
            b.canopy_width_m
                .at(vigour + v.tree_noise / 3.0 * normal(seed, Stream::Width, key)),
            SIZE_DECIMALS,
        );
        let fruit = b
            .fruit_count
            .at(vigour + v.fruit_noise * normal(seed, Stream::Fruit, key))
            .round() as i64;
        let volume = round_to(
            (height - TRUNK_M) * width * width.min(b.tree_spacing_m),
            VOLUME_DECIMALS,
        );
        let [lon, lat] = self.lonlat(a, row.c);
        Some(TreeOut {
            id: format!("{}-{:0w$}", row.id, t + 1, w = self.tree_digits),
            row: r,
            lat,
            lon,
            fruit_count: fruit,
            height,
            width,
            volume,
        })
    }

    /// Every tree, row after row.
    fn trees(&self) -> impl Iterator<Item = TreeOut> + '_ {
        self.rows
            .iter()
            .enumerate()
            .flat_map(move |(r, row)| (0..row.trees).filter_map(move |t| self.tree(r, t)))
    }

    /// Every feature, in file order: the orchard, its boundary, the no-spray zone, the
    /// blocks, the rows, then the trees.
    fn features(&self) -> impl Iterator<Item = Feature> + '_ {
        let p = self.p;
        let orchard = Feature {
            props: vec![
                ("kind", Prop::Str("orchard".into())),
                ("name", Prop::Str(p.name.clone())),
                ("crop", Prop::Str(p.crop.clone())),
                ("eppo_code", Prop::Str(p.eppo_code.clone())),
                ("parcel_ref", Prop::Str(p.parcel_ref.clone())),
            ],
            geometry: Geometry::Null,
        };
        let boundary = Feature {
            props: vec![("kind", Prop::Str("boundary".into()))],
            geometry: Geometry::Polygon(self.ring(&self.boundary_ring())),
        };
        let zone = p.no_spray.as_ref().map(|z| Feature {
            props: vec![
                ("kind", Prop::Str("no_spray".into())),
                ("id", Prop::Str(z.id.clone())),
                ("reason", Prop::Str(z.reason.clone())),
            ],
            geometry: Geometry::Polygon(self.ring(&self.strip_ring(z))),
        });
        let blocks = p.blocks.iter().zip(&self.blocks).map(|(b, s)| Feature {
            props: vec![
                ("kind", Prop::Str("block".into())),
                ("id", Prop::Str(b.id.clone())),
                ("name", Prop::Str(b.name.clone())),
                ("variety", Prop::Str(b.variety.clone())),
                ("planting_year", Prop::Int(i64::from(b.planting_year))),
            ],
            geometry: Geometry::Polygon(self.ring(&[
                (s.a_low, s.c_low),
                (s.a_low, s.c_high),
                (s.a_high, s.c_high),
                (s.a_high, s.c_low),
                (s.a_low, s.c_low),
            ])),
        });
        let rows = self.rows.iter().map(|r| {
            let b = &p.blocks[r.block];
            let a1 = r.a0 + f64::from(r.trees - 1) * b.tree_spacing_m;
            Feature {
                props: vec![
                    ("kind", Prop::Str("row".into())),
                    ("id", Prop::Str(r.id.clone())),
                    ("block", Prop::Str(b.id.clone())),
                ],
                geometry: Geometry::Line(vec![self.lonlat(r.a0, r.c), self.lonlat(a1, r.c)]),
            }
        });
        let trees = self.trees().map(|t| {
            let mut props = vec![
                ("kind", Prop::Str("tree".into())),
                ("id", Prop::Str(t.id)),
                ("row", Prop::Str(self.rows[t.row].id.clone())),
                ("fruit_count", Prop::Int(t.fruit_count)),
                ("canopy_height_m", Prop::Num(t.height)),
                ("canopy_width_m", Prop::Num(t.width)),
                ("canopy_volume_m3", Prop::Num(t.volume)),
            ];
            if let Some(r) = &p.blocks[self.rows[t.row].block].rootstock {
                props.push(("rootstock", Prop::Str(r.clone())));
            }
            Feature {
                props,
                geometry: Geometry::Point([t.lon, t.lat]),
            }
        });
        std::iter::once(orchard)
            .chain(std::iter::once(boundary))
            .chain(zone)
            .chain(blocks)
            .chain(rows)
            .chain(trees)
    }
}

/// The offset across the rows of a strip `width` wide square to an edge that moves
/// `shift` across the rows over `length` along them.
fn strip_offset(width: f64, length: f64, shift: f64) -> f64 {
    width * f64::hypot(length, shift) / length
}

// ---------------------------------------------------------------------------------------
// Features and their JSON text

enum Prop {
    Str(String),
    Int(i64),
    Num(f64),
}

enum Geometry {
    Null,
    Point([f64; 2]),
    Line(Vec<[f64; 2]>),
    Polygon(Vec<[f64; 2]>),
}

struct Feature {
    /// `kind` first; written in this order.
    props: Vec<(&'static str, Prop)>,
    geometry: Geometry,
}

/// A number as JSON: Rust's shortest round-trip form (never an exponent), with a `.0`
/// on whole numbers so that it reads back as a float.
fn push_num(out: &mut String, x: f64) {
    let s = x.to_string();
    out.push_str(&s);
    if !s.contains('.') {
        out.push_str(".0");
    }
}

fn push_str(out: &mut String, s: &str) {
    // Serialising a &str cannot fail; the fallback is never taken.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn push_coords(out: &mut String, coords: &[[f64; 2]]) {
    out.push('[');
    for (i, c) in coords.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_pair(out, *c);
    }
    out.push(']');
}

fn push_pair(out: &mut String, [x, y]: [f64; 2]) {
    out.push('[');
    push_num(out, x);
    out.push(',');
    push_num(out, y);
    out.push(']');
}

impl Feature {
    /// The feature as one line of JSON, keys in a fixed order (whatever serde_json's
    /// map features), so the file is byte-stable.
    fn write_json(&self, out: &mut String) {
        out.push_str(r#"{"type":"Feature","properties":{"#);
        for (i, (key, value)) in self.props.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str(out, key);
            out.push(':');
            match value {
                Prop::Str(s) => push_str(out, s),
                Prop::Int(n) => out.push_str(&n.to_string()),
                Prop::Num(x) => push_num(out, *x),
            }
        }
        out.push_str(r#"},"geometry":"#);
        match &self.geometry {
            Geometry::Null => out.push_str("null"),
            Geometry::Point(c) => {
                out.push_str(r#"{"type":"Point","coordinates":"#);
                push_pair(out, *c);
                out.push('}');
            }
            Geometry::Line(cs) => {
                out.push_str(r#"{"type":"LineString","coordinates":"#);
                push_coords(out, cs);
                out.push('}');
            }
            Geometry::Polygon(ring) => {
                out.push_str(r#"{"type":"Polygon","coordinates":["#);
                push_coords(out, ring);
                out.push_str("]}");
            }
        }
        out.push('}');
    }

    fn to_value(&self) -> Value {
        let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
        let pair = |[x, y]: [f64; 2]| Value::Array(vec![num(x), num(y)]);
        let props: Map<String, Value> = self
            .props
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Prop::Str(s) => Value::String(s.clone()),
                    Prop::Int(n) => Value::from(*n),
                    Prop::Num(x) => num(*x),
                };
                ((*k).to_owned(), v)
            })
            .collect();
        let geometry = match &self.geometry {
            Geometry::Null => Value::Null,
            Geometry::Point(c) => serde_json::json!({"type": "Point", "coordinates": pair(*c)}),
            Geometry::Line(cs) => serde_json::json!({
                "type": "LineString",
                "coordinates": cs.iter().copied().map(pair).collect::<Vec<_>>(),
            }),
            Geometry::Polygon(ring) => serde_json::json!({
                "type": "Polygon",
                "coordinates": [ring.iter().copied().map(pair).collect::<Vec<_>>()],
            }),
        };
        serde_json::json!({"type": "Feature", "properties": props, "geometry": geometry})
    }
}

// ---------------------------------------------------------------------------------------
// The public functions

/// The orchard as a GeoJSON `FeatureCollection` value (the same content
/// [`write_geojson`] writes). Holds the whole orchard: for a large one, use the writers.
pub fn orchard_geojson(params: &OrchardParams) -> Result<Value, ParamsError> {
    let layout = Layout::new(params)?;
    let features: Vec<Value> = layout.features().map(|f| f.to_value()).collect();
    Ok(serde_json::json!({"type": "FeatureCollection", "features": features}))
}

/// Writes the orchard as a GeoJSON `FeatureCollection`, one feature per line, in
/// constant memory; returns the number of trees written. The bytes depend on `params`
/// only.
pub fn write_geojson<W: Write>(params: &OrchardParams, out: W) -> Result<u64, GenerateError> {
    let layout = Layout::new(params)?;
    let mut out = BufWriter::new(out);
    out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    let mut line = String::new();
    let mut trees = 0;
    for (i, f) in layout.features().enumerate() {
        line.clear();
        if i > 0 {
            line.push_str(",\n");
        }
        f.write_json(&mut line);
        out.write_all(line.as_bytes())?;
        if matches!(f.geometry, Geometry::Point(_)) {
            trees += 1;
        }
    }
    out.write_all(b"\n]}\n")?;
    out.flush()?;
    Ok(trees)
}

/// Writes the orchard's trees as CSV ([`CSV_HEADER`], then one tree a line), in
/// constant memory: made for orchards of millions of trees such as
/// [`benchmark_1000ha`]. Returns the number of trees written.
pub fn write_trees_csv<W: Write>(params: &OrchardParams, out: W) -> Result<u64, GenerateError> {
    let layout = Layout::new(params)?;
    let mut out = BufWriter::new(out);
    writeln!(out, "{CSV_HEADER}")?;
    let mut line = String::new();
    let mut trees = 0;
    for t in layout.trees() {
        line.clear();
        line.push_str(&t.id);
        line.push(',');
        line.push_str(&layout.rows[t.row].id);
        for x in [t.lat, t.lon] {
            line.push(',');
            push_num(&mut line, x);
        }
        line.push(',');
        line.push_str(&t.fruit_count.to_string());
        for x in [t.height, t.width, t.volume] {
            line.push(',');
            push_num(&mut line, x);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        trees += 1;
    }
    out.flush()?;
    Ok(trees)
}

// ---------------------------------------------------------------------------------------
// The two shipped orchards

/// The demo orchard (`maps/demo-orchard.geojson`): about 3 ha of apple near Moissac
/// (Tarn-et-Garonne), fictitious. Rows run at 12° from north, 150 m long, between 10 m
/// headlands; block `A` is Gala planted 2014 (24 rows 3.8 m apart, a tree every
/// 1.25 m), block `B` Golden Delicious planted 2009 (18 rows 4 m apart, a tree every
/// 1.5 m), both on M9. The ditch along the east edge runs a little askew of the rows
/// (8 m from the last row at the south end, 3.5 m at the north end) with a 5 m
/// untreated buffer (ZNT) along it. `maps/README.md` describes it.
pub fn demo_orchard() -> OrchardParams {
    OrchardParams {
        name: "Verger du Moulin de Lanusse (fictitious demo orchard)".into(),
        crop: "apple".into(),
        eppo_code: "MABSD".into(),
        parcel_ref: "FICTITIOUS-82000-ZZ-0000 (not a real parcel)".into(),
        origin_lat: 44.07,
        origin_lon: 1.09,
        row_bearing_deg: 12.0,
        row_length_m: 150.0,
        headland_start_m: 10.0,
        headland_end_m: 10.0,
        left_edge: Edge {
            at_start_m: 6.0,
            at_end_m: 6.0,
        },
        right_edge: Edge {
            at_start_m: 8.0,
            at_end_m: 3.5,
        },
        blocks: vec![
            BlockParams {
                id: "A".into(),
                name: "Gala 2014".into(),
                variety: "Gala".into(),
                planting_year: 2014,
                rootstock: Some("M9".into()),
                rows: 24,
                row_spacing_m: 3.8,
                tree_spacing_m: 1.25,
                canopy_height_m: Span { min: 2.5, max: 3.3 },
                canopy_width_m: Span { min: 0.8, max: 1.5 },
                fruit_count: Span {
                    min: 40.0,
                    max: 230.0,
                },
            },
            BlockParams {
                id: "B".into(),
                name: "Golden 2009".into(),
                variety: "Golden Delicious".into(),
                planting_year: 2009,
                rootstock: Some("M9".into()),
                rows: 18,
                row_spacing_m: 4.0,
                tree_spacing_m: 1.5,
                canopy_height_m: Span { min: 2.8, max: 3.6 },
                canopy_width_m: Span { min: 1.0, max: 1.8 },
                fruit_count: Span {
                    min: 60.0,
                    max: 260.0,
                },
            },
        ],
        bands: None,
        missing_rate: 0.02,
        replant_gaps: vec![ReplantGap {
            block: "B".into(),
            row: 5,
            first_tree: 31,
            count: 6,
        }],
        no_spray: Some(NoSprayStrip {
            id: "znt-ditch".into(),
            reason: "ZNT: 5 m untreated buffer along the ditch on the east edge (watercourse)"
                .into(),
            side: Side::Right,
            width_m: 5.0,
        }),
        variation: Variation {
            trend_across_per_100m: 0.18,
            trend_along_per_100m: -0.08,
            patch_amplitude: 0.12,
            patch_wavelength_m: 70.0,
            tree_noise: 0.1,
            fruit_noise: 0.15,
        },
        seed: 82_2014,
    }
}

/// Why the demo orchard could not be made a map.
#[derive(Debug, thiserror::Error)]
pub enum DemoMapError {
    /// Its GeoJSON could not be written beside the map.
    #[error("{}: cannot write the demo orchard: {source}", file.display())]
    Write {
        /// The GeoJSON file.
        file: std::path::PathBuf,
        /// What failed.
        source: GenerateError,
    },
    /// The import refused it.
    #[error(transparent)]
    Import(#[from] verger::orchard::ImportError),
    /// The map could not be opened.
    #[error(transparent)]
    Open(#[from] verger::orchard::MapError),
}

/// The demo orchard as a map: [`demo_orchard`] (byte for byte
/// `maps/demo-orchard.geojson`) imported into the map at `db` as `verger map import`
/// does (its GeoJSON written beside `db` for the import, then removed), opened
/// read-only. The map the simulator drives when given none.
pub fn import_demo(db: &std::path::Path) -> Result<verger::orchard::MapDb, DemoMapError> {
    use verger::orchard::{ImportOptions, MapDb};
    let file = db.with_extension("demo.geojson");
    let written = std::fs::File::create(&file)
        .map_err(GenerateError::Io)
        .and_then(|f| write_geojson(&demo_orchard(), f));
    if let Err(source) = written {
        return Err(DemoMapError::Write { file, source });
    }
    let files = std::slice::from_ref(&file);
    let imported = MapDb::import(db, files, &ImportOptions::default(), &mut |_| {});
    let _ = std::fs::remove_file(&file);
    imported?;
    Ok(MapDb::open_read_only(db)?)
}

/// A 1,000 ha benchmark orchard of about 2 million trees, for load tests (write it with
/// [`write_trees_csv`]): 200 blocks of 5 ha (78 rows 4 m apart, 150 m long, a tree every
/// 1.2 m) in 20 bands of 10 blocks, 10 m headlands, 2 % missing trees, a 5 m no-spray
/// strip along the right edge; varieties and planting years cycle through a few common
/// ones.
pub fn benchmark_1000ha() -> OrchardParams {
    const VARIETIES: [&str; 6] = [
        "Gala",
        "Golden Delicious",
        "Pink Lady",
        "Granny Smith",
        "Fuji",
        "Braeburn",
    ];
    let blocks = (0..200u32)
        .map(|i| {
            let variety = VARIETIES[i as usize % VARIETIES.len()];
            BlockParams {
                id: format!("B{:03}", i + 1),
                name: format!("{variety} {:03}", i + 1),
                variety: variety.into(),
                planting_year: 2004 + (i * 7 % 17) as i32,
                rootstock: Some("M9".into()),
                rows: 78,
                row_spacing_m: 4.0,
                tree_spacing_m: 1.2,
                canopy_height_m: Span { min: 2.5, max: 3.6 },
                canopy_width_m: Span { min: 0.8, max: 1.8 },
                fruit_count: Span {
                    min: 40.0,
                    max: 260.0,
                },
            }
        })
        .collect();
    OrchardParams {
        name: "Benchmark orchard, 1000 ha (synthetic)".into(),
        crop: "apple".into(),
        eppo_code: "MABSD".into(),
        parcel_ref: "FICTITIOUS-BENCHMARK".into(),
        origin_lat: 44.0,
        origin_lon: 1.2,
        row_bearing_deg: 17.0,
        row_length_m: 150.0,
        headland_start_m: 10.0,
        headland_end_m: 10.0,
        left_edge: Edge {
            at_start_m: 6.0,
            at_end_m: 6.0,
        },
        right_edge: Edge {
            at_start_m: 8.0,
            at_end_m: 8.0,
        },
        blocks,
        bands: Some(Bands {
            blocks_per_band: 10,
            headland_between_m: 10.0,
        }),
        missing_rate: 0.02,
        replant_gaps: Vec::new(),
        no_spray: Some(NoSprayStrip {
            id: "znt-right".into(),
            reason: "ZNT: 5 m untreated buffer along the right edge".into(),
            side: Side::Right,
            width_m: 5.0,
        }),
        variation: Variation {
            trend_across_per_100m: 0.01,
            trend_along_per_100m: -0.01,
            patch_amplitude: 0.15,
            patch_wavelength_m: 150.0,
            tree_noise: 0.1,
            fruit_noise: 0.15,
        },
        seed: 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_outputs() {
        // First outputs of the reference implementation (Vigna's splitmix64.c) seeded
        // with 1234567: pins every draw of every generated orchard.
        let mut s = 1_234_567;
        let got: Vec<u64> = (0..5).map(|_| splitmix64(&mut s)).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
    }

    #[test]
    fn draws_are_uniform_and_keyed() {
        let n = 20_000;
        let draws: Vec<f64> = (0..n)
            .map(|i| uniform(7, Stream::Vigour, [i, 0, 0, 0]))
            .collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let below = draws.iter().filter(|&&x| x < 0.02).count();
        assert!((300..500).contains(&below), "{below}");
        // Another stream, seed or key gives other draws.
        assert_ne!(
            uniform(7, Stream::Vigour, [1, 0, 0, 0]),
            uniform(7, Stream::Fruit, [1, 0, 0, 0])
        );
        assert_ne!(
            uniform(7, Stream::Vigour, [1, 0, 0, 0]),
            uniform(8, Stream::Vigour, [1, 0, 0, 0])
        );
        assert_ne!(
            uniform(7, Stream::Vigour, [1, 2, 0, 0]),
            uniform(7, Stream::Vigour, [2, 1, 0, 0])
        );
    }

    #[test]
    fn normal_draws_have_unit_spread() {
        let n = 20_000u64;
        let xs: Vec<f64> = (0..n)
            .map(|i| normal(3, Stream::Height, [i, 0, 0]))
            .collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var.sqrt() - 1.0).abs() < 0.03, "{var}");
    }

    #[test]
    fn numbers_are_written_short_and_as_floats() {
        let mut s = String::new();
        push_num(&mut s, round_to(44.070_000_012_345, COORD_DECIMALS));
        s.push(' ');
        push_num(&mut s, round_to(1.090_123_456_789, COORD_DECIMALS));
        s.push(' ');
        push_num(&mut s, 3.0);
        s.push(' ');
        push_num(&mut s, round_to(-0.000_000_01, COORD_DECIMALS));
        assert_eq!(s, "44.07 1.0901235 3.0 0.0");
    }

    #[test]
    fn written_features_read_back_as_their_values() {
        let p = demo_orchard();
        let layout = Layout::new(&p).unwrap();
        for f in layout.features().step_by(97) {
            let mut s = String::new();
            f.write_json(&mut s);
            let read: Value = serde_json::from_str(&s).unwrap();
            assert_eq!(read, f.to_value(), "{s}");
        }
    }

    #[test]
    fn strips_are_square_to_their_edge() {
        assert_eq!(strip_offset(5.0, 100.0, 0.0), 5.0);
        assert!((strip_offset(5.0, 3.0, 4.0) - 5.0 * 5.0 / 3.0).abs() < 1e-12);
    }
}
