//! The fast path of the JSON-RPC envelope check: one validating scan of a frame
//! that finds `jsonrpc`, `id` and `method` and steps over `params`, `result` and
//! `error` without building anything.
//!
//! What costs time in a 4 KiB `tools/call` is the string inside its arguments.
//! serde_json walks it a byte at a time; here a long string is crossed with
//! `memchr2` (AVX2 when the CPU has it) and checked for control characters by a
//! vectorised minimum, and UTF-8 is checked once for the whole frame with
//! `simdutf8`. (A single pass testing all three kinds of byte in 32- or 64-byte
//! blocks compiles to SSE2 only, without the AVX2 `memchr` picks at run time,
//! and measured 23-37% more instructions; a byte-at-a-time start for short
//! strings, 15% more.)
//!
//! The scan takes only the common shapes and says `None` for anything else (an
//! escape in a key, in `method` or `jsonrpc`, a `\u` escape anywhere, `null`
//! where serde would read "absent", a duplicate member, nesting past
//! [`MAX_DEPTH`], any syntax error...): serde_json then reads the frame and
//! decides, so every verdict and every error message stays serde_json's. The
//! fuzz target `jsonrpc` checks that both paths agree on every input.
//!
//! Here too, shared by both paths: the [`Envelope`] they fill, the nesting
//! limit [`MAX_DEPTH`] and [`deeper_than`], the serde path's depth check.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// The deepest nesting of arrays and objects a message may hold, the message's
/// own object counting as one: MCP's params nest a few levels, tool arguments
/// follow their tools' schemas (rarely ten), and one rule for every method and
/// every tool means no parser down the line (serde_json refuses at 128; a
/// `RawValue` or a skipped value has no limit at all) meets a deeper one.
pub const MAX_DEPTH: usize = 64;

