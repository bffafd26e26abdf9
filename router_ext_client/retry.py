"""Retry policies, each spelled out: stop, wait with jitter, what is retryable, reraise.

tenacity is imported only when a first attempt has failed, so a hook whose server answers never
pays for importing it (~10-20 ms); the error classes here cost nothing to import.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False  # the hook imports this module; typing would cost it ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from tenacity import Retrying

    T = TypeVar("T")


class RetryableError(Exception):
    """A failure worth another attempt: refused or reset connection, timeout, 429 or 5xx."""


class PermanentError(Exception):
    """The server answered and refused the event for good (bad input: 400, 413, 422)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


# First retry after ~10-20 ms, doubling, never more than 1 s apart; "random exponential" is
# full jitter, so many hook processes that failed together do not retry together.
WAIT_MULTIPLIER = 0.02
WAIT_MAX = 1.0


def policy(*, max_attempts: int, deadline: float) -> Retrying:
    """A tenacity policy bounded by attempts and by the absolute `deadline` (monotonic s)."""
    from tenacity import (
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        stop_before_delay,
        wait_random_exponential,
    )

    budget = max(0.0, deadline - time.monotonic())
    return Retrying(
        stop=stop_after_attempt(max_attempts) | stop_before_delay(budget),
        wait=wait_random_exponential(multiplier=WAIT_MULTIPLIER, max=WAIT_MAX),
        retry=retry_if_exception_type(RetryableError),
        reraise=True,
        sleep=time.sleep,
    )


def call_with_retries(attempt: Callable[[float], T], *, max_attempts: int,
                      deadline: float, attempt_timeout: float) -> T:
    """Run `attempt(timeout)` under :func:`policy`; each timeout fits in what is left.

    Raises the last RetryableError when the budget runs out, PermanentError at once.
    """
    for state in policy(max_attempts=max_attempts, deadline=deadline):
        with state:
            left = deadline - time.monotonic()
            if left <= 0.001:
                raise RetryableError("deadline reached")
            return attempt(min(attempt_timeout, left))
    raise RetryableError("no attempt was made")  # unreachable: reraise=True raises above
