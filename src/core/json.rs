//! Just enough JSON for the `/batch` wire protocol, with no dependencies.
//!
//! Reading: [`Scanner`] walks a document, decodes the strings and numbers the
//! envelope needs, and hands back item bodies as raw slices, so the shell can
//! give them to the platform's `JSON.parse` and keep them as JS values.
//! Writing: [`quote`] escapes a string. Every function returns an error for
//! bad input and never panics (the decoders are fuzzed in CI).

use std::fmt;

/// Where and why a document is not the JSON that was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// A cursor over a JSON text.
#[derive(Debug)]
pub struct Scanner<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Scanner<'a> {
    /// Start at the beginning of `s`.
    pub fn new(s: &'a str) -> Self {
        Scanner { s, i: 0 }
    }

    fn err<T>(&self, what: &'static str) -> Result<T, JsonError> {
        Err(JsonError { at: self.i, what })
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    /// Skip white space.
    pub fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Is only white space left?
    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.i >= self.s.len()
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else if self.peek().is_none() {
            self.err("unexpected end (truncated?)")
        } else {
            self.err(what)
        }
    }

    /// Walk an object, calling `member(scanner, key)` with the scanner at
    /// each member's value; `member` must consume the value.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, String) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.expect(b'{', "expected an object")?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.expect(b':', "expected `:` after a key")?;
            member(self, key)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                None => return self.err("unexpected end (truncated?)"),
                _ => return self.err("expected `,` or `}`"),
            }
        }
    }

    /// Walk an array, calling `element(scanner)` at each element.
    pub fn array(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.expect(b'[', "expected an array")?;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                None => return self.err("unexpected end (truncated?)"),
                _ => return self.err("expected `,` or `]`"),
            }
        }
    }

    /// Is the next value `null`? (Consumes it if so.)
    pub fn null(&mut self) -> bool {
        self.ws();
        if self.s[self.i..].starts_with("null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// Decode a string value.
    pub fn string(&mut self) -> Result<String, JsonError> {
        self.ws();
        if self.peek() != Some(b'"') {
            return self.err("expected a string");
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.i..];
            let Some(stop) = rest.find(['"', '\\']) else {
                self.i = self.s.len();
                return self.err("unterminated string (truncated?)");
            };
            let chunk = &rest[..stop];
            if chunk.bytes().any(|b| b < 0x20) {
                return self.err("control character in a string");
            }
            out.push_str(chunk);
            self.i += stop;
            if self.peek() == Some(b'"') {
                self.i += 1;
                return Ok(out);
            }
            self.i += 1; // the backslash
            let Some(esc) = self.peek() else {
                return self.err("unterminated string (truncated?)");
            };
            self.i += 1;
            match esc {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let hi = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&hi) {
                        if !self.s[self.i..].starts_with("\\u") {
                            return self.err("lone surrogate in a string");
                        }
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return self.err("bad surrogate pair in a string");
                        }
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    } else {
                        char::from_u32(hi)
                    };
                    match c {
                        Some(c) => out.push(c),
                        None => return self.err("lone surrogate in a string"),
                    }
                }
                _ => return self.err("bad escape in a string"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(digits) = self.s.get(self.i..self.i + 4) else {
            return self.err("short \\u escape (truncated?)");
        };
        match u32::from_str_radix(digits, 16) {
            Ok(v) if digits.bytes().all(|b| b.is_ascii_hexdigit()) => {
                self.i += 4;
                Ok(v)
            }
            _ => self.err("bad \\u escape"),
        }
    }

    /// Decode a number value that must be a whole number in `0..9e15` (ids,
    /// statuses). `Ok(None)` for a valid number outside that set (negative,
    /// fractional, too big).
    ///
    /// The value is worked out exactly from the decimal text (`1e2` and
    /// `100.0` are 100), so no float parser is needed: the wasm stays small.
    pub fn whole(&mut self) -> Result<Option<u64>, JsonError> {
        let raw = self.raw_number()?;
        let (neg, raw) = match raw.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, raw),
        };
        let (mantissa, exp) = match raw.find(['e', 'E']) {
            Some(i) => (&raw[..i], &raw[i + 1..]),
            None => (raw, ""),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        // The decimal exponent of the last digit; huge ones saturate.
        let (exp_neg, exp_digits) = match exp.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, exp.trim_start_matches('+')),
        };
        let mut e: i64 = 0;
        for d in exp_digits.bytes() {
            e = (e * 10 + i64::from(d - b'0')).min(1 << 40);
        }
        if exp_neg {
            e = -e;
        }
        e -= frac.len() as i64;
        let digits = int.as_bytes().iter().chain(frac.as_bytes());
        let digits: Vec<u8> = digits.copied().skip_while(|&d| d == b'0').collect();
        let mut end = digits.len();
        while end > 0 && digits[end - 1] == b'0' {
            end -= 1;
            e += 1;
        }
        if end == 0 {
            return Ok(Some(0)); // 0, -0, 0.000e5
        }
        if neg || e < 0 {
            return Ok(None);
        }
        const LIMIT: u64 = 9_000_000_000_000_000;
        let mut v: u64 = 0;
        for &d in &digits[..end] {
            v = v * 10 + u64::from(d - b'0');
            if v >= LIMIT {
                return Ok(None);
            }
        }
        for _ in 0..e {
            v *= 10;
            if v >= LIMIT {
                return Ok(None);
            }
        }
        Ok(Some(v))
    }

    fn raw_number(&mut self) -> Result<&'a str, JsonError> {
        self.ws();
        let start = self.i;
        let b = self.s.as_bytes();
        let mut j = self.i;
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        let digits = |j: &mut usize| {
            let from = *j;
            while b.get(*j).is_some_and(u8::is_ascii_digit) {
                *j += 1;
            }
            *j > from
        };
        if !digits(&mut j) {
            return self.err("expected a value");
        }
        if b.get(j) == Some(&b'.') {
            j += 1;
            if !digits(&mut j) {
                self.i = j;
                return self.err("bad number");
            }
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if !digits(&mut j) {
                self.i = j;
                return self.err("bad number");
            }
        }
        self.i = j;
        Ok(&self.s[start..j])
    }

    /// Skip any value and return its raw text.
    ///
    /// The walk is a loop with a stack of open brackets, not a recursion, so
    /// a value nested any depth (an item body is the app's data) costs
    /// memory in proportion to its size and never the call stack. It checks
    /// that brackets match and the value is complete; whoever parses the
    /// slice (the platform's `JSON.parse`) checks the rest.
    pub fn raw_value(&mut self) -> Result<&'a str, JsonError> {
        self.ws();
        let start = self.i;
        // What may come next, and the closing bracket of each open container.
        #[derive(Clone, Copy, PartialEq)]
        enum Want {
            Value,
            ValueOrEnd,
            Key,
            KeyOrEnd,
            Colon,
            CommaOrEnd,
        }
        let mut open: Vec<u8> = Vec::new();
        let mut want = Want::Value;
        loop {
            self.ws();
            let Some(c) = self.peek() else {
                return self.err("unexpected end (truncated?)");
            };
            match (want, c) {
                (Want::Value | Want::ValueOrEnd, b'{' | b'[') => {
                    self.i += 1;
                    let obj = c == b'{';
                    open.push(if obj { b'}' } else { b']' });
                    want = if obj {
                        Want::KeyOrEnd
                    } else {
                        Want::ValueOrEnd
                    };
                    continue;
                }
                (Want::Key | Want::KeyOrEnd, b'"') => {
                    self.string()?;
                    want = Want::Colon;
                    continue;
                }
                (Want::Colon, b':') => {
                    self.i += 1;
                    want = Want::Value;
                    continue;
                }
                (Want::CommaOrEnd, b',') => {
                    self.i += 1;
                    want = if open.last() == Some(&b'}') {
                        Want::Key
                    } else {
                        Want::Value
                    };
                    continue;
                }
                (Want::KeyOrEnd | Want::ValueOrEnd | Want::CommaOrEnd, b'}' | b']')
                    if open.last() == Some(&c) =>
                {
                    self.i += 1;
                    open.pop();
                }
                (Want::Value | Want::ValueOrEnd, b'"') => drop(self.string()?),
                (Want::Value | Want::ValueOrEnd, b't') => self.word("true")?,
                (Want::Value | Want::ValueOrEnd, b'f') => self.word("false")?,
                (Want::Value | Want::ValueOrEnd, b'n') => self.word("null")?,
                (Want::Value | Want::ValueOrEnd, b'-' | b'0'..=b'9') => drop(self.raw_number()?),
                (Want::Colon, _) => return self.err("expected `:`"),
                (Want::CommaOrEnd, _) => return self.err("expected `,` or a closing bracket"),
                (Want::Key | Want::KeyOrEnd, _) => return self.err("expected a key"),
                _ => return self.err("expected a value"),
            }
            // A value is complete.
            if open.is_empty() {
                break;
            }
            want = Want::CommaOrEnd;
        }
        Ok(&self.s[start..self.i])
    }

    fn word(&mut self, w: &'static str) -> Result<(), JsonError> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(())
        } else if w.starts_with(&self.s[self.i..]) {
            self.err("unexpected end (truncated?)")
        } else {
            self.err("expected a value")
        }
    }
}

