//! A GGUF file's header: its metadata and its tensor table (names, shapes, ggml types),
//! read without touching the weights. The format is llama.cpp's (ggml/docs/gguf.md, versions
//! 2 and 3): magic `GGUF`, version, tensor count, metadata count, the metadata key-value
//! pairs, then one entry per tensor. Every count and length is checked against what is left
//! of the input and against `limits`, so a truncated or lying header is an error naming the
//! byte offset, never an allocation it asks for or a panic.

use serde_json::{Map, Number, Value};

/// Most metadata entries and tensors one header may declare.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// Longest string (a key, a value, a tensor name), in bytes.
pub const MAX_STRING: u64 = 1 << 20;
/// Most elements of one metadata array (a tokenizer's vocabulary is ~260 k).
pub const MAX_ARRAY: u64 = 1 << 24;
/// Most dimensions of a tensor (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: u32 = 4;
/// Arrays longer than this are kept as their length only (`{"len": n}`): the importer needs
/// the vocabulary's size, not its tokens.
const KEEP_ARRAY: u64 = 64;

/// One tensor of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Shape, innermost first.
    pub dims: Vec<u64>,
    /// ggml type id.
    pub ggml_type: u32,
}

impl TensorInfo {
    /// Elements (the product of the shape), saturating.
    pub fn elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |a, d| a.saturating_mul(*d))
    }
}

/// A header: version, metadata (as JSON, arrays over 64 elements kept as `{"len": n}`),
/// tensors, and the bytes the header took.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata by key.
    pub metadata: Map<String, Value>,
    /// The tensor table, in file order.
    pub tensors: Vec<TensorInfo>,
}

/// Why a header cannot be read: what, at which byte.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("byte {offset}: {message}")]
pub struct GgufError {
    /// Byte offset in the file.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, GgufError> {
        Err(GgufError { offset: self.pos, message: message.into() })
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return self.err(format!("{what} needs {n} bytes; the file has {left} left (truncated?)"));
        }
        let n = n as usize;
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn count(&mut self, what: &str, max: u64) -> Result<u64, GgufError> {
        let at = self.pos;
        let n = self.u64(what)?;
        if n > max {
            return Err(GgufError { offset: at, message: format!("{what} is {n}; the limit is {max}") });
        }
        Ok(n)
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let n = self.count(&format!("the length of {what}"), MAX_STRING)?;
        let at = self.pos;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| GgufError { offset: at, message: format!("{what} is not UTF-8") })
    }

    /// One metadata value of type `t`.
    fn value(&mut self, t: u32, depth: u8) -> Result<Value, GgufError> {
        let num = |x: f64| Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null);
        Ok(match t {
            0 => Value::from(self.array::<1>("a u8")?[0]),
            1 => Value::from(i8::from_le_bytes(self.array("an i8")?)),
            2 => Value::from(u16::from_le_bytes(self.array("a u16")?)),
            3 => Value::from(i16::from_le_bytes(self.array("an i16")?)),
            4 => Value::from(self.u32("a u32")?),
            5 => Value::from(i32::from_le_bytes(self.array("an i32")?)),
            6 => num(f64::from(f32::from_le_bytes(self.array("an f32")?))),
            7 => match self.array::<1>("a bool")?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return self.err(format!("a bool is {b}; it must be 0 or 1")),
            },
            8 => Value::String(self.string("a string value")?),
            9 => {
                if depth > 2 {
                    return self.err("arrays nest more than 3 deep");
                }
                let inner = self.u32("an array's element type")?;
                let n = self.count("an array's length", MAX_ARRAY)?;
                let mut kept = Vec::new();
                for i in 0..n {
                    let v = self.value(inner, depth + 1)?;
                    if i < KEEP_ARRAY {
                        kept.push(v);
                    }
                }
                if n > KEEP_ARRAY {
                    let mut m = Map::new();
                    m.insert("len".into(), Value::from(n));
                    Value::Object(m)
                } else {
                    Value::Array(kept)
                }
            }
            10 => Value::from(self.u64("a u64")?),
            11 => Value::from(i64::from_le_bytes(self.array("an i64")?)),
            12 => num(f64::from_le_bytes(self.array("an f64")?)),
            t => return self.err(format!("metadata value type {t} is not one of GGUF's 0-12")),
        })
    }
}

