//! The tractor simulator: the orchards it drives through, the virtual GNSS receiver and
//! the virtual valve board, and the pseudo-terminals that stand in for their serial
//! ports. `docs/simulator.md` describes the receiver, its tracks and the synthetic drive.
//!
//! - [`orchard`]: synthetic orchards, from a parameter struct to verger's GeoJSON import
//!   format or a streaming CSV of trees; the demo orchard (`maps/demo-orchard.geojson`,
//!   written by the `demo-orchard` example) and a 1,000 ha benchmark orchard. Feature
//!   `orchard` (on by default; it needs verger's SQLite map), as are the receiver's
//!   tracks, drive and pty task below.
//! - [`nmea_out`]: the receiver's NMEA writer, pure: one epoch in, GGA, RMC, VTG (and
//!   HDT) out, to the millimetre and the centisecond.
//! - [`track`]: recorded tracks (NMEA and gpsd logs, `verger record` files, GPX, CSV),
//!   told apart by content, as the epochs the receiver sends and their truth path.
//! - [`drive`]: the synthetic drive, every alley of a map serpentine with headland
//!   turns, with GNSS noise, RTK flapping and outages on request; deterministic.
//! - [`receiver`]: the virtual receiver serving a track or a drive on a pty at N times
//!   real time, scheduled on absolute instants; progress and truth.
//! - [`board`]: the virtual valve board, speaking verger's serial protocol on a pty as its
//!   firmware would (`ACK`/`STATUS`/`NAK`, CRC counter, watchdog), with a log of every
//!   output change and the spray it gives a valve latency later; its logic is a pure
//!   state machine ([`board::BoardCore`]).
//! - `device_thread`: each virtual device's task on a thread of its own, so that the
//!   simulator's runtime never makes it late.
//! - [`pty`]: raw pseudo-terminal pairs with a symlink to the slave (also the test kit's).
//! - [`report`]: the treatment report worked out from the true path and what the board
//!   sprayed (passages, canopy runs, placement error, volumes, safety), pure.
//! - [`scenario`]: a scenario file (what to run, and the limits it must meet) checked
//!   against a report.
//! - [`session`]: `verger sim` itself: the run folder, the system under the supervisor,
//!   the receiver and the board wired in, the report at the end.

pub mod board;
mod device_thread;
#[cfg(feature = "orchard")]
pub mod drive;
pub mod nmea_out;
#[cfg(feature = "orchard")]
pub mod orchard;
pub mod pty;
#[cfg(feature = "orchard")]
pub mod receiver;
#[cfg(feature = "orchard")]
pub mod report;
#[cfg(feature = "orchard")]
pub mod scenario;
#[cfg(feature = "orchard")]
pub mod session;
#[cfg(feature = "orchard")]
pub mod track;
