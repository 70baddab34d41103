//! JSON (RFC 8259) reader and writer for [`Value`], with the spec's binary convention
//! (a string starting with NUL is `"\0" + base64`, advanced/serialization_binary_json.md).
//!
//! Hand-written rather than through serde_json because a router must carry integer
//! literals of any length exactly (serde_json turns those beyond 64 bits into floats):
//! they become [`BigInt`]s. Everything else follows serde_json: `-0` is the float
//! -0.0, floats are read correctly rounded, strings must be valid UTF-8 without lone
//! surrogates or raw control characters, floats are written in serde_json's shortest
//! form and NaN and the infinities as `null`.
//!
//! Values JSON has no form for are written as the conversion table in
//! `docs/router.md` says: a bignum as an integer literal (hexadecimal string when over
//! [`MAX_DECIMAL_BYTES`](crate::wamp::bigint::MAX_DECIMAL_BYTES)), a tagged value as
//! its content, an extension as its data in binary form, and a map with non-string
//! keys as an object whose keys are written as text (the first entry wins when two
//! keys read the same).

use std::collections::HashSet;
use std::io::Write as _;

use base64::Engine as _;

use super::msgpack::insert_unique;
use super::{Elem, Span};
use crate::wamp::bigint::BigInt;
use crate::wamp::serde_value::{json_binary_string, BASE64, MAX_DEPTH};
use crate::wamp::value::{Dict, List, Value};

// ---------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------

/// Encode a message's elements, then `raw` (payload elements already in JSON).
pub(super) fn encode(items: &[Elem<'_>], raw: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + raw.map_or(0, <[u8]>::len));
    out.push(b'[');
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match *e {
            Elem::Int(i) => write_u64(&mut out, i),
            Elem::Str(s) => write_str(&mut out, s),
            Elem::Dict(d) => write_dict(&mut out, d),
            Elem::List(l) => write_list(&mut out, l),
            Elem::Value(v) => write_value(&mut out, v),
        }
    }
    if let Some(raw) = raw {
        if !items.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(raw);
    }
    out.push(b']');
    out
}

/// Append the encoding of `v` to `out`.
pub(super) fn encode_value(v: &Value, mut out: Vec<u8>) -> Vec<u8> {
    write_value(&mut out, v);
    out
}

fn write_u64(out: &mut Vec<u8>, u: u64) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{u}");
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        // serde_json's shortest round-trip form (ryu), e.g. `1.0`, `1e16`.
        if serde_json::to_writer(&mut *out, &f).is_ok() {
            return;
        }
    }
    out.extend_from_slice(b"null");
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(b"00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_list(out: &mut Vec<u8>, l: &[Value]) {
    out.push(b'[');
    for (i, v) in l.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(out, v);
    }
    out.push(b']');
}

fn write_dict(out: &mut Vec<u8>, d: &Dict) {
    out.push(b'{');
    for (i, (k, v)) in d.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::UInt(u) => write_u64(out, *u),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => write_f64(out, *f),
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) | Value::Ext(_, b) => write_str(out, &json_binary_string(b)),
        Value::List(l) => write_list(out, l),
        Value::Dict(d) => write_dict(out, d),
        Value::BigInt(b) => match b.to_decimal() {
            Some(digits) => out.extend_from_slice(digits.as_bytes()),
            None => write_str(out, &b.to_hex()),
        },
        Value::Tagged(_, inner) => write_value(out, inner),
        Value::Map(m) => {
            let mut seen = HashSet::with_capacity(m.len());
            out.push(b'{');
            for (k, v) in m {
                let key = key_text(k);
                if seen.contains(&key) {
                    continue;
                }
                if !seen.is_empty() {
                    out.push(b',');
                }
                write_str(out, &key);
                out.push(b':');
                write_value(out, v);
                seen.insert(key);
            }
            out.push(b'}');
        }
    }
}

/// The object key a map key becomes: strings stay, binary data takes the binary
/// convention, anything else its JSON text (`1` → `"1"`, `[1,2]` → `"[1,2]"`).
fn key_text(k: &Value) -> String {
    match k {
        Value::Str(s) => s.clone(),
        Value::Bytes(b) | Value::Ext(_, b) => json_binary_string(b),
        Value::Tagged(_, inner) => key_text(inner),
        other => {
            let mut text = Vec::new();
            write_value(&mut text, other);
            String::from_utf8_lossy(&text).into_owned()
        }
    }
}

// ---------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------

/// Decode exactly one value from `buf` (whitespace around it is fine).
pub(super) fn decode(buf: &[u8]) -> Result<Value, String> {
    let mut r = Reader { buf, pos: 0 };
    let v = r.value(MAX_DEPTH)?;
    r.finish()?;
    Ok(v)
}

