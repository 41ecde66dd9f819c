"""Structured logging: one JSON object per line, so a delivery can be found by its id."""

from __future__ import annotations

import json
import logging
import multiprocessing.util
import os
import sys
import threading
import time
import weakref

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


class BufferedLines(logging.StreamHandler):
    """Lines kept in memory and written together, at most `seconds` after the first of them: at once for a
    warning or worse, when `limit` characters wait, before the process forks and when it exits.

    For the web server, where every delivery logs a line: each write of its own released the GIL to another
    of the server's threads and took it back, which cost a tenth of a delivery's CPU (bench/webhook.py).
    What a kill -9 takes is at most the last `seconds` of lines.
    """

    def __init__(self, stream, seconds: float = 0.2, limit: int = 64 * 1024):
        super().__init__(stream)
        self.seconds, self.limit = seconds, limit
        self._lines: list[str] = []
        self._size = 0
        self._due = threading.Event()  # set while lines wait for the flusher
        self._flusher_pid = 0  # the process whose flusher thread runs (threads do not survive a fork)
        _BUFFERED.add(self)

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held (Handler.handle)
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= self.limit:
            self._write()
        elif not self._due.is_set():
            self._start_flusher()
            self._due.set()

    def flush(self) -> None:
        with self.lock:
            self._write()

    def _write(self) -> None:
        self._due.clear()
        text, self._lines, self._size = "".join(self._lines), [], 0
        try:
            if text:
                self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the stream is closed or gone: the lines cannot be written anywhere
            pass

    def _start_flusher(self) -> None:
        if self._flusher_pid == os.getpid():
            return
        self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_when_due, name="codexbot-log-lines", daemon=True).start()
        # a web worker is a multiprocessing child, which leaves by os._exit (no atexit): its finalizers run
        multiprocessing.util.Finalize(self, self.flush, exitpriority=0)

    def _flush_when_due(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.seconds)
            self.flush()

    def _after_fork_in_child(self) -> None:
        """The parent writes what was waiting; the child starts empty, with its own event and flusher."""
        self._lines, self._size, self._due = [], 0, threading.Event()


_BUFFERED: "weakref.WeakSet[BufferedLines]" = weakref.WeakSet()
os.register_at_fork(before=lambda: [each.flush() for each in list(_BUFFERED)],
                    after_in_child=lambda: [each._after_fork_in_child() for each in list(_BUFFERED)])


def configure_logging(level: int = logging.INFO, buffered: bool = False) -> None:
    """Send codexbot's loggers to stderr as JSON lines (called by the CLI, never at import); `buffered`
    writes them in batches (BufferedLines), for the web server."""
    handler = BufferedLines(sys.stderr) if buffered else logging.StreamHandler(sys.stderr)
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
