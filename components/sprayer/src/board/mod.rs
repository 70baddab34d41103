//! The valve board: verger's serial protocol (the pure codec, [`verger::valve_board`]).

pub use verger::valve_board::*;
