"""CI in the GitLab emulator: pipelines of a commit (branch or merge request pipelines) with their jobs and job
traces, and the Pipeline Hook GitLab delivers when a pipeline's status changes."""

from __future__ import annotations

import re

from werkzeug.wrappers import Response

from .gitlab_http import Ctx, json_response
from .gitlab_shapes import hook_time, iso
from .gitlab_state import REPORTER, ApiError, not_found, now

RUNNING = ("created", "waiting_for_resource", "preparing", "pending", "running", "scheduled")


class CI:
    """Pipelines and jobs by id; tests run CI here: pipeline() starts one, set_job() moves a job, deliver() sends
    its Pipeline Hook."""

    def __init__(self, emu):
        self.emu = emu
        self.pipelines: dict[int, dict] = {}
        self.jobs: dict[int, dict] = {}

    def pipeline(self, project: str, sha: str, jobs: dict[str, str], traces: dict[str, str] | None = None,
                 merge_request: int | None = None, ref: str | None = None, username: str = "root") -> dict:
        """A pipeline on sha with one job per name (name → status, e.g. "failed", "running"); with merge_request,
        a merge request pipeline (ref refs/merge-requests/<iid>/head), else a branch pipeline on ref."""
        record, state = self.emu.state.project(project), self.emu.state
        with state.lock:
            stamp = now()
            pipeline = {"id": state.next_id(), "iid": 1 + sum(p["project"] is record for p in self.pipelines.values()),
                        "project": record, "sha": sha, "merge_request": merge_request, "created_at": stamp,
                        "ref": f"refs/merge-requests/{merge_request}/head" if merge_request else ref or "main",
                        "source": "merge_request_event" if merge_request else "push", "job_ids": [],
                        "user": state.add_user(username)}
            self.pipelines[pipeline["id"]] = pipeline
            for name, status in jobs.items():
                job = {"id": state.next_id(), "name": name, "stage": "test", "status": status, "allow_failure": False,
                       "trace": (traces or {}).get(name, ""), "pipeline": pipeline, "created_at": stamp}
                self.jobs[job["id"]] = job
                pipeline["job_ids"].append(job["id"])
            return pipeline

    def set_job(self, pipeline: dict, name: str, status: str, trace: str | None = None) -> None:
        with self.emu.state.lock:
            for job in self.jobs_of(pipeline):
                if job["name"] == name:
                    job["status"] = status
                    job["trace"] = job["trace"] if trace is None else trace

    def jobs_of(self, pipeline: dict) -> list[dict]:
        return [self.jobs[i] for i in pipeline["job_ids"]]

    def status_of(self, pipeline: dict) -> str:
        """GitLab's composite status: running or pending while a job is, then failed (a job that may not fail did),
        canceled, skipped, else success. Commit statuses count too (see external_statuses)."""
        found = [j["status"] for j in self.jobs_of(pipeline) if not (j["allow_failure"] and j["status"] == "failed")]
        found += self.external_statuses(pipeline)
        if "running" in found:
            return "running"
        if set(found) & set(RUNNING):
            return "pending"
        for status in ("failed", "canceled"):
            if status in found:
                return status
        return "skipped" if found and set(found) == {"skipped"} else "success"

    def external_statuses(self, pipeline: dict) -> list[str]:
        """The latest commit status of each name on the pipeline's commit, when it is the commit's newest pipeline:
        GitLab adds a status posted through the API to that pipeline (not to its jobs, nor to its hook's builds)."""
        project, sha = pipeline["project"], pipeline["sha"]
        with self.emu.state.lock:
            if pipeline["id"] != max(p["id"] for p in self.pipelines.values() if p["project"] is project
                                     and p["sha"] == sha):
                return []
            names = dict.fromkeys(s["name"] for s in project["statuses"] if s["sha"] == sha)
            return [self.emu.state.latest_status(project, sha, name)["status"] for name in names]

    def head_pipeline(self, project: dict, mr: dict, sha: str) -> dict | None:
        """The newest pipeline of the merge request's head commit: its own pipelines, or its source branch's."""
        found = [p for p in self.pipelines.values() if p["project"] is project and p["sha"] == sha
                 and (p["merge_request"] == mr["iid"] or p["ref"] == mr["source_branch"])]
        return max(found, key=lambda p: p["id"]) if found else None

    def pipeline_shape(self, pipeline: dict) -> dict:
        path = pipeline["project"]["path_with_namespace"]
        return {"id": pipeline["id"], "iid": pipeline["iid"], "project_id": pipeline["project"]["id"],
                "sha": pipeline["sha"], "ref": pipeline["ref"], "status": self.status_of(pipeline),
                "source": pipeline["source"], "created_at": iso(pipeline["created_at"]),
                "updated_at": iso(pipeline["created_at"]),
                "web_url": f"{self.emu.url}/{path}/-/pipelines/{pipeline['id']}"}

    def job_shape(self, job: dict) -> dict:
        pipeline, path = job["pipeline"], job["pipeline"]["project"]["path_with_namespace"]
        done = job["status"] not in RUNNING
        return {"id": job["id"], "name": job["name"], "stage": job["stage"], "status": job["status"],
                "ref": pipeline["ref"], "tag": False, "coverage": None, "allow_failure": job["allow_failure"],
                "created_at": iso(job["created_at"]), "started_at": iso(job["created_at"]),
                "finished_at": iso(now()) if done else None, "duration": None,
                "failure_reason": "script_failure" if job["status"] == "failed" else None,
                "user": self.emu.shapes.user(pipeline["user"]),
                "commit": {"id": pipeline["sha"], "short_id": pipeline["sha"][:8], "title": "", "message": ""},
                "pipeline": {"id": pipeline["id"], "project_id": pipeline["project"]["id"], "ref": pipeline["ref"],
                             "sha": pipeline["sha"], "status": self.status_of(pipeline)},
                "web_url": f"{self.emu.url}/{path}/-/jobs/{job['id']}"}

    def deliver(self, pipeline: dict):
        """The Pipeline Hook for the pipeline's present status; merge request pipelines name their merge request."""
        project, shapes = pipeline["project"], self.emu.shapes
        payload = {"object_kind": "pipeline", "object_attributes": self._hook_attributes(pipeline),
                   "merge_request": None, **self.emu._hook_context(project, pipeline["user"]),
                   "commit": {"id": pipeline["sha"], "message": "", "title": "", "timestamp": hook_time(now()),
                              "url": f"{self.emu.url}/{project['path_with_namespace']}/-/commit/{pipeline['sha']}",
                              "author": {"name": "Someone", "email": "[REDACTED]"}},
                   "builds": [self._hook_build(j) for j in self.jobs_of(pipeline)]}
        if pipeline["merge_request"] is not None:
            mr = self.emu.state.noteable(project, "merge_requests", pipeline["merge_request"])
            hooked = shapes.hook_merge_request(project, mr)
            payload["merge_request"] = {k: hooked[k] for k in (
                "id", "iid", "title", "source_branch", "source_project_id", "target_branch", "target_project_id",
                "state", "merge_status", "detailed_merge_status", "url")}
        return self.emu.webhooks.send("Pipeline Hook", payload)

    def _hook_attributes(self, pipeline: dict) -> dict:
        status = self.status_of(pipeline)
        return {"id": pipeline["id"], "iid": pipeline["iid"], "name": None, "ref": pipeline["ref"], "tag": False,
                "sha": pipeline["sha"], "before_sha": "0" * 40, "source": pipeline["source"], "status": status,
                "detailed_status": {"success": "passed"}.get(status, status), "stages": ["test"],
                "created_at": hook_time(pipeline["created_at"]), "finished_at": None, "duration": None,
                "queued_duration": None, "variables": [], "url": self.pipeline_shape(pipeline)["web_url"]}

    def _hook_build(self, job: dict) -> dict:
        return {"id": job["id"], "stage": job["stage"], "name": job["name"], "status": job["status"],
                "created_at": hook_time(job["created_at"]), "started_at": None, "finished_at": None,
                "duration": None, "queued_duration": None, "failure_reason": None, "when": "on_success",
                "manual": False, "allow_failure": job["allow_failure"],
                "user": self.emu.shapes.hook_user(job["pipeline"]["user"]), "runner": None,
                "artifacts_file": {"filename": None, "size": None}, "environment": None}


