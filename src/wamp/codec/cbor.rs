//! CBOR (RFC 8949) reader and writer for [`Value`].
//!
//! Writes definite lengths, integers in their shortest form and floats as float64.
//! Reads definite and indefinite lengths, half/single/double floats, `undefined` as
//! null, and skips tags (keeping the tagged item); bignums (tags 2 and 3) that fit
//! 64 bits become integers. Hand-written over a byte slice: no recursion beyond
//! [`MAX_DEPTH`], no allocation larger than the input.

use super::msgpack::insert_unique;
use super::{Elem, Elems};
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

/// Encode a message's elements.
pub(super) fn encode(elems: &Elems<'_>) -> Vec<u8> {
    let items = elems.as_slice();
    let mut out = Vec::with_capacity(128);
    head(&mut out, ARRAY, items.len() as u64);
    for e in items {
        match *e {
            Elem::Int(i) => head(&mut out, UINT, i),
            Elem::Str(s) => text(&mut out, s),
            Elem::Dict(d) => dict(&mut out, d),
            Elem::List(l) => list(&mut out, l),
            Elem::Value(v) => value(&mut out, v),
        }
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
        Value::Bytes(b) => {
            head(out, BYTES, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::List(l) => list(out, l),
        Value::Dict(d) => dict(out, d),
    }
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
        loop {
            let at = self.pos;
            let (major, info, arg) = self.head()?;
            let n = match arg {
                Arg::Num(n) => Some(n),
                Arg::Indefinite => None,
            };
            return match (major, n) {
                (UINT, Some(n)) => Ok(Value::UInt(n)),
                (NEGINT, Some(n)) => negative(n).ok_or_else(|| {
                    format!("negative integer at byte {at} out of the 64-bit range")
                }),
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
                    let digits = match self.item(depth_left)? {
                        Value::Bytes(b) => b,
                        _ => return Err(format!("malformed bignum at byte {at}")),
                    };
                    bignum(tag == 3, &digits)
                        .ok_or_else(|| format!("bignum at byte {at} out of the 64-bit range"))
                }
                // Other tags carry no meaning for WAMP: skip to the tagged item. A loop,
                // not recursion, so long tag chains cannot exhaust the stack.
                (TAG, Some(_)) => continue,
                (SIMPLE, _) => self.simple(info, arg, at),
                _ => Err(format!(
                    "indefinite length not allowed for major type {major} at byte {at}"
                )),
            };
        }
    }

    fn simple(&mut self, info: u8, arg: Arg, at: usize) -> Result<Value, String> {
        match (info, arg) {
            (20, _) => Ok(Value::Bool(false)),
            (21, _) => Ok(Value::Bool(true)),
            (22 | 23, _) => Ok(Value::Null),
            (25, Arg::Num(h)) => Ok(Value::Float(half_to_f64(h as u16))),
            (26, Arg::Num(w)) => Ok(Value::Float(f32::from_bits(w as u32).into())),
            (27, Arg::Num(d)) => Ok(Value::Float(f64::from_bits(d))),
            (31, _) => Err(format!("unexpected break at byte {at}")),
            _ => Err(format!("unsupported simple value at byte {at}")),
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
        let mut dict = Dict::new();
        while !self.at_end(&mut n)? {
            let at = self.pos;
            let key = match self.item(inner)? {
                Value::Str(s) => s,
                other => {
                    return Err(format!(
                        "dict key at byte {at} is not a string but {}",
                        other.kind()
                    ))
                }
            };
            let value = self.item(inner)?;
            if let Some((k, _)) = insert_unique(&mut dict, key, value) {
                return Err(format!("duplicate dict key {k:?} at byte {at}"));
            }
        }
        Ok(Value::Dict(dict))
    }
}

/// CBOR negative integer `-1 - n`, if it fits an `i64`.
fn negative(n: u64) -> Option<Value> {
    i64::try_from(n).ok().map(|n| Value::Int(-1 - n))
}

/// A bignum (tag 2 positive, tag 3 negative) that fits 64 bits.
fn bignum(negative_tag: bool, digits: &[u8]) -> Option<Value> {
    let significant = match digits.iter().position(|&b| b != 0) {
        Some(i) => &digits[i..],
        None => &[],
    };
    if significant.len() > 8 {
        return None;
    }
    let n = significant
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if negative_tag {
        negative(n)
    } else {
        Some(Value::UInt(n))
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
