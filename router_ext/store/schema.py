"""The schema version of a database, and upgrading it with the packaged Alembic migrations.

Alembic is configured here in code (no alembic.ini): the script directory ships inside the
package, and every command runs on a connection router-ext opened itself. A database made by
router-ext 0.1.0 (create_all, no alembic_version) is recognised by its tables and stamped with
the first revision; a database whose revision this code does not know is newer than the code
and is refused, never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from router_ext.errors import RouterExtError

log = logging.getLogger(__name__)
# Alembic logs every context it opens at INFO; what changed is logged here instead.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
SCRIPTS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
MIGRATION_LOCK = 0x726F7576  # next to the insert lock's key ("rout")
# The tables (and columns) of router-ext 0.1.0, which the baseline revision creates.
BASELINE_TABLES = {
    "events": {"id", "event_uid", "source_app", "session_id", "hook_event_type", "payload",
               "timestamp", "received_at", "hitl_status"},
    "harness_sessions": {"id", "source", "status", "started_at", "last_event_at",
                         "input_tokens", "output_tokens", "cost_usd"},
}


class SchemaError(RouterExtError):
    """The database's schema cannot be used by this code as it is."""

    kind = "schema"


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer router-ext."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its revision (None when empty) and the code's newest."""

    current: str | None
    head: str
    legacy: bool = False  # made by 0.1.0: tables but no revision recorded yet

    @property
    def up_to_date(self) -> bool:
        """True when the database is at the code's newest revision."""
        return self.current == self.head

    def as_dict(self) -> dict[str, object]:
        """For /health and `router-ext doctor`."""
        return {"revision": self.current, "head": self.head, "up_to_date": self.up_to_date,
                "legacy": self.legacy}


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    """The packaged revisions."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this code knows."""
    revision = scripts().get_current_head()
    assert revision is not None
    return revision


def history() -> list[tuple[str, str]]:
    """(revision, one-line description) from the oldest to the newest."""
    revisions = reversed(list(scripts().walk_revisions()))
    return [(r.revision, (r.doc or "").strip().splitlines()[0]) for r in revisions]


def _recorded(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _is_legacy(conn: Connection) -> bool:
    """True for a 0.1.0 database: its tables exist but no revision is recorded."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables or not tables & set(BASELINE_TABLES):
        return False
    for table, needed in BASELINE_TABLES.items():
        if table not in tables:
            raise SchemaError(f"the database has no '{table}' table next to the others; "
                              f"it was not made by router-ext")
        columns = {c["name"] for c in inspect(conn).get_columns(table)}
        if missing := needed - columns:
            raise SchemaError(f"table '{table}' lacks {', '.join(sorted(missing))}; "
                              f"it was not made by router-ext")
    return True


def state(engine: Engine) -> SchemaState:
    """The database's revision next to the code's; raises SchemaTooNew when it is newer."""
    with engine.connect() as conn:
        current = _recorded(conn)
        if current is None and _is_legacy(conn):
            current = "legacy"  # 0.1.0: upgrading stamps the baseline first
    code_head = head()
    if current not in (None, "legacy"):
        _check_known(current, code_head)
    if current == "legacy":
        return SchemaState(None, code_head, legacy=True)
    return SchemaState(current, code_head)


def _check_known(current: str, code_head: str) -> None:
    known = {r.revision for r in scripts().walk_revisions()}
    if current not in known:
        raise SchemaTooNew(f"the database schema is at revision {current}, newer than this "
                           f"router-ext (which knows up to {code_head}); run a newer "
                           f"router-ext or restore a backup")


@contextmanager
def _one_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction that holds DDL too, committed at the end.

    SQLite's DDL is transactional, but Python's sqlite3 driver opens a transaction only before
    INSERT/UPDATE/DELETE, so a CREATE TABLE ran on its own and a process killed half-way left
    tables with no revision stamped (and the next start failed with "table exists"). As in
    SQLAlchemy's pysqlite recipe, the driver's own transaction handling is turned off and
    BEGIN IMMEDIATE issued explicitly: every migration and its version stamp commit together.
    """
    with engine.connect() as conn:
        driver = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        saved = getattr(driver, "isolation_level", None)
        if driver is not None:
            driver.isolation_level = None
        try:
            with conn.begin():
                if driver is not None:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        finally:
            if driver is not None:
                driver.isolation_level = saved


def upgrade(engine: Engine, target: str = "head") -> SchemaState:
    """Bring the database to `target` (stamping a 0.1.0 database first); returns the new state.

    Everything commits at once or not at all, on SQLite as on PostgreSQL."""
    before = state(engine).current  # refuses a newer database before anything is written
    with _one_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            # Replicas sharing a database start together: one migrates, the others wait here
            # and then find nothing to do (PostgreSQL's DDL is transactional).
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config = alembic_config(conn)
        if _recorded(conn) is None and _is_legacy(conn):
            log.info("database made by router-ext 0.1.0: recording schema revision %s",
                     BASELINE)
            command.stamp(config, BASELINE)
            before = BASELINE
        command.upgrade(config, target)
    after = state(engine)
    if after.current != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after.current)
    return after


def check(engine: Engine, *, auto_upgrade: bool) -> SchemaState:
    """Raise SchemaError unless starting on this database is allowed; writes nothing."""
    current = state(engine)
    if not auto_upgrade and not current.up_to_date:
        raise SchemaError(f"the database schema is at revision {_name(current)} "
                          f"and this router-ext needs {current.head}; run "
                          f"`router-ext db upgrade` (ROUTER_EXT_DB_AUTO_UPGRADE is off)")
    return current


def _name(state: SchemaState) -> str:
    return "0.1.0 (none recorded)" if state.legacy else state.current or "none (empty)"


def prepare(engine: Engine, *, auto_upgrade: bool) -> SchemaState:
    """At start: upgrade when allowed, else insist the database is already current."""
    current = check(engine, auto_upgrade=auto_upgrade)
    return upgrade(engine) if auto_upgrade else current
