"""Imports go one way: bot → jobs. bot/ never imports the agent or model code; jobs/ never imports Flask or bot/."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(package: str) -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("path, names", imported_modules("bot").items())
def test_bot_never_imports_the_agent_or_a_model_client(path, names):
    forbidden = {n for n in names if n.split(".")[0] == "openai" or n.startswith(("jobs.agent", "jobs.model", "jobs.sandbox"))}
    assert not forbidden, f"{path} imports {forbidden}"


@pytest.mark.parametrize("path, names", imported_modules("jobs").items())
def test_jobs_never_imports_flask_or_bot(path, names):
    forbidden = {n for n in names if n.split(".")[0] in ("flask", "bot", "werkzeug", "gunicorn")}
    assert not forbidden, f"{path} imports {forbidden}"


def test_the_web_side_and_the_cli_load_no_model_client():
    import subprocess
    import sys

    code = ("import sys, bot, cli.main, bot.webhooks.github, bot.webhooks.gitlab, bot.pages.run; "
            "loaded = [m for m in ('openai', 'jobs.agent.loop', 'jobs.local.run') if m in sys.modules]; "
            "assert not loaded, loaded")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
