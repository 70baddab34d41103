//! One session's outbound queue, bounded in messages **and** encoded bytes, and the
//! router-wide byte budget all queues share. No I/O: the routing side offers messages
//! (under the realm lock), the session's writer task pops them.
//!
//! **Where bytes are counted.** A message is encoded with the receiver's serializer
//! when it is queued, not when it is written, so the queue holds (and counts) exactly
//! the bytes that will go on the wire, and the size limit for everything the router
//! sends is checked before anything is queued, where the replacement (an ERROR for the
//! caller, an INVOCATION answered on the callee's behalf) can still be routed. A fan-out
//! encodes each event once per serializer ([`FrameCache`]); the receivers share the
//! bytes, and each queue counts them in full (the accounting errs on the safe side).
//! Events of a `drop_oldest` / `latest` subscription stay messages until written, so
//! that the count of events dropped before them can still be added to their details;
//! they count their encoded size plus [`DROPPED_ALLOWANCE`].
//!
//! **Bounds.** A queue is over its bounds when it holds more than `outbound_queue`
//! messages or more than `outbound_queue_bytes` bytes (queued plus the one being
//! written), or when the router-wide `outbound_budget` is spent and the session is
//! behind (something else is still queued before the message just offered: a session
//! that keeps up always gets its next message, so the budget can be exceeded by at
//! most one message per such session). Over its bounds, the queue drops its oldest
//! events of `drop_oldest` / `latest` subscriptions (of any of them, so that a RESULT or
//! a `cut` subscription's event fits in); if that is not enough, the offer reports an
//! [`Overflow`] and the shell cuts the session ([`Outbox::kill`] empties the queue and
//! gives its bytes back to the budget at once).
//!
//! **Why encode under the realm lock.** Encoding in the writer task would keep the
//! encoding off the lock, but then sizes are known only after the queue was bounded
//! (an estimate walking the message costs about what encoding does), and an outgoing
//! message over the limit could only be replaced from the writer, asynchronously. A
//! fan-out is cheaper than before (once per serializer instead of once per receiver);
//! a large reply (a meta API list) is encoded under the lock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::{watch, Notify};

use super::vocab::Delivery;
use crate::transport::CloseReason;
use crate::wamp::{code, uris, Dict, Id, Message, Payload, Serializer, Value};

/// Bytes an EVENT may still grow by when the router adds `dropped` to its details
/// (`,"dropped":18446744073709551615` in JSON).
pub(crate) const DROPPED_ALLOWANCE: usize = 32;

/// Subscriptions per session whose dropped count waits for their next event; beyond
/// it, counts are lost rather than memory grown.
const UNREPORTED_MAX: usize = 4096;

/// Encoded bytes queued for all sessions of a router, against `outbound_budget`.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    fn take(&self, n: usize) {
        if n > 0 {
            let now = self.used.fetch_add(n, Ordering::Relaxed) + n;
            // A read first: the shared line is written only for a new peak.
            if now > self.peak.load(Ordering::Relaxed) {
                self.peak.fetch_max(now, Ordering::Relaxed);
            }
        }
    }

    fn give(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::Relaxed);
        }
    }

    fn spent(&self) -> bool {
        self.used.load(Ordering::Relaxed) > self.limit
    }

    /// Bytes queued now, all sessions together.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most ever queued at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

/// One session's bounds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// `outbound_queue`.
    pub(crate) messages: usize,
    /// `outbound_queue_bytes`.
    pub(crate) bytes: usize,
    /// Largest message the router sends this session: `max_message_size`, or less if
    /// a RawSocket peer announced less.
    pub(crate) message_size: usize,
}

/// Which bound a queue went over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    Messages {
        queued: usize,
        limit: usize,
    },
    Bytes {
        queued: usize,
        limit: usize,
    },
    Budget {
        queued: usize,
        used: usize,
        limit: usize,
    },
}

impl Overflow {
    /// For the log and the ABORT's `message`.
    pub(crate) fn describe(&self) -> String {
        match *self {
            Overflow::Messages { queued, limit } => format!(
                "{queued} messages waiting for it, over its limit of {limit} (outbound_queue)"
            ),
            Overflow::Bytes { queued, limit } => format!(
                "{queued} bytes waiting for it, over its limit of {limit} (outbound_queue_bytes)"
            ),
            Overflow::Budget {
                queued,
                used,
                limit,
            } => format!(
                "{queued} bytes waiting for it while the router's outbound budget is spent \
                 ({used} of {limit} bytes, outbound_budget)"
            ),
        }
    }
}

