//! The workload record (spec §1.13, §3.20): one probe observation, wide and sparse.
//!
//! The 65 columns are listed once, in `with_columns!`: the struct, the Arrow schema, the
//! column builders, the batch reader and [`WorkloadRecord::set`] are all generated from
//! that one table, so their order cannot drift apart.
//!
//! §3.20 heads its table "66 columns" but lists 65: the record's 66th field is `extras`
//! (§1.13), which is not a column.

use super::ProbeError;
use arrow_array::builder::{ArrayBuilder, BooleanBuilder, Float32Builder, Int64Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, BooleanArray, Float32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The column table: `name: ArrowKind, required|nullable, "doc";` in the spec's order.
///
/// `required` marks the six columns with a default (§1.13); they are never null.
macro_rules! with_columns {
    ($m:ident) => {
        $m! {
            record_id: Utf8, required, "Unique id of this record (UUID-4 text, fresh per record).";
            run_id: Utf8, required, "The run this record belongs to (default empty).";
            t_wall_ns: Int64, required, "Wall-clock time in ns since the Unix epoch when the record was created.";
            t_sim_ns: Int64, nullable, "Simulated time in ns, when the run is simulated.";
            subsystem: Utf8, required, "The subsystem that emitted the record (default empty).";
            operation: Utf8, required, "The operation observed (default empty).";
            phase: Utf8, required, "The run phase at the time of the observation (default `idle`).";
            latency_ns: Int64, nullable, "Duration of the operation in monotonic-clock ns.";
            macs: Int64, nullable, "Multiply-accumulates performed by the operation.";
            flops: Int64, nullable, "Floating-point operations performed by the operation.";
            precision: Utf8, nullable, "Numeric precision (`bf16`, `fp16`, `fp32`, `int8`, `int4`, `mixed`).";
            gpu_util_pct: Float32, nullable, "GPU utilisation in percent.";
            gpu_mem_used_mb: Float32, nullable, "GPU memory in use, in MiB.";
            gpu_mem_bw_gbps: Float32, nullable, "GPU memory bandwidth in GB/s.";
            sm_active_pct: Float32, nullable, "Streaming-multiprocessor activity in percent.";
            tensor_core_active_pct: Float32, nullable, "Tensor-core activity in percent.";
            nvenc_util_pct: Float32, nullable, "Hardware video encoder utilisation in percent.";
            nvdec_util_pct: Float32, nullable, "Hardware video decoder utilisation in percent.";
            input_bytes: Int64, nullable, "Bytes read by the operation.";
            output_bytes: Int64, nullable, "Bytes produced by the operation.";
            input_shape: Utf8, nullable, "Shape of the input, as text.";
            output_shape: Utf8, nullable, "Shape of the output, as text.";
            src_subsystem: Utf8, nullable, "The subsystem the data came from.";
            dst_subsystem: Utf8, nullable, "The subsystem the data goes to.";
            encode_codec: Utf8, nullable, "Video codec of an encoded frame.";
            encode_bitrate_kbps: Float32, nullable, "Target bitrate of the encoder in kbit/s.";
            encode_frame_size_bytes: Int64, nullable, "Size of an encoded frame in bytes.";
            encode_keyframe: Boolean, nullable, "Whether the encoded frame is a keyframe.";
            link_profile: Utf8, nullable, "Radio link profile (`wifi_suburban`, `5g_lte`, `degraded`).";
            link_rtt_ms: Float32, nullable, "Link round-trip time in ms.";
            link_loss_pct: Float32, nullable, "Link packet loss in percent.";
            link_throughput_mbps: Float32, nullable, "Link throughput in Mbit/s.";
            pos_x: Float32, nullable, "Position, x.";
            pos_y: Float32, nullable, "Position, y.";
            pos_z: Float32, nullable, "Position, z.";
            target_locked: Boolean, nullable, "Whether the tracker holds a target lock.";
            radar_n_points: Int64, nullable, "Radar points in the frame.";
            radar_n_clusters: Int64, nullable, "Radar clusters in the frame.";
            radar_n_tracks: Int64, nullable, "Radar tracks in the frame.";
            radar_format: Utf8, nullable, "Radar data format (`raw_adc`, `range_doppler`, `point_cloud`, `tracks`).";
            g2g_capture_ns: Int64, nullable, "Glass-to-glass stamp: capture (monotonic ns).";
            g2g_isp_done_ns: Int64, nullable, "Glass-to-glass stamp: ISP done (monotonic ns).";
            g2g_encode_done_ns: Int64, nullable, "Glass-to-glass stamp: encode done (monotonic ns).";
            g2g_tx_done_ns: Int64, nullable, "Glass-to-glass stamp: transmit done (monotonic ns).";
            g2g_rx_done_ns: Int64, nullable, "Glass-to-glass stamp: receive done (monotonic ns).";
            g2g_decode_done_ns: Int64, nullable, "Glass-to-glass stamp: decode done (monotonic ns).";
            g2g_display_ns: Int64, nullable, "Glass-to-glass stamp: display (monotonic ns).";
            g2g_total_ms: Float32, nullable, "Glass-to-glass latency, display − capture, in ms.";
            llm_prompt_tokens: Int64, nullable, "LLM prompt tokens.";
            llm_output_tokens: Int64, nullable, "LLM output tokens.";
            llm_kv_cache_mb: Float32, nullable, "LLM KV-cache size in MiB.";
            llm_tokens_per_sec: Float32, nullable, "LLM decode rate in tokens/s.";
            isp_stage: Utf8, nullable, "ISP stage (`demosaic`, `blc`, `awb`, `tonemap`, `ldc`, `hdr_merge`, `scaler`).";
            isp_input_format: Utf8, nullable, "ISP input format (`bayer_rggb`, `bayer_grbg`, `yuv422`, `rgb888`).";
            isp_output_format: Utf8, nullable, "ISP output format (`nv12`, `yuv420`, `rgb888`, `tensor_chw`).";
            isp_line_rate_mpps: Float32, nullable, "ISP line rate in Mpixel/s.";
            isp_pixels_processed: Int64, nullable, "Pixels processed by the ISP stage.";
            isp_lanes_used: Int64, nullable, "Sensor lanes used.";
            isp_hdr_exposures: Int64, nullable, "HDR exposures (1 = SDR, 2–4 = HDR merge).";
            dsp_op: Utf8, nullable, "DSP operation (`pyramid_build`, `warp`, `flow_init`, `hdr_merge`, `distortion`).";
            dsp_pyramid_levels: Int64, nullable, "DSP pyramid levels.";
            dsp_kernel_size: Int64, nullable, "DSP kernel size.";
            dsp_simd_lanes: Int64, nullable, "DSP SIMD lanes.";
            dsp_cycles: Int64, nullable, "DSP cycles spent.";
            dsp_clock_mhz: Float32, nullable, "DSP clock in MHz.";
        }
    };
}

/// The Rust type of a column cell: required columns are plain, the others `Option`.
macro_rules! cell_ty {
    (Utf8, required) => { String };
    (Int64, required) => { i64 };
    (Utf8, nullable) => { Option<String> };
    (Int64, nullable) => { Option<i64> };
    (Float32, nullable) => { Option<f32> };
    (Boolean, nullable) => { Option<bool> };
}

/// The Arrow type of a column, as the spec names them (string, int64, float32, bool).
///
/// Kept separate from [`DataType`] so a column table can be a `const` and so error messages
/// can use the spec's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `string`: Arrow `Utf8`.
    Utf8,
    /// `int64`: Arrow `Int64`.
    Int64,
    /// `float32`: Arrow `Float32`.
    Float32,
    /// `bool`: Arrow `Boolean`.
    Boolean,
}

