//! The valve board's serial protocol, as a pure codec (no I/O).
//!
//! Two wire formats live here:
//!
//! - [`protocol`]: verger's own framed protocol (`0xA5`, length, type + body, CRC-16/CCITT-FALSE)
//!   between the sprayer computer (host) and a valve board of up to [`MAX_SECTIONS`] sections,
//!   with sequence numbers, acknowledgements and a board-side watchdog. Both directions are
//!   encoded and decoded by the same module: the sprayer (`verger-sprayer`'s `board`) is the
//!   host, the simulator's virtual board (`verger-sim`'s `board`) the other end.
//! - [`lc_relay`]: the 4-byte command set of the common CH340 USB relay boards ("LC" boards),
//!   which have no feedback and no watchdog.
//!
//! Byte-by-byte layout, example frames and the watchdog rules: `docs/valve-board.md`.

pub mod protocol;

use std::num::NonZeroU8;

pub use protocol::{
    crc16_ccitt_false, encode, encode_into, BoardDecoder, BoardMessage, Decoder, FrameError,
    HostDecoder, HostMessage, NakReason, Outputs, Section, Status, ValueError, Wire,
    DEFAULT_WATCHDOG_PERIOD, HEARTBEAT_PERIOD, MAX_SECTIONS,
};

/// Start byte of an LC (CH340) relay board command.
pub const LC_RELAY_START: u8 = 0xA0;

/// The 4-byte command that switches relay `relay` (1-based) of a CH340 "LC" USB relay board
/// on or off: `A0 <relay> <state> <checksum>`, checksum = sum of the first three bytes mod 256.
/// `A0 01 01 A2` switches relay 1 on, `A0 01 00 A1` switches it off.
///
/// These boards send nothing back and have no watchdog: a relay stays as last commanded when
/// the host crashes or the cable is pulled, so the host must be the safety (close everything
/// on shutdown and on loss of inputs, and prefer normally-closed valves). A relay number the
/// board does not have is silently ignored by the board.
pub fn lc_relay(relay: NonZeroU8, on: bool) -> [u8; 4] {
    let state = u8::from(on);
    let sum = LC_RELAY_START.wrapping_add(relay.get()).wrapping_add(state);
    [LC_RELAY_START, relay.get(), state, sum]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(n: u8) -> NonZeroU8 {
        NonZeroU8::new(n).expect("test relay numbers are non-zero")
    }

    #[test]
    fn lc_relay_known_vectors() {
        assert_eq!(lc_relay(relay(1), true), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(lc_relay(relay(1), false), [0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(lc_relay(relay(2), true), [0xA0, 0x02, 0x01, 0xA3]);
        assert_eq!(lc_relay(relay(8), false), [0xA0, 0x08, 0x00, 0xA8]);
    }

    #[test]
    fn lc_relay_checksum_wraps() {
        // 0xA0 + 0x60 + 1 = 0x101 → 0x01
        assert_eq!(lc_relay(relay(0x60), true), [0xA0, 0x60, 0x01, 0x01]);
        assert_eq!(lc_relay(relay(0xFF), true)[3], 0xA0);
    }
}
