"""A real webhook receiver for the alert tests: an HTTP server on 127.0.0.1 that checks each
delivery's HMAC-SHA256 signature the way a receiver should, and can refuse first attempts."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_AGE_SECONDS = 300


@dataclass
class Delivery:
    """One attempt the receiver saw."""

    event: str
    delivery_id: str
    payload: dict[str, Any]
    signed: bool
    status: int


@dataclass
class Receiver:
    """What the receiver saw, and how it answers."""

    secret: str
    url: str = ""
    fail_first_attempts: bool = False
    attempts: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, headers: Any, body: bytes) -> bool:
        """The receiver's check: signature over timestamp + body, and a fresh timestamp."""
        stamp = headers.get("x-router-ext-timestamp", "")
        given = headers.get("x-router-ext-signature", "")
        mac = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < MAX_AGE_SECONDS
        return fresh and hmac.compare_digest(given, "sha256=" + mac.hexdigest())

    def delivered(self, rule: str, subject: str) -> list[Delivery]:
        """A rule's deliveries about one subject answered 200, once each (a retried delivery
        counts once)."""
        with self.lock:
            seen: dict[str, Delivery] = {}
            for d in self.attempts:
                episode = d.payload["episode"]
                if d.status == 200 and (episode["rule_name"], episode["subject"]) == (rule,
                                                                                    subject):
                    seen.setdefault(d.delivery_id, d)
            return list(seen.values())

    def wait_for(self, count: int, rule: str, subject: str,
                 timeout: float = 20) -> list[Delivery]:
        """Poll until `count` such deliveries arrived (or the timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.delivered(rule, subject)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.delivered(rule, subject)


@contextmanager
def receiver(secret: str) -> Iterator[Receiver]:
    """A receiver on a free loopback port."""
    state = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            signed = state.verify(self.headers, body)
            delivery = self.headers.get("x-router-ext-delivery", "")
            with state.lock:
                first = not any(a.delivery_id == delivery for a in state.attempts)
                status = 401 if not signed else (
                    503 if state.fail_first_attempts and first else 200)
                state.attempts.append(Delivery(self.headers.get("x-router-ext-event", ""),
                                               delivery, json.loads(body), signed, status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