/// What became of a message offered to a session.
#[derive(Debug, PartialEq)]
pub(crate) enum Delivered {
    Queued,
    /// Not queued: over the size limit (an EVENT, counted as dropped), or an event
    /// the delivery policy dropped.
    Dropped,
    /// The session is closing or was cut: nothing more is queued.
    Gone,
    /// Over the queue's bounds with nothing left to drop: cut the session.
    Overflow(Overflow),
    /// An INVOCATION over the callee's size limit, not sent: answer it on the
    /// callee's behalf (`ERROR(INVOCATION, payload_size_exceeded)`).
    AnswerInvocation(Id),
    /// Over the session's size limit (`size` bytes encoded): `replaced` by the spec's
    /// error (a RESULT or ERROR) or a smaller WELCOME, otherwise dropped (an EVENT is
    /// counted as dropped for its subscription).
    Oversize {
        size: usize,
        replaced: bool,
    },
}

/// Stop now: forget the queue, finish the frame being written, write `message` (if
/// the peer takes it), close.
#[derive(Clone, Debug)]
pub(crate) struct KillOrder {
    pub(crate) message: Option<Message>,
    pub(crate) reason: CloseReason,
    /// Set for a slow-consumer cut: which bound the queue went over.
    pub(crate) overflow: Option<Overflow>,
}

/// What the writer takes from the queue.
#[derive(Debug)]
pub(crate) enum Item {
    /// Encoded, ready to write.
    Frame(Bytes),
    /// An EVENT encoded when written (so its `dropped` count can still grow).
    Event(Box<QueuedEvent>),
    /// Write `frame` (if any) after everything before it, then close.
    Close {
        frame: Option<Bytes>,
        reason: CloseReason,
    },
}

impl Item {
    /// Bytes this item counts against the bounds.
    pub(crate) fn size(&self) -> usize {
        match self {
            Item::Frame(b) => b.len(),
            Item::Event(e) => e.size,
            Item::Close { frame, .. } => frame.as_ref().map_or(0, Bytes::len),
        }
    }

    fn droppable(&self) -> bool {
        matches!(self, Item::Event(e) if e.delivery.droppable())
    }
}

/// An EVENT waiting in a queue as a message.
#[derive(Debug)]
pub(crate) struct QueuedEvent {
    message: Message,
    /// Encoded size without `dropped`, plus [`DROPPED_ALLOWANCE`].
    size: usize,
    subscription: Id,
    delivery: Delivery,
    /// Events of this subscription dropped since the one delivered before this one.
    dropped: u64,
}

impl QueuedEvent {
    /// `EVENT.Details.topic` (pattern subscriptions); `None` for exact ones, whose
    /// topic is the subscription's.
    fn topic(&self) -> Option<&str> {
        match &self.message {
            Message::Event { details, .. } => details.get("topic").and_then(Value::as_str),
            _ => None,
        }
    }

    fn same_topic(&self, other: &QueuedEvent) -> bool {
        self.subscription == other.subscription && self.topic() == other.topic()
    }

    /// The bytes to write: the event with `dropped` in its details if any were.
    pub(crate) fn encode(self, serializer: Serializer) -> Vec<u8> {
        let mut message = self.message;
        if self.dropped > 0 {
            if let Message::Event { details, .. } = &mut message {
                details.insert("dropped".into(), Value::UInt(self.dropped));
            }
        }
        serializer.encode(&message)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Open,
    /// A close is queued; nothing more is accepted.
    Closing,
    /// Cut or stopped: the queue is gone.
    Killed,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Item>,
    /// Bytes of `items`.
    queued: usize,
    /// Bytes the writer took and has not finished writing.
    in_flight: usize,
    /// Per subscription: events dropped that its next queued event reports.
    unreported: HashMap<Id, u64>,
    state: State,
}

/// Encodes each distinct message once per serializer while one action list is
/// carried out: a fan-out of one event to many subscribers is encoded once.
#[derive(Debug, Default)]
pub(crate) struct FrameCache {
    message: Option<Message>,
    frames: [Option<Bytes>; 3],
}

impl FrameCache {
    fn slot(serializer: Serializer) -> usize {
        match serializer {
            Serializer::Json => 0,
            Serializer::MsgPack => 1,
            Serializer::Cbor => 2,
        }
    }