def _pipelines(ctx: Ctx, project: str) -> tuple[dict, list[dict]]:
    record = ctx.project(project, REPORTER)
    found = [p for p in ctx.emu.ci.pipelines.values() if p["project"] is record]
    return record, sorted(found, key=lambda p: -p["id"])  # newest first, as GitLab orders them by default


def list_pipelines(ctx: Ctx, project: str) -> Response:
    args = ctx.request.args
    _, found = _pipelines(ctx, project)
    found = [p for p in found if args.get("sha") in (None, p["sha"]) and args.get("ref") in (None, p["ref"])
             and args.get("status") in (None, ctx.emu.ci.status_of(p))]
    if args.get("sort") == "asc":
        found.reverse()
    return ctx.page([ctx.emu.ci.pipeline_shape(p) for p in found])


def _pipeline(ctx: Ctx, project: str, pipeline_id: str) -> dict:
    _, found = _pipelines(ctx, project)
    pipeline = next((p for p in found if p["id"] == int(pipeline_id)), None)
    if pipeline is None:
        raise not_found()
    return pipeline


def get_pipeline(ctx: Ctx, project: str, pipeline_id: str) -> Response:
    pipeline = _pipeline(ctx, project, pipeline_id)
    return json_response({**ctx.emu.ci.pipeline_shape(pipeline), "before_sha": "0" * 40, "tag": False,
                          "user": ctx.shapes.user(pipeline["user"]), "started_at": iso(pipeline["created_at"])})


