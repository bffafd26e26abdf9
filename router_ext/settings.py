"""Server settings: each declared once, with its environment variable, default and meaning.

:meth:`Settings.from_env` reads them, command-line options override them (:meth:`with_`), and
docs/configuration.md is generated from the same declarations (`router-ext config --markdown`),
so the code and the reference cannot drift apart.
"""

from __future__ import annotations

import os
import typing
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///data/router-ext.db"
MIB = 1024 * 1024
# A batch (a gRPC message, an OTLP export) may be larger than one event's payload limit; 4x
# keeps batches of ~1 KB events at 1,000+ per call while still refusing absurd messages.
BATCH_FACTOR = 4


class SettingError(ValueError):
    """A variable's value cannot be used; the message names the variable."""


def setting(default: Any, env: str, meaning: str) -> Any:
    """A settings field read from `env`, documented by `meaning`."""
    return field(default=default, metadata={"env": env, "meaning": meaning})


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Build with :meth:`from_env`, adjust with :meth:`with_`."""

    host: str = setting("127.0.0.1", "ROUTER_EXT_HOST", "Address to bind (`--host`).")
    http_port: int = setting(4000, "ROUTER_EXT_HTTP_PORT",
                             "HTTP port, 0 for any free one (`--http-port`).")
    grpc_port: int = setting(4317, "ROUTER_EXT_GRPC_PORT",
                             "gRPC port, 0 for any free one (`--grpc-port`).")
    otlp_http_port: int = setting(
        4318, "ROUTER_EXT_OTLP_HTTP_PORT",
        "Port of a second HTTP listener that serves only OTLP/HTTP (`/v1/logs`, `/v1/metrics`, "
        "`/v1/traces`; the `http/protobuf` and `http/json` default port); 0 = off. The HTTP "
        "port serves the same routes as well.")
    otlp_source_app: str = setting(
        "", "ROUTER_EXT_OTLP_SOURCE_APP",
        "`source_app` of every OTLP record; empty = the sender's `service.name`.")
    attribution_labels: int = setting(
        20, "ROUTER_EXT_ATTRIBUTION_LABELS",
        "Users and projects that get their own Prometheus label value (the first seen); "
        "the rest are counted as `other`.")
    database_url: str = setting(DEFAULT_DATABASE_URL, "DATABASE_URL",
                                "`sqlite:///path` or `postgresql://...` (`--database-url`).")
    max_body_bytes: int = setting(MIB, "ROUTER_EXT_MAX_BODY_BYTES",
                                  "Largest accepted HTTP body or gRPC message.")
    # Stop events sent with the whole transcript (`send_event.py --add-chat`) reach several MB
    # in long sessions; such an event must not be lost to the general body limit.
    max_event_bytes: int = setting(
        32 * MIB, "ROUTER_EXT_MAX_EVENT_BYTES",
        "Largest body of `POST /events` and `POST /api/events` (an event with its whole "
        "transcript as `chat`) and of a HITL answer (it may echo the whole event).")
    token: str = setting("", "ROUTER_EXT_TOKEN",
                         "Bearer token for every role (ingest, read and admin); empty means none.")
    # A role with no token of its own and no `token` is open, which only a loopback bind
    # allows without --insecure.
    ingest_token: str = setting("", "ROUTER_EXT_INGEST_TOKEN",
                                "Token for ingest: hooks, emitters, gRPC Ingest.")
    read_token: str = setting("", "ROUTER_EXT_READ_TOKEN",
                              "Token for reads: dashboard, streams, gRPC Query and Subscribe, "
                              "`/metrics`.")
    admin_token: str = setting("", "ROUTER_EXT_ADMIN_TOKEN",
                               "Token for admin: HITL answers, Ralph stop, other changes; "
                               "also reads.")
    insecure: bool = setting(False, "ROUTER_EXT_INSECURE",
                             "Start on a non-loopback address with a role left open "
                             "(`serve --insecure`).")
    cors_origins: tuple[str, ...] = setting(
        (), "ROUTER_EXT_CORS_ORIGINS",
        "Browser origins allowed by CORS, comma-separated; never a wildcard unless listed.")
    allowed_hosts: tuple[str, ...] = setting(
        (), "ROUTER_EXT_ALLOWED_HOSTS",
        "Host names accepted besides loopback names and the bound address (`*.example.com` and "
        "`*` work); any other `Host` is refused before routing (DNS rebinding).")
    auth_failures_per_minute: int = setting(
        10, "ROUTER_EXT_AUTH_FAILURES_PER_MINUTE",
        "Wrong tokens from one client within a minute before it is refused (429) for that minute.")
    header_timeout_seconds: float = setting(10.0, "ROUTER_EXT_HEADER_TIMEOUT_SECONDS",
                                            "A request's headers must arrive within this.")
    body_timeout_seconds: float = setting(30.0, "ROUTER_EXT_BODY_TIMEOUT_SECONDS",
                                          "A request's body must arrive within this.")
    max_connections: int = setting(
        512, "ROUTER_EXT_MAX_CONNECTIONS",
        "Open HTTP connections, WebSockets included; over it new ones get 503.")
    max_streams: int = setting(
        256, "ROUTER_EXT_MAX_STREAMS",
        "Live streams (WS /stream, SSE, gRPC Subscribe and PublishStream); over it: close 1013 "
        "or RESOURCE_EXHAUSTED.")
    redact: bool = setting(True, "ROUTER_EXT_REDACT",
                           "Replace secrets in event text with a marker naming the kind.")
    redact_patterns_path: str = setting("", "ROUTER_EXT_REDACT_PATTERNS",
                                        "File of extra secret patterns to redact.")
    write_queue_size: int = setting(100_000, "ROUTER_EXT_WRITE_QUEUE_SIZE",
                                    "Rows the writer queues before it answers overloaded.")
    write_batch_max: int = setting(2_000, "ROUTER_EXT_WRITE_BATCH_MAX",
                                   "Largest batch of rows per transaction.")
    subscriber_queue_size: int = setting(
        10_000, "ROUTER_EXT_SUBSCRIBER_QUEUE_SIZE",
        "Per-subscriber live queue; a subscriber this far behind is cut off with a resume id.")
    heartbeat_seconds: float = setting(15.0, "ROUTER_EXT_HEARTBEAT_SECONDS",
                                       "Idle streams get a heartbeat this often.")
    ws_compression: str = setting(
        "auto", "ROUTER_EXT_WS_COMPRESSION",
        "permessage-deflate for WebSocket clients: `auto` offers it except to clients on this "
        "machine that came through no proxy (compressing for loopback costs CPU and saves "
        "nothing), `on` to every client, `off` to none. Uncompressed, `/stream` writes each "
        "frame pre-encoded straight to the socket.")
    sqlite_synchronous: str = setting(
        "NORMAL", "ROUTER_EXT_SQLITE_SYNCHRONOUS",
        "SQLite synchronous mode: `NORMAL` survives process crashes, `FULL` also power loss.")
    hitl_default_timeout_seconds: float = setting(
        300.0, "ROUTER_EXT_HITL_TIMEOUT_SECONDS",
        "How long a human-in-the-loop request waits when it names no timeout.")
    hitl_relay_allow_hosts: tuple[str, ...] = setting(
        (), "ROUTER_EXT_HITL_RELAY_ALLOW_HOSTS",
        "Hosts besides loopback that answers may be relayed to, comma-separated.")
    hitl_relay_connect_timeout_seconds: float = setting(
        3.0, "ROUTER_EXT_HITL_RELAY_TIMEOUT_SECONDS", "Connect timeout of the answer relay.")
    permission_hold_seconds: float = setting(
        120.0, "ROUTER_EXT_PERMISSION_HOLD_SECONDS",
        "How long a Claude Code HTTP PermissionRequest is held open for a person's answer.")
    permission_default: str = setting("deny", "ROUTER_EXT_PERMISSION_DEFAULT",
                                      "Decision for a held PermissionRequest nobody answered.")
    session_idle_seconds: float = setting(
        3600.0, "ROUTER_EXT_SESSION_IDLE_SECONDS",
        "A running session with no event for this long becomes `abandoned`.")
    prices_path: str = setting("", "ROUTER_EXT_PRICES",
                               "JSON price table that overrides the packaged one.")
    grpc_reflection: bool = setting(True, "ROUTER_EXT_GRPC_REFLECTION",
                                    "Serve gRPC server reflection.")
    dashboard_dir: str = setting("", "ROUTER_EXT_DASHBOARD_DIR",
                                 "Folder holding the dashboard's `index.html`; by default the "
                                 "one shipped with the package.")
    db_auto_upgrade: bool = setting(
        True, "ROUTER_EXT_DB_AUTO_UPGRADE",
        "Upgrade the database schema at start; off: refuse to start until "
        "`router-ext db upgrade` ran.")
    retention_days: float = setting(
        0.0, "ROUTER_EXT_RETENTION_DAYS",
        "Delete events older than this many days (by their timestamp); 0 keeps them all.")
    max_db_bytes: int = setting(
        0, "ROUTER_EXT_MAX_DB_BYTES",
        "Delete the oldest events while the database holds more than this; 0: no bound.")
    retention_interval_seconds: float = setting(
        300.0, "ROUTER_EXT_RETENTION_INTERVAL_SECONDS", "How often the retention policy runs.")
    retention_batch: int = setting(
        200, "ROUTER_EXT_RETENTION_BATCH",
        "Events deleted per transaction, so ingest waits for one small batch at most.")
    log_format: str = setting("text", "ROUTER_EXT_LOG_FORMAT",
                              "`text`, or `json` for one JSON object per log line.")
    log_level: str = setting("INFO", "ROUTER_EXT_LOG_LEVEL",
                             "Lowest level logged: `DEBUG`, `INFO`, `WARNING`, `ERROR`.")
    alert_interval_seconds: float = setting(
        15.0, "ROUTER_EXT_ALERT_INTERVAL_SECONDS",
        "How often alert rules are checked (a budget is also checked within a second of the "
        "usage that crosses it).")
    alert_rules_file: str = setting(
        "", "ROUTER_EXT_ALERT_RULES_FILE",
        "JSON or TOML file of alert rules, loaded at start (its rules are read-only in the "
        "dashboard and API).")
    alert_webhooks: tuple[str, ...] = setting(
        (), "ROUTER_EXT_ALERT_WEBHOOKS",
        "URLs every alert is posted to, comma-separated (rules can name more).")
    alert_webhook_secret: str = setting(
        "", "ROUTER_EXT_ALERT_WEBHOOK_SECRET",
        "Key of the HMAC-SHA256 signature on every webhook; required when any webhook is set.")
    alert_webhook_timeout_seconds: float = setting(
        5.0, "ROUTER_EXT_ALERT_WEBHOOK_TIMEOUT_SECONDS", "Longest single webhook attempt.")
    alert_webhook_attempts: int = setting(
        6, "ROUTER_EXT_ALERT_WEBHOOK_ATTEMPTS",
        "Attempts per webhook delivery (retried on network errors, 429 and 5xx).")
    alert_webhook_deadline_seconds: float = setting(
        300.0, "ROUTER_EXT_ALERT_WEBHOOK_DEADLINE_SECONDS",
        "A delivery gives up after this long, attempts left or not.")
    alert_timezone: str = setting(
        "UTC", "ROUTER_EXT_ALERT_TIMEZONE",
        "Time zone of the days, weeks (from Monday) and months budgets count.")
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: typing.Mapping[str, str] | None = None) -> Settings:
        """Read every declared variable; unset or empty ones keep their defaults."""
        env = os.environ if environ is None else environ
        values = {}
        for f in declared():
            raw = env.get(f.metadata["env"])
            if raw is not None and raw.strip() != "":
                values[f.name] = _parse(f, raw)
        settings = cls(**values)
        return replace(settings, sqlite_synchronous=settings.sqlite_synchronous.upper(),
                       ws_compression=_switch(settings.ws_compression, "ROUTER_EXT_WS_COMPRESSION"))

    def with_(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; None values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def retention_enabled(self) -> bool:
        """True when an age or size bound is set."""
        return self.retention_days > 0 or self.max_db_bytes > 0

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


def declared() -> list[Field[Any]]:
    """The settings that have an environment variable, in declaration order."""
    return [f for f in fields(Settings) if "env" in f.metadata]


def _kind(f: Field[Any]) -> Any:
    hint = typing.get_type_hints(Settings)[f.name]
    return tuple if typing.get_origin(hint) is tuple else hint


def _parse(f: Field[Any], raw: str) -> Any:
    kind, name = _kind(f), f.metadata["env"]
    if kind is tuple:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            word = "an integer" if kind is int else "a number"
            raise SettingError(f"{name} must be {word}, got {raw!r}") from None
    return raw


def _switch(raw: str, name: str) -> str:
    """`auto`, `on` or `off`; the words a boolean setting takes mean `on` and `off`."""
    word = raw.strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return "on"
    if word in {"0", "false", "no", "off"}:
        return "off"
    if word == "auto":
        return word
    raise SettingError(f"{name} must be auto, on or off, got {raw!r}")


def default_text(f: Field[Any]) -> str:
    """A field's default as the docs show it."""
    value = f.default if f.default is not MISSING else None
    if value in ("", (), None):
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"