    /// `message` encoded with `serializer`, from the cache if it is the message the
    /// cache holds.
    fn encoded(&mut self, message: &Message, serializer: Serializer) -> Bytes {
        if self.message.as_ref() != Some(message) {
            self.message = None;
            self.frames = Default::default();
        }
        let slot = &mut self.frames[Self::slot(serializer)];
        match slot {
            Some(bytes) => bytes.clone(),
            None => {
                let bytes = Bytes::from(serializer.encode(message));
                *slot = Some(bytes.clone());
                bytes
            }
        }
    }

    /// Keep `message` as the key of the frames just encoded.
    fn remember(&mut self, message: Message) {
        if self.message.is_none() {
            self.message = Some(message);
        }
    }

    /// Like `remember`, for a message that goes on elsewhere.
    fn remember_copy(&mut self, message: &Message) {
        if self.message.is_none() {
            self.message = Some(message.clone());
        }
    }
}

/// One session's outbound queue, shared by the routing side and its writer task.
#[derive(Debug)]
pub(crate) struct Outbox {
    serializer: Serializer,
    limits: Limits,
    budget: std::sync::Arc<Budget>,
    queue: Mutex<Queue>,
    /// Signalled when an item is queued into an empty queue, or a close or kill: the
    /// writer takes items until the queue is empty before it waits.
    ready: Notify,
    kill: watch::Sender<Option<KillOrder>>,
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let q = self.queue.get_mut().unwrap_or_else(PoisonError::into_inner);
        self.budget.give(q.queued + q.in_flight);
    }
}

impl Outbox {
    pub(crate) fn new(
        serializer: Serializer,
        limits: Limits,
        budget: std::sync::Arc<Budget>,
    ) -> Outbox {
        Outbox {
            serializer,
            limits,
            budget,
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            kill: watch::channel(None).0,
        }
    }

    pub(crate) fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// Short critical sections only, never across an `.await`.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Kill orders, for the session task and the writer.
    pub(crate) fn kill_orders(&self) -> watch::Receiver<Option<KillOrder>> {
        self.kill.subscribe()
    }

    /// Encode `message` for this session and queue it, applying the size limit and,
    /// for an EVENT, the subscription's delivery policy.
    pub(crate) fn deliver(
        &self,
        message: Message,
        delivery: Delivery,
        cache: &mut FrameCache,
    ) -> Delivered {
        // Only an EVENT goes to several receivers in one action list (a fan-out);
        // anything else is encoded for its one receiver, without a cache key.
        let bytes = match message {
            Message::Event { .. } => cache.encoded(&message, self.serializer),
            _ => Bytes::from(self.serializer.encode(&message)),
        };
        let allowance = match message {
            Message::Event { .. } => DROPPED_ALLOWANCE,
            _ => 0,
        };
        if bytes.len() + allowance > self.limits.message_size {
            return self.oversize(message, bytes.len());
        }
        // One lock for the decision and the offer.
        let q = self.lock();
        // An event is kept as a message if its subscription may drop events, or if
        // drops wait to be reported with it.
        match message {
            Message::Event { subscription, .. }
                if delivery.droppable() || q.unreported.contains_key(&subscription) =>
            {
                cache.remember_copy(&message);
                let item = Item::Event(Box::new(QueuedEvent {
                    size: bytes.len() + DROPPED_ALLOWANCE,
                    message,
                    subscription,
                    delivery,
                    dropped: 0,
                }));
                self.offer_locked(q, item)
            }
            message => {
                if matches!(message, Message::Event { .. }) {
                    cache.remember(message);
                }
                self.offer_locked(q, Item::Frame(bytes))
            }
        }
    }

