"""The reference's module path ``ratchet.calibration.source``: calibration provenance. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "CalibrationSource",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["CalibrationSource"], "ratchet"),
    },
)