impl ColumnKind {
    /// The Arrow data type written for this kind.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::Utf8 => DataType::Utf8,
            ColumnKind::Int64 => DataType::Int64,
            ColumnKind::Float32 => DataType::Float32,
            ColumnKind::Boolean => DataType::Boolean,
        }
    }

    /// The spec's name of the kind (`string`, `int64`, `float32`, `bool`).
    pub fn spec_name(self) -> &'static str {
        match self {
            ColumnKind::Utf8 => "string",
            ColumnKind::Int64 => "int64",
            ColumnKind::Float32 => "float32",
            ColumnKind::Boolean => "bool",
        }
    }
}

/// One column of the workload record: what the schema and the reader check against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name.
    pub name: &'static str,
    /// Arrow type.
    pub kind: ColumnKind,
    /// Whether the column may be null (false for the six columns with a default).
    pub nullable: bool,
}

/// A value type a column cell can hold (`String`, `i64`, `f32`, `bool`).
trait Scalar: Sized + Clone {
    type Builder: ArrayBuilder;
    type Array: Array + 'static;
    const KIND: ColumnKind;
    fn builder(capacity: usize) -> Self::Builder;
    fn append(b: &mut Self::Builder, v: Option<&Self>);
    fn value(a: &Self::Array, row: usize) -> Self;
    fn from_json(v: &Value) -> Option<Self>;
    fn to_json(&self) -> Value;
}

