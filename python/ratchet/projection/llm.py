"""The reference's module path ``ratchet.projection.llm``: the LLM projection. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "project_llm",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["project_llm"], "ratchet"),
    },
)
