"""The reference's module path ``ratchet.tiers.custom``: custom tiers from silicon-class defaults. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "SiliconClass",
    "make_custom_tier",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["SiliconClass", "make_custom_tier"], "ratchet"),
    },
)