impl Scalar for String {
    type Builder = StringBuilder;
    type Array = StringArray;
    const KIND: ColumnKind = ColumnKind::Utf8;
    fn builder(capacity: usize) -> StringBuilder {
        StringBuilder::with_capacity(capacity, capacity * 16)
    }
    fn append(b: &mut StringBuilder, v: Option<&Self>) {
        b.append_option(v)
    }
    fn value(a: &StringArray, row: usize) -> Self {
        a.value(row).to_owned()
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_str().map(str::to_owned)
    }
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl Scalar for i64 {
    type Builder = Int64Builder;
    type Array = Int64Array;
    const KIND: ColumnKind = ColumnKind::Int64;
    fn builder(capacity: usize) -> Int64Builder {
        Int64Builder::with_capacity(capacity)
    }
    fn append(b: &mut Int64Builder, v: Option<&Self>) {
        b.append_option(v.copied())
    }
    fn value(a: &Int64Array, row: usize) -> Self {
        a.value(row)
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_i64()
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl Scalar for f32 {
    type Builder = Float32Builder;
    type Array = Float32Array;
    const KIND: ColumnKind = ColumnKind::Float32;
    fn builder(capacity: usize) -> Float32Builder {
        Float32Builder::with_capacity(capacity)
    }
    fn append(b: &mut Float32Builder, v: Option<&Self>) {
        b.append_option(v.copied())
    }
    fn value(a: &Float32Array, row: usize) -> Self {
        a.value(row)
    }
    fn from_json(v: &Value) -> Option<Self> {
        // any JSON number; float32 is the column's precision
        v.as_f64().map(|x| x as f32)
    }
    fn to_json(&self) -> Value {
        // NaN and infinities have no JSON form: null
        serde_json::Number::from_f64(f64::from(*self)).map_or(Value::Null, Value::Number)
    }
}

impl Scalar for bool {
    type Builder = BooleanBuilder;
    type Array = BooleanArray;
    const KIND: ColumnKind = ColumnKind::Boolean;
    fn builder(capacity: usize) -> BooleanBuilder {
        BooleanBuilder::with_capacity(capacity)
    }
    fn append(b: &mut BooleanBuilder, v: Option<&Self>) {
        b.append_option(v.copied())
    }
    fn value(a: &BooleanArray, row: usize) -> Self {
        a.value(row)
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_bool()
    }
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

/// A column cell: a required `S` or a nullable `Option<S>`.
trait Cell: Sized {
    type S: Scalar;
    const NULLABLE: bool;
    fn get(&self) -> Option<&Self::S>;
    /// `None` when the value is null and the column is required.
    fn from_value(v: Option<Self::S>) -> Option<Self>;
}

impl<S: Scalar> Cell for Option<S> {
    type S = S;
    const NULLABLE: bool = true;
    fn get(&self) -> Option<&S> {
        self.as_ref()
    }
    fn from_value(v: Option<S>) -> Option<Self> {
        Some(v)
    }
}

macro_rules! required_cell {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            type S = $t;
            const NULLABLE: bool = false;
            fn get(&self) -> Option<&$t> {
                Some(self)
            }
            fn from_value(v: Option<$t>) -> Option<Self> {
                v
            }
        }
    )*};
}
required_cell!(String, i64);

/// Reads the cell of `row` from an array already checked to be of the cell's type.
fn read_cell<C: Cell>(array: &dyn Array, row: usize) -> Option<Option<C::S>> {
    let typed = array.as_any().downcast_ref::<<C::S as Scalar>::Array>()?;
    Some(if typed.is_null(row) { None } else { Some(C::S::value(typed, row)) })
}

/// Parses a JSON value into a cell of type `C` for column `column`.
fn cell_from_json<C: Cell>(column: &'static str, v: &Value) -> Result<C, ProbeError> {
    let mismatch = || ProbeError::ValueType {
        column,
        expected: <C::S as Scalar>::KIND.spec_name(),
        nullable: C::NULLABLE,
        value: v.to_string(),
    };
    let scalar = if v.is_null() { None } else { Some(C::S::from_json(v).ok_or_else(mismatch)?) };
    C::from_value(scalar).ok_or_else(mismatch)
}

fn cell_to_json<C: Cell>(c: &C) -> Value {
    c.get().map_or(Value::Null, Scalar::to_json)
}

macro_rules! define_record {
    ($( $name:ident : $kind:ident, $null:ident, $doc:literal; )*) => {
        /// One probe observation (spec §1.13): 65 typed columns plus `extras`.
        ///
        /// [`WorkloadRecord::new`] gives the §1.13 defaults: a fresh UUID-4 `record_id`,
        /// `t_wall_ns` = now, `phase` = `idle`, empty strings for the other required columns,
        /// every other column null.
        #[derive(Debug, Clone, PartialEq)]
        pub struct WorkloadRecord {
            $(
                #[doc = $doc]
                pub $name: cell_ty!($kind, $null),
            )*
            /// Named values that are not columns; kept in memory, dropped when written.
            pub extras: BTreeMap<String, Value>,
        }

        /// The 65 columns of the workload record, in the spec's order (§3.20).
        pub const COLUMNS: &[ColumnDef] = &[
            $( ColumnDef {
                name: stringify!($name),
                kind: ColumnKind::$kind,
                nullable: <cell_ty!($kind, $null) as Cell>::NULLABLE,
            }, )*
        ];

        impl WorkloadRecord {
            fn blank() -> Self {
                WorkloadRecord { $( $name: Default::default(), )* extras: BTreeMap::new() }
            }

            /// Sets the column `name` from a JSON value, type-checked (null clears a nullable
            /// column); a name that is not a column goes to [`extras`](Self::extras).
            pub fn set(&mut self, name: &str, value: &Value) -> Result<(), ProbeError> {
                $(
                    if name == stringify!($name) {
                        self.$name = cell_from_json::<cell_ty!($kind, $null)>(stringify!($name), value)?;
                        return Ok(());
                    }
                )*
                self.extras.insert(name.to_owned(), value.clone());
                Ok(())
            }

            /// The value of column `name` (null when unset), or of an extra; `None` when
            /// neither exists.
            pub fn get(&self, name: &str) -> Option<Value> {
                $(
                    if name == stringify!($name) {
                        return Some(cell_to_json(&self.$name));
                    }
                )*
                self.extras.get(name).cloned()
            }

            /// Checks that `value` fits column `name` without setting it; names that are not
            /// columns always fit (they are extras).
            pub fn check(name: &str, value: &Value) -> Result<(), ProbeError> {
                $(
                    if name == stringify!($name) {
                        return cell_from_json::<cell_ty!($kind, $null)>(stringify!($name), value).map(|_| ());
                    }
                )*
                Ok(())
            }
        }

        /// One Arrow builder per column, in schema order.
        pub(crate) struct ColumnBuilders {
            $( $name: <<cell_ty!($kind, $null) as Cell>::S as Scalar>::Builder, )*
        }

        impl ColumnBuilders {
            pub(crate) fn with_capacity(capacity: usize) -> Self {
                ColumnBuilders {
                    $( $name: <<cell_ty!($kind, $null) as Cell>::S as Scalar>::builder(capacity), )*
                }
            }

            pub(crate) fn append(&mut self, r: &WorkloadRecord) {
                $( <<cell_ty!($kind, $null) as Cell>::S as Scalar>::append(&mut self.$name, r.$name.get()); )*
            }

            pub(crate) fn finish(mut self) -> Vec<ArrayRef> {
                vec![ $( ArrayBuilder::finish(&mut self.$name), )* ]
            }
        }

        /// Converts the rows of a batch whose schema was checked against [`COLUMNS`].
        ///
        /// `first_row` is the file row of the batch's row 0, for error messages.
        pub(crate) fn records_from_batch(
            path: &Path,
            batch: &RecordBatch,
            first_row: usize,
        ) -> Result<Vec<WorkloadRecord>, ProbeError> {
            let mut out: Vec<WorkloadRecord> = (0..batch.num_rows()).map(|_| WorkloadRecord::blank()).collect();
            let mut columns = batch.columns().iter();
            let mut position = 0usize;
            $(
                {
                    let Some(column) = columns.next() else {
                        return Err(ProbeError::MissingColumn {
                            path: path.to_path_buf(),
                            column: stringify!($name),
                            position,
                        });
                    };
                    position += 1;
                    for (row, record) in out.iter_mut().enumerate() {
                        let value = read_cell::<cell_ty!($kind, $null)>(column.as_ref(), row).ok_or_else(|| {
                            ProbeError::ColumnType {
                                path: path.to_path_buf(),
                                column: stringify!($name),
                                expected: ColumnKind::$kind.data_type().to_string(),
                                found: column.data_type().to_string(),
                            }
                        })?;
                        record.$name = <cell_ty!($kind, $null) as Cell>::from_value(value).ok_or_else(|| {
                            ProbeError::NullValue {
                                path: path.to_path_buf(),
                                row: first_row + row,
                                column: stringify!($name),
                            }
                        })?;
                    }
                }
            )*
            let _ = position;
            Ok(out)
        }
    };
}

with_columns!(define_record);

impl WorkloadRecord {
    /// A record with the §1.13 defaults (fresh `record_id`, `t_wall_ns` = now, `phase` =
    /// `idle`, everything else empty or null).
    pub fn new() -> Self {
        let mut r = WorkloadRecord::blank();
        r.record_id = new_record_id();
        r.t_wall_ns = wall_clock_ns();
        r.phase = "idle".to_owned();
        r
    }

