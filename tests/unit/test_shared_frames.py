"""SharedFrames: a round's viewers get frames built once, and exactly the frames each would
have built for itself."""

from __future__ import annotations

import json

from router_ext.ingest.normalize import build_row
from router_ext.records import StoredEvent
from router_ext.web.stream_ws import SharedFrames, batched_frames, event_frame
from router_ext.web.ws_frames import text_frame


def stored(id_: int, kind: str = "event") -> StoredEvent:
    row = build_row(source_app="app", session_id="s1", hook_event_type="Stop",
                    payload={"n": id_}, event_uid=f"shared-{id_}")
    row["id"] = id_
    return StoredEvent(row, "update" if kind == "update" else "event")


def payload(frame: bytes) -> object:
    header = 2 if frame[1] < 126 else 4  # these frames are under 64 KiB
    return json.loads(frame[header:])


def test_the_same_events_reuse_the_frames_and_new_objects_rebuild_them() -> None:
    shared = SharedFrames()
    events = [stored(1), stored(2)]
    first = shared.frames(events, True, False)
    assert shared.frames(list(events), True, False) is first  # same objects, another list
    assert shared.frames([stored(1), stored(2)], True, False) is not first  # equal, not same
    assert shared.frames(events, False, False) != first  # other options


def test_frames_carry_the_messages_and_the_newest_event_id() -> None:
    shared = SharedFrames()
    events = [stored(3), stored(1, "update"), stored(4)]
    [(frame, newest)] = shared.frames(events, True, False)
    assert frame == text_frame(next(batched_frames(
        [(event_frame(e), 0) for e in events], 0))[0].encode())
    assert [m["data"]["id"] for m in payload(frame)] == [3, 1, 4]  # type: ignore[attr-defined]
    assert newest == 4
    stock = shared.frames(events, False, False)
    assert [(payload(f)["data"]["id"], n) for f, n in stock] == [  # type: ignore[index]
        (3, 3), (1, 3), (4, 4)]
    only_update = shared.frames([stored(1, "update")], False, False)
    assert [n for _, n in only_update] == [0]  # an update does not move the cursor
