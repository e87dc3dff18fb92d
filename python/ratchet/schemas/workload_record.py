"""The reference's module path ``ratchet.schemas.workload_record``: the workload record and its schema. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "WorkloadRecord",
    "WORKLOAD_SCHEMA",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["WorkloadRecord", "WORKLOAD_SCHEMA"], "ratchet"),
    },
)
