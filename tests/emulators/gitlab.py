"""GitLabEmulator: a local GitLab (REST v4 subset, access tokens, git over HTTP, webhooks) for tests."""

from __future__ import annotations

import os
import shutil
import tempfile

from . import github_git as git
from . import gitlab_reviews
from .github_webhooks import Delivery
from .faults import Faults
from .gitlab_ci import CI
from .gitlab_dispatch import Dispatcher
from .gitlab_shapes import Shapes
from .gitlab_state import MAINTAINER, GitLabState
from .gitlab_webhooks import GitLabWebhookSender
from .serving import BackgroundServer

KINDS = {False: "issues", True: "merge_requests"}


class GitLabEmulator:
    """Serves the API at `url/api/v4` (python-gitlab takes `url`) and git at `url/{path}.git`.

    Callers are project or group access tokens made with add_token(); each acts as its bot
    user. `requests`, `pushes` and `deliveries` record what happened; `errors` holds
    tracebacks of emulator bugs (a test should expect it to stay empty).
    """

    def __init__(self):
        self.state = GitLabState()
        self.requests: list[dict] = []
        self.pushes: list[dict] = []
        self.errors: list[str] = []
        self.webhooks = GitLabWebhookSender()
        self.ci = CI(self)  # pipelines, jobs and traces; emu.ci.deliver(pipeline) sends the Pipeline Hook
        self.repos_root = tempfile.mkdtemp(prefix="gitlab-emulator-")
        self.faults = Faults(Dispatcher(self))  # tests script failures, stalls and dropped connections here
        self._server = BackgroundServer(self.faults)

    # lifecycle

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> GitLabEmulator:
        self._server.start()
        self.webhooks.instance_url = self.url
        return self

    def stop(self) -> None:
        self._server.stop()
        shutil.rmtree(self.repos_root, ignore_errors=True)

    def __enter__(self) -> GitLabEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def shapes(self) -> Shapes:
        return Shapes(self.url, lambda project, branch: git.branch_head(project["git_dir"], branch))

    # setting the scene

    def create_project(self, path_with_namespace: str, files: dict[str, str | bytes],
                       default_branch: str = "main") -> dict:
        """A private project (and its groups) with one commit of `files`; returns GitLab's project JSON."""
        git_dir = os.path.join(self.repos_root, f"{path_with_namespace}.git")
        git.init_bare(git_dir, default_branch, files)
        return self.shapes.project(self.state.add_project(path_with_namespace, default_branch, git_dir))

    def fork_project(self, source: str, path_with_namespace: str) -> dict:
        """A fork: a bare clone of source's repository (the same history), as GitLab makes it."""
        record = self.state.project(source)
        git_dir = os.path.join(self.repos_root, f"{path_with_namespace}.git")
        git.clone_bare(record["git_dir"], git_dir)
        return self.shapes.project(self.state.add_project(path_with_namespace, record["default_branch"], git_dir))

    def add_user(self, username: str, access: dict[str, int] | None = None) -> dict:
        """A user with access levels per project or group path (10 guest … 50 owner)."""
        user = self.state.add_user(username)
        for path, level in (access or {}).items():
            self.state.set_access(path, user, level)
        return self.shapes.user(user)

    def add_token(self, token: str, project_or_group_path: str,
                  scopes: tuple[str, ...] = ("api", "write_repository"), access_level: int = MAINTAINER,
                  bot_username: str | None = None) -> dict:
        """A project or group access token; returns its bot user (`project_<id>_bot_<hex>`)."""
        record = self.state.add_token(token, project_or_group_path, tuple(scopes), access_level, bot_username)
        return self.shapes.user(record["user"])

    def revoke_token(self, token: str) -> None:
        with self.state.lock:
            self.state.tokens[token]["revoked"] = True

    def open_issue(self, project: str, title: str, description: str = "", author: str = "root") -> dict:
        record = self.state.project(project)
        issue = self.state.open_noteable(record, "issues", {"title": title, "description": description},
                                         self.state.add_user(author))
        return self.shapes.issue(record, issue)

    def open_merge_request(self, project: str, source_branch: str, title: str, target_branch: str = "main",
                           description: str = "", author: str = "root", source_project: str | None = None) -> dict:
        """A merge request from source_branch of the project, or of source_project (a fork made with create_project)."""
        record = self.state.project(project)
        source = self.state.project(source_project) if source_project else record
        sha = git.branch_head(source["git_dir"], source_branch)
        if sha is None:
            raise ValueError(f"Branch {source_branch!r} does not exist in {project}; make it with commit_files().")
        fields = {"title": title, "description": description, "source_branch": source_branch,
                  "target_branch": target_branch, "sha": sha, **({"source_project": source} if source_project else {})}
        mr = self.state.open_noteable(record, "merge_requests", fields, self.state.add_user(author))
        return self.shapes.merge_request(record, mr)

    def commit_files(self, project: str, branch: str, files: dict[str, str | bytes],
                     message: str = "Update files", start: str | None = None) -> str:
        """Commits on `branch`, as a push would; returns the sha. A new branch starts at `start` (a branch or sha
        of the project), or with no history when it is None."""
        git_dir = self.state.project(project)["git_dir"]
        if start is not None and git.branch_head(git_dir, branch) is None:
            sha = git.run_git(git_dir, "rev-parse", start).stdout.decode().strip()
            git.set_ref(git_dir, f"refs/heads/{branch}", sha)
        return git.commit_files(git_dir, branch, files, message)

    # reading what the bot did (GitLab's JSON shapes)

    def project(self, project: str) -> dict:
        return self.shapes.project(self.state.project(project))

    def branch_head(self, project: str, branch: str) -> str | None:
        return git.branch_head(self.state.project(project)["git_dir"], branch)

    def read_file_at(self, project: str, ref: str, path: str) -> str | None:
        found = git.read_blob(self.state.project(project)["git_dir"], ref, path)
        return found[0].decode() if found else None

    def issue(self, project: str, iid: int, merge_request: bool = False) -> dict:
        record = self.state.project(project)
        found = self.state.noteable(record, KINDS[merge_request], iid)
        return (self.shapes.merge_request if merge_request else self.shapes.issue)(record, found)

    def notes(self, project: str, iid: int, merge_request: bool = False) -> list[dict]:
        """Oldest first."""
        record = self.state.project(project)
        noteable = self.state.noteable(record, KINDS[merge_request], iid)
        return [self.shapes.note(record, n) for n in self.state.notes_of(noteable)]

    def merge_requests(self, project: str) -> list[dict]:
        record = self.state.project(project)
        with self.state.lock:
            found = sorted(record["merge_requests"].values(), key=lambda m: m["iid"])
        return [self.shapes.merge_request(record, m) for m in found]

    def award_emoji(self, project: str, iid: int, merge_request: bool = False,
                    note_id: int | None = None) -> list[dict]:
        """The awards on an issue or MR, or on one of its notes."""
        record = self.state.project(project)
        noteable = self.state.noteable(record, KINDS[merge_request], iid)
        target = noteable if note_id is None else self.state.note(noteable, note_id)
        kind = "Note" if note_id is not None else ("MergeRequest" if merge_request else "Issue")
        return [self.shapes.award(a, target, kind) for a in target["awards"]]

    def discussions(self, project: str, iid: int) -> list[dict]:
        """The merge request's discussions as GitLab lists them (each plain note is one of its own)."""
        record = self.state.project(project)
        mr = self.state.noteable(record, "merge_requests", iid)
        return [gitlab_reviews.discussion_shape(self, record, key, notes)
                for key, notes in gitlab_reviews.discussions_of(self.state, mr)]

    def resolve_discussion(self, username: str, project: str, iid: int, discussion_id: str) -> None:
        mr = self.state.noteable(self.state.project(project), "merge_requests", iid)
        notes = dict(gitlab_reviews.discussions_of(self.state, mr))[discussion_id]
        gitlab_reviews.resolve_thread(self.state, notes, True, self.state.add_user(username))

    def commit_statuses(self, project: str, sha: str) -> list[dict]:
        """Every status posted for the commit, oldest first."""
        record = self.state.project(project)
        with self.state.lock:
            found = [s for s in record["statuses"] if s["sha"] == sha]
        return [self.shapes.status(s) for s in found]

    # acting as a user: change the state, then deliver the webhook GitLab would send

    @property
    def deliveries(self) -> list[Delivery]:
        return self.webhooks.deliveries

    def set_webhook(self, url: str, token: str | None) -> None:
        """The project hook's URL and its secret token (sent back as X-Gitlab-Token)."""
        self.webhooks.configure(url, token)

    def add_note(self, username: str, project: str, iid: int, body: str, merge_request: bool = False) -> dict:
        """A note by a user without a webhook (see note_as for the delivered kind)."""
        record = self.state.project(project)
        noteable = self.state.noteable(record, KINDS[merge_request], iid)
        note = self.state.add_note(noteable, KINDS[merge_request], body, self.state.add_user(username))
        return self.shapes.note(record, note)

    def note_as(self, username: str, project: str, iid: int, body: str, merge_request: bool = False) -> Delivery:
        record, kind = self.state.project(project), KINDS[merge_request]
        noteable = self.state.noteable(record, kind, iid)
        user = self.state.add_user(username)
        note = self.state.add_note(noteable, kind, body, user)
        target = (self.shapes.hook_merge_request if merge_request else self.shapes.hook_issue)(record, noteable)
        payload = {"object_kind": "note", "event_type": "note", **self._hook_context(record, user),
                   "object_attributes": self.shapes.hook_note(record, note),
                   ("merge_request" if merge_request else "issue"): target}
        return self.webhooks.send("Note Hook", payload)

    def label_as(self, username: str, project: str, iid: int, label: str) -> Delivery:
        return self._label_hook(username, project, iid, label, self.state.add_label)

    def unlabel_as(self, username: str, project: str, iid: int, label: str) -> Delivery:
        return self._label_hook(username, project, iid, label, self.state.remove_label)

    def _label_hook(self, username: str, project: str, iid: int, label: str, change) -> Delivery:
        record, user = self.state.project(project), self.state.add_user(username)
        issue = self.state.noteable(record, "issues", iid)
        previous, current = change(record, issue, label, user)
        attributes = {**self.shapes.hook_issue(record, issue), "action": "update"}
        labels = [self.shapes.hook_label(record, item) for item in current]
        payload = {"object_kind": "issue", "event_type": "issue", **self._hook_context(record, user),
                   "object_attributes": attributes, "labels": labels,
                   "changes": {"labels": {"previous": [self.shapes.hook_label(record, i) for i in previous],
                                          "current": labels}}}
        return self.webhooks.send("Issue Hook", payload)

    def merge_request_event_as(self, username: str, project: str, iid: int, action: str = "open") -> Delivery:
        """Deliver the Merge Request Hook of username opening ("open") or reopening ("reopen") the MR."""
        return gitlab_reviews.merge_request_hook(self, username, project, iid, action)

    def mark_ready_as(self, username: str, project: str, iid: int) -> Delivery:
        """Take the "Draft:" off the MR's title, and deliver the update as GitLab does."""
        mr = self.state.noteable(self.state.project(project), "merge_requests", iid)
        title = mr["title"]
        ready = title.split(":", 1)[1].strip() if title.lower().startswith("draft:") else title
        self.state.update(mr, {"title": ready})
        changes = {"draft": {"previous": True, "current": False}, "title": {"previous": title, "current": mr["title"]}}
        return gitlab_reviews.merge_request_hook(self, username, project, iid, "update", changes)

    def redeliver(self, delivery_id: str) -> Delivery:
        """Resends a delivery as GitLab's "Resend request": same body, same Idempotency-Key."""
        return self.webhooks.redeliver(delivery_id)

    def _hook_context(self, project: dict, user: dict) -> dict:
        hook_project = self.shapes.hook_project(project)
        return {"user": self.shapes.hook_user(user), "project_id": project["id"], "project": hook_project,
                "repository": {"name": hook_project["name"], "url": hook_project["git_http_url"],
                               "description": "", "homepage": hook_project["web_url"]}}
