"""The reference's module path ``ratchet.projection.feasibility``: memory feasibility and the KV cache. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "FeasibilityCheck",
    "kv_cache_bytes_per_token",
    "memory_feasibility",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["FeasibilityCheck", "kv_cache_bytes_per_token", "memory_feasibility"], "ratchet"),
    },
)
