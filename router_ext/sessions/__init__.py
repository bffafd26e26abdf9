"""harness_sessions: one row per Claude Code session, Ralph task and harness API job.

:func:`install` registers the fold as a writer batch hook (it runs inside the insert
transaction) and starts the idle sweeper with the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router_ext.sessions.fold import NOTE, SessionFold
from router_ext.sessions.pricing import PriceTable
from router_ext.sessions.sweeper import Sweeper

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

__all__ = ["NOTE", "SessionFold", "Sweeper", "install"]


def install(core: RouterExt, prices: PriceTable | None = None) -> tuple[SessionFold, Sweeper]:
    """Fold committed events into sessions and sweep idle ones, for this core."""
    fold = SessionFold(prices if prices is not None else PriceTable.load(
        core.settings.prices_path))
    core.writer.batch_hooks.append(fold)
    sweeper = Sweeper(core)
    core.on_start.append(sweeper.start)
    core.on_stop.append(sweeper.stop)
    return fold, sweeper
