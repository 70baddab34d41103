//! Integers outside the 64-bit range, as a router needs them: carried exactly, written
//! in CBOR's bignum form or in decimal, never computed with.
//!
//! CBOR carries them as bignums (tag 2: the byte string `n` is the value; tag 3: the
//! value is `-1 - n`, RFC 8949 §3.4.3) and plain negative integers down to `-2^64`;
//! JSON as integer literals of any length. [`BigInt`] keeps CBOR's form, so CBOR
//! re-encodes without arithmetic; decimal conversion (for JSON and MessagePack) is
//! quadratic, so it is bounded by [`MAX_DECIMAL_BYTES`].

use std::fmt;

use super::value::Value;

/// The largest magnitude (in bytes, 8192 bits) converted to or from decimal. Larger
/// bignums still travel between CBOR peers; towards JSON and MessagePack they are
/// written in hexadecimal (see [`BigInt::to_decimal`]).
pub const MAX_DECIMAL_BYTES: usize = 1024;

/// The most decimal digits read as one integer: every such number is below
/// `2^(8 * MAX_DECIMAL_BYTES)`.
pub(crate) const MAX_DECIMAL_DIGITS: usize = 2466;

/// An integer above `u64::MAX` or below `i64::MIN` (smaller ones are always
/// [`Value::UInt`] / [`Value::Int`]), in CBOR's bignum form: big-endian bytes `n`
/// without leading zeros, the value being `n` or, if negative, `-1 - n`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BigInt {
    negative: bool,
    // Boxed slice: keeps `Value` at 32 bytes.
    n: Box<[u8]>,
}

impl BigInt {
    /// The integer `n` (big-endian bytes; `negative`: `-1 - n`), in normal form: a
    /// [`Value::UInt`] or [`Value::Int`] when it fits, else a [`Value::BigInt`].
    pub fn from_cbor(negative: bool, n: &[u8]) -> Value {
        let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
        let n = &n[start..];
        if n.len() <= 8 {
            let small = n.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            if !negative {
                return Value::UInt(small);
            }
            if let Ok(i) = i64::try_from(small) {
                return Value::Int(-1 - i);
            }
        }
        Value::BigInt(BigInt {
            negative,
            n: n.into(),
        })
    }

    /// True below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// CBOR's `n`: the value, or for a negative number `-1 - value`; big-endian, no
    /// leading zeros.
    pub fn cbor_bytes(&self) -> &[u8] {
        &self.n
    }

    /// CBOR's `n` as a `u64` when it fits (a negative number in `[-2^64, -2^63 - 1]`,
    /// which CBOR writes as a plain negative integer).
    pub(crate) fn n_u64(&self) -> Option<u64> {
        (self.n.len() <= 8).then(|| {
            self.n
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        })
    }

