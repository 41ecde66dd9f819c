"""Bare repositories of the GitHub emulator, served over git smart HTTP by `git http-backend`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from typing import BinaryIO, Callable

from werkzeug.wrappers import Response
from werkzeug.wsgi import get_input_stream

GIT_TIMEOUT = 60
_IDENTITY = {"GIT_AUTHOR_NAME": "GitHub Emulator", "GIT_AUTHOR_EMAIL": "emulator@127.0.0.1",
             "GIT_COMMITTER_NAME": "GitHub Emulator", "GIT_COMMITTER_EMAIL": "emulator@127.0.0.1"}


def _git_env(extra: dict | None = None) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "HOME": tempfile.gettempdir(), "LANG": "C"}
    return {**env, **_IDENTITY, **(extra or {})}


def run_git(git_dir: str, *args: str, input: bytes | None = None, env: dict | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", f"--git-dir={git_dir}", *args], input=input, capture_output=True,
                            env=_git_env(env), timeout=GIT_TIMEOUT)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {git_dir}: {result.stderr.decode().strip()}")
    return result


def init_bare(git_dir: str, default_branch: str, files: dict[str, str | bytes]) -> str:
    """Creates a bare repository whose default branch has one commit of `files`; returns its sha."""
    subprocess.run(["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", git_dir],
                   check=True, capture_output=True, env=_git_env(), timeout=GIT_TIMEOUT)
    run_git(git_dir, "config", "http.receivepack", "true")
    return commit_files(git_dir, default_branch, files, "Initial commit")


def clone_bare(source_dir: str, git_dir: str) -> None:
    """A bare copy of source_dir with all its branches: a fork's repository."""
    subprocess.run(["git", "clone", "--quiet", "--bare", source_dir, git_dir], check=True, capture_output=True,
                   env=_git_env(), timeout=GIT_TIMEOUT)
    run_git(git_dir, "config", "http.receivepack", "true")


def commit_files(git_dir: str, branch: str, files: dict[str, str | bytes], message: str) -> str:
    """Commits `files` on top of `branch` (creating it if needed) without a work tree."""
    parent = branch_head(git_dir, branch)
    with tempfile.TemporaryDirectory() as scratch:
        env = {"GIT_INDEX_FILE": os.path.join(scratch, "index")}
        if parent:
            run_git(git_dir, "read-tree", parent, env=env)
        for path, text in files.items():
            data = text.encode() if isinstance(text, str) else text
            blob = run_git(git_dir, "hash-object", "-w", "--stdin", input=data).stdout.decode().strip()
            run_git(git_dir, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = run_git(git_dir, "write-tree", env=env).stdout.decode().strip()
    parents = ["-p", parent] if parent else []
    sha = run_git(git_dir, "commit-tree", tree, *parents, "-m", message).stdout.decode().strip()
    run_git(git_dir, "update-ref", f"refs/heads/{branch}", sha, *([parent] if parent else []))
    return sha


def branch_head(git_dir: str, branch: str) -> str | None:
    result = run_git(git_dir, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}",
                     check=False)
    return result.stdout.decode().strip() if result.returncode == 0 else None


def diff_between(git_dir: str, base: str, head: str, *paths: str) -> str:
    """What `head` changes since it left `base` (three dots), as both forges' diff endpoints show it."""
    return run_git(git_dir, "diff", "--no-renames", f"{base}...{head}", "--", *paths).stdout.decode("utf-8", "replace")


