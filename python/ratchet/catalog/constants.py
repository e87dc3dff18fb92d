"""The reference's module path ``ratchet.catalog.constants``: the reference's per-quant size tables. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "BYTES_PER_PARAM",
    "GGUF_SIZE_GB",
    "ACTIVE_PARAMS",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["BYTES_PER_PARAM", "GGUF_SIZE_GB", "ACTIVE_PARAMS"], "ratchet"),
    },
)
