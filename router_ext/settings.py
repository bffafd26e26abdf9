"""Server settings, read from the environment and overridden by command-line options."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///data/router-ext.db"
MIB = 1024 * 1024


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc


def _env_list(name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Build with :meth:`from_env`, adjust with :meth:`with_`."""

    host: str = "127.0.0.1"
    http_port: int = 4000
    grpc_port: int = 4317
    database_url: str = DEFAULT_DATABASE_URL
    # Largest accepted HTTP body or gRPC message.
    max_body_bytes: int = MIB
    # Bearer token for every role (ingest, read and admin); empty means none.
    token: str = ""
    # One token per role: ingest (hooks, emitters, gRPC Ingest), read (dashboard, streams,
    # Query, /metrics), admin (HITL answers, Ralph stop; also reads). A role with no token of
    # its own and no `token` is open, which only a loopback bind allows without --insecure.
    ingest_token: str = ""
    read_token: str = ""
    admin_token: str = ""
    # Set by `serve --insecure`: start on a non-loopback address with a role left open.
    insecure: bool = False
    # Browser origins allowed by CORS; never a wildcard unless listed.
    cors_origins: tuple[str, ...] = ()
    # Host names accepted besides loopback names and the bound address ("*.example.com" and
    # "*" work); anything else is refused before routing (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    # A client with this many wrong tokens within a minute is refused (429) for that minute.
    auth_failures_per_minute: int = 10
    # A request's headers, then its body, must arrive within these (slow or stalled clients).
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    # Open HTTP connections (WebSockets included), and live streams (WS /stream, SSE, gRPC
    # Subscribe and PublishStream); over them: 503, close 1013, RESOURCE_EXHAUSTED.
    max_connections: int = 512
    max_streams: int = 256
    # Secrets in event text are replaced by a marker naming the kind; extra patterns from a file.
    redact: bool = True
    redact_patterns_path: str = ""
    # Writer: queue bound and largest batch per transaction.
    write_queue_size: int = 100_000
    write_batch_max: int = 2_000
    # Per-subscriber live queue; a subscriber this far behind is cut off.
    subscriber_queue_size: int = 10_000
    # Idle streams get a heartbeat this often.
    heartbeat_seconds: float = 15.0
    # SQLite synchronous mode: NORMAL survives process crashes; FULL also power loss.
    sqlite_synchronous: str = "NORMAL"
    # Human in the loop.
    hitl_default_timeout_seconds: float = 300.0
    hitl_relay_allow_hosts: tuple[str, ...] = ()
    hitl_relay_connect_timeout_seconds: float = 3.0
    permission_hold_seconds: float = 120.0
    permission_default: str = "deny"
    # Sessions with no event for this long become abandoned.
    session_idle_seconds: float = 3600.0
    # Optional price table overriding the packaged one.
    prices_path: str = ""
    grpc_reflection: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        """Read every ROUTER_EXT_* variable (and DATABASE_URL)."""
        return cls(
            host=os.environ.get("ROUTER_EXT_HOST", cls.host),
            http_port=_env_int("ROUTER_EXT_HTTP_PORT", cls.http_port),
            grpc_port=_env_int("ROUTER_EXT_GRPC_PORT", cls.grpc_port),
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            max_body_bytes=_env_int("ROUTER_EXT_MAX_BODY_BYTES", cls.max_body_bytes),
            token=os.environ.get("ROUTER_EXT_TOKEN", ""),
            ingest_token=os.environ.get("ROUTER_EXT_INGEST_TOKEN", ""),
            read_token=os.environ.get("ROUTER_EXT_READ_TOKEN", ""),
            admin_token=os.environ.get("ROUTER_EXT_ADMIN_TOKEN", ""),
            cors_origins=_env_list("ROUTER_EXT_CORS_ORIGINS"),
            allowed_hosts=_env_list("ROUTER_EXT_ALLOWED_HOSTS"),
            auth_failures_per_minute=_env_int("ROUTER_EXT_AUTH_FAILURES_PER_MINUTE",
                                              cls.auth_failures_per_minute),
            header_timeout_seconds=_env_float("ROUTER_EXT_HEADER_TIMEOUT_SECONDS",
                                              cls.header_timeout_seconds),
            body_timeout_seconds=_env_float("ROUTER_EXT_BODY_TIMEOUT_SECONDS",
                                            cls.body_timeout_seconds),
            max_connections=_env_int("ROUTER_EXT_MAX_CONNECTIONS", cls.max_connections),
            max_streams=_env_int("ROUTER_EXT_MAX_STREAMS", cls.max_streams),
            redact=_env_bool("ROUTER_EXT_REDACT", True),
            redact_patterns_path=os.environ.get("ROUTER_EXT_REDACT_PATTERNS", ""),
            write_queue_size=_env_int("ROUTER_EXT_WRITE_QUEUE_SIZE", cls.write_queue_size),
            write_batch_max=_env_int("ROUTER_EXT_WRITE_BATCH_MAX", cls.write_batch_max),
            subscriber_queue_size=_env_int(
                "ROUTER_EXT_SUBSCRIBER_QUEUE_SIZE", cls.subscriber_queue_size
            ),
            heartbeat_seconds=_env_float("ROUTER_EXT_HEARTBEAT_SECONDS", cls.heartbeat_seconds),
            sqlite_synchronous=os.environ.get("ROUTER_EXT_SQLITE_SYNCHRONOUS", "NORMAL").upper(),
            hitl_default_timeout_seconds=_env_float(
                "ROUTER_EXT_HITL_TIMEOUT_SECONDS", cls.hitl_default_timeout_seconds
            ),
            hitl_relay_allow_hosts=_env_list("ROUTER_EXT_HITL_RELAY_ALLOW_HOSTS"),
            hitl_relay_connect_timeout_seconds=_env_float(
                "ROUTER_EXT_HITL_RELAY_TIMEOUT_SECONDS", cls.hitl_relay_connect_timeout_seconds
            ),
            permission_hold_seconds=_env_float(
                "ROUTER_EXT_PERMISSION_HOLD_SECONDS", cls.permission_hold_seconds
            ),
            permission_default=os.environ.get("ROUTER_EXT_PERMISSION_DEFAULT", "deny"),
            session_idle_seconds=_env_float(
                "ROUTER_EXT_SESSION_IDLE_SECONDS", cls.session_idle_seconds
            ),
            prices_path=os.environ.get("ROUTER_EXT_PRICES", ""),
            grpc_reflection=_env_bool("ROUTER_EXT_GRPC_REFLECTION", True),
        )

    def with_(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; None values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return "postgresql" if self.database_url.startswith("postgres") else "sqlite"

    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL and in-memory databases."""
        if self.backend != "sqlite":
            return None
        path = self.database_url.split(":///", 1)[-1]
        return None if path in ("", ":memory:") else Path(path)
