"""The reference's module path ``ratchet.catalog.alias``: measurement-key aliases of catalog models. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "resolve_measurement_key",
    "LLMModel",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["resolve_measurement_key", "LLMModel"], "ratchet"),
    },
)
