//! One recursive-descent parser for JSON and the RON subset ratchet files use: structs
//! (`Name(field: v)` or `(field: v)`), maps, lists, tuples, `Some(x)`/`None`, unit enum
//! variants as bare identifiers, line and block comments, trailing commas, raw strings and
//! `#![enable(...)]` headers. JSON mode rejects every RON extension.

use super::{Format, Key, Node, NodeKind, Span};

pub use crate::limits::{MAX_DEPTH, MAX_FILE_BYTES};

/// A syntax error: where and what.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Byte range of the offending text.
    pub span: Span,
    /// Lower-case description.
    pub message: String,
}

/// Parses `text` as `format`.
pub fn parse(text: &str, format: Format) -> Result<Node, SyntaxError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(SyntaxError {
            span: Span::new(0, 0),
            message: format!("file is {} bytes; the limit for a data file is {} bytes", text.len(), MAX_FILE_BYTES),
        });
    }
    let mut p = Parser { src: text, bytes: text.as_bytes(), pos: 0, format, depth: 0 };
    if text.starts_with('\u{feff}') {
        p.pos = 3;
    }
    p.skip_ws()?;
    if p.format == Format::Ron {
        p.skip_ron_attributes()?;
    }
    if p.pos >= p.bytes.len() {
        return Err(SyntaxError { span: Span::new(0, 0), message: "the file is empty; expected a value".into() });
    }
    let node = p.value()?;
    p.skip_ws()?;
    if p.pos < p.bytes.len() {
        return Err(p.err_here("unexpected text after the end of the value"));
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    format: Format,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, start: usize, end: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError { span: Span::new(start, end.max(start)), message: message.into() }
    }

    fn err_here(&self, message: impl Into<String>) -> SyntaxError {
        let end = self.next_char_end();
        self.err(self.pos, end, message)
    }

    fn next_char_end(&self) -> usize {
        match self.src.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => self.pos + c.len_utf8(),
            None => self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn found(&self) -> String {
        match self.src.get(self.pos..).and_then(|s| s.chars().next()) {
            None => "the end of the file".into(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn skip_ws(&mut self) -> Result<(), SyntaxError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if self.format == Format::Ron => match self.bytes.get(self.pos + 1) {
                    Some(b'/') => {
                        while let Some(c) = self.peek() {
                            if c == b'\n' {
                                break;
                            }
                            self.pos += 1;
                        }
                    }
                    Some(b'*') => {
                        let start = self.pos;
                        self.pos += 2;
                        let mut nesting = 1;
                        while nesting > 0 {
                            match (self.peek(), self.bytes.get(self.pos + 1)) {
                                (None, _) => {
                                    return Err(self.err(start, start + 2, "unterminated block comment"));
                                }
                                (Some(b'*'), Some(b'/')) => {
                                    nesting -= 1;
                                    self.pos += 2;
                                }
                                (Some(b'/'), Some(b'*')) => {
                                    nesting += 1;
                                    self.pos += 2;
                                }
                                _ => self.pos += 1,
                            }
                        }
                    }
                    _ => return Ok(()),
                },
                _ => return Ok(()),
            }
        }
    }

    /// `#![enable(implicit_some)]` and similar headers: accepted and ignored.
    fn skip_ron_attributes(&mut self) -> Result<(), SyntaxError> {
        while self.src[self.pos..].starts_with("#!") {
            let start = self.pos;
            match self.src[self.pos..].find(']') {
                Some(off) => self.pos += off + 1,
                None => return Err(self.err(start, start + 2, "unterminated `#![...]` attribute")),
            }
            self.skip_ws()?;
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here(format!("values are nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        match self.peek() {
            None => Err(self.err_here("expected a value, found the end of the file")),
            Some(b'{') => self.map(),
            Some(b'[') => self.list(),
            Some(b'"') => {
                let s = self.string()?;
                Ok(Node { kind: NodeKind::Str(s), span: Span::new(start, self.pos) })
            }
            Some(b'(') if self.format == Format::Ron => self.paren(start, None),
            Some(b'r') if self.format == Format::Ron && matches!(self.bytes.get(self.pos + 1), Some(b'"' | b'#')) => {
                let s = self.raw_string()?;
                Ok(Node { kind: NodeKind::Str(s), span: Span::new(start, self.pos) })
            }
            Some(b'\'') if self.format == Format::Ron => self.char_literal(),
            Some(c) if c == b'-' || c == b'+' || c == b'.' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => self.word(),
            Some(_) => Err(self.err_here(format!("expected a value, found {}", self.found()))),
        }
    }

    fn word(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        let ident = self.ident();
        let span = Span::new(start, self.pos);
        let json = self.format == Format::Json;
        match ident.as_str() {
            "true" => return Ok(Node { kind: NodeKind::Bool(true), span }),
            "false" => return Ok(Node { kind: NodeKind::Bool(false), span }),
            "null" if json => return Ok(Node { kind: NodeKind::Null, span }),
            _ if json => {
                return Err(self.err(start, self.pos, format!("expected a value, found `{ident}`")));
            }
            "None" => return Ok(Node { kind: NodeKind::Null, span }),
            "inf" => return Ok(Node { kind: NodeKind::Number { value: f64::INFINITY, integer: false }, span }),
            "NaN" => return Ok(Node { kind: NodeKind::Number { value: f64::NAN, integer: false }, span }),
            _ => {}
        }
        self.skip_ws()?;
        if self.peek() == Some(b'(') {
            if ident == "Some" {
                self.pos += 1;
                self.enter()?;
                self.skip_ws()?;
                let inner = self.value()?;
                self.skip_ws()?;
                if self.peek() == Some(b',') {
                    self.pos += 1;
                    self.skip_ws()?;
                }
                if self.peek() != Some(b')') {
                    return Err(self.err_here(format!("expected `)` to close `Some(`, found {}", self.found())));
                }
                self.pos += 1;
                self.depth -= 1;
                return Ok(Node { kind: inner.kind, span: Span::new(start, self.pos) });
            }
            return self.paren(start, Some(ident));
        }
        Ok(Node { kind: NodeKind::Ident(ident), span })
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.src[start..self.pos].to_string()
    }

    /// `( ... )` after an optional struct name: a struct when the first item is `ident:`,
    /// otherwise a tuple; `()` is unit.
    fn paren(&mut self, start: usize, _name: Option<String>) -> Result<Node, SyntaxError> {
        self.pos += 1;
        self.enter()?;
        self.skip_ws()?;
        if self.peek() == Some(b')') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Node { kind: NodeKind::Null, span: Span::new(start, self.pos) });
        }
        let is_struct = {
            let save = self.pos;
            let mut struct_like = false;
            if self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') {
                self.ident();
                self.skip_ws()?;
                struct_like = self.peek() == Some(b':');
            }
            self.pos = save;
            struct_like
        };
        if is_struct {
            let mut fields = Vec::new();
            loop {
                self.skip_ws()?;
                if self.peek() == Some(b')') {
                    break;
                }
                let kstart = self.pos;
                if !self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') {
                    return Err(self.err_here(format!("expected a field name, found {}", self.found())));
                }
                let name = self.ident();
                let kspan = Span::new(kstart, self.pos);
                self.skip_ws()?;
                if self.peek() != Some(b':') {
                    return Err(self.err_here(format!("expected `:` after field `{name}`, found {}", self.found())));
                }
                self.pos += 1;
                self.skip_ws()?;
                let v = self.value()?;
                fields.push((Key { name, span: kspan }, v));
                self.skip_ws()?;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b')') => break,
                    _ => {
                        return Err(self.err_here(format!("expected `,` or `)` after a field, found {}", self.found())));
                    }
                }
            }
            self.pos += 1;
            self.depth -= 1;
            Ok(Node { kind: NodeKind::Map(fields), span: Span::new(start, self.pos) })
        } else {
            let items = self.items(b')')?;
            Ok(Node { kind: NodeKind::List(items), span: Span::new(start, self.pos) })
        }
    }

    fn list(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        self.enter()?;
        let items = self.items(b']')?;
        Ok(Node { kind: NodeKind::List(items), span: Span::new(start, self.pos) })
    }

    /// Comma-separated values up to `close` (already past the opener); consumes `close`.
    fn items(&mut self, close: u8) -> Result<Vec<Node>, SyntaxError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            if self.peek() == Some(close) {
                if self.format == Format::Json && !items.is_empty() {
                    return Err(self.err_here("trailing comma is not allowed in JSON"));
                }
                break;
            }
            items.push(self.value()?);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => break,
                _ => {
                    return Err(self.err_here(format!("expected `,` or `{}`, found {}", close as char, self.found())));
                }
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(items)
    }

    fn map(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        self.enter()?;
        let mut entries = Vec::new();
        loop {
            self.skip_ws()?;
            if self.peek() == Some(b'}') {
                if self.format == Format::Json && !entries.is_empty() {
                    return Err(self.err_here("trailing comma is not allowed in JSON"));
                }
                break;
            }
            let kstart = self.pos;
            let name = match self.peek() {
                Some(b'"') => self.string()?,
                Some(c) if self.format == Format::Ron && (c.is_ascii_alphabetic() || c == b'_') => self.ident(),
                Some(c) if self.format == Format::Ron && (c.is_ascii_digit() || c == b'-') => {
                    let n = self.number()?;
                    self.src[n.span.start..n.span.end].to_string()
                }
                _ => return Err(self.err_here(format!("expected a key, found {}", self.found()))),
            };
            let kspan = Span::new(kstart, self.pos);
            self.skip_ws()?;
            if self.peek() != Some(b':') {
                return Err(self.err_here(format!("expected `:` after key `{name}`, found {}", self.found())));
            }
            self.pos += 1;
            self.skip_ws()?;
            let v = self.value()?;
            entries.push((Key { name, span: kspan }, v));
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => break,
                _ => return Err(self.err_here(format!("expected `,` or `}}`, found {}", self.found()))),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(Node { kind: NodeKind::Map(entries), span: Span::new(start, self.pos) })
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.src.get(self.pos..).and_then(|s| s.chars().next()) else {
                return Err(self.err(start, start + 1, "unterminated string"));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    let esc_start = self.pos;
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err(start, start + 1, "unterminated string"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'0' if self.format == Format::Ron => out.push('\0'),
                        b'\'' if self.format == Format::Ron => out.push('\''),
                        b'u' => {
                            let ch = self.unicode_escape(esc_start)?;
                            out.push(ch);
                        }
                        _ => {
                            return Err(self.err(esc_start, self.pos, format!("unknown escape `\\{}`", e as char)));
                        }
                    }
                }
                '\n' if self.format == Format::Json => {
                    return Err(self.err_here("line break inside a JSON string (write `\\n`)"));
                }
                c if (c as u32) < 0x20 && self.format == Format::Json => {
                    return Err(self.err_here("control character inside a JSON string"));
                }
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self, esc_start: usize) -> Result<u32, SyntaxError> {
        let Some(h) = self.src.get(self.pos..self.pos + 4) else {
            return Err(self.err(esc_start, self.pos, "incomplete `\\u` escape"));
        };
        let v = u32::from_str_radix(h, 16).map_err(|_| self.err(esc_start, self.pos + 4, "invalid `\\u` escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self, esc_start: usize) -> Result<char, SyntaxError> {
        if self.format == Format::Ron && self.peek() == Some(b'{') {
            let Some(close) = self.src[self.pos..].find('}') else {
                return Err(self.err(esc_start, self.pos, "unterminated `\\u{...}` escape"));
            };
            let hex = &self.src[self.pos + 1..self.pos + close];
            self.pos += close + 1;
            return u32::from_str_radix(hex, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| self.err(esc_start, self.pos, "invalid `\\u{...}` escape"));
        }
        let hi = self.hex4(esc_start)?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.src[self.pos..].starts_with("\\u") {
                self.pos += 2;
                let lo = self.hex4(esc_start)?;
                if (0xDC00..0xE000).contains(&lo) {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return char::from_u32(c).ok_or_else(|| self.err(esc_start, self.pos, "invalid surrogate pair"));
                }
            }
            return Err(self.err(esc_start, self.pos, "unpaired surrogate in `\\u` escape"));
        }
        char::from_u32(hi).ok_or_else(|| self.err(esc_start, self.pos, "invalid `\\u` escape"))
    }

    fn raw_string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let mut hashes = 0;
        while self.peek() == Some(b'#') {
            hashes += 1;
            self.pos += 1;
        }
        if self.peek() != Some(b'"') {
            return Err(self.err_here("expected `\"` to open a raw string"));
        }
        self.pos += 1;
        let closing = format!("\"{}", "#".repeat(hashes));
        match self.src[self.pos..].find(&closing) {
            Some(off) => {
                let s = self.src[self.pos..self.pos + off].to_string();
                self.pos += off + closing.len();
                Ok(s)
            }
            None => Err(self.err(start, start + 1, "unterminated raw string")),
        }
    }

    fn char_literal(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.src.get(self.pos..).and_then(|s| s.chars().next()) else {
            return Err(self.err(start, start + 1, "unterminated character literal"));
        };
        self.pos += c.len_utf8();
        if self.peek() != Some(b'\'') {
            return Err(self.err(start, self.pos, "unterminated character literal"));
        }
        self.pos += 1;
        Ok(Node { kind: NodeKind::Str(c.to_string()), span: Span::new(start, self.pos) })
    }

    fn number(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        let json = self.format == Format::Json;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            if json && self.peek() == Some(b'+') {
                return Err(self.err_here("a JSON number cannot start with `+`"));
            }
            self.pos += 1;
            if !json && self.src[self.pos..].starts_with("inf") {
                self.pos += 3;
                let neg = self.bytes[start] == b'-';
                let v = if neg { f64::NEG_INFINITY } else { f64::INFINITY };
                return Ok(Node {
                    kind: NodeKind::Number { value: v, integer: false },
                    span: Span::new(start, self.pos),
                });
            }
        }
        if !json && self.src[self.pos..].starts_with("0x") {
            self.pos += 2;
            let hs = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit() || c == b'_') {
                self.pos += 1;
            }
            let digits: String = self.src[hs..self.pos].chars().filter(|c| *c != '_').collect();
            let v = i64::from_str_radix(&digits, 16)
                .map_err(|_| self.err(start, self.pos, "invalid hexadecimal number"))?;
            let v = if self.bytes[start] == b'-' { -(v as f64) } else { v as f64 };
            return Ok(Node { kind: NodeKind::Number { value: v, integer: true }, span: Span::new(start, self.pos) });
        }
        let mut integer = true;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' => self.pos += 1,
                b'_' if !json => self.pos += 1,
                b'.' => {
                    integer = false;
                    self.pos += 1;
                }
                b'e' | b'E' => {
                    integer = false;
                    self.pos += 1;
                    if matches!(self.peek(), Some(b'+' | b'-')) {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        // A trailing identifier character (e.g. `12abc`) is part of a malformed number.
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        let text: String = self.src[start..self.pos].chars().filter(|c| *c != '_').collect();
        if json {
            let body = text.strip_prefix('-').unwrap_or(&text);
            let leading_zero = body.len() > 1 && body.starts_with('0') && body.as_bytes()[1].is_ascii_digit();
            let starts_with_digit = body.as_bytes().first().is_some_and(u8::is_ascii_digit);
            let valid = starts_with_digit
                && !leading_zero
                && !body.ends_with('.')
                && !body.contains(".e")
                && !body.contains(".E");
            if !valid {
                return Err(self.err(start, self.pos, format!("invalid number `{}`", &self.src[start..self.pos])));
            }
        }
        match text.parse::<f64>() {
            Ok(v) if !text.is_empty() && text != "-" && text != "+" => {
                Ok(Node { kind: NodeKind::Number { value: v, integer }, span: Span::new(start, self.pos) })
            }
            _ => Err(self.err(
                start,
                self.pos.max(start + 1),
                format!("invalid number `{}`", &self.src[start..self.pos]),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::NodeKind;

    fn ron(t: &str) -> Result<Node, SyntaxError> {
        parse(t, Format::Ron)
    }

    #[test]
    fn ron_struct_with_options_and_comments() {
        let n = ron("#![enable(implicit_some)]\n// c\nTier(name: \"a\", x: Some(1.5), y: None, l: tensor_native, /* b */ m: {\"k\": [1, 2,],},)")
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut issues = Vec::new();
        let j = n.to_json(&mut issues);
        assert!(issues.is_empty());
        assert_eq!(j, serde_json::json!({"name": "a", "x": 1.5, "y": null, "l": "tensor_native", "m": {"k": [1, 2]}}));
    }

    #[test]
    fn json_rejects_ron_extensions() {
        assert!(parse("{\"a\": 1,}", Format::Json).is_err());
        assert!(parse("{\"a\": None}", Format::Json).is_err());
        assert!(parse("{\"a\": 01}", Format::Json).is_err());
        assert!(parse("{\"a\": 1.}", Format::Json).is_err());
        assert!(parse("{\"a\": \"\\ud83d\\udfe2\"}", Format::Json).is_ok());
    }

    #[test]
    fn errors_have_positions() {
        let e = ron("(a: 1 b: 2)").err().unwrap_or_else(|| panic!("expected error"));
        assert_eq!(e.span.start, 6);
        let e = parse("", Format::Json).err().unwrap_or_else(|| panic!("expected error"));
        assert!(e.message.contains("empty"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let t = "[".repeat(200) + &"]".repeat(200);
        let e = parse(&t, Format::Json).err().unwrap_or_else(|| panic!("expected error"));
        assert!(e.message.contains("nested"));
    }

    #[test]
    fn numbers() {
        let n = ron("[1_000, -2.5e3, 0x10, inf, -inf]").unwrap_or_else(|e| panic!("{e:?}"));
        let NodeKind::List(items) = n.kind else { panic!("list") };
        let vals: Vec<f64> = items
            .iter()
            .map(|i| match i.kind {
                NodeKind::Number { value, .. } => value,
                _ => f64::NAN,
            })
            .collect();
        assert_eq!(vals[..3], [1000.0, -2500.0, 16.0]);
        assert!(vals[3].is_infinite() && vals[4] < 0.0);
    }
}
