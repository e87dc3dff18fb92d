"""Probes and the workload record (spec §1.13, §3.20), written by the Rust engine's Parquet
writer, so Python surfaces and Rust probes produce the same files.

    writer = WorkloadWriter(run_dir, "perception")
    probe = OperationProbe(writer, run_id="run-7", subsystem="perception")
    with probe.operation("yolo_infer", macs=8_700_000_000, precision="int8") as op:
        boxes = model(frame)
        op.output_bytes = boxes.nbytes
    writer.close()
    records = read_records(writer.path)

``OperationProbe`` records ``latency_ns`` even when the work raises. ``EncoderProbe`` and
``GlassToGlassProbe`` are the Rust probes. The GPU sampler (NVML) is part of the Rust crate's
``nvml`` feature and the ``ratchet`` command line, not of this package.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from . import _native

__all__ = [
    "WorkloadRecord",
    "WORKLOAD_COLUMNS",
    "WorkloadWriter",
    "read_records",
    "OperationProbe",
    "OperationScope",
    "EncoderProbe",
    "GlassToGlassProbe",
]

#: The record's columns in order: (name, type, nullable); types are ``string``, ``int64``,
#: ``float32`` and ``bool``.
WORKLOAD_COLUMNS: Tuple[Tuple[str, str, bool], ...] = tuple(_native.workload_columns())
_COLUMN_NAMES = frozenset(c[0] for c in WORKLOAD_COLUMNS)
_PY_TYPE = {"string": str, "int64": int, "float32": float, "bool": bool}
# a fresh record's defaults are the Rust record's (spec §1.13); the id and the wall-clock
# time are drawn anew for every record
_DEFAULTS: Dict[str, Any] = {k: v for k, v in json.loads(_native.new_record()).items() if v is not None}
_DEFAULTS["record_id"] = field(default_factory=lambda: str(uuid.uuid4()))
_DEFAULTS["t_wall_ns"] = field(default_factory=time.time_ns)


def _fields():
    out = []
    for name, kind, nullable in WORKLOAD_COLUMNS:
        t = _PY_TYPE[kind]
        if name in _DEFAULTS:
            d = _DEFAULTS[name]
            out.append((name, t, d if isinstance(d, dataclasses.Field) else field(default=d)))
        else:
            out.append((name, Optional[t], field(default=None)))
    out.append(("extras", Dict[str, Any], field(default_factory=dict)))
    return out


def _to_json(self: "WorkloadRecord") -> Dict[str, Any]:
    """The record's columns as a map (``extras`` are not columns and are left out)."""
    return {name: getattr(self, name) for name, _, _ in WORKLOAD_COLUMNS}


WorkloadRecord = dataclasses.make_dataclass(
    "WorkloadRecord",
    _fields(),
    namespace={"to_json": _to_json, "__doc__": "One probe observation: 65 columns and ``extras`` (not written)."},
)
WorkloadRecord.__module__ = __name__  # make_dataclass's `module=` is Python 3.12+


def _record(d: Dict[str, Any]) -> "WorkloadRecord":
    cols = {k: v for k, v in d.items() if k in _COLUMN_NAMES}
    extras = {k: v for k, v in d.items() if k not in _COLUMN_NAMES}
    return WorkloadRecord(**cols, extras=extras)


class WorkloadWriter:
    """Records of one subsystem to ``<run_dir>/<subsystem>.parquet`` (directory created),
    buffered and written 256 at a time, on ``flush`` and on ``close``. Thread-safe. Values are
    checked against their column's type when written (``ValueError``)."""

    def __init__(self, run_dir: "os.PathLike[str] | str", subsystem: str) -> None:
        self._w = _native.RecordWriter(os.fspath(run_dir), subsystem)

    def write(self, record: "WorkloadRecord") -> None:
        """Buffers one record."""
        self._w.write(json.dumps(record.to_json()))

    def flush(self) -> None:
        """Writes what is buffered."""
        self._w.flush()

    def close(self) -> None:
        """Writes what is buffered and closes the file."""
        self._w.close()

    @property
    def path(self) -> str:
        """The file written."""
        return os.fspath(self._w.path)

    @property
    def subsystem(self) -> str:
        return self._w.subsystem

    @property
    def rows_written(self) -> int:
        return self._w.rows_written

    @property
    def buffered(self) -> int:
        return self._w.buffered

    def __enter__(self) -> "WorkloadWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_records(path: "os.PathLike[str] | str") -> List["WorkloadRecord"]:
    """Every record of a workload-record file (``ValueError`` naming the file and row when a
    file is not one)."""
    return [_record(d) for d in json.loads(_native.read_records(os.fspath(path)))]


@dataclass
class OperationScope:
    """What the work may set while it runs: output shape and bytes, and extra values."""

    output_shape: Optional[str] = None
    output_bytes: Optional[int] = None
    extras: Dict[str, Any] = field(default_factory=dict)


