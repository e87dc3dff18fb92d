"""The reference's module path ``ratchet.calibration.silicon_class``: silicon-class defaults of custom tiers. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "SILICON_CLASS_DEFAULTS",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["SILICON_CLASS_DEFAULTS"], "ratchet"),
    },
)