/// Reads the header of a GGUF file whose first bytes are `bytes` (the whole header must be
/// there; the weights need not be).
pub fn read_header(bytes: &[u8]) -> Result<Header, GgufError> {
    let mut c = Cursor { bytes, pos: 0 };
    if c.array::<4>("the magic")? != *b"GGUF" {
        return Err(GgufError { offset: 0, message: "not a GGUF file (no `GGUF` magic)".into() });
    }
    let version = c.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(GgufError { offset: 4, message: format!("GGUF version {version}; this reader knows 2 and 3") });
    }
    let tensors = c.count("the tensor count", MAX_ENTRIES)?;
    let entries = c.count("the metadata count", MAX_ENTRIES)?;
    let mut metadata = Map::new();
    for _ in 0..entries {
        let at = c.pos;
        let key = c.string("a metadata key")?;
        let t = c.u32("a metadata value type")?;
        let v = c.value(t, 0)?;
        if metadata.insert(key.clone(), v).is_some() {
            return Err(GgufError { offset: at, message: format!("metadata key `{key}` appears twice") });
        }
    }
    let mut table = Vec::new();
    for _ in 0..tensors {
        let name = c.string("a tensor name")?;
        let at = c.pos;
        let n = c.u32("a tensor's dimension count")?;
        if n == 0 || n > MAX_DIMS {
            return Err(GgufError {
                offset: at,
                message: format!("tensor `{name}` has {n} dimensions; 1 to {MAX_DIMS} expected"),
            });
        }
        let mut dims = Vec::with_capacity(n as usize);
        for _ in 0..n {
            dims.push(c.u64("a tensor dimension")?);
        }
        let ggml_type = c.u32("a tensor type")?;
        let _offset = c.u64("a tensor offset")?;
        table.push(TensorInfo { name, dims, ggml_type });
    }
    Ok(Header { version, metadata, tensors: table })
}

/// Writes a header (metadata and tensor table, no data): for tests and fixtures.
pub fn write_header(metadata: &[(&str, Value)], tensors: &[TensorInfo]) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }
    fn value(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Bool(b) => {
                out.extend(7u32.to_le_bytes());
                out.push(u8::from(*b));
            }
            Value::Number(n) if n.is_u64() => {
                out.extend(10u32.to_le_bytes());
                out.extend(n.as_u64().unwrap_or_default().to_le_bytes());
            }
            Value::Number(n) => {
                out.extend(12u32.to_le_bytes());
                out.extend(n.as_f64().unwrap_or_default().to_le_bytes());
            }
            Value::String(s) => {
                out.extend(8u32.to_le_bytes());
                string(out, s);
            }
            Value::Array(a) => {
                out.extend(9u32.to_le_bytes());
                out.extend(8u32.to_le_bytes());
                out.extend((a.len() as u64).to_le_bytes());
                for x in a {
                    string(out, x.as_str().unwrap_or_default());
                }
            }
            _ => {
                out.extend(8u32.to_le_bytes());
                string(out, "");
            }
        }
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        string(&mut out, k);
        value(&mut out, v);
    }
    let mut offset = 0u64;
    for t in tensors {
        string(&mut out, &t.name);
        out.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(t.ggml_type.to_le_bytes());
        out.extend(offset.to_le_bytes());
        offset += 32;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(name: &str, dims: &[u64], ty: u32) -> TensorInfo {
        TensorInfo { name: name.into(), dims: dims.to_vec(), ggml_type: ty }
    }

    #[test]
    fn a_written_header_reads_back() {
        let meta = [("general.architecture", json!("llama")), ("llama.block_count", json!(2)), ("f", json!(0.5))];
        let tensors = [t("token_embd.weight", &[64, 100], 2), t("blk.0.attn_q.weight", &[64, 64], 12)];
        let h = read_header(&write_header(&meta, &tensors)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.version, 3);
        assert_eq!(h.metadata["llama.block_count"], json!(2));
        assert_eq!(h.tensors, tensors.to_vec());
        assert_eq!(h.tensors[0].elements(), 6400);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let meta = [("general.architecture", json!("llama")), ("tok", json!(["a", "b"]))];
        let bytes = write_header(&meta, &[t("x", &[4, 4], 0)]);
        for n in 0..bytes.len() {
            assert!(read_header(&bytes[..n]).is_err(), "{n}");
        }
        assert!(read_header(&bytes).is_ok());
    }

    #[test]
    fn lying_counts_are_refused_before_allocating() {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(u64::MAX.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        let e = read_header(&b).unwrap_err();
        assert!(e.message.contains("the tensor count is 18446744073709551615"), "{e}");
        let mut s = b"GGUF".to_vec();
        s.extend(3u32.to_le_bytes());
        s.extend(0u64.to_le_bytes());
        s.extend(1u64.to_le_bytes());
        s.extend((1u64 << 40).to_le_bytes());
        assert!(read_header(&s).unwrap_err().message.contains("the length of a metadata key"));
    }
}
