"""Find and run a repository's tests, and read the counts from what the runner printed."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from jobs.sandbox import Sandbox

_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped)\b")
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__"}


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class

    command: str
    exit_code: int
    passed: int
    failed: int
    errors: int
    skipped: int
    duration: float
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        verdict = "passed" if self.ok else "failed"
        counts = f"{self.passed} passed, {self.failed} failed" + (f", {self.errors} errors" if self.errors else "")
        return f"tests {verdict}: {counts} (`{self.command}`, {self.duration:.1f} s)"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["output"] = self.output[-20_000:]
        return data


def detect_test_command(workdir: Path, configured: str | None) -> str | None:
    """The configured command, else pytest when the repository has Python tests, else None."""
    if configured:
        return configured
    for path in workdir.rglob("*.py"):
        if _SKIP_DIRS.intersection(path.relative_to(workdir).parts):
            continue
        if path.name.startswith("test_") or path.name.endswith("_test.py"):
            return "python3 -m pytest -q"
    return None


def run_tests(sandbox: Sandbox, command: str, timeout: float) -> TestResult:
    result = sandbox.run(command, timeout=timeout, network=False)
    counts = parse_counts(result.output)
    return TestResult(command=command, exit_code=result.exit_code, duration=result.duration,
                      output=result.output, **counts)


def parse_counts(output: str) -> dict[str, int]:
    """Counts from the last summary line that has any ("3 passed, 1 failed in 0.2s")."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for line in reversed(output.splitlines()):
        found = _COUNT.findall(line)
        if found:
            for number, word in found:
                key = "errors" if word.startswith("error") else word
                counts[key] = int(number)
            break
    return counts
