"""The reference's module path ``ratchet.projection.result``: projection results. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "Projected",
    "WontFit",
    "DtypeMismatch",
    "ProjectionResult",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["Projected", "WontFit", "DtypeMismatch", "ProjectionResult"], "ratchet"),
    },
)
