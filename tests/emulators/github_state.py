"""In-memory records of the GitHub emulator: users, repositories, issues, pulls, comments, checks."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timezone

ROLES = ("admin", "maintain", "write", "triage", "read", "none")
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


class ApiError(Exception):
    """An HTTP error answered the way GitHub answers it: a status and a JSON message."""

    def __init__(self, status: int, message: str, errors: list | None = None):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubState:
    """Everything the emulator knows; every public method takes the lock."""

    def __init__(self):
        self.lock = threading.RLock()
        self.users: dict[str, dict] = {}
        self.repos: dict[str, dict] = {}
        self.installations: dict[int, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.comments: dict[int, dict] = {}
        self.check_runs: dict[int, dict] = {}
        self._ids = itertools.count(1001)

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    # users and repositories

    def add_user(self, login: str, type: str = "User") -> dict:
        with self.lock:
            user = self.users.get(login.lower())
            if user is None:
                user = {"login": login, "id": self.next_id(), "type": type}
                self.users[login.lower()] = user
            return user

    def user(self, login: str) -> dict:
        with self.lock:
            user = self.users.get(login.lower())
        if user is None:
            raise ApiError(404, "Not Found")
        return user

    def add_repo(self, full_name: str, default_branch: str, path: str) -> dict:
        owner, name = full_name.split("/")
        with self.lock:
            if full_name.lower() in self.repos:
                raise ValueError(f"Repository {full_name} already exists in the emulator.")
            repo = {"id": self.next_id(), "owner": self.add_user(owner), "name": name,
                    "full_name": full_name, "default_branch": default_branch, "path": path,
                    "private": True, "roles": {owner.lower(): "admin"}, "issues": {},
                    "next_number": 1, "created_at": now_iso()}
            self.repos[full_name.lower()] = repo
            return repo

    def repo(self, full_name: str) -> dict:
        with self.lock:
            repo = self.repos.get(full_name.lower())
        if repo is None:
            raise ApiError(404, "Not Found")
        return repo

    def repo_by_id(self, repo_id: int) -> dict:
        with self.lock:
            for repo in self.repos.values():
                if repo["id"] == repo_id:
                    return repo
        raise ApiError(404, "Not Found")

    def set_role(self, repo: dict, login: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"Unknown permission {role!r}; use one of {', '.join(ROLES)}.")
        with self.lock:
            self.add_user(login)
            repo["roles"][login.lower()] = role

    def role(self, repo: dict, login: str) -> str:
        with self.lock:
            return repo["roles"].get(login.lower(), "none")

    # installations

    def add_installation(self, installation_id: int, account: str, repo_ids: list[int],
                         permissions: dict) -> dict:
        with self.lock:
            inst = {"id": installation_id, "account": self.add_user(account),
                    "repo_ids": list(repo_ids), "permissions": dict(permissions),
                    "created_at": now_iso()}
            self.installations[installation_id] = inst
            return inst

    def installation(self, installation_id: int) -> dict:
        with self.lock:
            inst = self.installations.get(installation_id)
        if inst is None:
            raise ApiError(404, "Not Found")
        return inst

    def installation_for_repo(self, repo: dict) -> dict | None:
        with self.lock:
            return next((i for i in self.installations.values() if repo["id"] in i["repo_ids"]), None)

    # issues and pull requests share one number sequence per repository

    def open_issue(self, repo: dict, title: str, body: str | None, user: dict,
                   pull: dict | None = None) -> dict:
        with self.lock:
            number = repo["next_number"]
            repo["next_number"] += 1
            stamp = now_iso()
            issue = {"id": self.next_id(), "number": number, "title": title, "body": body,
                     "user": user, "state": "open", "labels": [], "events": [], "pull": pull, "reactions": [],
                     "comment_ids": [], "created_at": stamp, "updated_at": stamp, "closed_at": None}
            repo["issues"][number] = issue
            return issue

    def issue(self, repo: dict, number: int) -> dict:
        with self.lock:
            issue = repo["issues"].get(number)
        if issue is None:
            raise ApiError(404, "Not Found")
        return issue

    def pull(self, repo: dict, number: int) -> dict:
        issue = self.issue(repo, number)
        if issue["pull"] is None:
            raise ApiError(404, "Not Found")
        return issue

    def open_pull(self, repo: dict, head: str, base: str, title: str, body: str | None, user: dict) -> dict:
        with self.lock:
            if self.find_pulls(repo, state="open", head=head, base=base):
                raise ApiError(422, "Validation Failed", [{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {repo['owner']['login']}:{head}."}])
            pull = {"head": head, "base": base, "merged": False, "draft": False}
            return self.open_issue(repo, title, body, user, pull=pull)

    def find_pulls(self, repo: dict, state: str = "open", head: str | None = None,
                   base: str | None = None) -> list[dict]:
        with self.lock:
            return [i for i in repo["issues"].values() if i["pull"] is not None
                    and state in ("all", i["state"])
                    and head in (None, i["pull"]["head"]) and base in (None, i["pull"]["base"])]

    def update(self, record: dict, changes: dict) -> dict:
        with self.lock:
            record.update(changes)
            record["updated_at"] = now_iso()
            if changes.get("state") == "closed" and not record.get("closed_at"):
                record["closed_at"] = record["updated_at"]
            return record

    # comments, reactions, labels, check runs

    def add_comment(self, repo: dict, number: int, body: str, user: dict) -> dict:
        with self.lock:
            issue = self.issue(repo, number)
            stamp = now_iso()
            comment = {"id": self.next_id(), "repo_id": repo["id"], "number": number, "body": body,
                       "user": user, "reactions": [], "created_at": stamp, "updated_at": stamp}
            self.comments[comment["id"]] = comment
            issue["comment_ids"].append(comment["id"])
            return comment

    def comment(self, repo: dict, comment_id: int) -> dict:
        with self.lock:
            comment = self.comments.get(comment_id)
        if comment is None or comment["repo_id"] != repo["id"]:
            raise ApiError(404, "Not Found")
        return comment

    def issue_comments(self, repo: dict, number: int) -> list[dict]:
        with self.lock:
            return [self.comments[i] for i in self.issue(repo, number)["comment_ids"]]

    def react(self, target: dict, content: str, user: dict) -> tuple[dict, bool]:
        """Adds a reaction once per user and content, as GitHub does; says whether it is new."""
        if content not in REACTIONS:
            raise ApiError(422, "Validation Failed", [{"resource": "Reaction", "field": "content",
                                                        "code": "invalid"}])
        with self.lock:
            for reaction in target["reactions"]:
                if reaction["content"] == content and reaction["user"]["id"] == user["id"]:
                    return reaction, False
            reaction = {"id": self.next_id(), "content": content, "user": user, "created_at": now_iso()}
            target["reactions"].append(reaction)
            return reaction, True

    def add_labels(self, issue: dict, names: list[str], user: dict) -> list[str]:
        """Adds the labels the issue lacks, each with the "labeled" event GitHub records (actor: user)."""
        with self.lock:
            for name in dict.fromkeys(n for n in names if n not in issue["labels"]):
                issue["labels"].append(name)
                issue["events"].append({"id": self.next_id(), "event": "labeled", "actor": user, "label": name,
                                        "created_at": now_iso()})
            return list(issue["labels"])

    def remove_label(self, issue: dict, name: str, user: dict) -> list[str]:
        """Takes the label off, with the "unlabeled" event GitHub records; 404 when the issue lacks it."""
        with self.lock:
            if name not in issue["labels"]:
                raise ApiError(404, "Label does not exist")
            issue["labels"].remove(name)
            issue["events"].append({"id": self.next_id(), "event": "unlabeled", "actor": user, "label": name,
                                    "created_at": now_iso()})
            return list(issue["labels"])

    def add_check_run(self, repo: dict, fields: dict) -> dict:
        with self.lock:
            run = {"id": self.next_id(), "repo_id": repo["id"], "status": "queued", "conclusion": None,
                   "output": {}, "details_url": None, "external_id": None, "started_at": now_iso(),
                   "completed_at": None}
            run.update(fields)
            self.check_runs[run["id"]] = run
            return run

    def check_run(self, repo: dict, run_id: int) -> dict:
        with self.lock:
            run = self.check_runs.get(run_id)
        if run is None or run["repo_id"] != repo["id"]:
            raise ApiError(404, "Not Found")
        return run
