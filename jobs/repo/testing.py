"""Run a repository's tests (the command from detect.py) and keep the result with the counts from counts.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from jobs.repo.counts import parse_counts
from jobs.repo.detect import detect_test_command
from jobs.sandbox import Sandbox

__all__ = ["TestResult", "detect_test_command", "parse_counts", "run_tests"]


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


def run_tests(sandbox: Sandbox, command: str, timeout: float) -> TestResult:
    result = sandbox.run(command, timeout=timeout, network=False)
    counts = parse_counts(result.output)
    return TestResult(command=command, exit_code=result.exit_code, duration=result.duration,
                      output=result.output, **counts)
