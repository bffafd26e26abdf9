"""Alembic environment: migrate the connection router_ext.store.schema hands over.

Online only: the caller opens the connection (with router-ext's pragmas and timeouts) and
passes it in ``config.attributes["connection"]``; the SQLModel metadata is the target, so
autogenerate compares against the models.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from router_ext.store import models  # noqa: F401  (registers the tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("router-ext migrations run through router_ext.store.schema, "
                       "which passes a connection")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
