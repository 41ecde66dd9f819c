"""Test detection and counts with the real runners on small sample projects: each project has tests that pass,
one that fails and one that is skipped, and the detected command must find them and count them right."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.repo.delta import failing_tests
from jobs.repo.testing import detect_test_command, parse_counts

EXPECTED = {"passed": 2, "failed": 1, "errors": 0, "skipped": 1}


def run(project: Path, failing: str | None = None, extra_env: dict | None = None) -> tuple[str, dict]:
    command = detect_test_command(project, None)
    assert command is not None
    proc = subprocess.run(command, shell=True, cwd=project, capture_output=True, text=True, timeout=300,
                          env={"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "CI": "true",
                               "HOME": str(project), "NO_COLOR": "1",
                               "NODE_PATH": "/usr/share/nodejs",  # where Debian's node packages live
                               **(extra_env or {})})
    assert proc.returncode != 0, proc.stdout + proc.stderr  # one test fails
    if failing is not None:  # and the delta finds it by the name the runner printed
        assert failing_tests(proc.stdout + proc.stderr) == {failing}
    return command, parse_counts(proc.stdout + proc.stderr)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_pytest(tmp_path):
    write(tmp_path, {"tests/test_calc.py": "import pytest\n\ndef test_a(): pass\n\ndef test_b(): pass\n\n"
                                           "def test_c(): assert 1 == 2\n\n@pytest.mark.skip\ndef test_d(): pass\n"})
    command, counts = run(tmp_path, "tests/test_calc.py::test_c")
    assert command == "python3 -m pytest -q" and counts == EXPECTED


UNITTEST = ("import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self): pass\n    def test_b(self): pass\n"
            "    def test_c(self): self.assertEqual(1, 2)\n    @unittest.skip('later')\n    def test_d(self): pass\n\n"
            "if __name__ == '__main__':\n    unittest.main()\n")


@pytest.mark.parametrize("name", ["test.py", "tests.py"])
def test_unittest_in_a_test_py_layout(tmp_path, name):
    write(tmp_path, {name: UNITTEST, "calc.py": "X = 1\n"})
    command, counts = run(tmp_path, f"test_c ({name[:-3]}.T.test_c)")
    assert command.startswith("python3 -m unittest discover") and counts == EXPECTED


NODE_TEST = ("const test = require('node:test');\nconst assert = require('node:assert');\n"
             "test('a', () => {});\ntest('b', () => {});\ntest('c', () => { assert.strictEqual(1, 2); });\n"
             "test('d', { skip: true }, () => {});\n")


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is installed by make test's set-up")
@pytest.mark.parametrize("lockfile, manager", [(None, "npm"), ("package-lock.json", "npm")])
def test_npm_test_with_nodes_own_runner(tmp_path, lockfile, manager):
    files = {"package.json": json.dumps({"name": "sample", "version": "1.0.0", "scripts": {"test": "node --test"}}),
             "test/calc.test.js": NODE_TEST}
    if lockfile:
        files[lockfile] = json.dumps({"name": "sample", "lockfileVersion": 3, "packages": {}})
    command, counts = run(write(tmp_path, files), "c")
    assert command == f"{manager} test" and counts == EXPECTED


MOCHA = ("const assert = require('assert');\ndescribe('calc', () => {\n  it('a', () => {});\n  it('b', () => {});\n"
         "  it('c', () => { assert.strictEqual(1, 2); });\n  it.skip('d', () => {});\n});\n")


@pytest.mark.skipif(shutil.which("mocha") is None, reason="Debian's mocha is installed by make test's set-up")
def test_npm_test_with_mocha(tmp_path):
    files = {"package.json": json.dumps({"name": "sample", "scripts": {"test": "mocha"}}), "test/calc.js": MOCHA}
    command, counts = run(write(tmp_path, files), "calc")
    assert command == "npm test" and counts == EXPECTED


JS_RUNNERS = Path(sys.executable).parent.parent / "js-runners" / "node_modules"  # `make setup` installs them there
SPEC = ("describe('calc', () => {\n  test('a', () => {});\n  test('b', () => {});\n"
        "  test('c', () => { expect(1).toBe(2); });\n  test.skip('d', () => {});\n});\n")


@pytest.mark.skipif(not (JS_RUNNERS / ".bin" / "jest").exists(), reason="jest is installed by make test's set-up")
@pytest.mark.parametrize("runner, header, failing", [
    ("jest", "", "calc › c"),
    ("vitest run", "import { describe, test, expect } from 'vitest';\n", "calc.test.mjs > calc > c"),
])
def test_npm_test_with_jest_and_vitest_from_npm(tmp_path, runner, header, failing):
    name = "calc.test.mjs" if header else "calc.test.js"
    files = {"package.json": json.dumps({"name": "sample", "private": True, "scripts": {"test": runner}}),
             name: header + SPEC}
    project = write(tmp_path, files)
    (project / "node_modules").symlink_to(JS_RUNNERS, target_is_directory=True)
    command, counts = run(project, failing)
    assert command == "npm test" and counts == EXPECTED


PYTEST_SAMPLE = ("import pytest\n\ndef test_a(): pass\n\ndef test_b(): pass\n\ndef test_c(): assert 1 == 2\n\n"
                 "@pytest.mark.skip\ndef test_d(): pass\n")
TOX_INI = ("[tox]\nenvlist = py3\nskipsdist = true\n\n[testenv]\nsitepackages = true\ndeps =\n"
           "commands = python -m pytest -q\n")
NOXFILE = ("import nox\n\n\n@nox.session(venv_params=['--system-site-packages'])\ndef tests(session):\n"
           "    session.run('python', '-m', 'pytest', '-q')\n")
OFFLINE = {"PIP_NO_INDEX": "1", "VIRTUALENV_NO_DOWNLOAD": "1"}  # as in the sandbox's test phase: no network


def prepare(project: Path, argv: list[str]) -> None:
    """What the repository's setup would run (`tox --notest`, `nox --install-only`), offline."""
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(project), **OFFLINE})
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("tox", path="/usr/local/bin:/usr/bin") is None, reason="Debian's tox is not installed")
def test_tox_runs_once_setup_made_its_environments_and_pytest_runs_before(tmp_path):
    project = write(tmp_path, {"tox.ini": TOX_INI, "tests/test_calc.py": PYTEST_SAMPLE})
    assert detect_test_command(project, None) == "python3 -m pytest -q"  # no .tox: tox would need the network
    prepare(project, ["tox", "--notest"])
    command, counts = run(project, "tests/test_calc.py::test_c", OFFLINE)
    assert command.startswith("tox ") and counts == EXPECTED


