//! The per-subsystem Parquet file of workload records, and its reader.

use super::ProbeError;
use super::record::{self, COLUMNS, ColumnKind, WorkloadRecord};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Records buffered before they are written as one batch (one Parquet row group).
pub const BATCH_ROWS: usize = 256;

/// Writes workload records of one subsystem to `<run_dir>/<subsystem>.parquet`.
///
/// Records are buffered and written as one record batch (one row group) when the buffer
/// reaches [`BATCH_ROWS`], on [`flush`](Self::flush) and on [`close`](Self::close) (and, best
/// effort, on drop); `extras` are dropped. Columns are Snappy-compressed (pyarrow's default).
/// The file is readable once closed (Parquet keeps
/// its index in a footer). All methods take `&self`: share it between threads in an `Arc`.
pub struct RecordWriter {
    path: PathBuf,
    subsystem: String,
    state: Mutex<State>,
}

struct State {
    buffer: Vec<WorkloadRecord>,
    /// `None` once closed.
    writer: Option<ArrowWriter<File>>,
    rows_written: u64,
    row_groups: usize,
}

impl RecordWriter {
    /// Creates `run_dir` (and its parents) and the file `<run_dir>/<subsystem>.parquet`,
    /// replacing an existing one.
    pub fn create(run_dir: impl AsRef<Path>, subsystem: &str) -> Result<Self, ProbeError> {
        if !valid_subsystem(subsystem) {
            return Err(ProbeError::InvalidSubsystem { name: subsystem.to_owned() });
        }
        let dir = run_dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| ProbeError::Io { path: dir.to_path_buf(), source })?;
        let path = dir.join(format!("{subsystem}.parquet"));
        let file = File::create(&path).map_err(|source| ProbeError::Io { path: path.clone(), source })?;
        // Snappy, as pyarrow writes by default
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(file, record::schema(), Some(props))
            .map_err(|e| ProbeError::Write { path: path.clone(), message: e.to_string() })?;
        Ok(RecordWriter {
            path,
            subsystem: subsystem.to_owned(),
            state: Mutex::new(State {
                buffer: Vec::with_capacity(BATCH_ROWS),
                writer: Some(writer),
                rows_written: 0,
                row_groups: 0,
            }),
        })
    }

    /// The file this writer writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The subsystem named in the file name.
    pub fn subsystem(&self) -> &str {
        &self.subsystem
    }

    /// Adds one record; writes the buffer as a batch when it reaches [`BATCH_ROWS`].
    pub fn write(&self, record: WorkloadRecord) -> Result<(), ProbeError> {
        let mut state = self.lock();
        if state.writer.is_none() {
            return Err(ProbeError::Closed { path: self.path.clone() });
        }
        state.buffer.push(record);
        if state.buffer.len() >= BATCH_ROWS { self.write_buffer(&mut state) } else { Ok(()) }
    }

    /// Writes the buffered records as one batch, if there are any, and pushes the bytes to
    /// the operating system.
    pub fn flush(&self) -> Result<(), ProbeError> {
        let mut state = self.lock();
        if state.writer.is_none() {
            return Err(ProbeError::Closed { path: self.path.clone() });
        }
        self.write_buffer(&mut state)
    }

    /// Writes the buffered records and the file footer; later writes fail, a second close
    /// does nothing.
    pub fn close(&self) -> Result<(), ProbeError> {
        let mut state = self.lock();
        if state.writer.is_none() {
            return Ok(());
        }
        let flushed = self.write_buffer(&mut state);
        let closed = match state.writer.take() {
            Some(w) => w.close().map(|_| ()).map_err(|e| self.write_error(e)),
            None => Ok(()),
        };
        flushed.and(closed)
    }

    /// Records in the buffer, not yet written.
    pub fn buffered(&self) -> usize {
        self.lock().buffer.len()
    }

    /// Records written to the file so far (in batches).
    pub fn rows_written(&self) -> u64 {
        self.lock().rows_written
    }

    /// Batches (Parquet row groups) written to the file so far.
    pub fn row_groups(&self) -> usize {
        self.lock().row_groups
    }

    /// The state, also after another thread panicked while holding it (the buffer is a
    /// plain list; the worst case is a batch written twice or not at all).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_error(&self, e: impl std::fmt::Display) -> ProbeError {
        ProbeError::Write { path: self.path.clone(), message: e.to_string() }
    }

    fn write_buffer(&self, state: &mut State) -> Result<(), ProbeError> {
        if state.buffer.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(&mut state.buffer);
        let batch = record::to_batch(&records).map_err(|e| self.write_error(e))?;
        let Some(writer) = state.writer.as_mut() else {
            return Err(ProbeError::Closed { path: self.path.clone() });
        };
        writer.write(&batch).map_err(|e| self.write_error(e))?;
        // one row group per batch, pushed to the OS so a crash loses at most the buffer
        writer.flush().map_err(|e| self.write_error(e))?;
        writer.sync().map_err(|source| ProbeError::Io { path: self.path.clone(), source })?;
        state.rows_written += records.len() as u64;
        state.row_groups += 1;
        state.buffer = records;
        state.buffer.clear();
        Ok(())
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        // best effort: a drop cannot report an error
        let _ = self.close();
    }
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter").field("path", &self.path).field("subsystem", &self.subsystem).finish()
    }
}