/// The depth `json` reaches when it goes over `max` (counting `[` and `{`
/// outside strings), or `None`. String contents are skipped with `memchr`, so a
/// long string costs what searching it for `"` and `\` costs.
pub fn deeper_than(json: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                // To the closing quote, past escaped characters.
                i += 1;
                loop {
                    // An unterminated string (a trailing `\` included) ends the
                    // text: not JSON, which the parser says; no deeper here.
                    let rest = json.get(i..)?;
                    match memchr::memchr2(b'"', b'\\', rest) {
                        Some(k) if rest[k] == b'\\' => i += k + 2,
                        Some(k) => {
                            i += k;
                            break;
                        }
                        None => return None,
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(depth);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The members of a message this crate reads. Built by serde (the reference
/// path) or by the fast scan (`scan`, below).
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow)]
    pub(crate) jsonrpc: Cow<'a, str>,
    // Absent and `null` differ (notification vs invalid request), so `null` must
    // arrive as `Some(Value::Null)`, not as serde's `None`.
    #[serde(default, deserialize_with = "present")]
    pub(crate) id: Option<serde_json::Value>,
    #[serde(borrow, default)]
    pub(crate) method: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(crate) params: Option<IgnoredAny>,
    #[serde(default)]
    pub(crate) result: Option<IgnoredAny>,
    #[serde(default)]
    pub(crate) error: Option<IgnoredAny>,
    /// Where `params` sits in the frame, when the scan read it (serde does not
    /// say).
    #[serde(skip)]
    pub(crate) params_at: Option<std::ops::Range<usize>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// The envelope of `frame` if the fast path takes it; `None`: let serde_json
/// decide.
pub(crate) fn scan(frame: &[u8]) -> Option<Envelope<'_>> {
    let text = simdutf8::basic::from_utf8(frame).ok()?;
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut e = Envelope {
        jsonrpc: Cow::Borrowed(""),
        id: None,
        method: None,
        params: None,
        result: None,
        error: None,
        params_at: None,
    };
    let mut seen_jsonrpc = false;
    if b.get(i) == Some(&b'}') {
        return None; // no `jsonrpc`: serde says which field is missing.
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let end = key_end(b, i + 1)?;
        let key = &b[i + 1..end];
        i = skip_ws(b, end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        match key {
            b"jsonrpc" if !seen_jsonrpc => {
                let (s, next) = plain_string(text, i)?;
                e.jsonrpc = Cow::Borrowed(s);
                seen_jsonrpc = true;
                i = next;
            }
            b"method" if e.method.is_none() => {
                let (s, next) = plain_string(text, i)?;
                e.method = Some(Cow::Borrowed(s));
                i = next;
            }
            b"id" if e.id.is_none() => {
                let (id, next) = id(text, i)?;
                e.id = Some(id);
                i = next;
            }
            b"params" | b"result" | b"error" => {
                let slot = match key {
                    b"params" => &mut e.params,
                    b"result" => &mut e.result,
                    _ => &mut e.error,
                };
                // `null` reads as absent to serde; a second one is an error.
                if slot.is_some() || b.get(i) == Some(&b'n') {
                    return None;
                }
                let start = i;
                i = skip_value(b, i, 1)?;
                *slot = Some(IgnoredAny);
                if key == b"params" {
                    e.params_at = Some(start..i);
                }
            }
            b"jsonrpc" | b"method" | b"id" => return None,
            // Any other member is ignored, as the serde envelope does.
            _ => i = skip_value(b, i, 1)?,
        }
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    if !seen_jsonrpc || skip_ws(b, i + 1) != b.len() {
        return None;
    }
    Some(e)
}

/// The members of the JSON object `json` (whitespace around it allowed): each
/// key with where its value's text sits in `json`, in order. Validating, like
/// the scan: `None` for anything it does not take (not UTF-8, not an object,
/// an escape in a key, a duplicate key, more than [`MAX_MEMBERS`] members, a
/// syntax error, nesting past [`MAX_DEPTH`]), and the caller then asks
/// serde_json, whose verdict stands.
pub fn members(json: &[u8]) -> Option<Vec<(&[u8], std::ops::Range<usize>)>> {
    let b = simdutf8::basic::from_utf8(json).ok()?.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut out: Vec<(&[u8], std::ops::Range<usize>)> = Vec::with_capacity(4);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(out);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let end = string_end(b, i + 1, false)?;
        let key = &b[i + 1..end];
        // The duplicate check compares with every earlier key: bounded, so a
        // hostile object of 400,000 keys costs a linear serde pass, not 10^11
        // comparisons.
        if out.len() == MAX_MEMBERS || out.iter().any(|(k, _)| *k == key) {
            return None;
        }
        i = skip_ws(b, end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        i = skip_value(b, start, 1)?;
        out.push((key, start..i));
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    (skip_ws(b, i + 1) == b.len()).then_some(out)
}

/// Most members [`members`] takes: MCP params and tool arguments have a few;
/// an object with more goes to serde_json.
pub const MAX_MEMBERS: usize = 64;

/// The contents of the JSON string literal `literal` (quotes included) when it
/// is UTF-8 with no escape and no control character: the text itself, as
/// written.
pub fn plain_literal(literal: &[u8]) -> Option<&[u8]> {
    if literal.first() != Some(&b'"') || simdutf8::basic::from_utf8(literal).is_err() {
        return None;
    }
    let end = string_end(literal, 1, false)?;
    (end + 1 == literal.len()).then(|| &literal[1..end])
}

/// The members a message has, each with its closing quote.
const KEYS: [&[u8]; 6] = [
    b"jsonrpc\"",
    b"id\"",
    b"method\"",
    b"params\"",
    b"result\"",
    b"error\"",
];

/// From just after a key's opening quote: the index of its closing quote. The
/// members every message has are matched whole (cheaper than a search).
fn key_end(b: &[u8], i: usize) -> Option<usize> {
    let rest = b.get(i..)?;
    match KEYS.iter().find(|k| rest.starts_with(k)) {
        Some(k) => Some(i + k.len() - 1),
        None => string_end(b, i, false),
    }
}

/// The first index at or after `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// From just after an opening quote: the index of the closing quote, when
/// every byte between is a character JSON allows unescaped and every escape is
/// one of `\" \\ \/ \b \f \n \r \t` (and `escapes` allows them at all).
fn string_end(b: &[u8], mut i: usize, escapes: bool) -> Option<usize> {
    loop {
        let rest = b.get(i..)?;
        let k = memchr::memchr2(b'"', b'\\', rest)?;
        if has_control(&rest[..k]) {
            return None;
        }
        i += k;
        match b[i] {
            b'"' => return Some(i),
            b'\\' if escapes => match b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                _ => return None,
            },
            // An escape where none is taken.
            _ => return None,
        }
    }
}

/// Whether `s` holds a byte below 0x20 (which a JSON string must escape). No
/// early exit, so the loop is vectorised.
fn has_control(s: &[u8]) -> bool {
    s.iter().fold(u8::MAX, |m, &c| m.min(c)) < 0x20
}

/// A string without escapes at `i`, and the index after it.
fn plain_string(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let end = string_end(b, i + 1, false)?;
    Some((text.get(i + 1..end)?, end + 1))
}

/// An id the fast path takes at `i` (an integer that fits `i64` without sign
/// games, a string without escapes, or `null`), and the index after it.
fn id(text: &str, i: usize) -> Option<(serde_json::Value, usize)> {
    let b = text.as_bytes();
    match b.get(i)? {
        b'"' => {
            let (s, next) = plain_string(text, i)?;
            Some((serde_json::Value::String(s.to_string()), next))
        }
        b'n' => b
            .get(i..i + 4)
            .filter(|w| *w == b"null")
            .map(|_| (serde_json::Value::Null, i + 4)),
        b'-' | b'0'..=b'9' => {
            let start = i + usize::from(b[i] == b'-');
            let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            // No digit, a leading zero, `-0`, a fraction or an exponent: serde's call.
            if end == start
                || (b[start] == b'0' && (end > start + 1 || start > i))
                || matches!(b.get(end), Some(b'.' | b'e' | b'E'))
            {
                return None;
            }
            let n: i64 = text.get(i..end)?.parse().ok()?;
            Some((serde_json::Value::from(n), end))
        }
        _ => None,
    }
}

/// Steps over one value at `i` (validating it) at nesting `depth` (the
/// envelope's own object is 1); the index after it.
fn skip_value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i + 1, true).map(|end| end + 1),
        b'{' => {
            if depth + 1 > MAX_DEPTH {
                return None;
            }
            let mut i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b'}') {
                return Some(i + 1);
            }
            loop {
                if b.get(i) != Some(&b'"') {
                    return None;
                }
                i = skip_ws(b, string_end(b, i + 1, true)? + 1);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = skip_ws(b, skip_value(b, skip_ws(b, i + 1), depth + 1)?);
                match b.get(i)? {
                    b',' => i = skip_ws(b, i + 1),
                    b'}' => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            if depth + 1 > MAX_DEPTH {
                return None;
            }
            let mut i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b']') {
                return Some(i + 1);
            }
            loop {
                i = skip_ws(b, skip_value(b, i, depth + 1)?);
                match b.get(i)? {
                    b',' => i = skip_ws(b, i + 1),
                    b']' => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b't' => literal(b, i, b"true"),
        b'f' => literal(b, i, b"false"),
        b'n' => literal(b, i, b"null"),
        b'-' | b'0'..=b'9' => number(b, i),
        _ => None,
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// Steps over a number (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`).
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    let begin = i;
    let digits = |b: &[u8], i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if b[i] == b'-' {
        i += 1;
    }
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i += digits(b, i),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let n = digits(b, i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    let mut exponent = 0;
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        exponent = digits(b, i);
        if exponent == 0 {
            return None;
        }
        i += exponent;
    }
    // serde_json refuses a number whose value does not fit an f64 ("number out
    // of range", e.g. `1E400` or 400 digits): such a number, one near that edge,
    // or one with an exponent of more than 4 digits is left to serde. Short
    // numbers without an exponent cannot overflow.
    if exponent > 4 {
        return None;
    }
    if exponent > 0 || i - begin > 300 {
        // ASCII digits, signs, `.` and `e` only: UTF-8 by construction.
        let value: f64 = std::str::from_utf8(&b[begin..i]).ok()?.parse().ok()?;
        // serde_json's float parsing (without `float_roundtrip`) is not
        // correctly rounded: near f64::MAX it can overflow where `str::parse`
        // rounds down to MAX. A margin below MAX leaves those to serde too.
        if value.is_nan() || value.abs() > 1.7e308 {
            return None;
        }
    }
    Some(i)
}

#[cfg(test)]
mod tests;
