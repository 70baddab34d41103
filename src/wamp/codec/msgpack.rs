//! MessagePack (spec v5, `str` and `bin` distinct) reader and writer for [`Value`].
//!
//! Hand-written over a byte slice rather than through rmp-serde because rmp-serde
//! hands invalid UTF-8 `str` data to visitors as bytes, which would turn a malformed
//! string into a binary value instead of an error. Integers are written in their
//! shortest form, floats as float64, extension types in their shortest form. Maps
//! whose keys are not all strings become [`Value::Map`]s (wire order kept). What
//! MessagePack has no form for is written as the conversion table in
//! `docs/router.md` says: a bignum as its decimal text (hexadecimal beyond
//! [`MAX_DECIMAL_BYTES`](crate::wamp::bigint::MAX_DECIMAL_BYTES)), a CBOR tag as its
//! content.

use super::{Elem, Span};
use crate::wamp::serde_value::MAX_DEPTH;
use crate::wamp::value::{Dict, List, Value};

// ---------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------

/// Encode a message's elements, then `raw` (`raw_count` payload elements already in
/// MessagePack).
pub(super) fn encode(items: &[Elem<'_>], raw: Option<(&[u8], usize)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + raw.map_or(0, |(r, _)| r.len()));
    write_len(
        &mut out,
        items.len() + raw.map_or(0, |(_, n)| n),
        0x90,
        0xdc,
        0xdd,
    );
    for e in items {
        match *e {
            Elem::Int(i) => write_uint(&mut out, i),
            Elem::Str(s) => write_str(&mut out, s),
            Elem::Dict(d) => write_dict(&mut out, d),
            Elem::List(l) => write_list(&mut out, l),
            Elem::Value(v) => write_value(&mut out, v),
        }
    }
    if let Some((raw, _)) = raw {
        out.extend_from_slice(raw);
    }
    out
}

/// Append the encoding of `value` to `out`.
pub(super) fn encode_value(value: &Value, mut out: Vec<u8>) -> Vec<u8> {
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0xc0),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::UInt(u) => write_uint(out, *u),
        Value::Int(i) => write_int(out, *i),
        Value::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) => {
            write_len(out, b.len(), 0, 0, 0);
            out.extend_from_slice(b);
        }
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
        Value::BigInt(b) => write_str(out, &b.to_text()),
        Value::Tagged(_, inner) => write_value(out, inner),
        Value::Ext(t, data) => write_ext(out, *t, data),
        Value::Map(m) => {
            write_len(out, m.len(), 0x80, 0xde, 0xdf);
            for (k, v) in m {
                write_value(out, k);
                write_value(out, v);
            }
        }
    }
}

fn write_ext(out: &mut Vec<u8>, t: i8, data: &[u8]) {
    let fixed = match data.len() {
        1 => Some(0xd4),
        2 => Some(0xd5),
        4 => Some(0xd6),
        8 => Some(0xd7),
        16 => Some(0xd8),
        _ => None,
    };
    if let Some(marker) = fixed {
        out.push(marker);
    } else if let Ok(l) = u8::try_from(data.len()) {
        out.extend_from_slice(&[0xc7, l]);
    } else if let Ok(l) = u16::try_from(data.len()) {
        out.push(0xc8);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(0xc9);
        out.extend_from_slice(&sat_u32(data.len()).to_be_bytes());
    }
    out.push(t as u8);
    out.extend_from_slice(data);
}

fn write_list(out: &mut Vec<u8>, l: &[Value]) {
    write_len(out, l.len(), 0x90, 0xdc, 0xdd);
    for v in l {
        write_value(out, v);
    }
}

