//! Epoch assembly: merge the sentences of one receiver epoch and emit it as soon as it is
//! complete.
//!
//! Rules enforced here:
//! - Sentences with the same UTC time of day belong to one epoch. A timed sentence with
//!   another time closes the open epoch and opens the next.
//! - Sentences without time (HDT, THS, VTG, GGA with an empty time...) join the open epoch,
//!   unless that epoch already holds a sentence of the same type: then a new receiver cycle
//!   has begun, the open epoch is closed and the sentence opens the next one (which takes
//!   the time of its first timed sentence).
//! - **Cycle ender.** The type of the last sentence of each epoch is learned: a type that
//!   ended [`ENDER_EPOCHS`] epochs and was never followed by another sentence of the same
//!   epoch is the ender, and its arrival emits the epoch at once (no waiting for the next
//!   epoch's first sentence). A type once seen followed within an epoch is never the ender
//!   (until [`Assembler::reset`]): waiting costs at most `epoch_gap`, a wrong early
//!   emission costs a fix decided on half an epoch. Epochs without the ender (e.g. 10 Hz GGA with 1 Hz
//!   RMC) still close at the next epoch's first sentence or after `epoch_gap` of silence.
//! - If a sentence with the time of the epoch just emitted arrives after all, the ender
//!   was wrong: that type is never an ender again (until [`Assembler::reset`]), and the late
//!   sentences are merged with the emitted epoch and emitted again as one more [`Epoch`]
//!   with the same time, which supersedes the first. If the late sentences came in the
//!   same read as the first emission (same arrival time, as a replayed epoch does) and
//!   that emission is still in the caller's output, it is taken back instead: the epoch
//!   goes out once, whole.
//! - **Date.** From RMC or ZDA in the same epoch, else the last date used. An epoch whose
//!   time of day is more than 12 h *before* the previous one without a date of its own has
//!   crossed midnight: the date advances by one day, so time never runs backwards at
//!   midnight. Before any date was seen there is no UTC time: `NoFix { NoTime }`.
//! - Silence: the open epoch closes `epoch_gap` after the last byte framed as part of a
//!   sentence (a sentence being received keeps it open; UBX or garbage do not).

use std::time::Duration;

use super::classify::{classify, Merged};
use super::sentence::{Date, Kind, ParseError, Sentence, TimeOfDay, DAY_NANOS};
use super::{Epoch, Micros, UtcTime};

/// Epochs a sentence type must end before it is trusted as the cycle ender.
pub const ENDER_EPOCHS: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closure {
    /// The next epoch's first sentence arrived (new time, or a repeated untimed type).
    NextEpoch,
    /// Silence.
    Gap,
    /// The learned cycle ender arrived.
    Ender,
}

/// One epoch being assembled.
#[derive(Clone, Copy, Debug)]
struct Acc {
    tod: Option<TimeOfDay>,
    date: Option<Date>,
    data: Merged,
    first_at: Micros,
    last_at: Micros,
    sentences: u32,
    kinds: u16,
    last_kind: Option<Kind>,
}

impl Acc {
    fn new(tod: Option<TimeOfDay>, first_at: Micros) -> Acc {
        Acc {
            tod,
            date: None,
            data: Merged::default(),
            first_at,
            last_at: first_at,
            sentences: 0,
            kinds: 0,
            last_kind: None,
        }
    }

    fn absorb(&mut self, later: &Acc) {
        self.data.absorb(&later.data);
        self.date = later.date.or(self.date);
        self.last_at = self.last_at.max(later.last_at);
        self.sentences += later.sentences;
        self.kinds |= later.kinds;
        self.last_kind = later.last_kind.or(self.last_kind);
    }
}

fn bit(k: Kind) -> u16 {
    1 << k.index()
}

fn same_time(a: Option<TimeOfDay>, b: TimeOfDay) -> bool {
    a.is_some_and(|a| a.nanos == b.nanos)
}

/// A sentence for the assembler: decoded, or of a known type but malformed.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A decoded sentence.
    Sentence(&'a Sentence),
    /// A GGA, RMC, ... whose fields did not parse.
    Broken(ParseError),
}

/// The epoch assembler (see the module docs for its rules).
#[derive(Debug)]
pub struct Assembler {
    gap: Micros,
    open: Option<Acc>,
    /// The last emitted epoch, kept to merge late sentences into.
    last: Option<Acc>,
    last_closed_by_ender: Option<Kind>,
    score: [u8; Kind::COUNT],
    banned: u16,
    date_ref: Option<(Date, u64)>,
    activity_at: Micros,
    epochs: u64,
    /// Arrival time of the bytes being handled (one read of the source).
    read_at: Micros,
    /// The last emitted epoch, its index in the caller's output and the read it was
    /// emitted in: while the same read goes on it can be taken back.
    unsent: Option<(Micros, usize, Epoch)>,
}

