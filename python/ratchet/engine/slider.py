"""The reference's module path ``ratchet.engine.slider``: sliders of a sizing pack. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "Slider",
    "default_values",
    "apply_sliders",
    "slider_categories",
    "_set_path",
    "_scale_path",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["Slider", "default_values", "apply_sliders"], "ratchet"),
        **dict.fromkeys(["slider_categories", "_set_path", "_scale_path"], "ratchet.whatif"),
    },
)
