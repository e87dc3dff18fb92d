//! Probes: measurements of a running system, written as workload records (spec §1.13, §3.20).
//!
//! A probe observes one kind of activity and emits [`WorkloadRecord`]s — wide, sparse rows
//! of 65 typed columns — to a [`RecordWriter`], which keeps one Parquet file per subsystem
//! (`<run_dir>/<subsystem>.parquet`). The files are what `ratchet ingest` reads back with
//! [`read_records`], which checks the schema column by column first.
//!
//! * [`OperationProbe`] times one unit of work (latency, MACs, FLOPs, shapes, bytes).
//! * [`EncoderProbe`] times video frames from input to encoded output.
//! * [`GlassToGlassProbe`] follows frames from capture to display.
//! * [`GpuProbe`] samples GPU utilisation and memory in the background (NVML, only with the
//!   `nvml` cargo feature; otherwise it does nothing and says so once).
//!
//! `docs/probes.md` has the columns, the file layout and how to read the files from Python.

mod gpu;
mod probe;
mod record;
mod writer;

pub use gpu::{GpuProbe, GpuStatus};
pub use probe::{
    EncoderProbe, G2gStage, GlassToGlassProbe, OpOptions, OpScope, OperationProbe, monotonic_ns, shape_text,
};
pub use record::{COLUMNS, ColumnDef, ColumnKind, WorkloadRecord, new_record_id, schema, wall_clock_ns};
pub use writer::{BATCH_ROWS, RecordWriter, read_records};

use std::path::PathBuf;

/// Everything that can go wrong writing or reading workload records.
///
/// Errors about a file name it; errors about a value name the column (and the row, when
/// reading).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A value does not fit the type of the column it was set on.
    #[error("column `{column}` takes {expected}{}, not `{value}`", if *.nullable { " or null" } else { "" })]
    ValueType {
        /// The column.
        column: &'static str,
        /// The spec's name of the column type.
        expected: &'static str,
        /// Whether null would have been accepted.
        nullable: bool,
        /// The offending value, as JSON text.
        value: String,
    },
    /// A subsystem name that cannot be a file name.
    #[error("subsystem `{name}` cannot name a file: use letters, digits, `_`, `-` or `.`")]
    InvalidSubsystem {
        /// The name given.
        name: String,
    },
    /// Creating, opening or writing a file failed.
    #[error("`{}`: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Parquet or Arrow layer refused to write a batch or close the file.
    #[error("`{}`: cannot write workload records: {message}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the Parquet writer said.
        message: String,
    },
    /// A record was written after [`RecordWriter::close`].
    #[error("`{}`: the record writer is closed", .path.display())]
    Closed {
        /// The file.
        path: PathBuf,
    },
    /// The file is not readable Parquet (truncated, corrupt, not Parquet at all).
    #[error("`{}`: not a readable parquet file: {message}", .path.display())]
    NotParquet {
        /// The file.
        path: PathBuf,
        /// What the Parquet reader said.
        message: String,
    },
    /// The file is compressed with a codec this build cannot decode.
    #[error(
        "`{}`: column `{column}` is compressed with {codec}; ratchet reads snappy-compressed and uncompressed parquet (write with compression=\"snappy\")",
        .path.display()
    )]
    Compression {
        /// The file.
        path: PathBuf,
        /// The first column chunk found with that codec.
        column: String,
        /// The codec.
        codec: &'static str,
    },
    /// A column of the workload record is absent from the file.
    #[error("`{}`: missing column `{column}` (expected at position {position})", .path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
        /// Its position in the schema, from 0.
        position: usize,
    },
    /// The file has a column that is not one of the 65.
    #[error("`{}`: unexpected column `{column}` at position {position}", .path.display())]
    UnexpectedColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Its position in the file, from 0.
        position: usize,
    },
    /// A column is in the file but not at its place in the schema order.
    #[error("`{}`: column `{column}` is at position {found}, expected {expected}", .path.display())]
    ColumnOrder {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
        /// Its position in the schema, from 0.
        expected: usize,
        /// Its position in the file, from 0.
        found: usize,
    },
    /// A column has another Arrow type than the schema's.
    #[error("`{}`: column `{column}` has type {found}, expected {expected}", .path.display())]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
        /// The schema's Arrow type.
        expected: String,
        /// The file's Arrow type.
        found: String,
    },
    /// A column with a default (never null) holds a null.
    #[error("`{}`: row {row}: column `{column}` is null, but it has a default and may not be", .path.display())]
    NullValue {
        /// The file.
        path: PathBuf,
        /// The row, from 0.
        row: usize,
        /// The column.
        column: &'static str,
    },
    /// Decoding the rows from `row` on failed (corrupt data pages).
    #[error("`{}`: cannot read rows from {row}: {message}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The first row of the batch that failed, from 0.
        row: usize,
        /// What the Parquet reader said.
        message: String,
    },
}
