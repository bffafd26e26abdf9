"""router-ext: Claude Code, Ralph loop and claude-harness metrics for an LLM router."""

from __future__ import annotations

from router_ext._version import __version__

TYPE_CHECKING = False  # `typing` costs the status line and hooks ~5 ms to import
if TYPE_CHECKING:
    from typing import Any

    from router_ext.mount import mount

__all__ = ["__version__", "mount"]


def __getattr__(name: str) -> Any:
    # Lazy: `import router_ext` stays cheap for hooks and the CLI; the server loads on use.
    if name == "mount":
        from router_ext.mount import mount

        # Importing the submodule bound the name to the module; the function is what we export.
        globals()["mount"] = mount
        return mount
    raise AttributeError(f"module 'router_ext' has no attribute {name!r}")
