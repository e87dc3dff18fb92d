"""The reference's module path ``ratchet.precision.capability``: capability levels and tables. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "CapabilityLevel",
    "CapabilityInfo",
    "NEUTRON_INT8_ONLY_CAPABILITY",
    "NPU_FULL_DTYPE_CAPABILITY",
    "SM120_BLACKWELL_CAPABILITY",
    "NPU_FP4_CAPABILITY",
    "PRECISION_SET_CAPABILITY",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["CapabilityLevel", "CapabilityInfo", "NEUTRON_INT8_ONLY_CAPABILITY", "NPU_FULL_DTYPE_CAPABILITY", "SM120_BLACKWELL_CAPABILITY", "NPU_FP4_CAPABILITY", "PRECISION_SET_CAPABILITY"], "ratchet"),
    },
)
