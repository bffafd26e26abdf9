"""ASGI middleware that reports every request of a claude-harness API (Starlette or FastAPI).

    app.add_middleware(HarnessMiddleware, reporter=Reporter(), require_project=False)

For each HTTP request it records method, route template (never the raw path, so metrics stay
bounded), status, duration, and the X-Project and X-Session-ID headers. The request only puts a
tuple on a queue; a background thread builds the `/metrics/harness` body and sends it through
the retrying client, so a slow or absent router-ext never slows a request. With
`require_project=True` a request without X-Project is answered 400 with a message naming the
header. :class:`Reporter` also carries job metrics (job_started, job_completed, ...), which the
server folds into harness sessions with source `api`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router_ext_client.client import Client

MAX_PENDING = 10_000
PROJECT = b"x-project"
SESSION = b"x-session-id"
MISSING_PROJECT = json.dumps({
    "error": "invalid", "field": "X-Project",
    "detail": "the X-Project header is required: send X-Project: <project name> with every "
              "request",
}).encode()


class Reporter:
    """A background sender: `submit` never blocks; daemon threads deliver.

    Several senders run at once because each send waits for the server's commit; the server
    groups concurrent commits, so four senders deliver about four times as much. Order across
    senders is not kept (each record carries its own timestamp and event_uid).
    """

    def __init__(self, client: Client | None = None, *, max_pending: int = MAX_PENDING,
                 workers: int = 4) -> None:
        self.client = client
        self.max_pending = max_pending
        self.workers = max(1, workers)
        self.dropped = 0
        self.sent = 0
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._pending = 0

    def submit(self, kind: str, item: Any) -> None:
        """Queue a request record ("request") or a ready metric body ("metric")."""
        if self._queue.qsize() >= self.max_pending:
            self.dropped += 1  # the app must not grow without bound when router-ext is gone
            return
        with self._done:
            self._pending += 1
        self._queue.put((kind, item))
        if not self._threads:
            self._start()

    def metric(self, body: dict[str, Any]) -> None:
        """Queue a /metrics/harness body (jobs use this)."""
        self.submit("metric", body)

    def _start(self) -> None:
        with self._lock:
            if self._threads:
                return
            if self.client is None:
                self.client = Client()
            for n in range(self.workers):
                thread = threading.Thread(target=self._run, name=f"harness-reporter-{n}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        client = self.client
        assert client is not None
        while True:
            got = self._queue.get()
            if got is None:
                return
            kind, item = got
            body = request_body(*item) if kind == "request" else item
            try:
                client.send_metric(body)  # retried, then spooled: never lost, never raised
                self.sent += 1
            except Exception:
                self.dropped += 1
            with self._done:
                self._pending -= 1
                self._done.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was handed to the client."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then stop the threads."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout)


def request_body(method: str, route: str, status: int, duration_s: float, project: str | None,
                 session: str | None, started_ms: int) -> dict[str, Any]:
    """The /metrics/harness body for one request."""
    body: dict[str, Any] = {
        "source": "api", "event": "request", "method": method, "route": route,
        "status": status, "duration_ms": int(duration_s * 1000),
        "duration_us": int(duration_s * 1_000_000),
        "success": status < 500, "timestamp": started_ms,
    }
    if project:
        body["project"] = project
    if session:
        body["session_id"] = session
    return body


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "unmatched"  # 404s and the like: one value, not one per probed URL
    return scope.get("root_path", "") + path


class HarnessMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware), so streaming responses pass through untouched."""

    def __init__(self, app: ASGIApp, *, reporter: Reporter | None = None,
                 require_project: bool = False, skip_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.reporter = reporter or Reporter()
        self.require_project = require_project
        self.skip_paths = skip_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return
        project = session = None
        for name, value in scope["headers"]:
            if name == PROJECT:
                project = value.decode("latin-1")
            elif name == SESSION:
                session = value.decode("latin-1")
        started_ms = time.time_ns() // 1_000_000
        started = time.perf_counter()
        if self.require_project and not project:
            await _reject(send)
            self.reporter.submit("request", (scope["method"], "rejected", 400,
                                             time.perf_counter() - started, None, session,
                                             started_ms))
            return
        status = 500  # what it is if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.reporter.submit("request", (scope["method"], _route(scope), status,
                                             time.perf_counter() - started, project, session,
                                             started_ms))


async def _reject(send: Send) -> None:
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(MISSING_PROJECT)).encode())]})
    await send({"type": "http.response.body", "body": MISSING_PROJECT})
