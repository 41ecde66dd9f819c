"""The architecture, checked: imports go down one written order of folders, with no cycles; the project's
modules are imported at the top of a file (inside a function only where a comment says why); concrete
classes are chosen in one wiring place; Flask app state has one accessor; Lua scripts carry a legend."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cli", "bot", "jobs")

# The order of the folders, top to bottom (DESIGN.md "Packages" says the same). A module may import its own
# unit and any unit of a later line; units on one line are peers and do not import each other.
LAYERS = [
    ("cli",),
    ("bot", "jobs.local", "jobs.host", "jobs.worker"),
    ("jobs.run", "jobs.upkeep"),
    ("jobs.intake",),
    ("jobs.records", "jobs.report"),
    ("jobs.repo",),
    ("jobs.git",),
    ("jobs.forges",),
    ("jobs.access",),
    ("jobs.settings",),
    ("jobs.agent",),
    ("jobs.sandbox",),
    ("jobs.metrics", "jobs.types", "jobs"),  # "jobs": the package itself, which holds nothing
]
# the model client and the agent stay out of the web process (it must answer webhooks in milliseconds)
WEB_FORBIDDEN = ("openai", "jobs.agent", "jobs.sandbox", "jobs.run", "jobs.local", "jobs.host", "jobs.upkeep")
# the one place that names the concrete adapters and backends (besides their own packages)
WIRING = "jobs.run.wiring"
CONCRETE = {"GitHubForge": "jobs.forges", "GitLabForge": "jobs.forges", "ChatModel": "jobs.agent",
            "ResponsesModel": "jobs.agent", "BubblewrapSandbox": "jobs.sandbox", "SubprocessSandbox": "jobs.sandbox"}
JOBS_TOP_LEVEL = {"__init__", "types", "settings", "metrics", "worker"}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def imports_of(path: Path) -> list[tuple[str, list[str], bool, int]]:
    """(module, names, inside a function, line) for every import of the project's own modules in path."""
    found = []
    source = path.read_text()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, [], in_function, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, [a.name for a in child.names], in_function, child.lineno))
            visit(child, nested)

    visit(ast.parse(source, str(path)), False)
    return [item for item in found if item[0].split(".")[0] in PACKAGES + ("openai",)]


def unit_of(module: str) -> tuple[int, str]:
    """The layer index and unit a module belongs to (the longest unit name that prefixes it)."""
    best = None
    for index, units in enumerate(LAYERS):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best[1])):
                best = (index, unit)
    if best is None:
        raise LookupError(f"{module} belongs to no layer: add its folder to LAYERS and DESIGN.md")
    return best


def targets(module: str, names: list[str], known: set[str]) -> list[str]:
    """What `from module import names` really loads: submodules named in names, else the module itself."""
    subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in known]
    return subs or [module]


