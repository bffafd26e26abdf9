"""The client spool: owner-only, bounded with a drop counter, damaged lines skipped, in order."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from router_ext_client.spool import DRAINING, SPOOL, Entry, Spool, dumps, loads
from tests.support import ROOT


def _bodies(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"event_uid": f"uid-{i}", "n": i} for i in range(start, start + n)]


def test_files_are_owner_only(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "spool"))
    assert spool.append("event", {"event_uid": "a"})
    assert stat.S_IMODE(os.stat(spool.dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(spool.dir, SPOOL)).st_mode) == 0o600


def test_replay_sends_oldest_first_and_empties(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path))
    for body in _bodies(5):
        spool.append("event", body)
    seen: list[object] = []
    result = spool.replay(lambda e: seen.append(e.body["n"]) or True)
    assert seen == [0, 1, 2, 3, 4]
    assert (result.sent, result.remaining) == (5, 0)
    assert spool.status()["pending"] == 0


def test_failed_send_keeps_the_rest_in_order(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path))
    for body in _bodies(5):
        spool.append("metric", body)
    result = spool.replay(lambda e: e.body["n"] < 2)
    assert (result.sent, result.remaining) == (2, 3)
    spool.append("metric", {"event_uid": "late", "n": 99})  # arrives during the outage
    seen: list[object] = []
    spool.replay(lambda e: seen.append(e.body["n"]) or True)
    assert seen == [2, 3, 4, 99]  # the interrupted replay first, then newer events


def test_damaged_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path))
    spool.append("event", {"event_uid": "a", "n": 1})
    with open(os.path.join(spool.dir, SPOOL), "ab") as f:
        f.write(b'{"kind": "event", "body": {"trunc\n')
        f.write(b"\x00\xffnot json at all\n")
        f.write(b'{"kind": "nope", "body": {}}\n')
    spool.append("event", {"event_uid": "b", "n": 2})
    seen: list[object] = []
    result = spool.replay(lambda e: seen.append(e.body["n"]) or True)
    assert seen == [1, 2]
    assert result.damaged == 3
    assert spool.status()["damaged"] == 3


def test_bounded_size_drops_and_counts(tmp_path: Path) -> None:
    line = len(Entry("event", {"event_uid": "x" * 10, "n": 0}, 10**12).line())
    spool = Spool(str(tmp_path), max_bytes=line * 3 + 10)
    kept = [spool.append("event", {"event_uid": "x" * 10, "n": i}) for i in range(5)]
    assert kept == [True, True, True, False, False]
    status = spool.status()
    assert (status["pending"], status["dropped"]) == (3, 2)
    assert status["bytes"] <= spool.max_bytes


def test_limit_and_busy(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path))
    for body in _bodies(4):
        spool.append("event", body)
    assert spool.replay(lambda e: True, limit=3).sent == 3
    assert os.path.exists(os.path.join(spool.dir, DRAINING))
    with spool._locked("drain.lock"):
        assert spool.replay(lambda e: True).busy  # single flight across processes
    assert spool.replay(lambda e: True).sent == 1


def test_concurrent_appends_from_processes_lose_nothing(tmp_path: Path) -> None:
    code = ("import sys; from router_ext_client.spool import Spool; s = Spool(sys.argv[1]);"
            "[s.append('event', {'event_uid': f'{sys.argv[2]}-{i}'}) for i in range(50)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(p)], cwd=ROOT)
             for p in range(8)]
    assert all(p.wait(30) == 0 for p in procs)
    uids: list[str] = []
    Spool(str(tmp_path)).replay(lambda e: uids.append(str(e.body["event_uid"])) or True)
    assert len(uids) == 400 and len(set(uids)) == 400
    lines = Path(tmp_path, "state.json")
    assert not lines.exists() or json.loads(lines.read_text()).get("damaged", 0) == 0


@pytest.mark.parametrize("value", [
    {"a": 1, "b": [1, 2.5, None, True, False], "c": "h\u00e9llo \"q\" \n \u2028 \U0001f600"},
    [], "x", 1e300, -0.0, {"k": {"n": [{"m": 1}]}}, 12345678901234567890])
def test_codec_matches_the_json_package(value: object) -> None:
    assert dumps(value) == json.dumps(value, separators=(",", ":"))
    assert loads(dumps(value)) == value
    assert loads(json.dumps(value, indent=2).encode()) == value


@pytest.mark.parametrize("text", ["", "{not json", "[1,]", "1 2", '{"a": 1}x', "nul"])
def test_codec_refuses_bad_json(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)
