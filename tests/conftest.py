"""Shared fixtures: a real server per test module on free ports, with its own database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_server import pg_bin, postgres_server
from tests.support import ServerProcess, require, served, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A router-ext server with an empty SQLite database, shared by one test module."""
    yield from served(tmp_path_factory, "db")


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own for one test."""
    proc = start_server(f"sqlite:///{tmp_path / 'router-ext.db'}")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for one test module (fails under REQUIRE_ALL if absent)."""
    require(pg_bin() is not None, "PostgreSQL (initdb) is not installed")
    with postgres_server() as url:
        yield url


from tests.e2e.claude import claude  # noqa: E402,F401  (fixture for end-to-end tests)
