"""The reference's module path ``ratchet.catalog.model``: the catalog model and its lookups. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "LLMModel",
    "lookup_model",
    "resolve_measurement_key",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["LLMModel", "lookup_model", "resolve_measurement_key"], "ratchet"),
    },
)
