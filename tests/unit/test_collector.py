"""The served process once it is listening: startup heap frozen, young objects collected less
often, the interpreter lock offered sooner (in a child process, so this test run's own
interpreter is left as it is)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from router_ext.serve import SWITCH_INTERVAL_SECONDS, YOUNG_COLLECTION_THRESHOLD

PROBE = """
import gc, json, sys
from router_ext.serve import _announce
before = gc.get_threshold()
switch_before = sys.getswitchinterval()
_announce("127.0.0.1", 1, 2)  # what the server runs once it listens
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count(), "switch_before": switch_before,
                  "switch_after": sys.getswitchinterval()}))
"""


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    """What the probe process saw before and after the server's announce step."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=60)
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_startup_freezes_the_heap_and_raises_only_the_young_threshold(
        seen: dict[str, Any]) -> None:
    before, after = seen["before"], seen["after"]
    assert after == [YOUNG_COLLECTION_THRESHOLD, before[1], before[2]]
    assert after[0] > before[0]
    assert seen["frozen"] > 10_000  # the imports above, at least


def test_once_listening_the_interpreter_lock_is_offered_every_millisecond(
        seen: dict[str, Any]) -> None:
    assert seen["switch_before"] == 0.005  # CPython's default: the probe starts clean
    assert seen["switch_after"] == SWITCH_INTERVAL_SECONDS < seen["switch_before"]