    /// All columns and extras as one JSON object (columns in schema order, then extras).
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for c in COLUMNS {
            map.insert(c.name.to_owned(), self.get(c.name).unwrap_or(Value::Null));
        }
        for (k, v) in &self.extras {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }

    /// Whether `name` is one of the 65 columns.
    pub fn is_column(name: &str) -> bool {
        COLUMNS.iter().any(|c| c.name == name)
    }
}

impl Default for WorkloadRecord {
    fn default() -> Self {
        WorkloadRecord::new()
    }
}

/// The Arrow schema of a workload-record file: [`COLUMNS`] in order.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(
                COLUMNS.iter().map(|c| Field::new(c.name, c.kind.data_type(), c.nullable)).collect::<Vec<_>>(),
            ))
        })
        .clone()
}

/// Builds one record batch of `records` in the schema order.
pub(crate) fn to_batch(records: &[WorkloadRecord]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let mut builders = ColumnBuilders::with_capacity(records.len());
    for r in records {
        builders.append(r);
    }
    RecordBatch::try_new(schema(), builders.finish())
}

/// Wall-clock time in ns since the Unix epoch (0 before the epoch, saturating far after).
pub fn wall_clock_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A fresh random UUID-4 as lower-case hyphenated text.
pub fn new_record_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        fallback_random(&mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Randomness when the OS source fails: SipHash with std's per-process random keys over a
/// counter and the clock (unique and unpredictable enough for record ids).
fn fallback_random(out: &mut [u8; 16]) {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = std::collections::hash_map::RandomState::new();
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_i64(wall_clock_ns());
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
}
