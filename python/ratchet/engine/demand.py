"""The reference's module path ``ratchet.engine.demand``: subsystem demands and the LLM demand. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "SubsystemDemand",
    "eff_tops",
    "llm_demand",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["SubsystemDemand"], "ratchet"),
        **dict.fromkeys(["eff_tops", "llm_demand"], "ratchet.engine"),
    },
)
