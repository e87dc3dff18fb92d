"""The reference's module path ``ratchet.anchors.overlay``: the private-anchor overlay of a projection. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "overlay_llm_anchor",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["overlay_llm_anchor"], "ratchet"),
    },
)