class OperationProbe:
    """Times units of work of one subsystem; one record per unit, written also when the work
    raises (the exception propagates). ``phase()`` names the run phase at the start of each
    operation; when it raises or returns no text the phase is ``idle``."""

    def __init__(
        self,
        writer: WorkloadWriter,
        run_id: str = "",
        subsystem: str = "",
        phase: Optional[Callable[[], str]] = None,
    ) -> None:
        self.writer = writer
        self.run_id = run_id
        self.subsystem = subsystem
        self.phase = phase or (lambda: "idle")

    def _phase(self) -> str:
        # a failing phase provider must not fail the work it observes: `idle`, as the Rust
        # probes do
        try:
            p = self.phase()
        except Exception:
            return "idle"
        return p if isinstance(p, str) else "idle"

    @contextlib.contextmanager
    def operation(
        self,
        operation: str,
        *,
        macs: Optional[int] = None,
        flops: Optional[int] = None,
        precision: Optional[str] = None,
        input_shape: Optional[str] = None,
        input_bytes: Optional[int] = None,
        output_shape: Optional[str] = None,
        output_bytes: Optional[int] = None,
        src_subsystem: Optional[str] = None,
        dst_subsystem: Optional[str] = None,
        **extras: Any,
    ) -> Iterator[OperationScope]:
        """Runs the ``with`` block as ``operation``. Extra values whose names are columns set
        those columns (checked before the work runs); others go to the record's ``extras``."""
        named = {
            "macs": macs,
            "flops": flops,
            "precision": precision,
            "input_shape": input_shape,
            "input_bytes": input_bytes,
            "output_shape": output_shape,
            "output_bytes": output_bytes,
            "src_subsystem": src_subsystem,
            "dst_subsystem": dst_subsystem,
        }
        # values for columns are checked before the work runs (other extras are not written)
        for k, v in {**named, **extras}.items():
            if k in _COLUMN_NAMES and v is not None:
                _native.RecordWriter.check(k, json.dumps(v))
        rec = WorkloadRecord(run_id=self.run_id, subsystem=self.subsystem, operation=operation, phase=self._phase())
        scope = OperationScope()
        start = time.perf_counter_ns()
        try:
            yield scope
        finally:
            rec.latency_ns = time.perf_counter_ns() - start
            rec.macs, rec.flops, rec.precision = macs, flops, precision
            rec.input_shape, rec.input_bytes = input_shape, input_bytes
            rec.output_shape = scope.output_shape if scope.output_shape is not None else output_shape
            rec.output_bytes = scope.output_bytes if scope.output_bytes is not None else output_bytes
            rec.src_subsystem, rec.dst_subsystem = src_subsystem, dst_subsystem
            for k, v in {**extras, **scope.extras}.items():
                if k in _COLUMN_NAMES:
                    setattr(rec, k, v)
                else:
                    rec.extras[k] = v
            self.writer.write(rec)

    def run(self, operation: str, work: Callable[[OperationScope], Any], **options: Any) -> Any:
        """``work(scope)`` as ``operation``; returns what it returns."""
        with self.operation(operation, **options) as scope:
            return work(scope)


class EncoderProbe:
    """Times frames from encoder input to encoded output (one ``<codec>_encode_frame`` record
    per encoded frame). Defaults: codec ``h265``, 6000 kbps, subsystem ``video_encode``, from
    ``sensor_ingest`` to ``comms``."""

    def __init__(
        self,
        writer: WorkloadWriter,
        run_id: str = "",
        codec: Optional[str] = None,
        bitrate_kbps: Optional[float] = None,
        subsystem: Optional[str] = None,
        src: Optional[str] = None,
        dst: Optional[str] = None,
        phase: Optional[Callable[[], str]] = None,
    ) -> None:
        self._p = _native.EncoderProbe(writer._w, run_id, codec, bitrate_kbps, subsystem, src, dst, phase)

    def on_input_frame(self, t_ns: Optional[int] = None) -> None:
        """A frame entered the encoder."""
        self._p.on_input_frame(t_ns)

    def on_encoded_frame(self, size_bytes: int, keyframe: bool = False, input_shape: Optional[str] = None) -> None:
        """A frame came out of the encoder."""
        self._p.on_encoded_frame(size_bytes, keyframe, input_shape)


class GlassToGlassProbe:
    """Per-frame stamps from capture to display; a displayed frame that was captured gives a
    ``glass_to_glass`` record with ``g2g_total_ms`` and the seven stamps."""

    STAGES = ("capture", "isp_done", "encode_done", "tx_done", "rx_done", "decode_done", "display")

    def __init__(
        self,
        writer: WorkloadWriter,
        run_id: str = "",
        max_inflight: Optional[int] = None,
        phase: Optional[Callable[[], str]] = None,
    ) -> None:
        self._p = _native.GlassToGlassProbe(writer._w, run_id, max_inflight, phase)

    def stamp(self, frame_id: int, stage: str, t_ns: Optional[int] = None) -> bool:
        """Stamps ``stage`` of a frame (now, or at ``t_ns`` of the probes' clock); returns
        whether a record was written."""
        return self._p.stamp(frame_id, stage, t_ns)

    def tracked(self) -> List[int]:
        """The frame ids in flight, smallest first."""
        return self._p.tracked()
