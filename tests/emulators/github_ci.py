"""CI in the GitHub emulator: check runs of other Apps (GitHub Actions jobs with their logs), commit statuses,
and the `check_suite` webhook GitHub sends when a suite completes."""

from __future__ import annotations

import secrets

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from .github_http import Ctx, json_response
from .github_state import ApiError, now_iso

ACTIONS_APP_ID = 15368


class CI:
    """Results of CI jobs by commit, and the act of finishing a suite (which delivers its webhook)."""

    def __init__(self, emu):
        self.emu = emu
        self.logs: dict[int, str] = {}  # job (= check run) id → its log
        self.statuses: dict[tuple[int, str], list[dict]] = {}  # (repo id, sha) → statuses, newest last
        self.log_links: dict[str, int] = {}  # one-time download token → job id

    def job(self, repo: str, sha: str, name: str, conclusion: str | None, log: str = "") -> dict:
        """A GitHub Actions job's check run on sha (conclusion None: still running)."""
        record = self.emu.state.repo(repo)
        fields = {"name": name, "head_sha": sha, "status": "completed" if conclusion else "in_progress",
                  "conclusion": conclusion, "completed_at": now_iso() if conclusion else None,
                  "app": self.emu.shapes.app(ACTIONS_APP_ID, "github-actions", record["owner"]),
                  "output": {"title": f"{name} {conclusion or 'running'}", "summary": ""}}
        run = self.emu.state.add_check_run(record, fields)
        self.logs[run["id"]] = log
        return run

    def status(self, repo: str, sha: str, context: str, state: str, description: str = "") -> None:
        record = self.emu.state.repo(repo)
        with self.emu.state.lock:
            self.statuses.setdefault((record["id"], sha), []).append(
                {"id": self.emu.state.next_id(), "context": context, "state": state, "description": description,
                 "target_url": f"{self.emu.url}/ci/{context}", "created_at": now_iso(), "updated_at": now_iso()})

    def suite_completed(self, repo: str, sha: str, conclusion: str, branch: str):
        """Deliver `check_suite` `completed` as GitHub Actions' suite, with the open pull requests of branch."""
        record = self.emu.state.repo(repo)
        pulls = [{"number": i["number"], "head": {"ref": i["pull"]["head"], "sha": sha},
                  "base": {"ref": i["pull"]["base"]}} for i in self.emu.state.find_pulls(record, "open", head=branch)]
        suite = {"id": self.emu.state.next_id(), "head_branch": branch, "head_sha": sha, "status": "completed",
                 "conclusion": conclusion, "pull_requests": pulls,
                 "app": self.emu.shapes.app(ACTIONS_APP_ID, "github-actions", record["owner"])}
        payload = {"action": "completed", "check_suite": suite, "repository": self.emu.shapes.repo(record),
                   "sender": self.emu.shapes.user(record["owner"])}
        installation = self.emu.state.installation_for_repo(record)
        if installation is not None:
            payload["installation"] = {"id": installation["id"]}
        return self.emu.webhooks.send("check_suite", payload)


def _shape(ctx: Ctx, repo: dict, run: dict) -> dict:
    return ctx.shapes.check_run(repo, run, run.get("app") or ctx.emu.app_json())


def commit_check_runs(ctx: Ctx, owner: str, name: str, sha: str) -> Response:
    repo = ctx.repo(owner, name, "checks")
    with ctx.state.lock:
        runs = [r for r in ctx.state.check_runs.values() if r["repo_id"] == repo["id"] and r["head_sha"] == sha]
    return json_response({"total_count": len(runs), "check_runs": [_shape(ctx, repo, r) for r in runs]})


def combined_status(ctx: Ctx, owner: str, name: str, sha: str) -> Response:
    repo = ctx.repo(owner, name, "statuses")
    latest: dict[str, dict] = {}
    for status in ctx.emu.ci.statuses.get((repo["id"], sha), []):
        latest[status["context"]] = status
    states = [s["state"] for s in latest.values()]
    state = ("failure" if {"failure", "error"} & set(states) else "pending" if "pending" in states or not states
             else "success")
    return json_response({"state": state, "sha": sha, "total_count": len(latest), "statuses": list(latest.values()),
                          "repository": ctx.shapes.repo(repo), "commit_url": f"{ctx.emu.url}/commits/{sha}"})


def _job(ctx: Ctx, owner: str, name: str, job_id: int) -> tuple[dict, dict]:
    repo = ctx.repo(owner, name, "actions")
    run = ctx.state.check_run(repo, job_id)
    if job_id not in ctx.emu.ci.logs:
        raise ApiError(404, "Not Found")
    return repo, run


def get_job(ctx: Ctx, owner: str, name: str, job_id: int) -> Response:
    repo, run = _job(ctx, owner, name, job_id)
    url = f"{ctx.emu.url}/repos/{repo['full_name']}/actions/jobs/{job_id}"
    return json_response({"id": job_id, "run_id": job_id, "name": run["name"], "head_sha": run["head_sha"],
                          "status": run["status"], "conclusion": run["conclusion"], "url": url,
                          "html_url": f"{ctx.emu.url}/{repo['full_name']}/actions/runs/{job_id}/job/{job_id}",
                          "check_run_url": f"{ctx.emu.url}/repos/{repo['full_name']}/check-runs/{job_id}",
                          "started_at": run["started_at"], "completed_at": run["completed_at"], "steps": []})


def job_logs(ctx: Ctx, owner: str, name: str, job_id: int) -> Response:
    """302 to a short-lived download link that needs no token, as GitHub answers."""
    _job(ctx, owner, name, job_id)
    token = secrets.token_urlsafe(16)
    ctx.emu.ci.log_links[token] = job_id
    return Response("", status=302, headers={"Location": f"{ctx.emu.url}/_job-logs/{token}"})


def download_log(ctx: Ctx, token: str) -> Response:
    if ctx.caller.kind != "none":
        raise ApiError(400, "The download link takes no Authorization header")
    job_id = ctx.emu.ci.log_links.pop(token, None)
    if job_id is None:
        raise ApiError(404, "Not Found")
    return Response(ctx.emu.ci.logs[job_id], content_type="text/plain; charset=utf-8")


REPO = "/repos/<owner>/<name>"
RULES = [
    Rule(REPO + "/commits/<sha>/check-runs", endpoint=commit_check_runs, methods=["GET"]),
    Rule(REPO + "/commits/<sha>/status", endpoint=combined_status, methods=["GET"]),
    Rule(REPO + "/actions/jobs/<int:job_id>", endpoint=get_job, methods=["GET"]),
    Rule(REPO + "/actions/jobs/<int:job_id>/logs", endpoint=job_logs, methods=["GET"]),
    Rule("/_job-logs/<token>", endpoint=download_log, methods=["GET"]),
]
