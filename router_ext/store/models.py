"""The two tables: `events` (append-only log) and `harness_sessions` (one row per run).

JSON columns hold JSON text: the writer stores what the client sent after validating it, so
nothing is decoded and encoded again on the ingest path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Float, Index, Integer, Text, text
from sqlmodel import Field, SQLModel

_ID_TYPE = BigInteger().with_variant(Integer, "sqlite")


def _zero(kind: Any = Integer) -> Any:
    """A NOT NULL number column that starts at 0 (also in rows stored before it existed)."""
    return Field(default=0, sa_column=Column(kind, nullable=False, server_default="0"))


class Event(SQLModel, table=True):
    """One stored event. `id` is the stream cursor; `event_uid` makes retries idempotent."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_source_app_id", "source_app", "id"),
        Index("ix_events_session_id_id", "session_id", "id"),
        Index("ix_events_hook_event_type_id", "hook_event_type", "id"),
        Index("ix_events_tool_name_id", "tool_name", "id"),
        Index("ix_events_agent_id", "agent_id"),
        Index("ix_events_timestamp", "timestamp"),
        Index(
            "ix_events_hitl_pending",
            "hitl_status",
            sqlite_where=text("hitl_status IS NOT NULL"),
            postgresql_where=text("hitl_status IS NOT NULL"),
        ),
    )

    # INTEGER on SQLite so the id is the rowid (a BIGINT key would be a second index).
    id: int | None = Field(
        default=None,
        sa_column=Column(_ID_TYPE, primary_key=True, autoincrement=True),
    )
    event_uid: str = Field(max_length=128, unique=True, nullable=False)
    source_app: str = Field(max_length=256)
    session_id: str = Field(max_length=256)
    hook_event_type: str = Field(max_length=128)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    received_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    model_name: str | None = Field(default=None, max_length=256)
    chat: str | None = Field(default=None, sa_column=Column(Text))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    human_in_the_loop: str | None = Field(default=None, sa_column=Column(Text))
    human_in_the_loop_status: str | None = Field(default=None, sa_column=Column(Text))
    hitl_status: str | None = Field(default=None, max_length=32)
    host: str | None = Field(default=None, max_length=256)
    agent_id: str | None = Field(default=None, max_length=256)
    tool_name: str | None = Field(default=None, max_length=256)
    tool_use_id: str | None = Field(default=None, max_length=256)
    # Top-level fields a sender added beyond the known ones, kept as a JSON object.
    extra: str | None = Field(default=None, sa_column=Column(Text))


class HarnessSession(SQLModel, table=True):
    """One Claude Code session (interactive), Ralph task (ralph) or harness job (api)."""

    __tablename__ = "harness_sessions"
    __table_args__ = (
        Index("ix_harness_sessions_started_at", "started_at"),
        Index("ix_harness_sessions_last_event_at", "last_event_at"),
        Index("ix_harness_sessions_source_started", "source", "started_at"),
        Index("ix_harness_sessions_project", "project"),
        Index("ix_harness_sessions_label", "label"),
        Index("ix_harness_sessions_status", "status"),
        Index("ix_harness_sessions_claude_session_id", "claude_session_id"),
        Index("ix_harness_sessions_user_email", "user_email"),
    )

    id: str = Field(primary_key=True, max_length=300)
    source: str = Field(max_length=32)
    source_app: str | None = Field(default=None, max_length=256)
    project: str | None = Field(default=None, max_length=512)
    label: str | None = Field(default=None, max_length=256)
    task_id: str | None = Field(default=None, max_length=256)
    task_title: str | None = Field(default=None, sa_column=Column(Text))
    loop_id: str | None = Field(default=None, max_length=256)
    status: str = Field(default="running", max_length=32)
    started_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    completed_at: int | None = Field(default=None, sa_column=Column(BigInteger))
    last_event_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    duration_ms: int | None = Field(default=None, sa_column=Column(BigInteger))
    success: bool | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    exit_code: int | None = None
    tool_calls_count: int = 0
    tool_failures_count: int = 0
    prompts_count: int = 0
    subagents_count: int = 0
    model: str | None = Field(default=None, max_length=256)
    input_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False,
                                                          server_default="0"))
    output_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False,
                                                           server_default="0"))
    cache_read_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False,
                                                               server_default="0"))
    cache_creation_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False,
                                                                   server_default="0"))
    cost_usd: float = 0.0
    # Per-model usage and cost as a JSON object {model: {input, output, ..., cost_usd}}.
    model_usage: str | None = Field(default=None, sa_column=Column(Text))
    num_turns: int | None = None
    claude_session_id: str | None = Field(default=None, max_length=256)
    # Who and where, from OpenTelemetry resource and record attributes (OTLP senders only).
    user_email: str | None = Field(default=None, max_length=320)
    user_account_uuid: str | None = Field(default=None, max_length=64)
    organization_id: str | None = Field(default=None, max_length=64)
    host: str | None = Field(default=None, max_length=256)
    terminal: str | None = Field(default=None, max_length=64)
    # Counts only Claude Code's OpenTelemetry export reports.
    api_requests_count: int = _zero()
    api_errors_count: int = _zero()
    lines_added: int = _zero()
    lines_removed: int = _zero()
    commits_count: int = _zero()
    pull_requests_count: int = _zero()
    active_seconds: float = _zero(Float)
    # Each source's own totals (hooks, OTLP events, OTLP metric series) as JSON; the usage and
    # count columns above show the largest of them (router_ext/sessions/ledger.py).
    source_totals: str | None = Field(default=None, sa_column=Column(Text))


