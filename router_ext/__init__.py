"""router-ext: Claude Code, Ralph loop and claude-harness metrics for an LLM router."""

from router_ext._version import __version__

__all__ = ["__version__"]
