"""Signed webhook deliveries, retried under an explicit, bounded policy.

Every delivery is a POST of a JSON body with these headers:

    X-Router-Ext-Event: alert.firing | alert.resolved
    X-Router-Ext-Delivery: a UUID, the same on every attempt (receivers deduplicate by it)
    X-Router-Ext-Timestamp: Unix seconds when the delivery was signed
    X-Router-Ext-Signature: sha256=HEX, HMAC-SHA256 with the shared secret over
                            "{timestamp}." followed by the body bytes

A receiver recomputes the signature, compares in constant time and refuses old timestamps (a
replayed delivery). Attempts are retried on network errors, timeouts, 429 and 5xx with
exponential backoff and full jitter, stopping after `attempts` or `deadline` seconds, whichever
comes first (tenacity, every choice spelled out as in router_ext_client.retry); other answers
are final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

WAIT_MULTIPLIER = 0.5  # the first retry after up to ~0.5-1 s, doubling
WAIT_MAX = 30.0


class RetryableDelivery(Exception):
    """An attempt worth repeating: the receiver was unreachable, slow, busy or failing."""


@dataclass(frozen=True)
class Policy:
    """How hard a delivery tries."""

    attempts: int
    deadline: float
    timeout: float


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery."""

    url: str
    delivered: bool
    attempts: int
    status: int | None = None
    error: str = ""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + HMAC-SHA256(secret, f"{timestamp}." + body) in hex."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_request(secret: str, event: str,
                   payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery (the same for each of its attempts)."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    stamp = str(int(time.time()))
    return body, {"content-type": "application/json", "user-agent": "router-ext-alerts",
                  "x-router-ext-event": event, "x-router-ext-delivery": str(uuid.uuid4()),
                  "x-router-ext-timestamp": stamp,
                  "x-router-ext-signature": signature(secret, stamp, body)}


async def _attempt(client: httpx.AsyncClient, url: str, body: bytes,
                   headers: dict[str, str]) -> int:
    try:
        answer = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:  # connect, read and write errors and timeouts
        raise RetryableDelivery(f"{type(exc).__name__}: {exc}") from exc
    if answer.status_code == 429 or answer.status_code >= 500:
        raise RetryableDelivery(f"the receiver answered {answer.status_code}")
    return answer.status_code


async def deliver(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str],
                  policy: Policy) -> Outcome:
    """POST until a final answer or the policy runs out; never raises."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline),
        wait=wait_random_exponential(multiplier=WAIT_MULTIPLIER, max=WAIT_MAX),
        retry=retry_if_exception_type(RetryableDelivery),
        reraise=True,
    )
    attempts = 0
    try:
        async for state in retrying:
            with state:
                attempts += 1
                status = await _attempt(client, url, body, headers)
    except RetryableDelivery as exc:
        return Outcome(url, False, attempts, error=str(exc))
    return Outcome(url, 200 <= status < 300, attempts, status,
                   "" if status < 300 else f"the receiver answered {status}")
