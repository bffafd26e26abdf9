"""Alembic's script directory for the router-ext schema (env.py and versions/).

Run through :mod:`router_ext.store.schema` (or `router-ext db ...`); no alembic.ini is needed.
"""
