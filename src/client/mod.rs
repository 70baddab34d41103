//! The Rust WAMP client used by every verger component.
