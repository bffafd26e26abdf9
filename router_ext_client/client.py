"""The retrying client every source reports through: hooks, the Ralph emitter, the middleware.

Each event gets its `event_uid` here, once, before the first attempt, so a retry or a replay from
the spool is recognised by the server and never counted twice. A send tries once; only if that fails
does it retry under an explicit tenacity policy (router_ext_client.retry), all within one deadline.
Past the deadline the event goes to the spool, which is replayed after the next good send. An
event the server refuses for good (400/413/422, gRPC INVALID_ARGUMENT or a refused size) goes to
the spool's dead letter instead, live or on replay, so it is kept and never blocks the rest.

HTTP is spoken over a plain socket (no http.client, whose ssl import alone costs a hook ~10 ms);
grpc:// URLs use the gRPC IngestService, imported only then.
"""

from __future__ import annotations

import _socket  # not `socket`: its enum import costs a hook ~3-5 ms
import time

from router_ext_client.config import ClientConfig
from router_ext_client.retry import PermanentError, RetryableError
from router_ext_client.spool import Entry, Refused, ReplayResult, Spool, dumps, loads
from router_ext_client.uid import new_uid

TYPE_CHECKING = False  # typing and dataclasses cost a hook start-up ~14 ms; avoided
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PATHS = {"event": "/events", "metric": "/metrics/harness"}
PERMANENT = (400, 413, 422)