impl Assembler {
    /// An assembler closing silent epochs after `gap`.
    pub fn new(gap: Duration) -> Assembler {
        Assembler {
            gap: u64::try_from(gap.as_micros()).unwrap_or(u64::MAX),
            open: None,
            last: None,
            last_closed_by_ender: None,
            score: [0; Kind::COUNT],
            banned: 0,
            date_ref: None,
            activity_at: 0,
            epochs: 0,
            read_at: 0,
            unsent: None,
        }
    }

    /// Epochs emitted so far.
    pub fn epochs(&self) -> u64 {
        self.epochs
    }

    /// The learned cycle ender, if any.
    pub fn ender(&self) -> Option<Kind> {
        ALL_KINDS.into_iter().find(|&k| self.is_ender(k))
    }

    /// Forget the open epoch, the learned cycle and the date (the port was reopened:
    /// it may be another receiver, or hours later).
    pub fn reset(&mut self) {
        let epochs = self.epochs;
        let gap = self.gap;
        *self = Assembler {
            epochs,
            gap,
            ..Assembler::new(Duration::ZERO)
        };
    }

    /// NMEA bytes were received at `at` (keeps the open epoch from timing out).
    pub fn activity(&mut self, at: Micros) {
        self.activity_at = self.activity_at.max(at);
    }

    /// When the open epoch times out, if one is open.
    pub fn deadline(&self) -> Option<Micros> {
        let acc = self.open.as_ref()?;
        Some(self.activity_at.max(acc.last_at).saturating_add(self.gap))
    }

    /// Closes the open epoch if it timed out by `now`.
    pub fn poll(&mut self, now: Micros) -> Option<Epoch> {
        let mut out = Vec::with_capacity(1);
        self.poll_into(now, &mut out);
        out.pop()
    }

    /// [`Assembler::poll`] appending to `out`. An epoch closed by silence belongs to
    /// before the read that found it overdue: it is never taken back.
    pub fn poll_into(&mut self, now: Micros, out: &mut Vec<Epoch>) {
        if self.deadline().is_some_and(|d| now >= d) {
            self.close(Closure::Gap, out);
            self.unsent = None;
        }
    }

    /// Bytes that arrived at `at` are handled next (they may come in several pieces).
    /// An epoch emitted while handling an earlier read can no longer be taken back.
    pub fn begin_read(&mut self, at: Micros) {
        if self.read_at != at {
            self.unsent = None;
        }
        self.read_at = at;
    }

    fn is_ender(&self, k: Kind) -> bool {
        self.score[k.index()] >= ENDER_EPOCHS && self.banned & bit(k) == 0
    }

    /// Adds one sentence received between `first_at` and `last_at`; completed epochs are
    /// appended to `out`.
    pub fn add(
        &mut self,
        input: Input<'_>,
        first_at: Micros,
        last_at: Micros,
        out: &mut Vec<Epoch>,
    ) {
        let (kind, time) = match input {
            Input::Sentence(s) => match s.kind() {
                Some(k) => (k, s.time()),
                None => return,
            },
            Input::Broken(e) => (e.kind, e.time),
        };
        self.activity(last_at);
        self.place(kind, time, first_at, out);
        let Some(acc) = self.open.as_mut() else {
            return;
        };
        if let Some(prev) = acc.last_kind {
            // `prev` did not end this epoch: it is not this receiver's cycle ender.
            self.banned |= bit(prev);
        }
        match input {
            Input::Sentence(s) => {
                acc.data.apply(s);
                acc.date = match s {
                    Sentence::Rmc(r) => r.date.or(acc.date),
                    Sentence::Zda(z) => z.date.or(acc.date),
                    _ => acc.date,
                };
            }
            // A malformed GGA/RMC/GNS refuses its epoch; other types are just dropped.
            Input::Broken(_) if matches!(kind, Kind::Gga | Kind::Rmc | Kind::Gns) => {
                acc.data.taint()
            }
            Input::Broken(_) => {}
        }
        acc.sentences += 1;
        acc.kinds |= bit(kind);
        acc.last_kind = Some(kind);
        acc.last_at = acc.last_at.max(last_at);
        if self.is_ender(kind) {
            self.close(Closure::Ender, out);
        }
    }

