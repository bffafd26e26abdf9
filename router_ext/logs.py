"""Server logging: plain text lines, or one JSON object per line for log collectors.

`ROUTER_EXT_LOG_FORMAT=json` makes every record, uvicorn's included, a JSON line on stderr
with `ts` (ISO 8601, UTC), `level`, `logger`, `message`, and `exc` when there is a traceback;
journald, Docker and Kubernetes collectors take that as is.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FORMATS = ("text", "json")
# LogRecord attributes that are not extra fields passed with `extra=`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra=` fields are kept as keys."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(log_format: str, level: str = "INFO") -> None:
    """Send every log record to stderr in the chosen format (replacing earlier handlers)."""
    kind = log_format.strip().lower()
    if kind not in FORMATS:
        raise SystemExit(f"router-ext: ROUTER_EXT_LOG_FORMAT must be text or json, "
                         f"got {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    try:
        root.setLevel(level.strip().upper())
    except ValueError:
        raise SystemExit(f"router-ext: ROUTER_EXT_LOG_LEVEL is not a level: {level!r}") from None
