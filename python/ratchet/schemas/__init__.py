"""Schemas of the data the package writes: ``WORKLOAD_SCHEMA``, the workload record's 65
columns (spec §3.20) as the Rust writer writes them.

``WORKLOAD_SCHEMA`` needs no Arrow library: it is a sequence of ``Column(name, type,
nullable)``. ``WORKLOAD_SCHEMA.to_arrow()`` gives the ``pyarrow.Schema`` (pyarrow installed),
and the schema speaks the Arrow PyCapsule protocol, so ``pyarrow.schema(WORKLOAD_SCHEMA)`` and
other Arrow libraries take it as it is.
"""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple, Sequence, Tuple, overload

from ..probes import WORKLOAD_COLUMNS

__all__ = ["Column", "WorkloadSchema", "WORKLOAD_SCHEMA"]

_ARROW_TYPE = {"string": "string", "int64": "int64", "float32": "float32", "bool": "bool_"}


class Column(NamedTuple):
    """One column: its name, type (``string``, ``int64``, ``float32``, ``bool``) and whether
    it may be null."""

    name: str
    type: str
    nullable: bool


class WorkloadSchema(Sequence[Column]):
    """The workload record's columns, in the order they are written."""

    def __init__(self, columns: Sequence[Tuple[str, str, bool]]) -> None:
        self._cols = tuple(Column(*c) for c in columns)
        self._index = {c.name: i for i, c in enumerate(self._cols)}

    @overload
    def __getitem__(self, i: int) -> Column: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Column]: ...
    def __getitem__(self, i):  # type: ignore[override]
        return self._cols[i]

    def __len__(self) -> int:
        return len(self._cols)

    def __iter__(self) -> Iterator[Column]:
        return iter(self._cols)

    def __repr__(self) -> str:
        return f"WorkloadSchema({len(self._cols)} columns)"

    @property
    def names(self) -> list:
        """The column names in order."""
        return [c.name for c in self._cols]

    def field(self, name: str) -> Column:
        """The column called ``name`` (``KeyError`` when there is none)."""
        try:
            return self._cols[self._index[name]]
        except KeyError:
            raise KeyError(f"no column `{name}` in the workload record") from None

    def to_arrow(self) -> Any:
        """The ``pyarrow.Schema`` of the files (needs pyarrow)."""
        import pyarrow as pa

        return pa.schema([pa.field(c.name, getattr(pa, _ARROW_TYPE[c.type])(), nullable=c.nullable) for c in self._cols])

    def __arrow_c_schema__(self) -> Any:
        """The Arrow PyCapsule schema protocol (through pyarrow)."""
        return self.to_arrow().__arrow_c_schema__()


WORKLOAD_SCHEMA = WorkloadSchema(WORKLOAD_COLUMNS)