def changed_paths(git_dir: str, base: str, head: str) -> list[tuple[str, str]]:
    """(status letter, path) of each file `head` changes since it left `base`."""
    out = run_git(git_dir, "diff", "--no-renames", "--name-status", "-z", f"{base}...{head}").stdout.decode()
    items = out.split("\0")
    return [(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]


def list_heads(git_dir: str) -> dict[str, str]:
    out = run_git(git_dir, "for-each-ref", "--format=%(refname:strip=2) %(objectname)",
                  "refs/heads").stdout.decode()
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def read_blob(git_dir: str, ref: str, path: str) -> tuple[bytes, str] | None:
    """Returns (content, blob sha) of a file at `ref`, or None when it is not a file there."""
    spec = f"{ref}:{path}"
    kind = run_git(git_dir, "cat-file", "-t", spec, check=False)
    if kind.returncode != 0 or kind.stdout.strip() != b"blob":
        return None
    sha = run_git(git_dir, "rev-parse", spec).stdout.decode().strip()
    return run_git(git_dir, "cat-file", "blob", sha).stdout, sha


def serve_http_backend(environ: dict, project_root: str, path_info: str, remote_user: str,
                       on_finish: Callable[[int], None]) -> Response:
    """Runs the CGI for one smart-HTTP request, streaming the body in and the answer out."""
    proc = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            env=_cgi_env(environ, project_root, path_info, remote_user))
    writer = threading.Thread(target=_copy_body, args=(get_input_stream(environ), proc.stdin),
                              daemon=True)
    writer.start()
    status, headers = _read_cgi_headers(proc.stdout)

    def stream():
        try:
            while chunk := proc.stdout.read1(65536):
                yield chunk
        finally:
            proc.stdout.close()
            writer.join(timeout=GIT_TIMEOUT)
            on_finish(proc.wait(timeout=GIT_TIMEOUT))

    return Response(stream(), status=status, headers=headers, direct_passthrough=True)


def _cgi_env(environ: dict, project_root: str, path_info: str, remote_user: str) -> dict:
    env = _git_env({"GIT_PROJECT_ROOT": project_root, "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path_info, "QUERY_STRING": environ.get("QUERY_STRING", ""),
                    "REQUEST_METHOD": environ["REQUEST_METHOD"], "REMOTE_USER": remote_user,
                    "REMOTE_ADDR": environ.get("REMOTE_ADDR", "127.0.0.1"),
                    "CONTENT_TYPE": environ.get("CONTENT_TYPE", "")})
    # http-backend inflates gzip bodies itself and reads to EOF when no length is given (chunked).
    for name in ("HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL"):
        if environ.get(name):
            env[name] = environ[name]
    if environ.get("CONTENT_LENGTH") and not environ.get("wsgi.input_terminated"):
        env["CONTENT_LENGTH"] = environ["CONTENT_LENGTH"]
    return env


def _copy_body(source: BinaryIO, sink: BinaryIO) -> None:
    try:
        shutil.copyfileobj(source, sink, 65536)
    except BrokenPipeError:
        pass  # the backend answered without reading the whole body; its answer says why
    finally:
        try:
            sink.close()
        except BrokenPipeError:
            pass


def _read_cgi_headers(stdout: BinaryIO) -> tuple[int, list[tuple[str, str]]]:
    status, headers = 200, []
    for _ in range(100):
        line = stdout.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        else:
            headers.append((name, value.strip()))
    return status, headers


def set_ref(git_dir: str, ref: str, sha: str, source_dir: str | None = None) -> None:
    """Point ref at sha, first fetching sha's objects from source_dir (a fork) when it is another repository."""
    if source_dir and source_dir != git_dir:
        run_git(git_dir, "fetch", "--quiet", "--no-tags", source_dir, sha)
    run_git(git_dir, "update-ref", ref, sha)


def new_side_ranges(git_dir: str, base: str, head: str, path: str) -> list[tuple[int, int]]:
    """The new side's line ranges (first, last) of the hunks of path in base...head, as GitHub's diff view
    shows them (three lines of context): the lines a review comment may sit on."""
    text = run_git(git_dir, "diff", "--no-renames", "-U3", f"{base}...{head}", "--", path).stdout.decode("utf-8",
                                                                                                           "replace")
    ranges = []
    for line in text.split("\n"):
        if line.startswith("@@ "):
            new = line.split(" ")[2]  # +start,count
            start, _, count = new[1:].partition(",")
            count = int(count) if count else 1
            if count:
                ranges.append((int(start), int(start) + count - 1))
    return ranges


def path_changed(git_dir: str, old: str, new: str, path: str) -> bool:
    return run_git(git_dir, "diff", "--quiet", old, new, "--", path, check=False).returncode != 0