    /// The integer of a JSON literal: optional `-`, then ASCII digits. `None` if it
    /// has more than [`MAX_DECIMAL_DIGITS`] digits or is not of that form.
    pub(crate) fn parse_decimal(text: &str) -> Option<Value> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text),
        };
        if digits.is_empty()
            || digits.len() > MAX_DECIMAL_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        // Little-endian base-2^32 limbs; nine digits at a time.
        let mut limbs: Vec<u32> = Vec::with_capacity(digits.len() / 9 + 1);
        for chunk in digits.as_bytes().chunks(9) {
            let mut scale = 1u64;
            let mut add = 0u64;
            for &d in chunk {
                scale *= 10;
                add = add * 10 + u64::from(d - b'0');
            }
            let mut carry = add;
            for limb in &mut limbs {
                let x = u64::from(*limb) * scale + carry;
                *limb = x as u32;
                carry = x >> 32;
            }
            if carry > 0 {
                limbs.push(carry as u32);
            }
        }
        let mut magnitude = limbs_to_bytes(&limbs);
        if negative {
            // -m = -1 - (m - 1); m is not zero here (JSON's `-0` is read as a float).
            if !decrement(&mut magnitude) {
                return Some(Value::UInt(0));
            }
        }
        Some(BigInt::from_cbor(negative, &magnitude))
    }

    /// The absolute value, big-endian without leading zeros.
    fn magnitude(&self) -> Vec<u8> {
        let mut m = self.n.to_vec();
        if self.negative {
            increment(&mut m);
        }
        m
    }

    /// Decimal digits with a leading `-` if negative; `None` when the magnitude is
    /// over [`MAX_DECIMAL_BYTES`].
    pub fn to_decimal(&self) -> Option<String> {
        let magnitude = self.magnitude();
        if magnitude.len() > MAX_DECIMAL_BYTES {
            return None;
        }
        let mut limbs = bytes_to_limbs(&magnitude);
        // Base 10^9 chunks, least significant first.
        let mut chunks = Vec::with_capacity(limbs.len() * 32 / 29 + 1);
        while !limbs.is_empty() {
            let mut rem = 0u64;
            for limb in limbs.iter_mut().rev() {
                let x = (rem << 32) | u64::from(*limb);
                *limb = (x / 1_000_000_000) as u32;
                rem = x % 1_000_000_000;
            }
            chunks.push(rem as u32);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut out = String::with_capacity(chunks.len() * 9 + 1);
        if self.negative {
            out.push('-');
        }
        let mut it = chunks.iter().rev();
        if let Some(first) = it.next() {
            out.push_str(&first.to_string());
        }
        for c in it {
            out.push_str(&format!("{c:09}"));
        }
        Some(out)
    }

    /// `0x` + hexadecimal digits (with a leading `-` if negative): the written form of
    /// a bignum too long for decimal conversion.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(self.n.len() * 2 + 3);
        if self.negative {
            out.push('-');
        }
        out.push_str("0x");
        for b in self.magnitude() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// The value as text: decimal, or [`to_hex`](Self::to_hex) when too long.
    pub fn to_text(&self) -> String {
        self.to_decimal().unwrap_or_else(|| self.to_hex())
    }

    /// The value as an `i128`, if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        let n = self.n_u128()?;
        if self.negative {
            i128::try_from(n).ok().map(|n| -1 - n)
        } else {
            i128::try_from(n).ok()
        }
    }

    /// The value as a `u128`, if it fits (non-negative).
    pub fn to_u128(&self) -> Option<u128> {
        if self.negative {
            None
        } else {
            self.n_u128()
        }
    }

    fn n_u128(&self) -> Option<u128> {
        (self.n.len() <= 16).then(|| {
            self.n
                .iter()
                .fold(0u128, |acc, &b| (acc << 8) | u128::from(b))
        })
    }

    /// An `i128` in normal form (see [`from_cbor`](Self::from_cbor)).
    pub fn from_i128(v: i128) -> Value {
        if v >= 0 {
            BigInt::from_cbor(false, &v.to_be_bytes())
        } else {
            // -1 - n == v  <=>  n == !v
            BigInt::from_cbor(true, &(!v).to_be_bytes())
        }
    }

    /// A `u128` in normal form (see [`from_cbor`](Self::from_cbor)).
    pub fn from_u128(v: u128) -> Value {
        BigInt::from_cbor(false, &v.to_be_bytes())
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BigInt({})", self.to_text())
    }
}

/// Add one to a big-endian number (it may grow by a byte).
fn increment(m: &mut Vec<u8>) {
    for b in m.iter_mut().rev() {
        let (x, overflow) = b.overflowing_add(1);
        *b = x;
        if !overflow {
            return;
        }
    }
    m.insert(0, 1);
}

/// Subtract one from a big-endian number; false if it was zero.
fn decrement(m: &mut [u8]) -> bool {
    if m.iter().all(|&b| b == 0) {
        return false;
    }
    for b in m.iter_mut().rev() {
        let (x, borrow) = b.overflowing_sub(1);
        *b = x;
        if !borrow {
            break;
        }
    }
    true
}

fn limbs_to_bytes(limbs: &[u32]) -> Vec<u8> {
    let mut out: Vec<u8> = limbs.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
    let start = out.iter().position(|&b| b != 0).unwrap_or(out.len());
    out.drain(..start);
    out
}

