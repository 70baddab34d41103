//! A bounded single-consumer queue that drops its oldest item when full.
//!
//! Used between the session task (producer, which must never wait) and one consumer (a
//! `Subscription` or a progressive call). For telemetry the newest value matters most
//! (a stale GNSS fix is worse than none), so overflow evicts the oldest item and counts
//! it. Critical sections are a few instructions and never span an `.await`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    closed: bool,
    dropped: u64,
}

#[derive(Debug)]
pub(crate) struct DropOldest<T> {
    state: Mutex<State<T>>,
    notify: Notify,
}

/// What `push` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// Queued after evicting the oldest item; the total number evicted so far.
    EvictedOldest(u64),
    /// The queue is closed (consumer gone or stream ended); the item was discarded.
    Closed,
}

impl<T> DropOldest<T> {
    pub(crate) fn new(capacity: usize) -> DropOldest<T> {
        DropOldest {
            state: Mutex::new(State {
                items: VecDeque::new(),
                capacity: capacity.max(1),
                closed: false,
                dropped: 0,
            }),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the deque inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, item: T) -> Pushed {
        let mut s = self.lock();
        if s.closed {
            return Pushed::Closed;
        }
        let mut result = Pushed::Queued;
        if s.items.len() >= s.capacity {
            s.items.pop_front();
            s.dropped += 1;
            result = Pushed::EvictedOldest(s.dropped);
        }
        s.items.push_back(item);
        drop(s);
        // Stores a permit when the consumer is not waiting yet, so no wake-up is lost.
        self.notify.notify_one();
        result
    }

    /// No more items will be pushed; the consumer drains what is queued, then gets `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    pub(crate) fn try_pop(&self) -> Option<T> {
        self.lock().items.pop_front()
    }

    /// Next item; `None` once the queue is closed and drained. One consumer only.
    pub(crate) async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut s = self.lock();
                if let Some(item) = s.items.pop_front() {
                    return Some(item);
                }
                if s.closed {
                    return None;
                }
            }
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn drops_oldest_and_counts() {
        let q = DropOldest::new(2);
        assert_eq!(q.push(1), Pushed::Queued);
        assert_eq!(q.push(2), Pushed::Queued);
        assert_eq!(q.push(3), Pushed::EvictedOldest(1));
        assert_eq!(q.push(4), Pushed::EvictedOldest(2));
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.try_pop(), Some(3));
        assert_eq!(q.try_pop(), Some(4));
        assert_eq!(q.try_pop(), None);
    }

    #[tokio::test]
    async fn close_drains_then_ends() {
        let q = DropOldest::new(4);
        q.push("a");
        q.close();
        assert_eq!(q.push("b"), Pushed::Closed);
        assert!(q.is_closed());
        assert_eq!(q.pop().await, Some("a"));
        assert_eq!(q.pop().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn consumer_wakes_for_later_push() {
        let q = Arc::new(DropOldest::new(4));
        let q2 = q.clone();
        let consumer = tokio::spawn(async move { q2.pop().await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        q.push(7u32);
        let got = tokio::time::timeout(Duration::from_secs(1), consumer)
            .await
            .expect("consumer woke")
            .expect("no panic");
        assert_eq!(got, Some(7));
    }
}
