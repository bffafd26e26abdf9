"""The usage ledger: every change in counted usage, stored in the transaction that made it.

:class:`WithLedger` wraps the sessions fold as the writer's in-transaction step: the fold notes
each session's signed change in usage per model (``FoldNotes.increments``) and the ledger stores
it beside the events and session rows, so the ledger never disagrees with them (the same
increments are summed per hour and model into `usage_hourly` for the analytics). Reports and
budgets read usage over time from here (:func:`entries`, :func:`sums`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, select

from router_ext.records import FoldNotes, Row
from router_ext.reports.entries import Entry
from router_ext.sessions.fold import SessionFold
from router_ext.store import usage_hourly
from router_ext.store.models import HarnessSession, UsageLedger
from router_ext_client.usage import ModelUsage

LEDGER = UsageLedger.__table__  # type: ignore[attr-defined]
SESSIONS = HarnessSession.__table__  # type: ignore[attr-defined]
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
_INSERT = insert(LEDGER)
MAX_ENTRIES = 1_000_000  # a report reads at most this many rows
# Blocks chain back to the last silence of 5 hours; a day of history finds the current one.
BLOCK_LOOKBACK_MS = 24 * 3_600_000


class WithLedger:
    """The sessions fold, then its usage increments written to usage_ledger."""

    def __init__(self, fold: SessionFold) -> None:
        self.fold = fold

    def __call__(self, conn: Connection, rows: list[Row]) -> FoldNotes | None:
        notes = self.fold(conn, rows)
        if notes is not None and notes.increments:
            conn.execute(_INSERT, notes.increments)
            usage_hourly.add(conn, notes.increments)  # the analytics' hourly sums
        return notes


def entries(conn: Connection, *, from_ms: int | None = None, to_ms: int | None = None,
            project: str | None = None) -> list[Entry]:
    """Ledger rows as report entries, oldest first, with their session's project as it is now
    (a session learns its project from events that may come after its first usage)."""
    named = func.coalesce(SESSIONS.c.project, LEDGER.c.project)
    query = (select(LEDGER.c.at, LEDGER.c.session_id, named, LEDGER.c.model,
                    *[LEDGER.c[c] for c in TOKEN_COLUMNS], LEDGER.c.cost_usd)
             .select_from(LEDGER.outerjoin(SESSIONS, SESSIONS.c.id == LEDGER.c.session_id)))
    if from_ms is not None:
        query = query.where(LEDGER.c.at >= from_ms)
    if to_ms is not None:
        query = query.where(LEDGER.c.at < to_ms)
    if project is not None:
        query = query.where(named == project)
    out = []
    for row in conn.execute(query.order_by(LEDGER.c.at, LEDGER.c.id).limit(MAX_ENTRIES)):
        values: list[Any] = list(row)
        usage = ModelUsage(input_tokens=values[4], output_tokens=values[5],
                           cache_read_input_tokens=values[6],
                           cache_creation_input_tokens=values[7])
        out.append(Entry(int(values[0]), values[1], values[2] or "unknown", values[3], usage,
                         float(values[8] or 0)))
    return out


def _subject_column(scope: str) -> Any:
    if scope == "project":
        return LEDGER.c.project
    if scope == "loop":
        return LEDGER.c.loop_id
    if scope == "user":
        user = user_column()
        if user is None:
            raise ValueError("per-user budgets need user attribution on sessions (OTLP)")
        return user
    return None


def user_column() -> Any:
    """Who ran a session, when the sessions table records it (OpenTelemetry attribution)."""
    columns = [SESSIONS.c[name] for name in ("user_email", "user_account_uuid")
               if name in SESSIONS.c]
    return func.coalesce(*columns) if columns else None


def sums(conn: Connection, *, since_ms: int | None, scope: str = "all",
         match: str = "*") -> dict[str, dict[str, float]]:
    """{subject: {"cost": usd, "tokens": n}} since `since_ms` for a scope (`all`, `project`,
    `user`, `loop`), every subject (`*`) or one."""
    subject = _subject_column(scope)
    tokens = sum((LEDGER.c[c] for c in TOKEN_COLUMNS[1:]), LEDGER.c[TOKEN_COLUMNS[0]])
    columns = [func.coalesce(func.sum(LEDGER.c.cost_usd), 0.0),
               func.coalesce(func.sum(tokens), 0)]
    query = select(*([subject] if subject is not None else []), *columns)
    if scope == "user":
        query = query.select_from(LEDGER.join(SESSIONS, SESSIONS.c.id == LEDGER.c.session_id))
    if since_ms is not None:
        query = query.where(LEDGER.c.at >= since_ms)
    if subject is None:
        cost, count = conn.execute(query).one()
        return {"all": {"cost": float(cost), "tokens": float(count)}}
    query = query.where(subject.is_not(None))
    if match != "*":
        query = query.where(subject == match)
    return {str(name): {"cost": float(cost), "tokens": float(count)}
            for name, cost, count in conn.execute(query.group_by(subject))}


def status_numbers(conn: Connection, session_id: str, now_ms: int,
                   day_start_ms: int) -> dict[str, Any]:
    """What the status line shows: the session's cost, today's, the block running now, and the
    approvals waiting."""
    from router_ext.read.sessions import hitl_pending
    from router_ext.reports.blocks import block_status

    cost = conn.execute(select(SESSIONS.c.cost_usd).where(SESSIONS.c.id == session_id)
                        ).scalar() if session_id else None
    today = sums(conn, since_ms=day_start_ms)["all"]["cost"]
    points = conn.execute(select(LEDGER.c.at, LEDGER.c.cost_usd)
                          .where(LEDGER.c.at >= now_ms - BLOCK_LOOKBACK_MS)).all()
    return {"session_cost": float(cost) if cost is not None else None, "today_cost": today,
            "block": block_status([(int(at), float(c or 0)) for at, c in points], now_ms),
            "pending_approvals": hitl_pending(conn)}
