"""The reference's module path ``ratchet.anchors.loader``: anchors as the reference's loader serves them. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "BADGE_FOR_SOURCE",
    "LLMAnchor",
    "CNNAnchor",
    "load_llm_anchor",
    "load_cnn_anchor",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["BADGE_FOR_SOURCE", "LLMAnchor", "CNNAnchor", "load_llm_anchor", "load_cnn_anchor"], "ratchet"),
    },
)