def list_pipeline_jobs(ctx: Ctx, project: str, pipeline_id: str) -> Response:
    jobs = ctx.emu.ci.jobs_of(_pipeline(ctx, project, pipeline_id))
    scopes = ctx.request.args.getlist("scope[]") or ctx.request.args.getlist("scope")
    return ctx.page([ctx.emu.ci.job_shape(j) for j in jobs if not scopes or j["status"] in scopes])


def merge_request_pipelines(ctx: Ctx, project: str, iid: str) -> Response:
    record, found = _pipelines(ctx, project)
    mr = ctx.state.noteable(record, "merge_requests", int(iid))
    found = [p for p in found if p["merge_request"] == mr["iid"] or p["ref"] == mr["source_branch"]]
    return ctx.page([ctx.emu.ci.pipeline_shape(p) for p in found])


def _job(ctx: Ctx, project: str, job_id: str) -> dict:
    record = ctx.project(project, REPORTER)
    job = ctx.emu.ci.jobs.get(int(job_id))
    if job is None or job["pipeline"]["project"] is not record:
        raise ApiError(404, "404 Not found")
    return job


def get_job(ctx: Ctx, project: str, job_id: str) -> Response:
    return json_response(ctx.emu.ci.job_shape(_job(ctx, project, job_id)))


def job_trace(ctx: Ctx, project: str, job_id: str) -> Response:
    """The job's log as plain text, ANSI colours and section markers included, as GitLab serves it."""
    return Response(_job(ctx, project, job_id)["trace"], content_type="text/plain; charset=utf-8")


_P = r"/projects/(?P<project>[^/]+)"
ROUTES = [
    ("GET", _P + r"/pipelines", list_pipelines), ("GET", _P + r"/pipelines/(?P<pipeline_id>\d+)", get_pipeline),
    ("GET", _P + r"/pipelines/(?P<pipeline_id>\d+)/jobs", list_pipeline_jobs),
    ("GET", _P + r"/merge_requests/(?P<iid>\d+)/pipelines", merge_request_pipelines),
    ("GET", _P + r"/jobs/(?P<job_id>\d+)", get_job), ("GET", _P + r"/jobs/(?P<job_id>\d+)/trace", job_trace),
]
COMPILED = [(method, re.compile(f"^{pattern}/?$"), handler) for method, pattern, handler in ROUTES]