fn write_dict(out: &mut Vec<u8>, d: &Dict) {
    write_len(out, d.len(), 0x80, 0xde, 0xdf);
    for (k, v) in d {
        write_str(out, k);
        write_value(out, v);
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if let Ok(l) = u8::try_from(len) {
        out.extend_from_slice(&[0xd9, l]);
    } else if let Ok(l) = u16::try_from(len) {
        out.push(0xda);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&sat_u32(len).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// A length header. `fix` is the fix-type marker for lengths < 16 (arrays, maps);
/// `fix == 0` means binary data (bin8/bin16/bin32, no fix form).
fn write_len(out: &mut Vec<u8>, len: usize, fix: u8, m16: u8, m32: u8) {
    if fix == 0 {
        if let Ok(l) = u8::try_from(len) {
            out.extend_from_slice(&[0xc4, l]);
        } else if let Ok(l) = u16::try_from(len) {
            out.push(0xc5);
            out.extend_from_slice(&l.to_be_bytes());
        } else {
            out.push(0xc6);
            out.extend_from_slice(&sat_u32(len).to_be_bytes());
        }
    } else if len < 16 {
        out.push(fix | len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        out.push(m16);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&sat_u32(len).to_be_bytes());
    }
}

/// MessagePack cannot express lengths beyond 2^32 - 1; such values never get this far
/// (transports cap message sizes far below), so saturate instead of panicking.
fn sat_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn write_uint(out: &mut Vec<u8>, u: u64) {
    if u < 128 {
        out.push(u as u8);
    } else if let Ok(b) = u8::try_from(u) {
        out.extend_from_slice(&[0xcc, b]);
    } else if let Ok(s) = u16::try_from(u) {
        out.push(0xcd);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(w) = u32::try_from(u) {
        out.push(0xce);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        write_uint(out, i as u64);
    } else if i >= -32 {
        out.push(i as i8 as u8);
    } else if let Ok(b) = i8::try_from(i) {
        out.extend_from_slice(&[0xd0, b as u8]);
    } else if let Ok(s) = i16::try_from(i) {
        out.push(0xd1);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(w) = i32::try_from(i) {
        out.push(0xd2);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

// ---------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------

/// Decode exactly one value from `buf` (trailing bytes are an error).
pub(super) fn decode(buf: &[u8]) -> Result<Value, String> {
    let mut r = Reader { buf, pos: 0 };
    let v = r.value(MAX_DEPTH)?;
    if r.pos != buf.len() {
        return Err(format!(
            "{} trailing bytes after the value",
            buf.len() - r.pos
        ));
    }
    Ok(v)
}

/// Like [`decode`]; when the value is a list, also where each element lies in `buf`.
pub(super) fn decode_message(buf: &[u8]) -> Result<(Value, Vec<Span>), String> {
    let mut r = Reader { buf, pos: 0 };
    let n = match buf.first() {
        Some(&m @ 0x90..=0x9f) => {
            r.pos = 1;
            usize::from(m & 0x0f)
        }
        Some(&m @ (0xdc | 0xdd)) => {
            r.pos = 1;
            r.len(if m == 0xdc { 2 } else { 4 })?
        }
        _ => return decode(buf).map(|v| (v, Vec::new())),
    };
    let inner = r.enter(MAX_DEPTH)?;
    let mut list = List::with_capacity(n.min(r.remaining()));
    let mut spans = Vec::with_capacity(n.min(r.remaining()));
    for _ in 0..n {
        let start = r.pos;
        list.push(r.value(inner)?);
        spans.push((start, r.pos));
    }
    if r.pos != buf.len() {
        return Err(format!(
            "{} trailing bytes after the value",
            buf.len() - r.pos
        ));
    }
    Ok((Value::List(list), spans))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn eof(&self) -> String {
        format!("unexpected end of data at byte {}", self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.eof())?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.eof())?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn len(&mut self, bytes: usize) -> Result<usize, String> {
        Ok(match bytes {
            1 => self.u8()? as usize,
            2 => u16::from_be_bytes(self.array()?) as usize,
            _ => u32::from_be_bytes(self.array()?) as usize,
        })
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn value(&mut self, depth_left: usize) -> Result<Value, String> {
        let at = self.pos;
        let m = self.u8()?;
        Ok(match m {
            0x00..=0x7f => Value::UInt(m.into()),
            0x80..=0x8f => return self.dict((m & 0x0f).into(), depth_left),
            0x90..=0x9f => return self.list((m & 0x0f).into(), depth_left),
            0xa0..=0xbf => return self.str((m & 0x1f).into()).map(Value::Str),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (m - 0xc4))?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            0xca => Value::Float(f32::from_be_bytes(self.array()?).into()),
            0xcb => Value::Float(f64::from_be_bytes(self.array()?)),
            0xcc => Value::UInt(self.u8()?.into()),
            0xcd => Value::UInt(u16::from_be_bytes(self.array()?).into()),
            0xce => Value::UInt(u32::from_be_bytes(self.array()?).into()),
            0xcf => Value::UInt(u64::from_be_bytes(self.array()?)),
            0xd0 => Value::int(i8::from_be_bytes(self.array()?).into()),
            0xd1 => Value::int(i16::from_be_bytes(self.array()?).into()),
            0xd2 => Value::int(i32::from_be_bytes(self.array()?).into()),
            0xd3 => Value::int(i64::from_be_bytes(self.array()?)),
            0xd9..=0xdb => {
                let n = self.len(1 << (m - 0xd9))?;
                return self.str(n).map(Value::Str);
            }
            0xdc | 0xdd => {
                let n = self.len(if m == 0xdc { 2 } else { 4 })?;
                return self.list(n, depth_left);
            }
            0xde | 0xdf => {
                let n = self.len(if m == 0xde { 2 } else { 4 })?;
                return self.dict(n, depth_left);
            }
            0xe0..=0xff => Value::Int((m as i8).into()),
            0xd4..=0xd8 => {
                let n = 1usize << (m - 0xd4);
                let [t] = self.array::<1>()?;
                Value::Ext(t as i8, self.take(n)?.to_vec())
            }
            0xc7..=0xc9 => {
                let n = self.len(1 << (m - 0xc7))?;
                let [t] = self.array::<1>()?;
                Value::Ext(t as i8, self.take(n)?.to_vec())
            }
            0xc1 => return Err(format!("reserved marker 0xc1 at byte {at}")),
        })
    }

    fn str(&mut self, n: usize) -> Result<String, String> {
        let at = self.pos;
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(format!("invalid UTF-8 in string at byte {at}: {e}")),
        }
    }

    fn enter(&self, depth_left: usize) -> Result<usize, String> {
        depth_left
            .checked_sub(1)
            .ok_or_else(|| format!("nesting deeper than {MAX_DEPTH} levels"))
    }

    fn list(&mut self, n: usize, depth_left: usize) -> Result<Value, String> {
        let inner = self.enter(depth_left)?;
        // Every element takes at least one byte: never allocate more than the input.
        let mut list = List::with_capacity(n.min(self.remaining()));
        for _ in 0..n {
            list.push(self.value(inner)?);
        }
        Ok(Value::List(list))
    }

    fn dict(&mut self, n: usize, depth_left: usize) -> Result<Value, String> {
        let inner = self.enter(depth_left)?;
        let mut entries = Vec::with_capacity(n.min(self.remaining() / 2).min(64));
        for _ in 0..n {
            let at = self.pos;
            let key = self.value(inner)?;
            let value = self.value(inner)?;
            entries.push((at, key, value));
        }
        into_dict_or_map(entries)
    }
}

/// A `Dict` when every key is a string (duplicates are an error), else a
/// [`Value::Map`] in wire order. Entries carry their key's position for errors.
pub(super) fn into_dict_or_map(entries: Vec<(usize, Value, Value)>) -> Result<Value, String> {
    if !entries.iter().all(|(_, k, _)| matches!(k, Value::Str(_))) {
        return Ok(Value::Map(
            entries.into_iter().map(|(_, k, v)| (k, v)).collect(),
        ));
    }
    let mut dict = Dict::new();
    for (at, key, value) in entries {
        let Value::Str(key) = key else { continue };
        if let Some((k, _)) = insert_unique(&mut dict, key, value) {
            return Err(format!("duplicate dict key {k:?} at byte {at}"));
        }
    }
    Ok(Value::Dict(dict))
}

/// Insert unless the key exists; on a duplicate, give the rejected entry back.
pub(super) fn insert_unique(dict: &mut Dict, key: String, value: Value) -> Option<(String, Value)> {
    use std::collections::btree_map::Entry;
    match dict.entry(key) {
        Entry::Vacant(e) => {
            e.insert(value);
            None
        }
        Entry::Occupied(e) => Some((e.key().clone(), value)),
    }
}