class Outcome:
    """What became of one event: `sent`, `spooled`, `dropped` (spool full) or `rejected`."""

    __slots__ = ("duplicate", "error", "id", "status")

    def __init__(self, status: str, id: int | None = None, duplicate: bool = False,
                 error: str = "") -> None:
        self.status = status
        self.id = id
        self.duplicate = duplicate
        self.error = error

    def __repr__(self) -> str:
        return f"Outcome({self.status!r}, id={self.id}, duplicate={self.duplicate})"


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return b"".join(out)
        size = int(data[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        pos = end + 4 + size


def _complete(buf: bytes) -> tuple[int, bytes] | None:
    """(status, body) once the whole response is in `buf`, else None."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
    body = buf[head_end + 4:]
    length = headers.get("content-length")
    if length is not None:
        return (status, body[:int(length)]) if len(body) >= int(length) else None
    if "chunked" in headers.get("transfer-encoding", ""):
        return (status, _dechunk(body)) if body.endswith(b"0\r\n\r\n") else None
    return None  # read to EOF


def _connect(host: str, port: int, timeout: float) -> _socket.socket:
    """socket.create_connection, minus its cost for a hook.

    A str host makes getaddrinfo encode it with the idna codec, whose import (encodings.idna,
    stringprep) costs a fresh process 10-50 ms; an ASCII host passed as bytes skips it.
    """
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    error: OSError | None = None
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0,
                                                               _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {host}")


def http_request(host: str, port: int, method: str, path: str, body: bytes | None,
                 *, token: str = "", timeout: float = 2.0) -> tuple[int, bytes]:
    """One HTTP/1.1 exchange within `timeout` seconds; RetryableError on any network fault."""
    deadline = time.monotonic() + timeout
    try:
        sock = _connect(host, port, max(timeout, 0.001))
    except OSError as exc:
        raise RetryableError(f"cannot connect to {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                 "Accept: application/json"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RetryableError(f"no answer from {host}:{port} within {timeout:.3f}s")
            sock.settimeout(left)
            data = sock.recv(65536)
            if not data:
                break
            buf += data
            done = _complete(buf)
            if done is not None:
                return done
        head_end = buf.find(b"\r\n\r\n")  # closed without a length: the body is the rest
        if head_end < 0:
            raise RetryableError(f"{host}:{port} closed the connection without an answer")
        return int(buf.split(b" ", 2)[1]), buf[head_end + 4:]
    except (OSError, ValueError, IndexError) as exc:
        raise RetryableError(f"{host}:{port}: {exc or type(exc).__name__}") from exc
    finally:
        sock.close()


def without_chat(body: dict[str, Any]) -> bool:
    """Drop a too-large event's `chat` (the transcript), saying so in its payload.

    The event itself is worth more than the copy of the transcript it carried; the payload
    keeps `router_ext_chat_dropped: {"bytes": N, "messages": M}`. False when there is no chat.
    """
    chat = body.pop("chat", None)
    if chat is None:
        return False
    payload = body.get("payload")
    note = {"bytes": len(dumps(chat).encode()),
            "messages": len(chat) if isinstance(chat, list) else 0}
    if isinstance(payload, dict):
        payload["router_ext_chat_dropped"] = note
    else:
        body["router_ext_chat_dropped"] = note
    return True


class Client:
    """Sends events and harness metrics; spools what cannot be delivered in time."""

    def __init__(self, config: ClientConfig | None = None, spool: Spool | None = None) -> None:
        self.config = config or ClientConfig.from_env()
        self.spool = spool or Spool(self.config.spool_dir, self.config.spool_max_bytes)
        self._grpc: Any = None
        # Called once before the first retry (the hook uses it to make tenacity importable).
        self.before_retry: Callable[[], None] | None = None

    # -- public -------------------------------------------------------------------------

    def send_event(self, body: dict[str, Any]) -> Outcome:
        """POST /events (the well-known dashboard's body)."""
        return self.send("event", body)

    def send_metric(self, body: dict[str, Any]) -> Outcome:
        """POST /metrics/harness (Ralph loops, harness API)."""
        return self.send("metric", body)

    def prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        """Stamp event_uid, host and timestamp, once, before any attempt."""
        body.setdefault("event_uid", new_uid())
        if self.config.host:
            body.setdefault("host", self.config.host)
        body.setdefault("timestamp", time.time_ns() // 1_000_000)
        return body

    def send(self, kind: str, body: dict[str, Any]) -> Outcome:
        """Deliver within the deadline, else spool; replays the spool after a good send."""
        self.prepare(body)
        backlog = self.spool.size()
        if backlog:  # the server watches each host's backlog (its spool_growth alerts)
            body.setdefault("spool_bytes", backlog)
        deadline = time.monotonic() + self.config.deadline
        try:
            try:
                ack = self._deliver(kind, body, deadline)
            except PermanentError as exc:
                if exc.status != 413 or not without_chat(body):
                    raise
                ack = self._deliver(kind, body, deadline)  # the event, less its transcript
        except PermanentError as exc:
            self.spool.dead_letter(Entry(kind, body, time.time_ns() // 1_000_000),
                                   Refused(exc.status, exc.detail))
            return Outcome("rejected", error=exc.detail)
        except RetryableError as exc:
            kept = self.spool.append(kind, body)
            return Outcome("spooled" if kept else "dropped", error=str(exc))
        if self.spool.size():
            self.replay(deadline=deadline, limit=self.config.replay_batch)
        return Outcome("sent", id=ack.get("id"), duplicate=bool(ack.get("duplicate")))

    def replay(self, *, deadline: float | None = None, limit: int | None = None) -> ReplayResult:
        """Send spooled events oldest first, one attempt each; stops at the first failure."""

        def send(entry: Entry) -> bool | Refused:
            left = self.config.attempt_timeout if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._attempt(entry.kind, entry.body, min(self.config.attempt_timeout, left))
            except PermanentError as exc:  # never taken: to the dead letter, not in the way
                return Refused(exc.status, exc.detail)
            except RetryableError:
                return False
            return True

        return self.spool.replay(send, limit=limit, deadline=deadline)

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        """GET a JSON document from the HTTP server (one attempt)."""
        host, port, prefix = self.config.address()
        status, data = http_request(host, port, "GET", prefix + path, None,
                                    token=self.config.token,
                                    timeout=timeout or self.config.attempt_timeout)
        if status == 404:
            raise PermanentError(status, data.decode("utf-8", "replace")[:500])
        self._check(status, data)
        return loads(data)

    def close(self) -> None:
        """Close a gRPC channel, if one was opened."""
        if self._grpc is not None:
            self._grpc[0].close()
            self._grpc = None

    # -- delivery -----------------------------------------------------------------------

    def _deliver(self, kind: str, body: dict[str, Any], deadline: float) -> dict[str, Any]:
        cfg = self.config
        first = min(cfg.attempt_timeout, max(0.001, deadline - time.monotonic()))
        try:
            return self._attempt(kind, body, first)
        except RetryableError:
            if cfg.max_attempts <= 1 or deadline - time.monotonic() <= 0.005:
                raise
        if self.before_retry is not None:
            self.before_retry()
        from router_ext_client.retry import call_with_retries  # tenacity only on the retry path

        return call_with_retries(lambda timeout: self._attempt(kind, body, timeout),
                                 max_attempts=cfg.max_attempts - 1, deadline=deadline,
                                 attempt_timeout=cfg.attempt_timeout)

    def _attempt(self, kind: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.config.transport == "grpc":
            if self._grpc is None:
                self._grpc = _grpc_connect(self.config)
            return _grpc_publish(self._grpc, kind, body, timeout, self.config.token)
        host, port, prefix = self.config.address()
        data = dumps(body).encode()
        status, answer = http_request(host, port, "POST", prefix + PATHS[kind], data,
                                      token=self.config.token, timeout=timeout)
        self._check(status, answer)
        try:
            parsed = loads(answer) if answer else {}
        except (ValueError, UnicodeDecodeError):
            parsed = {}
        return parsed if isinstance(parsed, dict) else {}

    @staticmethod
    def _check(status: int, answer: bytes) -> None:
        if status in PERMANENT:
            raise PermanentError(status, answer.decode("utf-8", "replace")[:500])
        if status >= 300:
            # 401/403/404 are retried and then spooled too: a token or a route fixed later
            # must still receive the event.
            raise RetryableError(f"server answered {status}")


# -- gRPC (imported only for grpc:// URLs) ---------------------------------------------------

EVENT_STRINGS = ("event_uid", "source_app", "session_id", "hook_event_type", "model_name",
                 "host", "agent_id", "tool_name", "tool_use_id", "summary")
METRIC_FIELDS = ("event_uid", "source", "event", "label", "task_id", "task_title",
                 "duration_ms", "success", "error", "exit_code", "num_turns", "model", "tokens",
                 "cost_usd", "claude_session_id", "project", "completed_tasks", "failed_tasks",
                 "host", "session_id")


def _grpc_connect(config: ClientConfig) -> tuple[Any, Any]:
    import grpc

    from router_ext.v1 import ingest_pb2_grpc

    host, port, _ = config.address()
    channel = grpc.insecure_channel(f"{host}:{port}")
    return channel, ingest_pb2_grpc.IngestServiceStub(channel)


def _event_proto(body: dict[str, Any]) -> Any:
    from router_ext.v1 import types_pb2

    msg = types_pb2.Event(payload_json=dumps(body.get("payload") or {}),
                          timestamp_ms=int(body.get("timestamp") or 0))
    for name in EVENT_STRINGS:
        if isinstance(body.get(name), str):
            setattr(msg, name, body[name])
    hitl = body.get("humanInTheLoop")
    if isinstance(hitl, dict):
        msg.human_in_the_loop.question = str(hitl.get("question") or "")
        msg.human_in_the_loop.type = str(hitl.get("type") or "question")
        msg.human_in_the_loop.timeout_seconds = float(hitl.get("timeout") or 0)
        msg.human_in_the_loop.response_websocket_url = str(hitl.get("responseWebSocketUrl") or "")
    return msg


def _metric_proto(body: dict[str, Any]) -> Any:
    from google.protobuf.json_format import ParseDict

    from router_ext.v1 import types_pb2

    known = {k: int(v) if isinstance(v, float) and k not in ("cost_usd",) else v
             for k, v in body.items() if k in METRIC_FIELDS and v is not None}
    extra = {k: v for k, v in body.items() if k not in METRIC_FIELDS and k != "timestamp"}
    msg = ParseDict(known, types_pb2.HarnessMetric(), ignore_unknown_fields=True)
    if isinstance(body.get("timestamp"), int):
        msg.timestamp_ms = body["timestamp"]
    if extra:
        msg.extra_json = dumps(extra)
    return msg


def _grpc_publish(conn: tuple[Any, Any], kind: str, body: dict[str, Any], timeout: float,
                  token: str) -> dict[str, Any]:
    import grpc

    from router_ext.v1 import ingest_pb2

    _, stub = conn
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    try:
        if kind == "metric":
            ack = stub.PublishMetric(ingest_pb2.PublishMetricRequest(metric=_metric_proto(body)),
                                     timeout=timeout, metadata=metadata)
        else:
            ack = stub.Publish(ingest_pb2.PublishRequest(event=_event_proto(body)),
                               timeout=timeout, metadata=metadata)
    except grpc.RpcError as exc:
        code = exc.code()
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            raise PermanentError(400, str(exc.details())) from exc
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED and _grpc_kind(exc) != "overloaded":
            # Too large (ours or gRPC's own message limit); only a full queue is worth a retry.
            raise PermanentError(413, str(exc.details())) from exc
        raise RetryableError(f"gRPC {code.name}: {exc.details()}") from exc
    except ValueError as exc:  # a body that does not fit the message: bad input
        raise PermanentError(400, str(exc)) from exc
    return {"id": ack.id, "event_uid": ack.event_uid, "duplicate": ack.duplicate}


def _grpc_kind(exc: Any) -> str:
    """The server's error kind from the trailing metadata (router-ext-error), or ""."""
    for key, value in exc.trailing_metadata() or ():
        if key == "router-ext-error":
            return str(value)
    return ""
