"""The reference's module path ``ratchet.tiers.cpu``: the CPU complex of a tier. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "CpuComplex",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["CpuComplex"], "ratchet"),
    },
)