@pytest.mark.skipif(shutil.which("nox", path="/usr/local/bin:/usr/bin") is None, reason="Debian's nox is not installed")
def test_nox_runs_once_setup_made_its_environments_and_pytest_runs_before(tmp_path):
    project = write(tmp_path, {"noxfile.py": NOXFILE, "tests/test_calc.py": PYTEST_SAMPLE})
    assert detect_test_command(project, None) == "python3 -m pytest -q"
    prepare(project, ["nox", "--install-only"])
    command, counts = run(project, "tests/test_calc.py::test_c", OFFLINE)
    assert command.startswith("nox ") and counts == EXPECTED


GO_TEST = ('package calc\n\nimport "testing"\n\nfunc TestA(t *testing.T) {}\nfunc TestB(t *testing.T) {}\n'
           'func TestC(t *testing.T) { t.Fatal("1 != 2") }\nfunc TestD(t *testing.T) { t.Skip("later") }\n')


@pytest.mark.skipif(shutil.which("go", path="/usr/local/bin:/usr/bin") is None, reason="Debian's golang-go is not installed")
def test_go_test(tmp_path):
    project = write(tmp_path, {"go.mod": "module example.com/calc\n\ngo 1.19\n", "calc_test.go": GO_TEST})
    command, counts = run(project, "TestC", {"GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local"})
    assert command == "go test -v ./..." and counts == EXPECTED


