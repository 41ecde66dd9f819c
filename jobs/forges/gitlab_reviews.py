"""GitLabForge's side of reviews and CI repairs: merge request discussions on diff positions with a summary note,
the codexbot findings still unresolved on a merge request, and the head commit's pipeline jobs with their traces."""

from __future__ import annotations

import re

import gitlab
import requests

from jobs.forges.diff_hunks import hunk_lines
from jobs.forges.reviewing import ChecksState, FailedCheck, LineComment, PostedReview, finding_keys

RUNNING = ("created", "waiting_for_resource", "preparing", "pending", "running", "scheduled")
LOG_BYTES = 200_000  # of one job's trace, kept from its end
MAX_LOG_READ = 64_000_000
MAX_JOBS = 100
_NOISE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|section_(?:start|end):\d+:[\w.-]+(?:\[[^\]]*\])?\r?")


class GitLabReviews:
    """Mixed into GitLabForge: uses its project handle, notes and error translation."""

    def head_ref(self, number: int) -> str:
        return f"refs/merge-requests/{number}/head"

    def post_review(self, number: int, head_sha: str, base_sha: str, summary: str,
                    comments: list[LineComment]) -> PostedReview:
        """One discussion per line comment, on the merge request's latest diff, then the summary as one note. A
        comment GitLab refuses (400: its line is not on the diff, or the merge request moved on meanwhile) goes
        into the summary, so nothing the review found is lost."""
        where = f"merge request !{number}"
        refused, posted = [], 0
        with self._calling(f"post a review on {where}", self._missing(where)):
            mr = self._project.mergerequests.get(number)
            refs = mr.attributes.get("diff_refs") or {}
            lines = self._diff_lines(number) if comments and refs.get("head_sha") == head_sha else {}
            for comment in comments:
                position = _position(refs, lines.get(comment.path), comment)
                if position is None or not self._discuss(mr, comment.body, position):
                    refused.append(comment)
                else:
                    posted += 1
            if refused:
                summary += "\n\nLine comments GitLab did not accept on the diff:\n" + "\n".join(
                    f"- `{c.path}:{c.line}`: {c.body}" for c in refused)
            note = mr.notes.create({"body": summary})
        return PostedReview(self._note_url(number, note.id), posted)

    def find_review(self, number: int, marker: str) -> str | None:
        where = f"merge request !{number}"
        with self._calling(f"read the notes on {where}", self._missing(where)):
            bot = self._bot().lower()
            for note in self._project.mergerequests.get(number, lazy=True).notes.list(iterator=True):
                if marker in (note.body or "") and note.author["username"].lower() == bot and not note.system:
                    return self._note_url(number, note.id)
        return None

    def open_finding_keys(self, number: int) -> set[str]:
        """Keys of codexbot's line comments whose discussions are not resolved."""
        where = f"merge request !{number}"
        bodies = []
        with self._calling(f"read the discussions on {where}", self._missing(where)):
            bot = self._bot().lower()
            for discussion in self._project.mergerequests.get(number, lazy=True).discussions.list(iterator=True):
                notes = discussion.attributes.get("notes") or []
                if notes and notes[0]["author"]["username"].lower() == bot and any(
                        n.get("resolvable") and not n.get("resolved") for n in notes):
                    bodies.append(notes[0].get("body") or "")
        return finding_keys(bodies)

    def checks(self, number: int, head_sha: str, own_check: str, tail_lines: int) -> ChecksState:
        """The jobs of the head commit's newest pipeline, and other CI's commit statuses; without codexbot's own
        status (own_check). Failing jobs come with the end of their traces."""
        with self._calling(f"read the pipelines of {head_sha[:12]}", self._missing(f"merge request !{number}")):
            pipeline = self._project.mergerequests.get(number).attributes.get("head_pipeline")
            if not pipeline or pipeline.get("sha") != head_sha:
                found = self._project.pipelines.list(sha=head_sha, order_by="id", sort="desc", per_page=1,
                                                     get_all=False)
                pipeline = found[0].attributes if found else None
            jobs = [] if pipeline is None else [j.attributes for j in self._project.pipelines.get(
                pipeline["id"], lazy=True).jobs.list(iterator=True, per_page=100)][:MAX_JOBS]
            jobs = [j for j in jobs if j["name"] != own_check]
            seen = {j["name"] for j in jobs} | {own_check}  # GitLab lists a pipeline's jobs as statuses too
            statuses = [s.attributes for s in self._project.commits.get(head_sha, lazy=True).statuses.list(
                iterator=True, per_page=100) if s.name not in seen][:MAX_JOBS]
            pending = any(item["status"] in RUNNING for item in jobs + statuses)
            failed = [FailedCheck(j["name"], j.get("web_url") or "", self._trace_tail(j["id"], tail_lines))
                      for j in jobs if j["status"] == "failed" and not j.get("allow_failure")]
        failed += [FailedCheck(s["name"], s.get("target_url") or "", s.get("description") or "")
                   for s in statuses if s["status"] == "failed" and not s.get("allow_failure")]
        return ChecksState("pending" if pending else "failure" if failed else "success", tuple(failed))

    def _discuss(self, mr, body: str, position: dict) -> bool:
        """One discussion on a diff line; False when GitLab refuses the position."""
        try:
            mr.discussions.create({"body": body, "position": position})
        except gitlab.GitlabCreateError as error:
            if error.response_code != 400:
                raise
            return False
        return True

    def _diff_lines(self, number: int) -> dict[str, tuple[str, dict[int, int | None]]]:
        """Per new path of the merge request's diff, (old path, new line → old line (None: added))."""
        files = {}
        path = f"/projects/{self._info()[0]}/merge_requests/{number}/diffs"
        for item in self._gl.http_list(path, iterator=True, per_page=100):
            if not item.get("deleted_file"):
                old_path = item.get("old_path") or item["new_path"]
                files[item["new_path"]] = (old_path, hunk_lines(item.get("diff") or ""))
        return files

    def _trace_tail(self, job_id: int, tail_lines: int) -> str:
        """The end of a job's trace, without colours and section markers; a note when it cannot be read."""
        kept, read = b"", 0
        try:
            job = self._project.jobs.get(job_id, lazy=True)
            for chunk in job.trace(streamed=True, iterator=True, chunk_size=65536):
                kept, read = (kept + chunk)[-LOG_BYTES:], read + len(chunk)
                if read > MAX_LOG_READ:
                    break
        except (gitlab.GitlabError, requests.RequestException):
            return "(the job's trace could not be read)"
        text = _NOISE.sub("", kept.decode("utf-8", "replace").replace("\r\n", "\n"))
        lines = [line.rsplit("\r", 1)[-1] for line in text.rstrip().split("\n")]  # \r: the line was redrawn
        return "\n".join(lines[-tail_lines:])

    def _note_url(self, number: int, note_id: int) -> str:
        return f"{self.url}/{self.project_path}/-/merge_requests/{number}#note_{note_id}"


def _position(refs: dict, file: tuple[str, dict[int, int | None]] | None, comment: LineComment) -> dict | None:
    """GitLab's text position of a line of the new side: an added line takes new_line, an unchanged one also its
    old_line; None when the line is not on the diff GitLab holds."""
    if file is None or comment.line not in file[1] or not all(refs.get(k) for k in ("base_sha", "start_sha")):
        return None
    old_path, lines = file
    position = {"base_sha": refs["base_sha"], "start_sha": refs["start_sha"], "head_sha": refs["head_sha"],
                "position_type": "text", "old_path": old_path, "new_path": comment.path, "new_line": comment.line}
    if lines[comment.line] is not None:
        position["old_line"] = lines[comment.line]
    return position
