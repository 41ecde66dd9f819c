"""Structured logging: one JSON object per line, so a delivery can be found by its id."""

from __future__ import annotations

import json
import logging
import sys
import time

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                "msg": record.getMessage()}
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(line, default=str).decode()
        except (orjson.JSONEncodeError, TypeError):  # an int past 64 bits, a key that is not text
            return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send codexbot's loggers to stderr as JSON lines (called by the CLI, never at import)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("codexbot")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def log_event(logger: logging.Logger, msg: str, **fields: object) -> None:
    """One INFO line with these fields. The record is made directly: the caller's file and line, which
    Logger.info looks up by walking the stack on every call, are not part of a JSON line."""
    if logger.isEnabledFor(logging.INFO):
        logger.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, msg, (), None, extra={"fields": fields}))


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
