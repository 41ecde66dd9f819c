"""`make demo SCENARIO=review` and `SCENARIO=ci` end to end, as a person runs them (no terminal: no serving)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict:
    """The caller's environment without model keys or settings: the demo must use its recorded answers."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEXBOT_"))}


def demo(forge: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "demo.py", "--forge", forge, "--no-serve", *args], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=540, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_the_review_scenario_prints_the_review_and_its_line_comment(forge):
    proc = demo(forge, "--scenario", "review")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Review: http://127.0.0.1:" in out and ("#note_" if forge == "gitlab" else "#pullrequestreview-") in out
    assert "Found 1 issue: 1 P0." in out and "on calc.py:7:" in out and "**P0** (must fix)" in out


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_the_ci_scenario_fails_ci_repairs_it_and_passes(forge):
    proc = demo(forge, "--scenario", "ci")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert ": failure" in out and "ImportError: cannot import name 'sub'" in out
    assert "repair commit: " in out and ": success" in out
    assert "trying CI repair 1 of 2" in out and "✅ CI passes on" in out


@pytest.mark.parametrize("scenario", ["review", "ci"])
def test_make_demo_passes_the_scenario(scenario):
    dry = subprocess.run(["make", "-n", "demo", f"SCENARIO={scenario}"], cwd=ROOT, capture_output=True, text=True)
    assert f"demo.py --forge github --scenario {scenario}" in dry.stdout
