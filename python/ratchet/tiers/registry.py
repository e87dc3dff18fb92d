"""The reference's module path ``ratchet.tiers.registry``: the canonical tiers. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "NPU_LOW_LP4",
    "NPU_LOW_LP5_32BIT",
    "NPU_LOW_LP5_64BIT",
    "NPU_LOW_LP5X",
    "IMX93_MEASURED",
    "IMX95_MEASURED",
    "NPU_MID",
    "NPU_HIGH",
    "RTX_5090_REFERENCE",
    "TIERS",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["NPU_LOW_LP4", "NPU_LOW_LP5_32BIT", "NPU_LOW_LP5_64BIT", "NPU_LOW_LP5X", "IMX93_MEASURED", "IMX95_MEASURED", "NPU_MID", "NPU_HIGH", "RTX_5090_REFERENCE", "TIERS"], "ratchet"),
    },
)
