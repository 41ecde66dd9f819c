"""Test results from the JUnit XML files a test command wrote, so the run page can list each test."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from jobs.git.workspace import git
from jobs.sandbox.files import PlantedFile, read_regular

MAX_REPORT_BYTES = 5_000_000
MAX_CASES = 2000
MAX_MESSAGE = 2000
REPORT_GLOBS = ("junit*.xml", "*junit.xml", "report.xml", "TEST-*.xml", "test-results/**/*.xml",
                "build/test-results/**/*.xml", "target/surefire-reports/*.xml")


def parse_junit(text: str | bytes) -> list[dict]:
    """One dict per test case: name, classname, seconds, outcome (passed/failed/error/skipped), message.

    expat refuses external entities and limits entity expansion, so a hostile report cannot read files
    or blow up; a file that is not JUnit XML raises ValueError."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not a JUnit XML report: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"not a JUnit XML report: the root element is <{root.tag[:40]}>")
    return [_case(element) for element in root.iter("testcase")][:MAX_CASES]


def _case(element: ET.Element) -> dict:
    outcome, message = "passed", ""
    for tag in ("failure", "error", "skipped"):
        found = element.find(tag)
        if found is not None:
            outcome = "failed" if tag == "failure" else tag
            message = (found.get("message") or "") + ("\n" + found.text if found.text else "")
            break
    try:
        seconds = float(element.get("time") or 0)
    except ValueError:
        seconds = 0.0
    return {"name": element.get("name", "")[:300], "classname": element.get("classname", "")[:300],
            "seconds": seconds, "outcome": outcome, "message": message.strip()[:MAX_MESSAGE]}


def collect_reports(workdir: Path, since: float) -> list[dict]:
    """The cases of every JUnit report under workdir written at or after `since` (older ones are stale).

    A report the test run wrote that git does not track is removed once read, so it never lands in the
    pull request. Call after takeback.take_back_git: git runs here on the host."""
    cases: list[dict] = []
    seen: set[Path] = set()
    root = workdir.resolve()
    for pattern in REPORT_GLOBS:
        if _through_a_link(workdir, pattern):
            continue  # "test-results" made a link to / would walk the host's files
        for path in sorted(workdir.glob(pattern)):
            # a link anywhere on the way (a directory the repository made a symlink) could lead off the workspace
            if path in seen or path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(root) \
                    or path.resolve() != root / path.relative_to(workdir):
                continue
            seen.add(path)
            stat = path.stat()
            if stat.st_mtime < since or stat.st_size > MAX_REPORT_BYTES:
                continue
            try:
                cases += parse_junit(read_regular(path, MAX_REPORT_BYTES))
            except PlantedFile:
                continue  # swapped for a link or a FIFO since it was looked at, or grown past the cap
            except ValueError:
                continue  # an XML file that is not a test report
            _drop_if_untracked(workdir, path)
    return cases[:MAX_CASES]


def _through_a_link(workdir: Path, pattern: str) -> bool:
    """Whether a fixed directory at the start of the pattern is a symbolic link."""
    path = workdir
    for part in pattern.split("/")[:-1]:
        if any(c in part for c in "*?["):
            break
        path = path / part
        if path.is_symlink():
            return True
    return False


def _drop_if_untracked(workdir: Path, path: Path) -> None:
    relative = str(path.relative_to(workdir))
    if git(workdir, "ls-files", "--error-unmatch", "--", relative, check=False).returncode != 0:
        path.unlink()
