//! verger: tree-by-tree orchard spraying, as independent programs talking WAMP.
//!
//! - [`wamp`]: the protocol as plain values (messages, serializers, URIs), no I/O.
//! - [`router`]: the embedded WAMP router (realm core + async shell); feature `router`
//!   (on by default; component binaries build without it).
//! - [`transport`]: WebSocket and RawSocket framing, server and client side.
//! - [`client`]: the WAMP client every component uses (reconnecting, typed).
//! - [`component`]: what every component binary shares (flags, config file, signals,
//!   shutdown with a deadline, reconnecting client).
//! - [`config`]: the one TOML configuration loader (strict keys, validation, errors
//!   naming the line) and the duration syntax.
//! - [`contract`]: the orchard topic/procedure URIs and payloads (public API).
//! - [`nmea`]: the NMEA 0183 decoder (framing, sentences, epochs, trust rules), no I/O.
//! - [`orchard`]: the orchard map (trees, rows, boundary, no-spray zones) in SQLite, its
//!   import/export, queries and local metric frame; feature `orchard`.
//! - [`clock`]: field time, the clock components' timing rules run on (scaled in
//!   simulation by `VERGER_TIME_SCALE`).
//! - [`civil`]: civil dates and RFC 3339 times, the one calendar routine, no I/O.
//! - [`source`]: byte-stream sources (serial, TCP, UDP, file, stdin) with reconnects.
//! - [`record`]: `verger record`, raw streams with arrival times for replay, and the one
//!   module of its file format.
//! - [`tty`]: serial devices and pty masters as async byte streams on a descriptor verger
//!   owns (raw 8N1, exclusive; a duplicate for panic hooks).
//! - [`valve_board`]: the valve board's serial protocol (frames, CRC-16, decoder for both
//!   directions; CH340 relay commands), no I/O: the sprayer's host side and the simulator's
//!   virtual board share it.
//! - [`supervisor`]: `verger run`: `verger.toml`, the embedded router and every
//!   component as a child process, restarted with backoff, output prefixed with its
//!   name, stopped in order (the sprayer first, the router last); feature `router`.
//! - [`records`]: the as-applied record, every spray executed, in SQLite (durable before
//!   it is reported: WAL, full sync, group commit), its queries and CSV/GeoJSON export;
//!   feature `records`.
//! - `sqlite` and `geojson_writer` (crate-private): what the map and the record share,
//!   the numbered migrations and file checks, and the streaming FeatureCollection writer.
//!
//! `docs/ARCHITECTURE.md` maps every file, task and channel.

pub mod civil;
pub mod client;
pub mod clock;
pub mod component;
pub mod config;
pub mod contract;
#[cfg(any(feature = "orchard", feature = "records"))]
mod geojson_writer;
pub mod nmea;
#[cfg(feature = "orchard")]
pub mod orchard;
pub mod record;
#[cfg(feature = "records")]
pub mod records;
#[cfg(feature = "router")]
pub mod router;
pub mod source;
#[cfg(any(feature = "orchard", feature = "records"))]
mod sqlite;
#[cfg(feature = "router")]
pub mod supervisor;
pub mod transport;
pub mod tty;
pub mod valve_board;
pub mod wamp;
