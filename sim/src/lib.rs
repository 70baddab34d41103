//! The tractor simulator: virtual GNSS receiver and valve board (built in later issues),
//! and the orchards it drives through.
//!
//! - [`orchard`]: synthetic orchards, from a parameter struct to verger's GeoJSON import
//!   format or a streaming CSV of trees; the demo orchard (`maps/demo-orchard.geojson`,
//!   written by the `demo-orchard` example) and a 1,000 ha benchmark orchard.

pub mod orchard;
