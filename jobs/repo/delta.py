"""What a change did to the tests: the run before the agent (on the base) against the run after, by the
names of the failing tests each runner prints (pytest, unittest, mocha, jest/vitest, TAP and node's runner,
go, cargo), and by the counts where a runner names nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobs.repo.testing import TestResult

MAX_NAMES = 200
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FAILING = (
    re.compile(r"^(?:FAILED|ERROR) (\S+::\S+)"),              # pytest's short summary
    re.compile(r"^(?:FAIL|ERROR): (\S+ \([\w.]+\))"),         # unittest
    re.compile(r"^not ok \d+ - (.+?)(?: # .*)?$"),            # TAP, node --test
    re.compile(r"^\s*--- FAIL: (\S+)"),                       # go test -v
    re.compile(r"^test (\S+) \.\.\. FAILED$"),                # cargo test
    re.compile(r"^\s*● (.+ › .+)$"),                          # jest
    re.compile(r"^\s*(?:FAIL|×|✗)\s+(\S+\.[cm]?[jt]sx? > .+?)(?: \d+ms)?$"),  # vitest: " FAIL  a.test.mjs > …"
    re.compile(r"^\s{2}\d+\) (.+)$"),                         # mocha's numbered failures
)


def failing_tests(output: str) -> set[str]:
    """The names of the tests a runner reported failing, as it wrote them."""
    names: set[str] = set()
    for line in _ANSI.sub("", output).splitlines():
        for pattern in _FAILING:
            found = pattern.match(line)
            if found:
                names.add(found.group(1).strip()[:300])
                break
        if len(names) >= MAX_NAMES:
            break
    return names


@dataclass(frozen=True)
class TestDelta:
    __test__ = False  # not a pytest test class

    before: TestResult
    after: TestResult
    fixed: tuple[str, ...]  # failing before, not after
    broken: tuple[str, ...]  # passing (or absent) before, failing after
    still: tuple[str, ...]  # failing before and after

    @property
    def newly_failing(self) -> bool:
        """Tests fail after the change that did not before: by name, or by count where no names are known."""
        failures = lambda result: result.failed + result.errors  # noqa: E731
        return bool(self.broken) or failures(self.after) > failures(self.before)

    def lines(self) -> list[str]:
        """For the pull request and the check run: before → after, then the names that changed."""
        before, after = self.before, self.after
        out = [f"Before the change: {before.passed} passed, {before.failed + before.errors} failed · after: "
               f"{after.passed} passed, {after.failed + after.errors} failed."]
        for title, names in (("Newly failing", self.broken), ("No longer failing", self.fixed), ("Failing before and after",
                                                                                     self.still)):
            if names:
                shown = ", ".join(f"`{_inert(name)}`" for name in names[:20])
                out.append(f"{title} ({len(names)}): {shown}" + (" …" if len(names) > 20 else ""))
        return out

    def short(self) -> str:
        """For the tracking comment's one sentence."""
        parts = [f"{len(self.fixed)} fixed"] if self.fixed else []
        parts += [f"{len(self.broken)} newly failing"] if self.broken else []
        parts += [f"{len(self.still)} failing before and after"] if self.still else []
        return "; ".join(parts) or "no test changed outcome"


def _inert(name: str) -> str:
    """A test's name as the runner printed it, safe inside a code span: no backtick can end the span early and
    turn the rest (a closing keyword, an @mention, an image) into live markdown."""
    return "".join(c for c in name if c.isprintable() and c != "`") or "?"


def delta(before: TestResult, after: TestResult) -> TestDelta:
    failed_before, failed_after = failing_tests(before.output), failing_tests(after.output)
    return TestDelta(before, after, fixed=tuple(sorted(failed_before - failed_after)),
                     broken=tuple(sorted(failed_after - failed_before)),
                     still=tuple(sorted(failed_before & failed_after)))
