"""Who may do what, for every transport: credentials and roles, the per-route policy, stream
tickets, the failed-token limiter and the stream cap, with their metrics.

The adapters enforce it: router_ext.web.security (HTTP and WebSocket), router_ext.grpc.access
(gRPC), router_ext.web.security.protocol (connections and read timeouts under uvicorn).
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from router_ext.access.failures import FailureLimiter
from router_ext.access.roles import Credentials
from router_ext.access.slots import StreamSlots
from router_ext.access.tickets import Tickets
from router_ext.settings import Settings

if TYPE_CHECKING:
    from router_ext.runtime import RouterExt

log = logging.getLogger("router_ext.access")
_HUBS: weakref.WeakKeyDictionary[RouterExt, Access] = weakref.WeakKeyDictionary()
REFUSAL_REASONS = ("host", "origin", "not_json", "unauthenticated", "forbidden", "rate_limited")
LIMIT_REASONS = ("over_limit", "header_timeout", "body_timeout")
LOG_EVERY_SECONDS = 60.0


class AccessMetrics:
    """Refusals before any route runs, and connections refused or closed by a limit."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "harness_access_refused", "Requests refused before reaching a route: a foreign "
            "Host, another origin, a body that is not JSON, a missing or wrong token, a role "
            "that may not, too many wrong tokens", ["transport", "reason"], registry=registry)
        self.limited = Counter(
            "harness_connections_limited", "Connections and streams refused over a cap, or "
            "closed because a request's headers or body did not arrive in time",
            ["transport", "reason"], registry=registry)
        self.streams = Gauge("harness_streams_open", "Live streams open now (all transports)",
                             registry=registry)
        for transport in ("http", "ws"):
            for reason in REFUSAL_REASONS:
                self.refused.labels(transport, reason)
        self.refused.labels("grpc", "unauthenticated")
        self.refused.labels("grpc", "forbidden")
        self.refused.labels("grpc", "rate_limited")
        for transport, reason in (("http", "over_limit"), ("http", "header_timeout"),
                                  ("http", "body_timeout"), ("ws", "over_limit"),
                                  ("sse", "over_limit"), ("grpc", "over_limit")):
            self.limited.labels(transport, reason)


class Access:
    """One per core: credentials, tickets, the failure limiter, the stream cap and metrics."""

    def __init__(self, settings: Settings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.credentials = Credentials(settings)
        self.tickets = Tickets(self.credentials.secrets)
        self.failures = FailureLimiter(settings.auth_failures_per_minute)
        self.metrics = AccessMetrics(registry)
        self.streams = StreamSlots(settings.max_streams, self._stream_refused)
        self.metrics.streams.set_function(lambda: self.streams.in_use)
        self._logged: dict[str, float] = {}

    @classmethod
    def of(cls, core: RouterExt) -> Access:
        """The one Access of a core, made on first use."""
        hub = _HUBS.get(core)
        if hub is None:
            hub = _HUBS[core] = cls(core.settings, core.registry)
        return hub

    def refused(self, transport: str, reason: str) -> None:
        """Count a request refused before routing."""
        self.metrics.refused.labels(transport, reason).inc()

    def limited(self, transport: str, reason: str) -> None:
        """Count a connection or stream refused or closed by a limit."""
        self.metrics.limited.labels(transport, reason).inc()

    def _stream_refused(self, transport: str) -> None:
        self.limited(transport, "over_limit")
        self.warn(f"streams:{transport}", f"refused a {transport} stream: "
                  f"{self.streams.refusal()}")

    def warn(self, key: str, message: str) -> None:
        """Log a refusal, at most once a minute per key, so refusals cannot flood the log."""
        now = time.monotonic()
        if now - self._logged.get(key, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
            return
        if len(self._logged) > 1024:
            self._logged.clear()
        self._logged[key] = now
        log.warning("%s", message)