/// Like [`decode`]; when the value is a list, also where each element lies in `buf`.
pub(super) fn decode_message(buf: &[u8]) -> Result<(Value, Vec<Span>), String> {
    let mut r = Reader { buf, pos: 0 };
    r.ws();
    if r.peek() != Some(b'[') {
        let v = r.value(MAX_DEPTH)?;
        r.finish()?;
        return Ok((v, Vec::new()));
    }
    let mut spans = Vec::new();
    let v = r.list(MAX_DEPTH, Some(&mut spans))?;
    r.finish()?;
    Ok((v, spans))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn describe(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("{:?}", char::from(b))
    } else {
        format!("byte 0x{b:02x}")
    }
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eof(&self) -> String {
        format!("unexpected end of data at byte {}", self.pos)
    }

    fn unexpected(&self, expected: &str) -> String {
        match self.peek() {
            Some(b) => format!(
                "expected {expected} at byte {}, found {}",
                self.pos,
                describe(b)
            ),
            None => format!("expected {expected}, found the end of the data"),
        }
    }

    fn finish(&mut self) -> Result<(), String> {
        self.ws();
        if self.pos != self.buf.len() {
            return Err(format!(
                "{} trailing bytes after the value",
                self.buf.len() - self.pos
            ));
        }
        Ok(())
    }

    fn enter(&self, depth_left: usize) -> Result<usize, String> {
        depth_left
            .checked_sub(1)
            .ok_or_else(|| format!("nesting deeper than {MAX_DEPTH} levels"))
    }

    fn value(&mut self, depth_left: usize) -> Result<Value, String> {
        self.ws();
        match self.peek() {
            None => Err(self.eof()),
            Some(b'[') => self.list(depth_left, None),
            Some(b'{') => self.object(depth_left),
            Some(b'"') => {
                let at = self.pos;
                let s = self.string()?;
                binary_convention(s).map_err(|e| {
                    format!("invalid base64 after \"\\0\" in the string at byte {at}: {e}")
                })
            }
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.unexpected("a value")),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
        let end = self.pos + word.len();
        if self.buf.get(self.pos..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(v)
        } else {
            Err(self.unexpected("a value"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.unexpected("a digit")),
        }
        if let Some(b'0'..=b'9') = self.peek() {
            return Err(format!("leading zero in the number at byte {start}"));
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.unexpected("a digit after the decimal point"));
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.unexpected("a digit in the exponent"));
            }
            float = true;
        }
        // Only ASCII digits, signs, '.' and 'e' were consumed.
        let text = std::str::from_utf8(&self.buf[start..self.pos]).unwrap_or_default();
        if !float {
            if text == "-0" {
                return Ok(Value::Float(-0.0));
            }
            if negative {
                if let Ok(i) = text.parse::<i64>() {
                    return Ok(Value::int(i));
                }
            } else if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::UInt(u));
            }
            if let Some(v) = BigInt::parse_decimal(text) {
                return Ok(v);
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(format!("number out of range at byte {start}")),
        }
    }

    fn hex4(&mut self) -> Result<u16, String> {
        let at = self.pos;
        let digits = self
            .buf
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.eof())?;
        let text =
            std::str::from_utf8(digits).map_err(|_| format!("invalid \\u escape at byte {at}"))?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("invalid \\u escape at byte {at}"));
        }
        self.pos += 4;
        u16::from_str_radix(text, 16).map_err(|_| format!("invalid \\u escape at byte {at}"))
    }

    /// A string (the opening quote is next), escapes resolved, UTF-8 checked.
    fn string(&mut self) -> Result<String, String> {
        let open = self.pos;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.buf[run..self.pos]);
            match self.peek() {
                None => return Err(format!("unterminated string starting at byte {open}")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out)
                        .map_err(|e| format!("invalid UTF-8 in the string at byte {open}: {e}"));
                }
                Some(b'\\') => {
                    let at = self.pos;
                    self.pos += 1;
                    let Some(c) = self.peek() else {
                        return Err(self.eof());
                    };
                    self.pos += 1;
                    let simple = match c {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let ch = self.unicode_escape(at)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        other => {
                            return Err(format!("invalid escape {} at byte {at}", describe(other)))
                        }
                    };
                    out.push(simple);
                }
                Some(b) => {
                    return Err(format!(
                        "control character 0x{b:02x} in a string at byte {}",
                        self.pos
                    ))
                }
            }
        }
    }

    /// The character of a `\uXXXX` escape (the `\u` is consumed), with its low
    /// surrogate if it is a high one.
    fn unicode_escape(&mut self, at: usize) -> Result<char, String> {
        let lone = || format!("lone surrogate in the \\u escape at byte {at}");
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if self.buf.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(lone());
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(lone());
                }
                0x10000 + ((u32::from(first) - 0xd800) << 10) + (u32::from(second) - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(lone()),
            c => u32::from(c),
        };
        char::from_u32(code).ok_or_else(lone)
    }

    /// A list (the `[` is next). With `spans`, where each element lies.
    fn list(
        &mut self,
        depth_left: usize,
        mut spans: Option<&mut Vec<Span>>,
    ) -> Result<Value, String> {
        let inner = self.enter(depth_left)?;
        self.pos += 1;
        let mut list = List::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::List(list));
        }
        loop {
            self.ws();
            let start = self.pos;
            list.push(self.value(inner)?);
            if let Some(spans) = spans.as_deref_mut() {
                spans.push((start, self.pos));
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::List(list));
                }
                _ => return Err(self.unexpected("',' or ']'")),
            }
        }
    }

    /// An object (the `{` is next): string keys, unique.
    fn object(&mut self, depth_left: usize) -> Result<Value, String> {
        let inner = self.enter(depth_left)?;
        self.pos += 1;
        let mut dict = Dict::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Dict(dict));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a string key"));
            }
            let at = self.pos;
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("':'"));
            }
            self.pos += 1;
            let value = self.value(inner)?;
            if let Some((k, _)) = insert_unique(&mut dict, key, value) {
                return Err(format!("duplicate dict key {k:?} at byte {at}"));
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Dict(dict));
                }
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }
}

/// A JSON string value: binary if it starts with NUL.
fn binary_convention(s: String) -> Result<Value, base64::DecodeError> {
    match s.strip_prefix('\0') {
        Some(b64) => BASE64.decode(b64).map(Value::Bytes),
        None => Ok(Value::Str(s)),
    }
}
