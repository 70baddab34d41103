//! CBOR (RFC 8949) reader and writer for [`Value`].
//!
//! Writes definite lengths, integers in their shortest form and floats as float64.
//! Reads definite and indefinite lengths, half/single/double floats, `undefined` and
//! unassigned simple values as null. Bignums (tags 2 and 3) and negative integers
//! below `i64::MIN` become [`Value::BigInt`] (or plain integers when they fit), other
//! tags [`Value::Tagged`] (each tag one nesting level), maps whose keys are not all
//! strings [`Value::Map`]. Tags in front of a whole message (e.g. 55799,
//! self-described CBOR) are skipped. A MessagePack extension is written as its data
//! (the conversion table in `docs/router.md`). Hand-written over a byte slice: no
//! recursion beyond [`MAX_DEPTH`], no allocation larger than the input.

use super::msgpack::into_dict_or_map;
use super::{Elem, Span};
use crate::wamp::bigint::BigInt;
use crate::wamp::serde_value::MAX_DEPTH;
use crate::wamp::value::{Dict, List, Value};

// ---------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------

const UINT: u8 = 0;
const NEGINT: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const TAG: u8 = 6;
const SIMPLE: u8 = 7;

/// Encode a message's elements, then `raw` (`raw_count` payload elements already in
/// CBOR).
pub(super) fn encode(items: &[Elem<'_>], raw: Option<(&[u8], usize)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + raw.map_or(0, |(r, _)| r.len()));
    head(
        &mut out,
        ARRAY,
        (items.len() + raw.map_or(0, |(_, n)| n)) as u64,
    );
    for e in items {
        match *e {
            Elem::Int(i) => head(&mut out, UINT, i),
            Elem::Str(s) => text(&mut out, s),
            Elem::Dict(d) => dict(&mut out, d),
            Elem::List(l) => list(&mut out, l),
            Elem::Value(v) => value(&mut out, v),
        }
    }
    if let Some((raw, _)) = raw {
        out.extend_from_slice(raw);
    }
    out
}

/// Append the encoding of `v` to `out`.
pub(super) fn encode_value(v: &Value, mut out: Vec<u8>) -> Vec<u8> {
    value(&mut out, v);
    out
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let mt = major << 5;
    if n < 24 {
        out.push(mt | n as u8);
    } else if let Ok(b) = u8::try_from(n) {
        out.extend_from_slice(&[mt | 24, b]);
    } else if let Ok(s) = u16::try_from(n) {
        out.push(mt | 25);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(w) = u32::try_from(n) {
        out.push(mt | 26);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(mt | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    head(out, TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn list(out: &mut Vec<u8>, l: &[Value]) {
    head(out, ARRAY, l.len() as u64);
    for v in l {
        value(out, v);
    }
}

fn dict(out: &mut Vec<u8>, d: &Dict) {
    head(out, MAP, d.len() as u64);
    for (k, v) in d {
        text(out, k);
        value(out, v);
    }
}

fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::UInt(u) => head(out, UINT, *u),
        // -1 - n == i  <=>  n == !i (two's complement), and i < 0 so !i >= 0.
        Value::Int(i) if *i < 0 => head(out, NEGINT, !*i as u64),
        Value::Int(i) => head(out, UINT, *i as u64),
        Value::Float(f) => {
            out.push(0xfb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => text(out, s),
        Value::Bytes(b) | Value::Ext(_, b) => bytes(out, b),
        Value::List(l) => list(out, l),
        Value::Dict(d) => dict(out, d),
        Value::BigInt(b) => match (b.is_negative(), b.n_u64()) {
            (true, Some(n)) => head(out, NEGINT, n),
            (negative, _) => {
                head(out, TAG, if negative { 3 } else { 2 });
                bytes(out, b.cbor_bytes());
            }
        },
        Value::Tagged(tag, inner) => {
            head(out, TAG, *tag);
            value(out, inner);
        }
        Value::Map(m) => {
            head(out, MAP, m.len() as u64);
            for (k, v) in m {
                value(out, k);
                value(out, v);
            }
        }
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, BYTES, b.len() as u64);
    out.extend_from_slice(b);
}

// ---------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------

/// Decode exactly one item from `buf` (trailing bytes are an error).
pub(super) fn decode(buf: &[u8]) -> Result<Value, String> {
    let mut r = Reader { buf, pos: 0 };
    let v = r.item(MAX_DEPTH)?;
    if r.pos != buf.len() {
        return Err(format!(
            "{} trailing bytes after the value",
            buf.len() - r.pos
        ));
    }
    Ok(v)
}

/// Like [`decode`]; when the value is a list, also where each element lies in `buf`.
/// Tags in front of the list are skipped.
pub(super) fn decode_message(buf: &[u8]) -> Result<(Value, Vec<Span>), String> {
    let mut r = Reader { buf, pos: 0 };
    // A loop, not recursion, so long tag chains cannot exhaust the stack.
    while r.peek()? >> 5 == TAG {
        r.head()?;
    }
    if r.peek()? >> 5 != ARRAY {
        let v = r.item(MAX_DEPTH)?;
        r.finish()?;
        return Ok((v, Vec::new()));
    }
    let mut n = match r.head()? {
        (_, _, Arg::Num(n)) => Some(n),
        (_, _, Arg::Indefinite) => None,
    };
    let inner = r.enter(MAX_DEPTH)?;
    let cap = n.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut list = List::with_capacity(cap.min(r.remaining()));
    let mut spans = Vec::with_capacity(cap.min(r.remaining()));
    while !r.at_end(&mut n)? {
        let start = r.pos;
        list.push(r.item(inner)?);
        spans.push((start, r.pos));
    }
    r.finish()?;
    Ok((Value::List(list), spans))
}

/// The argument of an item head: a number, or "indefinite length".
#[derive(Clone, Copy)]
enum Arg {
    Num(u64),
    Indefinite,
}

const BREAK: u8 = 0xff;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn eof(&self) -> String {
        format!("unexpected end of data at byte {}", self.pos)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| self.eof())?;
        let end = self.pos.checked_add(n).ok_or_else(|| self.eof())?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.eof())?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn peek(&self) -> Result<u8, String> {
        self.buf.get(self.pos).copied().ok_or_else(|| self.eof())
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn finish(&self) -> Result<(), String> {
        if self.pos != self.buf.len() {
            return Err(format!(
                "{} trailing bytes after the value",
                self.buf.len() - self.pos
            ));
        }
        Ok(())
    }

    /// Read an item head: (major type, additional info, argument).
    fn head(&mut self) -> Result<(u8, u8, Arg), String> {
        let at = self.pos;
        let [b] = self.array::<1>()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let arg = match info {
            0..=23 => Arg::Num(info.into()),
            24 => Arg::Num(self.array::<1>()?[0].into()),
            25 => Arg::Num(u16::from_be_bytes(self.array()?).into()),
            26 => Arg::Num(u32::from_be_bytes(self.array()?).into()),
            27 => Arg::Num(u64::from_be_bytes(self.array()?)),
            31 => Arg::Indefinite,
            _ => return Err(format!("reserved additional info {info} at byte {at}")),
        };
        Ok((major, info, arg))
    }

    fn enter(&self, depth_left: usize) -> Result<usize, String> {
        depth_left
            .checked_sub(1)
            .ok_or_else(|| format!("nesting deeper than {MAX_DEPTH} levels"))
    }

    fn item(&mut self, depth_left: usize) -> Result<Value, String> {
        let at = self.pos;
        let (major, info, arg) = self.head()?;
        let n = match arg {
            Arg::Num(n) => Some(n),
            Arg::Indefinite => None,
        };
        match (major, n) {
            (UINT, Some(n)) => Ok(Value::UInt(n)),
            (NEGINT, Some(n)) => Ok(BigInt::from_cbor(true, &n.to_be_bytes())),
            (BYTES, _) => self.chunked(BYTES, n).map(Value::Bytes),
            (TEXT, _) => {
                let bytes = self.chunked(TEXT, n)?;
                String::from_utf8(bytes)
                    .map(Value::Str)
                    .map_err(|e| format!("invalid UTF-8 in text at byte {at}: {e}"))
            }
            (ARRAY, _) => self.list(n, depth_left),
            (MAP, _) => self.dict(n, depth_left),
            (TAG, Some(tag @ (2 | 3))) if self.peek()? >> 5 == BYTES => {
                let content = self.pos;
                let (_, _, arg) = self.head()?;
                let digits = self.chunked(
                    BYTES,
                    match arg {
                        Arg::Num(n) => Some(n),
                        Arg::Indefinite => None,
                    },
                );
                let digits = digits.map_err(|e| format!("bignum at byte {content}: {e}"))?;
                Ok(BigInt::from_cbor(tag == 3, &digits))
            }
            // Every tag is a nesting level: a long chain is an error, not a deep stack.
            (TAG, Some(tag)) => {
                let inner = self.enter(depth_left)?;
                Ok(Value::Tagged(tag, Box::new(self.item(inner)?)))
            }
            (SIMPLE, _) => self.simple(info, arg, at),
            _ => Err(format!(
                "indefinite length not allowed for major type {major} at byte {at}"
            )),
        }
    }

    fn simple(&mut self, info: u8, arg: Arg, at: usize) -> Result<Value, String> {
        match (info, arg) {
            (20, _) => Ok(Value::Bool(false)),
            (21, _) => Ok(Value::Bool(true)),
            (22 | 23, _) => Ok(Value::Null),
            // Unassigned simple values carry nothing a WAMP peer can use; the router's
            // forwarding path still passes them on to CBOR peers unchanged.
            (0..=19, _) => Ok(Value::Null),
            (24, Arg::Num(v)) if v >= 32 => Ok(Value::Null),
            (24, _) => Err(format!("simple value below 32 in two bytes at byte {at}")),
            (25, Arg::Num(h)) => Ok(Value::Float(half_to_f64(h as u16))),
            (26, Arg::Num(w)) => Ok(Value::Float(f32::from_bits(w as u32).into())),
            (27, Arg::Num(d)) => Ok(Value::Float(f64::from_bits(d))),
            (31, _) => Err(format!("unexpected break at byte {at}")),
            _ => Err(format!("malformed simple value at byte {at}")),
        }
    }

    /// The content of a byte or text string, definite or made of definite chunks.
    fn chunked(&mut self, major: u8, n: Option<u64>) -> Result<Vec<u8>, String> {
        if let Some(n) = n {
            return Ok(self.take(n)?.to_vec());
        }
        let mut out = Vec::new();
        loop {
            if self.peek()? == BREAK {
                self.pos += 1;
                return Ok(out);
            }
            let at = self.pos;
            match self.head()? {
                (m, _, Arg::Num(len)) if m == major => {
                    let chunk = self.take(len)?;
                    if major == TEXT && std::str::from_utf8(chunk).is_err() {
                        return Err(format!("invalid UTF-8 in text chunk at byte {at}"));
                    }
                    out.extend_from_slice(chunk);
                }
                _ => return Err(format!("bad chunk in indefinite string at byte {at}")),
            }
        }
    }

    /// Is the next byte a break (consumed if so)? Only for indefinite containers.
    fn at_end(&mut self, n: &mut Option<u64>) -> Result<bool, String> {
        match n {
            Some(0) => Ok(true),
            Some(left) => {
                *left -= 1;
                Ok(false)
            }
            None if self.peek()? == BREAK => {
                self.pos += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn list(&mut self, mut n: Option<u64>, depth_left: usize) -> Result<Value, String> {
        let inner = self.enter(depth_left)?;
        // Every element takes at least one byte: never allocate more than the input.
        let cap = n.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut list = List::with_capacity(cap.min(self.remaining()));
        while !self.at_end(&mut n)? {
            list.push(self.item(inner)?);
        }
        Ok(Value::List(list))
    }

    fn dict(&mut self, mut n: Option<u64>, depth_left: usize) -> Result<Value, String> {
        let inner = self.enter(depth_left)?;
        let mut entries = Vec::new();
        while !self.at_end(&mut n)? {
            let at = self.pos;
            let key = self.item(inner)?;
            let value = self.item(inner)?;
            entries.push((at, key, value));
        }
        into_dict_or_map(entries)
    }
}

/// IEEE 754 half precision to double (RFC 8949 Appendix D).
fn half_to_f64(h: u16) -> f64 {
    let exp = (h >> 10) & 0x1f;
    let mant = f64::from(h & 0x3ff);
    let magnitude = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (mant + 1024.0) * 2f64.powi(i32::from(e) - 25),
    };
    if h & 0x8000 != 0 {
        -magnitude
    } else {
        magnitude
    }
}
