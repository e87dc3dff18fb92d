"""The reference's module path ``ratchet.whatif.runner``: the what-if runner and its results. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "WhatifRunner",
    "PointResult",
    "SweepRow",
    "SweepResult",
    "ParetoResult",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["WhatifRunner"], "ratchet"),
        **dict.fromkeys(["PointResult", "SweepRow", "SweepResult", "ParetoResult"], "ratchet.whatif"),
    },
)
