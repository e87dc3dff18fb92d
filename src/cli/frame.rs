//! Column-oriented results (one row per what-if point) and their CSV and Parquet forms.

use parquet::basic::{ConvertedType, Repetition, Type as Physical};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::path::Path;
use std::sync::Arc;

/// One column.
#[derive(Debug, Clone)]
pub enum Col {
    /// Doubles.
    F64(Vec<Option<f64>>),
    /// Integers.
    I64(Vec<Option<i64>>),
    /// Booleans.
    Bool(Vec<Option<bool>>),
    /// UTF-8 strings.
    Str(Vec<Option<String>>),
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::F64(v) => v.len(),
            Col::I64(v) => v.len(),
            Col::Bool(v) => v.len(),
            Col::Str(v) => v.len(),
        }
    }

    fn text(&self, i: usize) -> String {
        match self {
            Col::F64(v) => v.get(i).copied().flatten().map(crate::numeric::py_float_repr).unwrap_or_default(),
            Col::I64(v) => v.get(i).copied().flatten().map(|x| x.to_string()).unwrap_or_default(),
            Col::Bool(v) => v.get(i).copied().flatten().map(|x| x.to_string()).unwrap_or_default(),
            Col::Str(v) => v.get(i).cloned().flatten().unwrap_or_default(),
        }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// Column names.
    pub names: Vec<String>,
    /// Columns.
    pub cols: Vec<Col>,
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

impl Frame {
    /// Adds a column.
    pub fn push(&mut self, name: impl Into<String>, c: Col) {
        self.names.push(name.into());
        self.cols.push(c);
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.cols.first().map_or(0, Col::len)
    }

    /// RFC 4180 CSV with a header row.
    pub fn csv(&self) -> String {
        let mut s = self.names.iter().map(|n| csv_quote(n)).collect::<Vec<_>>().join(",");
        s.push('\n');
        for i in 0..self.rows() {
            let row: Vec<String> = self.cols.iter().map(|c| csv_quote(&c.text(i))).collect();
            s.push_str(&row.join(","));
            s.push('\n');
        }
        s
    }

    /// Writes a Parquet file (one row group, optional columns, uncompressed).
    pub fn parquet(&self, path: &Path) -> Result<(), String> {
        let mut fields = Vec::new();
        for (n, c) in self.names.iter().zip(&self.cols) {
            let b = match c {
                Col::F64(_) => Type::primitive_type_builder(n, Physical::DOUBLE),
                Col::I64(_) => Type::primitive_type_builder(n, Physical::INT64),
                Col::Bool(_) => Type::primitive_type_builder(n, Physical::BOOLEAN),
                Col::Str(_) => {
                    Type::primitive_type_builder(n, Physical::BYTE_ARRAY).with_converted_type(ConvertedType::UTF8)
                }
            };
            let t = b.with_repetition(Repetition::OPTIONAL).build().map_err(|e| e.to_string())?;
            fields.push(Arc::new(t));
        }
        let schema =
            Type::group_type_builder("ratchet_whatif").with_fields(fields).build().map_err(|e| e.to_string())?;
        let file = std::fs::File::create(path).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        let props = Arc::new(
            WriterProperties::builder().set_created_by(format!("ratchet {}", crate::version::ENGINE_VERSION)).build(),
        );
        let mut w = SerializedFileWriter::new(file, Arc::new(schema), props).map_err(|e| e.to_string())?;
        let mut rg = w.next_row_group().map_err(|e| e.to_string())?;
        for c in &self.cols {
            let Some(mut cw) = rg.next_column().map_err(|e| e.to_string())? else { break };
            fn levels<T: Clone>(v: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
                let defs = v.iter().map(|x| i16::from(x.is_some())).collect();
                (v.iter().filter_map(Clone::clone).collect(), defs)
            }
            let r = match c {
                Col::F64(v) => {
                    let (vals, defs) = levels(v);
                    cw.typed::<DoubleType>().write_batch(&vals, Some(&defs), None)
                }
                Col::I64(v) => {
                    let (vals, defs) = levels(v);
                    cw.typed::<Int64Type>().write_batch(&vals, Some(&defs), None)
                }
                Col::Bool(v) => {
                    let (vals, defs) = levels(v);
                    cw.typed::<BoolType>().write_batch(&vals, Some(&defs), None)
                }
                Col::Str(v) => {
                    let defs: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
                    let vals: Vec<ByteArray> = v.iter().flatten().map(|s| ByteArray::from(s.as_str())).collect();
                    cw.typed::<ByteArrayType>().write_batch(&vals, Some(&defs), None)
                }
            };
            r.map_err(|e| e.to_string())?;
            cw.close().map_err(|e| e.to_string())?;
        }
        rg.close().map_err(|e| e.to_string())?;
        w.close().map_err(|e| e.to_string())?;
        Ok(())
    }
}
