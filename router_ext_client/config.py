"""Client settings: where the server is, the token, the spool, and the time budget.

Read from ROUTER_EXT_URL, ROUTER_EXT_INGEST_TOKEN (else ROUTER_EXT_TOKEN),
ROUTER_EXT_SPOOL_DIR and friends; command-line options override them through
:meth:`ClientConfig.with_`. Standard library only, because a hook process imports this on every
event.
"""

from __future__ import annotations

import _socket  # gethostname without the socket module's imports
import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs a hook ~5 ms
if TYPE_CHECKING:
    from typing import Any

DEFAULT_URL = "http://127.0.0.1:4000"
MIB = 1024 * 1024


def default_spool_dir() -> str:
    """`$XDG_STATE_HOME/router-ext/spool`, else `~/.local/state/router-ext/spool`."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "router-ext", "spool")


def ingest_token() -> str:
    """The token clients report with: the ingest role's own, else the all-roles one."""
    return os.environ.get("ROUTER_EXT_INGEST_TOKEN") or os.environ.get("ROUTER_EXT_TOKEN", "")


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        return default  # a client must never fail on a bad variable; the default is safe


def _int(name: str, default: int) -> int:
    return int(_float(name, float(default)))


class ClientConfig:
    """Everything the retrying client needs. Build with :meth:`from_env`.

    A plain class rather than a dataclass: importing dataclasses costs a hook ~9 ms.
    """

    # http://HOST:PORT sends JSON over HTTP; grpc://HOST:PORT uses the gRPC IngestService.
    url: str = DEFAULT_URL
    token: str = ""
    spool_dir: str = ""
    # Overall time budget for one send, retries included; past it the event is spooled.
    deadline: float = 5.0
    # Longest single attempt (connect + answer); never more than what is left of the deadline.
    attempt_timeout: float = 2.0
    max_attempts: int = 4
    # The spool's size bound; past it new events are dropped and counted.
    spool_max_bytes: int = 64 * MIB
    # Replay at most this many spooled events after a successful send (the rest wait).
    replay_batch: int = 200
    host: str = ""

    FIELDS = ("url", "token", "spool_dir", "deadline", "attempt_timeout", "max_attempts",
              "spool_max_bytes", "replay_batch", "host")

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            if name not in self.FIELDS:
                raise TypeError(f"unknown client setting {name!r}")
            setattr(self, name, value)

    def __repr__(self) -> str:
        shown = {n: ("***" if n == "token" and self.token else getattr(self, n))
                 for n in self.FIELDS}
        return f"ClientConfig({shown})"

    @classmethod
    def from_env(cls, **overrides: Any) -> ClientConfig:
        """Read the ROUTER_EXT_* client variables, then apply non-None overrides."""
        config = cls(
            url=os.environ.get("ROUTER_EXT_URL") or DEFAULT_URL,
            token=ingest_token(),
            spool_dir=os.environ.get("ROUTER_EXT_SPOOL_DIR") or default_spool_dir(),
            deadline=_float("ROUTER_EXT_DEADLINE", cls.deadline),
            attempt_timeout=_float("ROUTER_EXT_ATTEMPT_TIMEOUT", cls.attempt_timeout),
            max_attempts=max(1, _int("ROUTER_EXT_MAX_ATTEMPTS", cls.max_attempts)),
            spool_max_bytes=_int("ROUTER_EXT_SPOOL_MAX_BYTES", cls.spool_max_bytes),
            replay_batch=_int("ROUTER_EXT_REPLAY_BATCH", cls.replay_batch),
            host=os.environ.get("ROUTER_EXT_HOST_ID") or _socket.gethostname(),
        )
        return config.with_(**overrides)

    def with_(self, **changes: Any) -> ClientConfig:
        """A copy with the given fields changed; None values are ignored."""
        values = {name: getattr(self, name) for name in self.FIELDS}
        values.update({k: v for k, v in changes.items() if v is not None})
        return ClientConfig(**values)

    @property
    def transport(self) -> str:
        """`grpc` for grpc:// URLs, else `http`."""
        return "grpc" if self.url.startswith("grpc://") else "http"

    def address(self) -> tuple[str, int, str]:
        """(host, port, path prefix) of the server URL."""
        rest = self.url.split("://", 1)[-1]
        hostport, _, prefix = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        if not host:  # no port given
            host, port = hostport, "4317" if self.transport == "grpc" else "80"
        return host.strip("[]"), int(port), ("/" + prefix.rstrip("/")) if prefix else ""
