"""alert_rules and alert_episodes: writes are functions for the writer (one transaction
each), reads are functions of a connection."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from router_ext.alerts.rules import Rule
from router_ext.errors import Conflict, NotFound
from router_ext.records import Row
from router_ext.store.models import AlertEpisode, AlertRule

RULES = AlertRule.__table__  # type: ignore[attr-defined]
EPISODES = AlertEpisode.__table__  # type: ignore[attr-defined]
MAX_EPISODES = 500


def load_rules(conn: Connection) -> list[Rule]:
    """Every rule, by id."""
    return [Rule.from_row(dict(r._mapping)) for r in conn.execute(
        select(RULES).order_by(RULES.c.id))]


def _named(conn: Connection, name: str, other_than: int | None = None) -> bool:
    query = select(RULES.c.id).where(RULES.c.name == name)
    if other_than is not None:
        query = query.where(RULES.c.id != other_than)
    return conn.execute(query).first() is not None


def add_rule(conn: Connection, rule: Rule, now_ms: int) -> tuple[Rule, list[Row]]:
    """Store a new rule (409 when the name is taken)."""
    if _named(conn, rule.name):
        raise Conflict(f"a rule named {rule.name!r} exists")
    result = conn.execute(insert(RULES).values(**rule.columns(), created_at=now_ms,
                                               updated_at=now_ms))
    rule.id = int(result.inserted_primary_key[0])  # type: ignore[index]
    return rule, []


def _editable(conn: Connection, rule_id: int) -> dict[str, Any]:
    row = conn.execute(select(RULES).where(RULES.c.id == rule_id)).first()
    if row is None:
        raise NotFound(f"no alert rule {rule_id}")
    if row._mapping["origin"] == "file":
        raise Conflict(f"rule {rule_id} comes from the rules file; change it there")
    return dict(row._mapping)


def replace_rule(conn: Connection, rule_id: int, rule: Rule, now_ms: int) -> tuple[Rule, list[Row]]:
    """Change a rule (404 unknown, 409 from the file or name taken)."""
    _editable(conn, rule_id)
    if _named(conn, rule.name, other_than=rule_id):
        raise Conflict(f"a rule named {rule.name!r} exists")
    conn.execute(update(RULES).where(RULES.c.id == rule_id).values(**rule.columns(),
                                                                   updated_at=now_ms))
    rule.id = rule_id
    return rule, []


def delete_rule(conn: Connection, rule_id: int) -> tuple[None, list[Row]]:
    """Remove a rule (404 unknown, 409 from the file)."""
    _editable(conn, rule_id)
    conn.execute(delete(RULES).where(RULES.c.id == rule_id))
    return None, []


def sync_file_rules(conn: Connection, rules: list[Rule], now_ms: int) -> tuple[int, list[Row]]:
    """Make the file's rules the stored file rules: upsert by name, drop the ones gone."""
    names = {r.name for r in rules}
    stored = {r.name: r for r in load_rules(conn)}
    for rule in rules:
        known = stored.get(rule.name)
        if known is None:
            conn.execute(insert(RULES).values(**rule.columns(), created_at=now_ms,
                                              updated_at=now_ms))
        else:
            conn.execute(update(RULES).where(RULES.c.id == known.id).values(
                **rule.columns(), updated_at=now_ms))
    gone = [r.id for r in stored.values() if r.origin == "file" and r.name not in names]
    if gone:
        conn.execute(delete(RULES).where(RULES.c.id.in_(gone)))
    return len(rules), []


def open_episode(conn: Connection, episode: dict[str, Any]) -> tuple[int, list[Row]]:
    """Store a firing episode; returns its id."""
    result = conn.execute(insert(EPISODES).values(**episode))
    return int(result.inserted_primary_key[0]), []  # type: ignore[index]


def resolve_episode(conn: Connection, episode_id: int, now_ms: int) -> tuple[None, list[Row]]:
    """Mark an episode resolved."""
    conn.execute(update(EPISODES).where(EPISODES.c.id == episode_id)
                 .values(status="resolved", resolved_at=now_ms))
    return None, []


def episodes(conn: Connection, *, status: str | None = None, limit: int = 100,
             since_ms: int | None = None) -> list[dict[str, Any]]:
    """Episodes, newest first."""
    query = select(EPISODES)
    if status:
        query = query.where(EPISODES.c.status == status)
    if since_ms is not None:
        query = query.where(EPISODES.c.started_at >= since_ms)
    query = query.order_by(EPISODES.c.started_at.desc(), EPISODES.c.id.desc())
    return [dict(r._mapping) for r in conn.execute(query.limit(min(limit, MAX_EPISODES)))]


def last_resolved(conn: Connection, since_ms: int) -> dict[tuple[int, str], int]:
    """When each (rule, subject) last resolved since `since_ms` (cooldowns survive restarts)."""
    query = (select(EPISODES.c.rule_id, EPISODES.c.subject, EPISODES.c.resolved_at)
             .where(EPISODES.c.status == "resolved", EPISODES.c.resolved_at >= since_ms))
    out: dict[tuple[int, str], int] = {}
    for rule_id, subject, at in conn.execute(query):
        key = (int(rule_id), str(subject))
        out[key] = max(out.get(key, 0), int(at))
    return out
