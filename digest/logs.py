"""Structured logs: one event per line on stderr; JSON when stderr is not a terminal (for collectors),
`time level logger: message key=value` when a person is watching.

    log.info("digest sent", extra={"event": {"subscriber": 12, "date": "2026-11-28"}})
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_FIELDS = "event"  # the `extra` key whose dict becomes fields of the event


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        document.update(getattr(record, _FIELDS, None) or {})
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        # One line whatever the content: json.dumps escapes newlines inside strings.
        return json.dumps(document, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        fields = getattr(record, _FIELDS, None) or {}
        extra = "".join(f" {key}={value}" for key, value in fields.items())
        line = f"{when} {record.levelname.lower():<7} {record.name}: {record.getMessage()}{extra}"
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return line


def setup_logging(
    level: int = logging.INFO, stream: TextIO | None = None, *, as_json: bool | None = None
) -> None:
    """Replace the root handlers with one that writes an event per line to `stream` (stderr)."""
    out = stream if stream is not None else sys.stderr
    use_json = (not out.isatty()) if as_json is None else as_json
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Keep uvicorn's and apscheduler's loggers on our handler and format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))


def fields(**values: Any) -> dict[str, Any]:
    """`extra=fields(subscriber=1, date=day)`: structured fields for one event."""
    return {_FIELDS: values}
