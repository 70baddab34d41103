//! WAMP ID generation (spec: basic/building_blocks.md, "IDs").
//!
//! Global scope IDs (session, publication) are drawn at random from `[1, 2^53]`;
//! router scope IDs (subscription, registration) and session scope IDs (request) are
//! sequential from 1.

use super::value::{Id, MAX_ID};
use rand::Rng;

/// A random ID in `[1, 2^53]`, for global-scope IDs.
pub fn random_id() -> Id {
    rand::rng().random_range(1..=MAX_ID)
}

/// Sequential IDs `1, 2, ...` wrapping back to 1 after 2^53.
#[derive(Debug, Default, Clone)]
pub struct SequentialIds {
    last: Id,
}

impl SequentialIds {
    /// A generator whose first ID is 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next ID.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Id {
        self.last = if self.last >= MAX_ID {
            1
        } else {
            self.last + 1
        };
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_wraps_to_one() {
        let mut ids = SequentialIds { last: MAX_ID - 1 };
        assert_eq!(ids.next(), MAX_ID);
        assert_eq!(ids.next(), 1);
    }

    #[test]
    fn random_ids_in_range() {
        for _ in 0..1000 {
            let id = random_id();
            assert!((1..=MAX_ID).contains(&id));
        }
    }
}