    /// Makes `self.open` the epoch a sentence of `kind` at `time` belongs to.
    fn place(
        &mut self,
        kind: Kind,
        time: Option<TimeOfDay>,
        first_at: Micros,
        out: &mut Vec<Epoch>,
    ) {
        let open_tod = self.open.as_ref().map(|a| a.tod);
        let repeated = self.open.as_ref().is_some_and(|a| a.kinds & bit(kind) != 0);
        match (time, open_tod) {
            (Some(t), Some(tod)) if same_time(tod, t) => {}
            (Some(t), Some(None)) => {
                if !self.revive(t, out) {
                    if let Some(acc) = self.open.as_mut() {
                        acc.tod = Some(t);
                    }
                }
            }
            (Some(t), Some(Some(_))) => {
                self.close(Closure::NextEpoch, out);
                self.open = Some(Acc::new(Some(t), first_at));
            }
            (Some(t), None) => {
                if !self.revive(t, out) {
                    self.open = Some(Acc::new(Some(t), first_at));
                }
            }
            (None, Some(_)) if repeated => {
                self.close(Closure::NextEpoch, out);
                self.open = Some(Acc::new(None, first_at));
            }
            (None, Some(_)) => {}
            (None, None) => self.open = Some(Acc::new(None, first_at)),
        }
    }

    /// A sentence at `t` arrived after the epoch at `t` was emitted: reopen that epoch
    /// (with whatever untimed sentences came since), and never trust its ender again.
    fn revive(&mut self, t: TimeOfDay, out: &mut Vec<Epoch>) -> bool {
        let Some(mut acc) = self.last.filter(|l| same_time(l.tod, t)) else {
            return false;
        };
        if let Some((_, i, emitted)) = self.unsent.take() {
            if out.get(i) == Some(&emitted) {
                // Emitted in this read and still in its output: take it back; the
                // merged epoch replaces it.
                out.remove(i);
                self.epochs -= 1;
            }
        }
        if let Some(k) = self.last_closed_by_ender.take() {
            self.banned |= bit(k);
            self.score[k.index()] = 0;
        }
        if let Some(pending) = self.open.take() {
            acc.absorb(&pending);
        }
        self.last = None;
        self.open = Some(acc);
        true
    }

    fn close(&mut self, how: Closure, out: &mut Vec<Epoch>) {
        let Some(acc) = self.open.take() else {
            return;
        };
        let ended_by = acc.last_kind;
        if how != Closure::Ender {
            if let Some(k) = ended_by {
                let s = &mut self.score[k.index()];
                *s = s.saturating_add(1);
            }
        }
        let time = self.resolve_time(&acc);
        self.epochs += 1;
        let epoch = Epoch {
            outcome: classify(&acc.data, time),
            first_arrival: acc.first_at,
            last_arrival: acc.last_at,
            sentences: acc.sentences,
        };
        self.unsent = Some((self.read_at, out.len(), epoch.clone()));
        out.push(epoch);
        self.last = Some(acc);
        self.last_closed_by_ender = if how == Closure::Ender {
            ended_by
        } else {
            None
        };
    }

    fn resolve_time(&mut self, acc: &Acc) -> Option<UtcTime> {
        let tod = acc.tod?;
        let date = match acc.date {
            Some(d) => d,
            None => {
                let (d, ref_tod) = self.date_ref?;
                if ref_tod >= tod.nanos + DAY_NANOS / 2 {
                    d.next_day()
                } else {
                    d
                }
            }
        };
        self.date_ref = Some((date, tod.nanos));
        Some(utc(date, tod))
    }
}

const ALL_KINDS: [Kind; Kind::COUNT] = [
    Kind::Gga,
    Kind::Rmc,
    Kind::Vtg,
    Kind::Gns,
    Kind::Gst,
    Kind::Hdt,
    Kind::Ths,
    Kind::Zda,
];

/// A date and a time of day as a [`UtcTime`] (a leap second shows as `23:59:60`).
pub fn utc(date: Date, tod: TimeOfDay) -> UtcTime {
    let secs = tod.nanos / 1_000_000_000;
    let hour = (secs / 3600).min(23);
    let minute = ((secs - hour * 3600) / 60).min(59);
    let second = secs - hour * 3600 - minute * 60;
    UtcTime {
        year: date.year,
        month: date.month,
        day: date.day,
        hour: hour as u8,
        minute: minute as u8,
        second: second.min(255) as u8,
        nanos: (tod.nanos % 1_000_000_000) as u32,
        decimals: tod.decimals,
    }
}
