"""The reference's module path ``ratchet.anchors.spec_routing``: which anchor cell serves a tier and precision. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "hw_to_anchor_tier_precision",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["hw_to_anchor_tier_precision"], "ratchet"),
    },
)
