"""The reference's module path ``ratchet.tiers.perception``: perception anchors of a tier. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "LatencyDistribution",
    "SolverConvergenceAnchor",
    "PerceptionAnchor",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["LatencyDistribution", "SolverConvergenceAnchor", "PerceptionAnchor"], "ratchet"),
    },
)
