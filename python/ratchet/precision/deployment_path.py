"""The reference's module path ``ratchet.precision.deployment_path``: how a tier would deploy a dtype. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "deployment_path_for_tier",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["deployment_path_for_tier"], "ratchet"),
    },
)