fn bytes_to_limbs(bytes: &[u8]) -> Vec<u32> {
    let mut limbs: Vec<u32> = bytes
        .rchunks(4)
        .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
        .collect();
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    limbs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn big(v: Value) -> BigInt {
        match v {
            Value::BigInt(b) => b,
            other => panic!("not a BigInt: {other:?}"),
        }
    }

    #[test]
    fn normal_form() {
        assert_eq!(BigInt::from_cbor(false, &[0, 0, 1, 0]), Value::UInt(256));
        assert_eq!(BigInt::from_cbor(false, &[]), Value::UInt(0));
        assert_eq!(BigInt::from_cbor(true, &[0]), Value::Int(-1));
        assert_eq!(
            BigInt::from_cbor(true, &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Value::Int(i64::MIN)
        );
        // -2^63 - 1 and 2^64 are outside.
        let below = big(BigInt::from_cbor(true, &[0x80, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(below.to_decimal().unwrap(), "-9223372036854775809");
        assert_eq!(below.n_u64(), Some(1 << 63));
        let above = big(BigInt::from_cbor(false, &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(above.cbor_bytes(), &[1, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(above.to_decimal().unwrap(), "18446744073709551616");
    }

    #[test]
    fn the_issue_values_in_decimal_and_back() {
        for (negative, n, text) in [
            (
                false,
                vec![1, 0, 0, 0, 0, 0, 0, 0, 0],
                "18446744073709551616",
            ),
            (
                false,
                vec![0xff; 16],
                "340282366920938463463374607431768211455",
            ),
            (
                true,
                vec![1, 0, 0, 0, 0, 0, 0, 0, 0],
                "-18446744073709551617",
            ),
        ] {
            let v = BigInt::from_cbor(negative, &n);
            assert_eq!(big(v.clone()).to_decimal().unwrap(), text);
            assert_eq!(BigInt::parse_decimal(text), Some(v));
        }
        assert_eq!(
            BigInt::parse_decimal("-18446744073709551616"),
            Some(BigInt::from_cbor(true, &[0xff; 8]))
        );
        assert_eq!(BigInt::parse_decimal("12"), Some(Value::UInt(12)));
        assert_eq!(BigInt::parse_decimal("-12"), Some(Value::Int(-12)));
        assert_eq!(BigInt::parse_decimal("1e3"), None);
        assert_eq!(BigInt::parse_decimal(""), None);
        assert_eq!(
            BigInt::parse_decimal(&"9".repeat(MAX_DECIMAL_DIGITS + 1)),
            None
        );
        let longest = BigInt::parse_decimal(&"9".repeat(MAX_DECIMAL_DIGITS)).unwrap();
        assert!(big(longest).cbor_bytes().len() <= MAX_DECIMAL_BYTES);
    }

    #[test]
    fn long_bignums_are_hexadecimal() {
        let v = big(BigInt::from_cbor(true, &vec![0xff; MAX_DECIMAL_BYTES]));
        assert_eq!(v.to_decimal(), None);
        let hex = v.to_text();
        assert!(hex.starts_with("-0x01000000"), "{}", &hex[..12]);
        assert_eq!(hex.len(), 3 + 2 * (MAX_DECIMAL_BYTES + 1));
        let v = big(BigInt::from_cbor(false, &[0x12; 9]));
        assert_eq!(v.to_hex(), "0x121212121212121212");
    }

    #[test]
    fn i128_conversions() {
        for v in [i128::MIN, i128::MAX, -1, 0, i128::from(i64::MIN) - 1] {
            let value = BigInt::from_i128(v);
            match &value {
                Value::BigInt(b) => assert_eq!(b.to_i128(), Some(v)),
                Value::Int(i) => assert_eq!(i128::from(*i), v),
                Value::UInt(u) => assert_eq!(i128::from(*u), v),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(big(BigInt::from_u128(u128::MAX)).to_u128(), Some(u128::MAX));
        assert_eq!(big(BigInt::from_u128(u128::MAX)).to_i128(), None);
    }

    proptest! {
        #[test]
        fn decimal_round_trip(negative in any::<bool>(), n in proptest::collection::vec(any::<u8>(), 0..40)) {
            let v = BigInt::from_cbor(negative, &n);
            let text = match &v {
                Value::BigInt(b) => b.to_decimal().unwrap(),
                Value::UInt(u) => u.to_string(),
                Value::Int(i) => i.to_string(),
                other => panic!("{other:?}"),
            };
            prop_assert_eq!(BigInt::parse_decimal(&text), Some(v));
        }

        #[test]
        fn i128_matches_decimal(v in any::<i128>()) {
            let text = match BigInt::from_i128(v) {
                Value::BigInt(b) => b.to_decimal().unwrap(),
                Value::UInt(u) => u.to_string(),
                Value::Int(i) => i.to_string(),
                other => panic!("{other:?}"),
            };
            prop_assert_eq!(text, v.to_string());
        }
    }
}