    /// A message over this session's size limit: send what the spec says instead.
    fn oversize(&self, message: Message, size: usize) -> Delivered {
        let limit = self.limits.message_size;
        let text = |what: &str| {
            format!("the {what} of {size} bytes exceeds the message size limit of {limit} bytes")
        };
        let replacement = match message {
            // A client may announce as little as 512 bytes: keep the roles, drop the
            // feature lists, so that it can at least join.
            Message::Welcome {
                session,
                mut details,
            } => {
                if let Some(Value::Dict(roles)) = details.get_mut("roles") {
                    for features in roles.values_mut() {
                        *features = Value::Dict(Dict::new());
                    }
                }
                Message::Welcome { session, details }
            }
            Message::Result { request, .. } => size_error(code::CALL, request, text("result")),
            Message::Error {
                request_type,
                request,
                ..
            } => size_error(request_type, request, text("error")),
            Message::Invocation { request, .. } => return Delivered::AnswerInvocation(request),
            Message::Event { subscription, .. } => {
                self.count_dropped(subscription, 1);
                return Delivered::Oversize {
                    size,
                    replaced: false,
                };
            }
            _ => {
                return Delivered::Oversize {
                    size,
                    replaced: false,
                }
            }
        };
        let bytes = Bytes::from(self.serializer.encode(&replacement));
        if bytes.len() > limit {
            return Delivered::Oversize {
                size,
                replaced: false,
            };
        }
        match self.offer(Item::Frame(bytes)) {
            Delivered::Queued => Delivered::Oversize {
                size,
                replaced: true,
            },
            other => other,
        }
    }

    /// `n` events of `subscription` were dropped before being queued.
    fn count_dropped(&self, subscription: Id, n: u64) {
        let mut q = self.lock();
        if q.unreported.len() < UNREPORTED_MAX || q.unreported.contains_key(&subscription) {
            *q.unreported.entry(subscription).or_default() += n;
        }
    }

    /// Queue an item, then enforce the bounds.
    fn offer(&self, item: Item) -> Delivered {
        self.offer_locked(self.lock(), item)
    }

    /// [`Outbox::offer`] with the queue already locked.
    fn offer_locked(&self, mut q: MutexGuard<'_, Queue>, mut item: Item) -> Delivered {
        if q.state != State::Open {
            return Delivered::Gone;
        }
        let size = item.size();
        // The writer drains the queue before it waits: it needs waking only when the
        // queue was empty (one wake-up per burst, not one per message).
        let wake = q.items.is_empty();
        let mut latest_at = None;
        if let Item::Event(e) = &mut item {
            e.dropped += q.unreported.remove(&e.subscription).unwrap_or(0);
            if e.delivery == Delivery::Latest {
                latest_at = q
                    .items
                    .iter()
                    .position(|old| matches!(old, Item::Event(o) if o.same_topic(e)));
            }
        }
        match latest_at {
            // `latest`: the newest event of a topic takes the place of the queued one.
            Some(i) => {
                let old = std::mem::replace(&mut q.items[i], item);
                if let (Item::Event(new), Item::Event(old)) = (&mut q.items[i], &old) {
                    new.dropped += old.dropped + 1;
                }
                q.queued = q.queued - old.size() + size;
                self.budget.give(old.size());
            }
            None => {
                q.items.push_back(item);
                q.queued += size;
            }
        }
        self.budget.take(size);
        let mut result = Delivered::Queued;
        while let Some(over) = self.over(&q) {
            match q.items.iter().position(Item::droppable) {
                Some(i) => {
                    // The oldest droppable event; if it was the one just offered, say so.
                    if i + 1 == q.items.len() && latest_at.is_none() {
                        result = Delivered::Dropped;
                    }
                    self.drop_at(&mut q, i);
                }
                None => return Delivered::Overflow(over),
            }
        }
        drop(q);
        if wake {
            self.ready.notify_one();
        }
        result
    }

    fn over(&self, q: &Queue) -> Option<Overflow> {
        let held = q.queued + q.in_flight;
        if q.items.len() > self.limits.messages {
            Some(Overflow::Messages {
                queued: q.items.len(),
                limit: self.limits.messages,
            })
        } else if held > self.limits.bytes {
            Some(Overflow::Bytes {
                queued: held,
                limit: self.limits.bytes,
            })
        } else if self.budget.spent() && q.items.len() > 1 {
            Some(Overflow::Budget {
                queued: held,
                used: self.budget.used(),
                limit: self.budget.limit,
            })
        } else {
            None
        }
    }

    /// Drop the droppable event at `i`; the next queued event of its subscription (or
    /// else the next one to come) reports it.
    fn drop_at(&self, q: &mut Queue, i: usize) {
        let Some(Item::Event(e)) = q.items.remove(i) else {
            return;
        };
        q.queued -= e.size;
        self.budget.give(e.size);
        let carried = e.dropped + 1;
        let next = q.items.iter_mut().skip(i).find_map(|item| match item {
            Item::Event(n) if n.subscription == e.subscription => Some(n),
            _ => None,
        });
        match next {
            Some(next) => next.dropped += carried,
            None => {
                if q.unreported.len() < UNREPORTED_MAX || q.unreported.contains_key(&e.subscription)
                {
                    *q.unreported.entry(e.subscription).or_default() += carried;
                }
            }
        }
    }