/// A subsystem name is a plain file name: letters, digits, `_`, `-`, `.`, not starting
/// with `.`.
fn valid_subsystem(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Reads every record of a workload-record file (the writer's, or any with the same schema).
///
/// The file's schema is checked column by column first: every one of the 65 columns must be
/// there, in order, with its Arrow type (a string column may also be `LargeUtf8`,
/// `Utf8View` or dictionary-encoded, as pandas and polars write them); nullability may
/// differ, but a null in a column with a default is an error naming the row. `extras` come
/// back empty.
pub fn read_records(path: impl AsRef<Path>) -> Result<Vec<WorkloadRecord>, ProbeError> {
    let path = path.as_ref();
    let not_parquet =
        |e: parquet::errors::ParquetError| ProbeError::NotParquet { path: path.to_path_buf(), message: e.to_string() };
    let file = File::open(path).map_err(|source| ProbeError::Io { path: path.to_path_buf(), source })?;
    let mut metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(not_parquet)?;
    check_codecs(path, metadata.metadata())?;
    if let Some(plain) = check_schema(path, metadata.schema())? {
        // read the other string flavours as plain Utf8
        metadata =
            ArrowReaderMetadata::try_new(metadata.metadata().clone(), ArrowReaderOptions::new().with_schema(plain))
                .map_err(not_parquet)?;
    }
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata)
        .with_batch_size(8192)
        .build()
        .map_err(not_parquet)?;
    let mut out = Vec::new();
    for batch in reader {
        let batch =
            batch.map_err(|e| ProbeError::Read { path: path.to_path_buf(), row: out.len(), message: e.to_string() })?;
        let first = out.len();
        out.extend(record::records_from_batch(path, &batch, first)?);
    }
    Ok(out)
}

/// Refuses, before decoding anything, column chunks compressed with a codec this build
/// lacks (it has Snappy, pyarrow's default, and uncompressed).
fn check_codecs(path: &Path, metadata: &ParquetMetaData) -> Result<(), ProbeError> {
    for rg in metadata.row_groups() {
        for chunk in rg.columns() {
            let codec = match chunk.compression() {
                Compression::UNCOMPRESSED | Compression::SNAPPY => continue,
                Compression::GZIP(_) => "gzip",
                Compression::LZO => "lzo",
                Compression::BROTLI(_) => "brotli",
                Compression::LZ4 => "lz4",
                Compression::ZSTD(_) => "zstd",
                Compression::LZ4_RAW => "lz4_raw",
            };
            return Err(ProbeError::Compression {
                path: path.to_path_buf(),
                column: chunk.column_path().string(),
                codec,
            });
        }
    }
    Ok(())
}

/// Whether `dt` holds strings: `Utf8`, or a flavour the reader can read as `Utf8`.
fn is_string(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => {
            matches!(**values, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        }
        _ => false,
    }
}

/// Checks a file's Arrow schema against [`COLUMNS`]: the first difference, located. When
/// the columns fit but some strings are of another flavour, returns the schema to read the
/// file with (those columns as `Utf8`).
fn check_schema(path: &Path, found: &SchemaRef) -> Result<Option<SchemaRef>, ProbeError> {
    let fields = found.fields();
    let mut other_strings = false;
    for (position, col) in COLUMNS.iter().enumerate() {
        let Some((at, field)) = fields.find(col.name) else {
            return Err(ProbeError::MissingColumn { path: path.to_path_buf(), column: col.name, position });
        };
        let want = col.kind.data_type();
        if *field.data_type() != want {
            if col.kind == ColumnKind::Utf8 && is_string(field.data_type()) {
                other_strings = true;
            } else {
                return Err(ProbeError::ColumnType {
                    path: path.to_path_buf(),
                    column: col.name,
                    expected: want.to_string(),
                    found: field.data_type().to_string(),
                });
            }
        }
        if at != position {
            // an unknown column before it explains the shift better than the order
            if let Some((p, f)) = fields.iter().enumerate().take(at).find(|(_, f)| !WorkloadRecord::is_column(f.name()))
            {
                return Err(ProbeError::UnexpectedColumn {
                    path: path.to_path_buf(),
                    column: f.name().clone(),
                    position: p,
                });
            }
            return Err(ProbeError::ColumnOrder {
                path: path.to_path_buf(),
                column: col.name,
                expected: position,
                found: at,
            });
        }
    }
    // all 65 are in place: anything after them is unknown or a duplicate
    if let Some(f) = fields.get(COLUMNS.len()) {
        return Err(ProbeError::UnexpectedColumn {
            path: path.to_path_buf(),
            column: f.name().clone(),
            position: COLUMNS.len(),
        });
    }
    if !other_strings {
        return Ok(None);
    }
    let plain: Vec<Field> =
        fields.iter().zip(COLUMNS).map(|(f, c)| Field::new(f.name(), c.kind.data_type(), f.is_nullable())).collect();
    Ok(Some(Arc::new(Schema::new_with_metadata(plain, found.metadata().clone()))))
}
