#!/usr/bin/env python3
"""Checks a workload-record Parquet file with pyarrow: the 65 columns of spec §3.20, by name,
Arrow type and order, the six columns with a default (§1.13) never null.

Usage: check_workload_record.py FILE.parquet   (exit 0 and one `ok:` line, or 1 and the
differences). tests/probes.rs runs it on a file the Rust writer wrote, when pyarrow is there.

`check_workload_record.py --write-sample FILE.parquet [CODEC]` writes three records the way
a pyarrow producer does (every column nullable, Snappy: pyarrow's defaults; or CODEC), for
the Rust reader.
"""
import sys

import pyarrow as pa
import pyarrow.parquet as pq

S, I, F, B = pa.string(), pa.int64(), pa.float32(), pa.bool_()

# spec §3.20, row by row of its three-column table (headed "66", it lists 65: the record's
# 66th field, `extras`, is not a column)
EXPECTED = [
    ("record_id", S), ("run_id", S), ("t_wall_ns", I),
    ("t_sim_ns", I), ("subsystem", S), ("operation", S),
    ("phase", S), ("latency_ns", I), ("macs", I),
    ("flops", I), ("precision", S), ("gpu_util_pct", F),
    ("gpu_mem_used_mb", F), ("gpu_mem_bw_gbps", F), ("sm_active_pct", F),
    ("tensor_core_active_pct", F), ("nvenc_util_pct", F), ("nvdec_util_pct", F),
    ("input_bytes", I), ("output_bytes", I), ("input_shape", S),
    ("output_shape", S), ("src_subsystem", S), ("dst_subsystem", S),
    ("encode_codec", S), ("encode_bitrate_kbps", F), ("encode_frame_size_bytes", I),
    ("encode_keyframe", B), ("link_profile", S), ("link_rtt_ms", F),
    ("link_loss_pct", F), ("link_throughput_mbps", F), ("pos_x", F),
    ("pos_y", F), ("pos_z", F), ("target_locked", B),
    ("radar_n_points", I), ("radar_n_clusters", I), ("radar_n_tracks", I),
    ("radar_format", S), ("g2g_capture_ns", I), ("g2g_isp_done_ns", I),
    ("g2g_encode_done_ns", I), ("g2g_tx_done_ns", I), ("g2g_rx_done_ns", I),
    ("g2g_decode_done_ns", I), ("g2g_display_ns", I), ("g2g_total_ms", F),
    ("llm_prompt_tokens", I), ("llm_output_tokens", I), ("llm_kv_cache_mb", F),
    ("llm_tokens_per_sec", F), ("isp_stage", S), ("isp_input_format", S),
    ("isp_output_format", S), ("isp_line_rate_mpps", F), ("isp_pixels_processed", I),
    ("isp_lanes_used", I), ("isp_hdr_exposures", I), ("dsp_op", S),
    ("dsp_pyramid_levels", I), ("dsp_kernel_size", I), ("dsp_simd_lanes", I),
    ("dsp_cycles", I), ("dsp_clock_mhz", F),
]
REQUIRED = {"record_id", "run_id", "t_wall_ns", "subsystem", "operation", "phase"}


def check(path):
    """The differences between the file at `path` and the spec, as lines."""
    table = pq.read_table(path)
    schema = table.schema
    problems = []
    if len(EXPECTED) != 65:
        problems.append(f"this script lists {len(EXPECTED)} columns, not 65")
    found = [(f.name, f.type) for f in schema]
    if len(found) != len(EXPECTED):
        problems.append(f"{len(found)} columns, expected {len(EXPECTED)}")
    for i, (want, got) in enumerate(zip(EXPECTED, found)):
        if want[0] != got[0]:
            problems.append(f"column {i}: `{got[0]}`, expected `{want[0]}`")
        elif want[1] != got[1]:
            problems.append(f"column `{want[0]}`: type {got[1]}, expected {want[1]}")
    for name in REQUIRED:
        if name in schema.names:
            if schema.field(name).nullable:
                problems.append(f"column `{name}` is nullable; it has a default")
            if table.column(name).null_count:
                problems.append(f"column `{name}` has {table.column(name).null_count} nulls")
    return problems, table.num_rows


def write_sample(path, compression="snappy"):
    """Three records through pyarrow: mostly null, a few columns of each type set."""
    schema = pa.schema(EXPECTED)  # nullable everywhere
    rows = []
    for i in range(3):
        row = {name: None for name, _ in EXPECTED}
        row.update(
            record_id=f"00000000-0000-4000-8000-00000000000{i}",
            run_id="py",
            t_wall_ns=1_700_000_000_000_000_000 + i,
            subsystem="perception",
            operation="conv2d",
            phase="track",
            latency_ns=1000 * (i + 1),
            gpu_util_pct=50.5,
            encode_keyframe=i == 0,
            input_shape="[1, 3, 224, 224]",
        )
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression=compression)
    print(f"wrote {path}: 3 rows")


def main(argv):
    if len(argv) in (3, 4) and argv[1] == "--write-sample":
        write_sample(*argv[2:])
        return 0
    if len(argv) != 2:
        print("usage: check_workload_record.py [--write-sample] FILE.parquet", file=sys.stderr)
        return 2
    problems, rows = check(argv[1])
    if problems:
        for p in problems:
            print(f"{argv[1]}: {p}")
        return 1
    print(f"ok: {argv[1]}: 65 columns in the spec's order and types, {rows} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