CARGO_LIB = ("#[cfg(test)]\nmod tests {\n    #[test]\n    fn a() {}\n    #[test]\n    fn b() {}\n    #[test]\n"
             "    fn c() { assert_eq!(1, 2); }\n    #[test]\n    #[ignore]\n    fn d() {}\n}\n")


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_cargo_test(tmp_path):
    project = write(tmp_path, {"Cargo.toml": "[package]\nname = 'calc'\nversion = '0.1.0'\nedition = '2021'\n",
                               "src/lib.rs": CARGO_LIB})
    cargo = Path(shutil.which("cargo")).parent
    toolchain = {"PATH": f"{cargo}:/usr/local/bin:/usr/bin:/bin", "CARGO_NET_OFFLINE": "true",
                 **{k: os.environ[k] for k in ("RUSTUP_HOME", "CARGO_HOME") if k in os.environ}}
    if "RUSTUP_HOME" not in toolchain and (Path.home() / ".rustup").is_dir():  # rustup's proxies find it by HOME
        toolchain["RUSTUP_HOME"] = str(Path.home() / ".rustup")
    command, counts = run(project, "tests::c", toolchain)
    assert command == "cargo test" and counts == EXPECTED


@pytest.mark.parametrize("files, command", [
    ({"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'}, None),
    ({"package.json": '{"scripts": {"test": "vitest run"}}', "pnpm-lock.yaml": ""}, "pnpm test"),
    ({"package.json": '{"scripts": {"test": "jest"}}', "yarn.lock": ""}, "yarn test"),
    ({"package.json": "not json"}, None),
    ({"go.mod": "module example.com/x\n"}, "go test -v ./..."),
    ({"Cargo.toml": "[package]\nname = 'x'\n"}, "cargo test"),
    ({"Makefile": "build:\n\tcc x.c\ncheck:\n\t./run-tests\n"}, "make check"),
    ({"Makefile": "TEST := 1\ntest: build\n\t./t\n"}, "make test"),
    ({"pyproject.toml": "[tool.pytest.ini_options]\n", "src/x.py": ""}, "python3 -m pytest -q"),
    ({"node_modules/dep/test_x.py": "", "README.md": ""}, None),
])
def test_detection_by_layout(tmp_path, files, command):
    assert detect_test_command(write(tmp_path, files), None) == command


def test_a_planted_link_or_fifo_manifest_is_not_read(tmp_path):
    (tmp_path / "package.json").symlink_to("/etc/passwd")
    assert detect_test_command(tmp_path, None) is None
    (tmp_path / "package.json").unlink()
    os.mkfifo(tmp_path / "package.json")
    assert detect_test_command(tmp_path, None) is None  # and did not hang


@pytest.mark.parametrize("output, counts", [
    # jest's and vitest's summaries as they print them (their runners come from npm, not Debian)
    ("Test Suites: 1 failed, 1 total\nTests:       1 failed, 1 skipped, 2 passed, 4 total\nSnapshots:   0 total\n",
     EXPECTED),
    (" \x1b[2m Test Files \x1b[22m 1 failed (1)\n \x1b[2m     Tests \x1b[22m 1 failed | 2 passed | 1 skipped (4)\n",
     EXPECTED),
    ("test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out\n"
     "test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n",
     {"passed": 5, "failed": 1, "errors": 0, "skipped": 1}),
    ("=== RUN   TestA\n--- PASS: TestA (0.00s)\n--- PASS: TestB (0.00s)\n--- FAIL: TestC (0.00s)\n"
     "--- SKIP: TestD (0.00s)\nFAIL\n", EXPECTED),
    ("....\n=== 3 passed, 1 failed, 2 skipped in 0.1s ===", {"passed": 3, "failed": 1, "errors": 0, "skipped": 2}),
])
def test_summaries_of_runners_not_installed_here(output, counts):
    assert parse_counts(output) == counts



def test_detection_never_walks_into_dependency_folders(tmp_path):
    deep = tmp_path / "node_modules" / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "test_x.py").write_text("")
    os.symlink("/usr/lib", tmp_path / "lib-link")  # a link to a big tree is not followed either
    assert detect_test_command(tmp_path, None) is None
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_y.py").write_text("")
    assert detect_test_command(tmp_path, None) == "python3 -m pytest -q"
