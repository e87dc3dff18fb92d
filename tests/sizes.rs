//! Size limits that keep the code readable: no file of `src/` over 1,200 lines, no function
//! over 200 lines (its signature to its closing brace, tests included).

mod common;

use common::rust_files;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 1200;
const MAX_FN_LINES: usize = 200;

/// The text with comments, string and char literals blanked (same length, same lines), so
/// braces inside them do not count.
fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                out.push(if b[i] == b'\n' { b'\n' } else { b' ' });
                i += 1;
            }
            out.extend_from_slice(b"  ");
            i += 2;
        } else if c == b'r' && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"')) && !ident(b, i) {
            // raw string r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let mut k = j + 1;
            while k < b.len() && !b[k..].starts_with(&close) {
                k += 1;
            }
            let end = (k + close.len()).min(b.len());
            for &x in &b[i..end] {
                out.push(if x == b'\n' { b'\n' } else { b' ' });
            }
            i = end;
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    out.push(b' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(if b[i] == b'\n' { b'\n' } else { b' ' });
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' && char_literal(b, i) {
            let mut j = i + 1;
            if b.get(j) == Some(&b'\\') {
                j += 1;
            }
            while j < b.len() && b[j] != b'\'' {
                j += 1;
            }
            out.extend(std::iter::repeat_n(b' ', j.min(b.len() - 1) + 1 - i));
            i = j + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// `'x'` or `'\n'` (not a lifetime `'a`).
fn char_literal(b: &[u8], i: usize) -> bool {
    match (b.get(i + 1), b.get(i + 2), b.get(i + 3)) {
        (Some(b'\\'), _, _) => true,
        (Some(_), Some(b'\''), _) => true,
        // a multi-byte UTF-8 character
        (Some(x), _, _) if *x >= 0x80 => b[i + 1..].iter().take(6).any(|c| *c == b'\''),
        _ => false,
    }
}

/// (name, first line, lines) of every function with a body.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let t = blank(text);
    let b = t.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(k) = t[i..].find("fn ") {
        let at = i + k;
        i = at + 3;
        if ident(b, at) {
            continue;
        }
        let name: String = t[at + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if name.is_empty() {
            continue;
        }
        // the body: the first `{` before a `;` at depth 0 of parentheses
        let mut j = at;
        let mut paren = 0i32;
        let mut open = None;
        while j < b.len() {
            match b[j] {
                b'(' | b'[' => paren += 1,
                b')' | b']' => paren -= 1,
                b';' if paren == 0 => break,
                b'{' if paren == 0 => {
                    open = Some(j);
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let Some(o) = open else { continue };
        let mut depth = 0usize;
        let mut end = b.len();
        for (m, c) in b[o..].iter().enumerate() {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = o + m;
                        break;
                    }
                }
                _ => {}
            }
        }
        let first = t[..at].matches('\n').count() + 1;
        let last = t[..end].matches('\n').count() + 1;
        out.push((name, first, last - first + 1));
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_source_file_is_over_the_limit() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut over: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap_or_default().lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    over.sort();
    assert!(over.is_empty(), "files over {MAX_FILE_LINES} lines: {over:#?}");
}

#[test]
fn no_function_is_over_the_limit() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut over = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (name, line, n) in functions(&text) {
            if n > MAX_FN_LINES {
                over.push(format!("{}:{line} fn {name} ({n} lines)", f.display()));
            }
        }
    }
    over.sort();
    assert!(over.is_empty(), "functions over {MAX_FN_LINES} lines: {over:#?}");
}

#[test]
fn the_counter_sees_bodies_not_braces_in_strings_or_comments() {
    let text = "fn a() {\n    let s = \"}{\";\n    // }\n    let c = '}';\n}\nfn b(x: &'static str) -> u8 { 1 }\ntrait T { fn c(&self); }\n";
    let f = functions(text);
    assert_eq!(f, vec![("a".to_string(), 1, 5), ("b".to_string(), 6, 1)]);
    let raw = "fn r() {\n    let s = r#\"{{{\"#;\n}\n";
    assert_eq!(functions(raw), vec![("r".to_string(), 1, 3)]);
}