class EventRollup(SQLModel, table=True):
    """Counts the dashboard computes from events, kept per hour for events already pruned.

    Retention folds what it deletes into these rows (same transaction), so a day's tool calls
    and subagent spawns stay countable after its events are gone: live events plus rollups.
    """

    __tablename__ = "event_rollups"

    kind: str = Field(primary_key=True, max_length=32)  # "tools" | "subagents"
    bucket_ms: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(primary_key=True, max_length=256)  # tool name or agent type
    detail: str = Field(primary_key=True, max_length=128)  # hook event type, or ""
    count: int = Field(sa_column=Column(BigInteger, nullable=False))


class EventCount(SQLModel, table=True):
    """What the dashboard counts from events, per hour, kept by the writer as events commit.

    Written in the insert transaction (router_ext.store.counts), never lowered by retention:
    a count covers every event ever stored, pruned or not. Kinds: "tools" (name = tool,
    detail = PostToolUse or PostToolUseFailure), "subagents" (name = agent type), "errors"
    (name = tool, detail = the error's first line). `last_ms` is the newest event counted.
    """

    __tablename__ = "event_counts"

    kind: str = Field(primary_key=True, max_length=32)
    bucket_ms: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(primary_key=True, max_length=256)
    detail: str = Field(primary_key=True, max_length=256)
    count: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class SessionToolCount(SQLModel, table=True):
    """Finished tool calls per hour, session, tool and outcome, as hooks and as OTLP saw them.

    A session may report the same calls twice (hooks and its OpenTelemetry export); the
    "tools" count takes the larger of the two per session and hour, and these rows are what
    lets the writer move that maximum by the right amount when either side grows.
    """

    __tablename__ = "session_tool_counts"

    bucket_ms: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    session_id: str = Field(primary_key=True, max_length=256)
    tool: str = Field(primary_key=True, max_length=256)
    outcome: str = Field(primary_key=True, max_length=32)
    hooks: int = Field(sa_column=Column(BigInteger, nullable=False))
    otlp: int = Field(sa_column=Column(BigInteger, nullable=False))


class UsageLedger(SQLModel, table=True):
    """Every change in counted usage, per session and model, at the time it happened.

    Written by the sessions fold in the insert transaction, so the rows of a session always sum
    to its `harness_sessions` usage. Reports and budgets read usage over time from here.
    """

    __tablename__ = "usage_ledger"
    __table_args__ = (
        Index("ix_usage_ledger_at", "at"),
        Index("ix_usage_ledger_session_id", "session_id"),
        Index("ix_usage_ledger_project_at", "project", "at"),
        Index("ix_usage_ledger_loop_id_at", "loop_id", "at"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(_ID_TYPE, primary_key=True, autoincrement=True),
    )
    at: int = Field(sa_column=Column(BigInteger, nullable=False))
    session_id: str = Field(max_length=300)
    source: str = Field(max_length=32)
    project: str | None = Field(default=None, max_length=512)
    loop_id: str | None = Field(default=None, max_length=256)
    model: str = Field(max_length=256)
    input_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    output_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    cache_read_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    cache_creation_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    cost_usd: float = 0.0


class AlertRule(SQLModel, table=True):
    """A rule the alert evaluator checks (router_ext/alerts/rules.py says what each field
    means for each kind)."""

    __tablename__ = "alert_rules"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    kind: str = Field(max_length=32)
    threshold: float
    period: str | None = Field(default=None, max_length=16)
    scope: str = Field(default="all", max_length=16)
    match: str = Field(default="*", max_length=256)
    window_seconds: int | None = None
    min_count: int | None = None
    cooldown_seconds: int = 3600
    stop_ralph: bool = False
    webhooks: str | None = Field(default=None, sa_column=Column(Text))  # JSON list of URLs
    enabled: bool = True
    origin: str = Field(default="api", max_length=16)  # api | file
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class AlertEpisode(SQLModel, table=True):
    """One time a rule fired for a subject, until it resolved."""

    __tablename__ = "alert_episodes"
    __table_args__ = (
        Index("ix_alert_episodes_status", "status"),
        Index("ix_alert_episodes_rule_subject", "rule_id", "subject", "started_at"),
        Index("ix_alert_episodes_started_at", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule_id: int
    rule_name: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    subject: str = Field(max_length=512)
    status: str = Field(default="firing", max_length=16)  # firing | resolved
    value: float
    threshold: float
    message: str = Field(sa_column=Column(Text, nullable=False))
    started_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    resolved_at: int | None = Field(default=None, sa_column=Column(BigInteger))


class UsageHourly(SQLModel, table=True):
    """Counted usage per hour and model: the usage ledger summed, kept by the writer.

    Each ledger increment (a session's signed change in usage) is added here in the same
    transaction, so the rows always equal the ledger grouped by hour and model, and a month of
    cost reads a few thousand rows instead of every session's usage. Retention prunes events,
    never this table or the ledger.
    """

    __tablename__ = "usage_hourly"

    bucket_ms: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    model: str = Field(primary_key=True, max_length=256)
    input_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    output_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    cache_read_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    cache_creation_tokens: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    cost_usd: float = 0.0
