"""The engine: loading data (``load``), the active engine, and raw requests (``ask``)."""

from ._core import ask, ask_many, engine, load

__all__ = ["load", "engine", "ask", "ask_many"]