    /// Queue `frame` (if any) and a close behind everything queued; nothing is
    /// accepted after it. Not bounded: there is at most one.
    pub(crate) fn close(&self, frame: Option<Bytes>, reason: CloseReason) {
        let mut q = self.lock();
        if q.state != State::Open {
            return;
        }
        q.state = State::Closing;
        let item = Item::Close { frame, reason };
        let size = item.size();
        q.items.push_back(item);
        q.queued += size;
        drop(q);
        self.budget.take(size);
        self.ready.notify_one();
    }

    /// Encode `message` and [`Outbox::close`] behind it.
    pub(crate) fn close_with(&self, message: Option<&Message>, reason: CloseReason) {
        let frame = message.map(|m| Bytes::from(self.serializer.encode(m)));
        self.close(frame, reason);
    }

    /// Stop: drop everything queued (its bytes go back to the budget at once) and tell
    /// the writer and the session task. Only the first order counts.
    pub(crate) fn kill(&self, order: KillOrder) {
        let mut q = self.lock();
        if q.state == State::Killed {
            return;
        }
        q.state = State::Killed;
        let freed = std::mem::take(&mut q.queued);
        q.items.clear();
        q.unreported.clear();
        drop(q);
        self.budget.give(freed);
        self.kill.send_replace(Some(order));
        self.ready.notify_one();
    }

    /// The next item for the writer (its size now counts as in flight until
    /// [`Outbox::written`]); `None` if the queue is empty or was killed.
    #[cfg(test)]
    pub(crate) fn pop(&self) -> Option<Item> {
        self.take().map(|(item, _)| item)
    }

    /// The next item for the writer (its size now counts as in flight until
    /// [`Outbox::written`]), and whether more items wait behind it; `None` if the
    /// queue is empty or was killed.
    fn take(&self) -> Option<(Item, bool)> {
        let mut q = self.lock();
        if q.state == State::Killed {
            return None;
        }
        let item = q.items.pop_front()?;
        let size = item.size();
        q.queued -= size;
        q.in_flight += size;
        Some((item, !q.items.is_empty()))
    }

    /// Wait for the next item, and whether more wait behind it (forever once
    /// killed: the writer watches kill orders).
    pub(crate) async fn next(&self) -> (Item, bool) {
        loop {
            if let Some(next) = self.take() {
                return next;
            }
            self.ready.notified().await;
        }
    }

    /// The writer is done with an item of `size` bytes (written or abandoned).
    /// Returns whether the queue is empty now.
    pub(crate) fn written(&self, size: usize) -> bool {
        let mut q = self.lock();
        let n = size.min(q.in_flight);
        q.in_flight -= n;
        let empty = q.items.is_empty();
        drop(q);
        self.budget.give(n);
        empty
    }
}

