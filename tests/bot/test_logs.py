"""The web server's log lines are written in batches (bot/logs.BufferedLines): none lost, none written twice."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import time
import uuid

from bot.logs import BufferedLines, JsonFormatter, log_event


def buffered_logger(stream, **options) -> logging.Logger:
    logger = logging.getLogger(f"codexbot.test.{uuid.uuid4().hex}")
    handler = BufferedLines(stream, **options)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def messages(text: str) -> list[str]:
    return [json.loads(line)["msg"] for line in text.splitlines()]


def wait_for(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_a_line_is_written_within_the_interval_with_its_fields():
    stream = io.StringIO()
    log = buffered_logger(stream, seconds=0.05)
    log_event(log, "delivery", forge="github", status=202)
    assert wait_for(lambda: stream.getvalue().endswith("\n"))
    line = json.loads(stream.getvalue())
    assert (line["msg"], line["forge"], line["status"]) == ("delivery", "github", 202)


def test_a_warning_writes_everything_waiting_at_once_in_order():
    stream = io.StringIO()
    log = buffered_logger(stream, seconds=60)
    log.info("one")
    log.info("two")
    assert stream.getvalue() == ""  # waiting for the flusher, a minute away
    log.warning("three")
    assert messages(stream.getvalue()) == ["one", "two", "three"]


def test_a_full_buffer_is_written_without_waiting():
    stream = io.StringIO()
    log = buffered_logger(stream, seconds=60, limit=300)
    for n in range(10):
        log.info(f"line {n}")
    written = messages(stream.getvalue())
    assert 3 <= len(written) < 10 and written == [f"line {n}" for n in range(len(written))]
    log.handlers[0].flush()
    assert messages(stream.getvalue()) == [f"line {n}" for n in range(10)]


def _log_in_child(name: str) -> None:
    logging.getLogger(name).info("from the child")  # not flushed here: the child's exit must write it


def test_a_forked_worker_neither_repeats_the_parents_lines_nor_loses_its_own(tmp_path):
    path = tmp_path / "server.log"
    with path.open("a") as stream:
        log = buffered_logger(stream, seconds=60)
        log.info("from the parent before the fork")
        child = multiprocessing.get_context("fork").Process(target=_log_in_child, args=(log.name,))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        log.handlers[0].flush()
    lines = messages(path.read_text())
    assert sorted(lines) == ["from the child", "from the parent before the fork"]
