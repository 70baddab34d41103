//! The embedded WAMP router.

pub mod realm;