def wrong_way_imports(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for importer, imported in sorted(graph.items()):
        layer, unit = unit_of(importer)
        for target in sorted(imported):
            if target.split(".")[0] == "openai":
                continue
            t_layer, t_unit = unit_of(target)
            if t_unit != unit and t_layer <= layer:
                problems.append(f"{importer} imports {target}, which is {'a peer' if t_layer == layer else 'above it'}")
    return problems


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and modules importing themselves."""
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def import_graph(include_functions: bool = True) -> dict[str, set[str]]:
    known = {module_name(p) for p in project_files()}
    graph: dict[str, set[str]] = {}
    for path in project_files():
        edges = graph.setdefault(module_name(path), set())
        for module, names, in_function, _ in imports_of(path):
            if in_function and not include_functions:
                continue
            edges.update(t for t in targets(module, names, known) if t.split(".")[0] != "openai")
    return graph


def test_imports_go_down_the_written_order_of_folders():
    assert wrong_way_imports(import_graph()) == []


def test_there_are_no_import_cycles():
    assert import_cycles(import_graph()) == []


def test_the_checks_catch_a_planted_wrong_way_import_and_a_planted_cycle():
    planted = {"jobs.git.workspace": {"jobs.run.pipeline"}, "jobs.run.pipeline": {"jobs.git.workspace"}}
    assert wrong_way_imports(planted) == ["jobs.git.workspace imports jobs.run.pipeline, which is above it"]
    assert import_cycles(planted) == [["jobs.git.workspace", "jobs.run.pipeline"]]
    peers = {"jobs.records.runs": {"jobs.report.tracking"}}
    assert wrong_way_imports(peers) == ["jobs.records.runs imports jobs.report.tracking, which is a peer"]


@pytest.mark.parametrize("path", [p for p in project_files() if p.parts[len(ROOT.parts)] == "bot"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_web_side_never_imports_the_agent_or_a_model_client(path):
    forbidden = [m for m, *_ in imports_of(path) if m == "openai" or m.startswith(WEB_FORBIDDEN)]
    assert not forbidden, f"{path.relative_to(ROOT)} imports {forbidden}"


@pytest.mark.parametrize("path", [p for p in project_files() if p.parts[len(ROOT.parts)] == "jobs"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_jobs_never_imports_flask_the_web_side_or_the_cli(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    forbidden = {n for n in names if n.split(".")[0] in ("flask", "bot", "cli", "werkzeug", "gunicorn")}
    assert not forbidden, f"{path.relative_to(ROOT)} imports {forbidden}"


def test_the_project_is_imported_at_the_top_of_files_outside_the_cli():
    """An import inside a function hides a dependency; where one is needed, a comment on its line says why."""
    hidden = []
    for path in project_files():
        lines = path.read_text().splitlines()
        for module, _, in_function, line in imports_of(path):
            if in_function and not module_name(path).startswith("cli") and "#" not in lines[line - 1]:
                hidden.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert hidden == []


def test_concrete_adapters_and_backends_are_chosen_in_one_wiring_place():
    named = []
    for path in project_files():
        module = module_name(path)
        for imported, names, _, line in imports_of(path):
            for name in names:
                home = CONCRETE.get(name)
                if home and module != WIRING and not module.startswith(home):
                    named.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert named == []


def test_flask_app_state_goes_through_its_one_accessor_module():
    spread = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "bot").rglob("*.py") if p.name != "state.py"
              for n, line in enumerate(p.read_text().splitlines(), 1)
              if re.search(r"\.extensions\b|current_app\.config\[", line)]
    assert spread == []


def lua_scripts() -> list[tuple[Path, str]]:
    found = []
    for path in project_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "redis.call" in node.value:
                found.append((path, node.value))
    return found


def test_every_lua_script_opens_with_a_legend_of_its_keys_and_argv():
    assert lua_scripts(), "the intake's Lua script should be found"
    for path, script in lua_scripts():
        legend = "\n".join(line for line in script.strip().splitlines() if line.startswith("--"))
        body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
        assert script.strip().startswith("--"), f"a Lua script in {path.name} has no legend"
        for used in sorted(set(re.findall(r"(KEYS|ARGV)\[(\d+)\]", body))):
            assert f"{used[0]}[{used[1]}]" in legend, f"{path.name}: {used[0]}[{used[1]}] is not in the legend"


def test_files_stay_small_and_jobs_keeps_only_its_shared_modules_at_the_top():
    long = [f"{p.relative_to(ROOT)} ({n})" for p in project_files() if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert long == []
    top = {p.stem for p in (ROOT / "jobs").glob("*.py")}
    assert top <= JOBS_TOP_LEVEL, f"modules at the top of jobs/: {sorted(top - JOBS_TOP_LEVEL)}; give them a folder"


def test_every_folder_says_what_belongs_there():
    for init in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("__init__.py")):
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init.relative_to(ROOT)} has no docstring"


def test_the_web_side_and_the_cli_load_no_model_client():
    code = ("import sys, bot, cli.main, bot.webhooks.github, bot.webhooks.gitlab, bot.pages.run; "
            "loaded = [m for m in ('openai', 'jobs.agent.loop', 'jobs.local.run', 'jobs.run.pipeline') "
            "if m in sys.modules]; assert not loaded, loaded")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
