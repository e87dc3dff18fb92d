"""The reference's module path ``ratchet.tiers.hardware``: the tier type. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "Hardware",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["Hardware"], "ratchet"),
    },
)