/// `s` as a JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_quote() {
        for s in [
            "",
            "plain",
            "quo\"te",
            "back\\slash",
            "nl\nx",
            "\u{1}",
            "é ☃ 𝄞",
        ] {
            let q = quote(s);
            assert_eq!(Scanner::new(&q).string().unwrap(), s, "{q}");
        }
        assert_eq!(
            Scanner::new(r#""\ud834\udd1e \u00e9""#).string().unwrap(),
            "𝄞 é"
        );
    }

    #[test]
    fn whole_numbers_are_exact() {
        let w = |t: &str| Scanner::new(t).whole();
        for (t, v) in [
            ("0", Some(0)),
            ("-0", Some(0)),
            ("0.0e9", Some(0)),
            ("7", Some(7)),
            ("100.0", Some(100)),
            ("1e2", Some(100)),
            ("1.5E+1", Some(15)),
            ("2500e-2", Some(25)),
            ("8999999999999999", Some(8_999_999_999_999_999)),
            ("9e15", None),
            ("1e999999999999999999999", None),
            ("1.5", None),
            ("1e-400", None),
            ("-3", None),
        ] {
            assert_eq!(w(t), Ok(v), "{t}");
        }
        assert!(w("x").is_err());
        assert!(w("1.").is_err());
    }

    #[test]
    fn raw_values_and_errors() {
        let mut s = Scanner::new(r#" {"a": [1, -2.5e3, true, null, {"b": "x"}]} tail"#);
        assert_eq!(
            s.raw_value().unwrap(),
            r#"{"a": [1, -2.5e3, true, null, {"b": "x"}]}"#
        );
        for bad in [
            "{\"a\":",
            "[1,",
            "\"abc",
            "tru",
            "{\"a\" 1}",
            "[1 2]",
            "-",
            "1.",
            "\"\\ud800\"",
            "\"\\q\"",
        ] {
            assert!(Scanner::new(bad).raw_value().is_err(), "{bad}");
        }
        // Any depth is walked without recursion: an item body nested 10,000
        // deep is read whole, and cut short it is an error, not a crash.
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(Scanner::new(&deep).raw_value().unwrap(), deep);
        let cut = "[{\"a\":".repeat(10_000);
        assert!(Scanner::new(&cut)
            .raw_value()
            .unwrap_err()
            .what
            .contains("truncated"));
        assert!(Scanner::new("[1}").raw_value().is_err());
        assert!(Scanner::new("{\"a\":1,}").raw_value().is_err());
        assert!(Scanner::new("{\"a\":")
            .raw_value()
            .unwrap_err()
            .what
            .contains("truncated"));
    }
}