/// `ERROR(request_type, request, wamp.error.payload_size_exceeded)` with `text`.
fn size_error(request_type: u64, request: Id, text: String) -> Message {
    Message::Error {
        request_type,
        request,
        details: crate::dict! { "message" => text },
        error: uris::PAYLOAD_SIZE_EXCEEDED.into(),
        payload: Payload::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list;
    use std::sync::Arc;

    fn outbox(messages: usize, bytes: usize, budget: usize) -> (Outbox, Arc<Budget>) {
        let budget = Arc::new(Budget::new(budget));
        let limits = Limits {
            messages,
            bytes,
            message_size: 1 << 20,
        };
        (
            Outbox::new(Serializer::Json, limits, budget.clone()),
            budget,
        )
    }

    fn event(subscription: Id, n: u64, topic: Option<&str>, pad: usize) -> Message {
        let mut details = Dict::new();
        if let Some(t) = topic {
            details.insert("topic".into(), t.into());
        }
        Message::Event {
            subscription,
            publication: n,
            details,
            payload: Payload::args(list![n, "x".repeat(pad)]),
        }
    }

    /// What the writer would send: (subscription, publication, dropped).
    fn drain(o: &Outbox) -> Vec<(Id, u64, u64)> {
        let mut got = Vec::new();
        while let Some(item) = o.pop() {
            let size = item.size();
            let bytes = match item {
                Item::Frame(b) => b.to_vec(),
                Item::Event(e) => e.encode(Serializer::Json),
                Item::Close { .. } => continue,
            };
            o.written(size);
            match Serializer::Json.decode(&bytes).unwrap() {
                Message::Event {
                    subscription,
                    publication,
                    details,
                    ..
                } => got.push((
                    subscription,
                    publication,
                    details.get("dropped").and_then(Value::as_u64).unwrap_or(0),
                )),
                other => panic!("{other:?}"),
            }
        }
        got
    }

    #[test]
    fn cut_policy_overflows_on_messages_and_on_bytes() {
        let (o, budget) = outbox(3, 1 << 20, 1 << 30);
        let mut cache = FrameCache::default();
        for n in 0..3 {
            let d = o.deliver(event(1, n, None, 10), Delivery::Cut, &mut cache);
            assert_eq!(d, Delivered::Queued);
        }
        let d = o.deliver(event(1, 3, None, 10), Delivery::Cut, &mut cache);
        assert!(matches!(
            d,
            Delivered::Overflow(Overflow::Messages {
                queued: 4,
                limit: 3
            })
        ));
        assert!(budget.used() > 0);
        o.kill(KillOrder {
            message: None,
            reason: CloseReason::Policy,
            overflow: None,
        });
        assert_eq!(budget.used(), 0, "a cut gives the bytes back at once");
        assert_eq!(
            o.deliver(event(1, 4, None, 10), Delivery::Cut, &mut cache),
            Delivered::Gone
        );

        let (o, _) = outbox(100, 1000, 1 << 30);
        assert_eq!(
            o.deliver(event(1, 0, None, 600), Delivery::Cut, &mut cache),
            Delivered::Queued
        );
        assert!(matches!(
            o.deliver(event(1, 1, None, 600), Delivery::Cut, &mut cache),
            Delivered::Overflow(Overflow::Bytes { limit: 1000, .. })
        ));
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts_the_gap() {
        let (o, budget) = outbox(3, 1 << 20, 1 << 30);
        let mut cache = FrameCache::default();
        for n in 0..10 {
            let d = o.deliver(event(7, n, None, 10), Delivery::DropOldest, &mut cache);
            assert_ne!(
                d,
                Delivered::Overflow(Overflow::Messages {
                    queued: 4,
                    limit: 3
                })
            );
        }
        // 7 dropped: the first delivered one reports them.
        assert_eq!(drain(&o), vec![(7, 7, 7), (7, 8, 0), (7, 9, 0)]);
        assert_eq!(budget.used(), 0);
        // Later events report nothing more.
        o.deliver(event(7, 10, None, 10), Delivery::DropOldest, &mut cache);
        assert_eq!(drain(&o), vec![(7, 10, 0)]);
    }

    #[test]
    fn latest_conflates_per_topic_in_place() {
        let (o, _) = outbox(100, 1 << 20, 1 << 30);
        let mut cache = FrameCache::default();
        let topics = [Some("fix.a"), Some("fix.b")];
        for n in 0..6 {
            o.deliver(
                event(5, n, topics[(n % 2) as usize], 10),
                Delivery::Latest,
                &mut cache,
            );
        }
        // A cut-policy event of another subscription is never conflated.
        o.deliver(event(6, 100, None, 10), Delivery::Cut, &mut cache);
        o.deliver(event(6, 101, None, 10), Delivery::Cut, &mut cache);
        // Topic a: 0, 2, 4 -> 4 (2 dropped); b: 1, 3, 5 -> 5, each where the first was.
        assert_eq!(
            drain(&o),
            vec![(5, 4, 2), (5, 5, 2), (6, 100, 0), (6, 101, 0)]
        );
    }

    #[test]
    fn droppable_events_make_room_for_others_and_are_never_cut() {
        let (o, _) = outbox(4, 1 << 20, 1 << 30);
        let mut cache = FrameCache::default();
        for n in 0..4 {
            o.deliver(event(1, n, None, 10), Delivery::Latest, &mut cache);
        }
        // Four cut-policy events push the droppable ones out, then overflow.
        for n in 10..14 {
            assert_eq!(
                o.deliver(event(2, n, None, 10), Delivery::Cut, &mut cache),
                Delivered::Queued
            );
        }
        assert!(matches!(
            o.deliver(event(2, 14, None, 10), Delivery::Cut, &mut cache),
            Delivered::Overflow(_)
        ));
    }

    #[test]
    fn the_budget_cuts_sessions_that_are_behind_only() {
        let budget = Arc::new(Budget::new(2000));
        let limits = Limits {
            messages: 100,
            bytes: 1 << 20,
            message_size: 1 << 20,
        };
        let slow = Outbox::new(Serializer::Json, limits, budget.clone());
        let fast = Outbox::new(Serializer::MsgPack, limits, budget.clone());
        let mut cache = FrameCache::default();
        let mut n = 0;
        let over = loop {
            n += 1;
            match slow.deliver(event(1, n, None, 500), Delivery::Cut, &mut cache) {
                Delivered::Queued => {}
                Delivered::Overflow(o) => break o,
                other => panic!("{other:?}"),
            }
        };
        assert!(
            matches!(over, Overflow::Budget { limit: 2000, .. }),
            "{over:?}"
        );
        // The session that keeps up still gets its message, over the budget.
        assert_eq!(
            fast.deliver(event(1, n, None, 500), Delivery::Cut, &mut cache),
            Delivered::Queued
        );
        // While its previous message is being written, it still gets the next one...
        assert!(fast.pop().is_some());
        assert_eq!(
            fast.deliver(event(1, n + 1, None, 500), Delivery::Cut, &mut cache),
            Delivered::Queued
        );
        // ...but one more waiting behind it means it is behind.
        assert!(matches!(
            fast.deliver(event(1, n + 2, None, 500), Delivery::Cut, &mut cache),
            Delivered::Overflow(Overflow::Budget { .. })
        ));
        drop(slow);
        drop(fast);
        assert_eq!(budget.used(), 0, "dropped outboxes give everything back");
        assert!(budget.peak() > 2000);
    }

    #[test]
    fn over_the_size_limit_the_spec_error_replaces_results_and_events_are_counted() {
        let budget = Arc::new(Budget::new(1 << 30));
        let limits = Limits {
            messages: 100,
            bytes: 1 << 20,
            message_size: 200,
        };
        let o = Outbox::new(Serializer::Json, limits, budget);
        let mut cache = FrameCache::default();
        let big = Payload::args(list!["y".repeat(300)]);
        let result = Message::Result {
            request: 9,
            details: Dict::new(),
            payload: big.clone(),
        };
        assert!(matches!(
            o.deliver(result, Delivery::Cut, &mut cache),
            Delivered::Oversize { replaced: true, .. }
        ));
        match o.pop() {
            Some(Item::Frame(b)) => match Serializer::Json.decode(&b).unwrap() {
                Message::Error {
                    request_type,
                    request,
                    error,
                    details,
                    ..
                } => {
                    assert_eq!((request_type, request), (code::CALL, 9));
                    assert_eq!(error, uris::PAYLOAD_SIZE_EXCEEDED);
                    let text = details["message"].as_str().unwrap();
                    assert!(text.contains("limit of 200 bytes"), "{text}");
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        let invocation = Message::Invocation {
            request: 4,
            registration: 1,
            details: Dict::new(),
            payload: big,
        };
        assert_eq!(
            o.deliver(invocation, Delivery::Cut, &mut cache),
            Delivered::AnswerInvocation(4)
        );
        assert!(matches!(
            o.deliver(event(3, 1, None, 300), Delivery::Cut, &mut cache),
            Delivered::Oversize {
                replaced: false,
                ..
            }
        ));
        assert_eq!(
            o.deliver(event(3, 2, None, 10), Delivery::Cut, &mut cache),
            Delivered::Queued
        );
        assert_eq!(
            drain(&o),
            vec![(3, 2, 1)],
            "the next event reports the drop"
        );
    }

    #[test]
    fn a_fan_out_is_encoded_once_per_serializer() {
        let mut cache = FrameCache::default();
        let e = event(1, 1, None, 1000);
        let a = cache.encoded(&e, Serializer::Json);
        cache.remember(e.clone());
        let b = cache.encoded(&e, Serializer::Json);
        assert_eq!(a.as_ptr(), b.as_ptr(), "shared bytes");
        let c = cache.encoded(&e, Serializer::MsgPack);
        assert_ne!(a, c);
        let other = event(1, 2, None, 1000);
        let d = cache.encoded(&other, Serializer::Json);
        assert_ne!(a, d);
    }
}
