"""PAI's `capture-all-events` logs:
`<PAI_DIR>/history/raw-outputs/<yyyy-mm>/<date>_all-events.jsonl` (later versions:
`MEMORY/raw-outputs/...`).

Each line is one event as PAI's hook wrote it: `source_app`, `session_id`, `hook_event_type`,
the hook's stdin JSON as `payload`, an epoch-ms `timestamp` and a local time string
(`timestamp_pst` in older versions). The payload is stored as written; the local time string,
which no column holds, is kept in it as `pai_local_time`. Uids hash the line, so importing the
same files twice stores nothing the second time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from router_ext.ingest.backfill.hooklogs import records, timestamp_of
from router_ext.ingest.backfill.transcripts import ImportedEvent, uid

SUFFIX = "_all-events.jsonl"
LOCAL_TIME = ("timestamp_pst", "timestamp_local")


def is_pai_log(path: Path) -> bool:
    """A file PAI's capture-all-events hook writes."""
    return path.name.endswith(SUFFIX)


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value if isinstance(value, str) and value else None


def pai_log_events(path: Path, stats: dict[str, int]) -> Iterator[ImportedEvent]:
    """Events for one capture-all-events file; a line without session or type is malformed."""
    fallback = int(os.path.getmtime(path) * 1000)
    for n, raw, item in records(path, stats):
        session = _text(item, "session_id") if isinstance(item, dict) else None
        payload = item.get("payload") if isinstance(item, dict) else None
        payload = payload if isinstance(payload, dict) else {}
        name = (_text(item, "hook_event_type") or _text(payload, "hook_event_name")
                if isinstance(item, dict) else None)
        if session is None or name is None:
            stats["malformed_lines"] = stats.get("malformed_lines", 0) + 1
            continue
        local = next((item[k] for k in LOCAL_TIME if isinstance(item.get(k), str)), None)
        if local is not None and "pai_local_time" not in payload:
            payload = {**payload, "pai_local_time": local}
        yield ImportedEvent(uid("pai", raw.decode("utf-8", "replace")), session, name,
                            timestamp_of(item, fallback + n), payload,
                            source_app=_text(item, "source_app"))
