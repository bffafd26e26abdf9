"""The served process's garbage collector: startup heap frozen, young objects collected less
often (in a child process, so this test run's own collector is left as it is)."""

from __future__ import annotations

import json
import subprocess
import sys

from router_ext.serve import YOUNG_COLLECTION_THRESHOLD

PROBE = """
import gc, json
from router_ext.serve import freeze_startup_heap
before = gc.get_threshold()
freeze_startup_heap()
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count()}))
"""


def test_startup_freezes_the_heap_and_raises_only_the_young_threshold() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=60)
    seen = json.loads(out.stdout)
    before, after = seen["before"], seen["after"]
    assert after == [YOUNG_COLLECTION_THRESHOLD, before[1], before[2]]
    assert after[0] > before[0]
    assert seen["frozen"] > 10_000  # the imports above, at least
