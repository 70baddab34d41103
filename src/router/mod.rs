//! The embedded WAMP router.

pub mod broker;
pub mod dealer;
pub mod meta;
pub mod pattern;
pub mod realm;
