"""The reference's module path ``ratchet.tiers.memory_overlay``: memory upgrades of a tier. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "hw_with_memory",
    "MEMORY_UPGRADE_OPTIONS",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["hw_with_memory", "MEMORY_UPGRADE_OPTIONS"], "ratchet"),
    },
)
