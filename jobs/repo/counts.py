"""Test counts from what a runner printed: pytest, unittest, jest, vitest, mocha, node's test runner and TAP,
`go test -v` and `cargo test`. Each reader looks for its own summary; the first that finds one wins."""

from __future__ import annotations

import re
from collections.abc import Callable

Counts = dict[str, int]
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _empty() -> Counts:
    return {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}


def _words(line: str, names: dict[str, str]) -> Counts:
    """"5 passed, 1 failed"-style pairs in one line, named by `names` (runner's word → our key)."""
    counts = _empty()
    for number, word in re.findall(r"(\d+) ([a-z]+)", line):
        key = names.get(word)
        if key:
            counts[key] += int(number)
    return counts


def _jest(output: str) -> Counts | None:
    found = re.findall(r"^Tests:\s+(.+ total)\s*$", output, re.MULTILINE)
    return _words(found[-1], {"passed": "passed", "failed": "failed", "skipped": "skipped", "todo": "skipped"}) \
        if found else None


def _vitest(output: str) -> Counts | None:
    found = re.findall(r"^\s*Tests\s+(\d+ [a-z]+.*)\(\d+\)\s*$", output, re.MULTILINE)
    return _words(found[-1].replace("|", ","), {"passed": "passed", "failed": "failed", "skipped": "skipped",
                                                "todo": "skipped"}) if found else None


def _mocha(output: str) -> Counts | None:
    found = re.findall(r"^\s+(\d+) (passing|failing|pending)\b", output, re.MULTILINE)
    if not any(word == "passing" for _, word in found):
        return None  # mocha always prints "N passing"
    counts = _empty()
    for number, word in found:
        counts[{"passing": "passed", "failing": "failed", "pending": "skipped"}[word]] = int(number)
    return counts


def _tap(output: str) -> Counts | None:
    """node --test (TAP and spec reporters), tape and TAP producers: "# pass 4" / "ℹ fail 1" summary lines."""
    found = dict(re.findall(r"^(?:#|ℹ) (pass|fail|skipped|todo|cancelled) (\d+)\s*$", output, re.MULTILINE))
    if "pass" not in found:
        return None
    return {"passed": int(found["pass"]), "failed": int(found.get("fail", 0)),
            "errors": int(found.get("cancelled", 0)), "skipped": int(found.get("skipped", 0)) + int(found.get("todo", 0))}


def _unittest(output: str) -> Counts | None:
    ran = re.findall(r"^Ran (\d+) tests? in ", output, re.MULTILINE)
    if not ran:
        return None
    verdict = re.findall(r"^(OK|FAILED)(?: \((.*)\))?\s*$", output, re.MULTILINE)
    details = dict(re.findall(r"(\w+)=(\d+)", verdict[-1][1])) if verdict else {}
    failed, errors = int(details.get("failures", 0)), int(details.get("errors", 0))
    skipped = int(details.get("skipped", 0)) + int(details.get("expected failures", 0))
    return {"passed": int(ran[-1]) - failed - errors - skipped, "failed": failed, "errors": errors, "skipped": skipped}


def _cargo(output: str) -> Counts | None:
    found = re.findall(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", output, re.MULTILINE)
    if not found:
        return None
    counts = _empty()  # one line per test binary: they add up
    for passed, failed, ignored in found:
        counts["passed"] += int(passed)
        counts["failed"] += int(failed)
        counts["skipped"] += int(ignored)
    return counts


def _go(output: str) -> Counts | None:
    found = re.findall(r"^\s*--- (PASS|FAIL|SKIP): ", output, re.MULTILINE)
    if not found:
        return None
    return {"passed": found.count("PASS"), "failed": found.count("FAIL"), "errors": 0, "skipped": found.count("SKIP")}


_PYTEST = re.compile(r"(\d+) (passed|failed|errors?|skipped)\b")


def _pytest(output: str) -> Counts | None:
    """The last line with any of pytest's words ("3 passed, 1 failed in 0.2s")."""
    for line in reversed(output.splitlines()):
        found = _PYTEST.findall(line)
        if found:
            counts = _empty()
            for number, word in found:
                counts["errors" if word.startswith("error") else word] = int(number)
            return counts
    return None


READERS: tuple[Callable[[str], Counts | None], ...] = (_jest, _vitest, _mocha, _tap, _unittest, _cargo, _go, _pytest)


def parse_counts(output: str) -> Counts:
    """The counts of the first reader that recognizes its runner's summary; zeros when none does."""
    plain = _ANSI.sub("", output)
    for reader in READERS:
        counts = reader(plain)
        if counts is not None:
            return counts
    return _empty()
