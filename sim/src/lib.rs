//! The tractor simulator: the orchards it drives through, the virtual valve board (the
//! virtual GNSS receiver comes in a later issue), and the pseudo-terminals that stand in
//! for their serial ports.
//!
//! - [`orchard`]: synthetic orchards, from a parameter struct to verger's GeoJSON import
//!   format or a streaming CSV of trees; the demo orchard (`maps/demo-orchard.geojson`,
//!   written by the `demo-orchard` example) and a 1,000 ha benchmark orchard. Feature
//!   `orchard` (on by default; it needs verger's SQLite map).
//! - [`board`]: the virtual valve board, speaking verger's serial protocol on a pty as its
//!   firmware would (`ACK`/`STATUS`/`NAK`, CRC counter, watchdog), with a log of every
//!   output change and the spray it gives a valve latency later; its logic is a pure
//!   state machine ([`board::BoardCore`]).
//! - [`pty`]: raw pseudo-terminal pairs with a symlink to the slave (also the test kit's).

pub mod board;
#[cfg(feature = "orchard")]
pub mod drive;
pub mod nmea_out;
#[cfg(feature = "orchard")]
pub mod orchard;
pub mod pty;
#[cfg(feature = "orchard")]
pub mod receiver;
#[cfg(feature = "orchard")]
pub mod track;
