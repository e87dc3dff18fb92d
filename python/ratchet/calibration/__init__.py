"""The reference's package path ``ratchet.calibration``: calibration provenance and the
silicon-class defaults. Its names are this package's own, read when used
(``ratchet._alias``)."""

from .._alias import forward

__all__ = ["CalibrationSource", "SILICON_CLASS_DEFAULTS"]

__getattr__, __dir__ = forward(__name__, dict.fromkeys(__all__, "ratchet"))
