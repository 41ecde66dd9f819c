"""In-memory records of the GitLab emulator: groups, projects, users, tokens, issues, MRs, notes."""

from __future__ import annotations

import itertools
import secrets
import threading
from datetime import datetime, timezone

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
STATUS_EVENTS = {"pending": "enqueue", "running": "run", "success": "success", "failed": "drop",
                 "canceled": "cancel"}
FINISHED = ("success", "failed", "canceled")


class ApiError(Exception):
    """An HTTP error answered the way GitLab answers it: a status and {"message": ...}."""

    def __init__(self, status: int, message: str | list | dict):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


def not_found(what: str = "Project") -> ApiError:
    return ApiError(404, f"404 {what} Not Found")


def now() -> datetime:
    return datetime.now(timezone.utc)


class GitLabState:
    """Everything the emulator knows; every public method takes the lock."""

    def __init__(self):
        self.lock = threading.RLock()
        self.users: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.notes: dict[int, dict] = {}
        self._ids = itertools.count(101)

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    # users, groups, projects and who may do what

    def add_user(self, username: str, bot: bool = False) -> dict:
        with self.lock:
            user = self.users.get(username.lower())
            if user is None:
                user = {"id": self.next_id(), "username": username, "bot": bot,
                        "name": username.replace("_", " ").title()}
                self.users[username.lower()] = user
            return user

    def user(self, username: str) -> dict | None:
        with self.lock:
            return self.users.get(username.lower())

    def user_by_id(self, user_id: int) -> dict | None:
        with self.lock:
            return next((u for u in self.users.values() if u["id"] == user_id), None)

    def ensure_group(self, full_path: str) -> dict:
        """The group at full_path, creating it and its parents as GitLab's UI would."""
        with self.lock:
            group = self.groups.get(full_path.lower())
            if group is None:
                parent = self.ensure_group(full_path.rsplit("/", 1)[0]) if "/" in full_path else None
                group = {"id": self.next_id(), "full_path": full_path, "path": full_path.rsplit("/", 1)[-1],
                         "parent_id": parent and parent["id"], "members": {}}
                self.groups[full_path.lower()] = group
            return group

    def add_project(self, path: str, default_branch: str, git_dir: str) -> dict:
        if "/" not in path:
            raise ValueError(f"A project path needs a namespace, e.g. group/{path}.")
        with self.lock:
            if path.lower() in self.projects:
                raise ValueError(f"Project {path} already exists in the emulator.")
            namespace = self.ensure_group(path.rsplit("/", 1)[0])
            project = {"id": self.next_id(), "path_with_namespace": path, "path": path.rsplit("/", 1)[-1],
                       "namespace": namespace, "default_branch": default_branch, "git_dir": git_dir,
                       "members": {}, "issues": {}, "merge_requests": {}, "statuses": [], "labels": {},
                       "created_at": now()}
            self.projects[path.lower()] = project
            return project

    def project(self, ref: str | int) -> dict:
        """By numeric id or path with namespace; 404 like GitLab for anything else."""
        with self.lock:
            if isinstance(ref, int) or str(ref).isdigit():
                found = next((p for p in self.projects.values() if p["id"] == int(ref)), None)
            else:
                found = self.projects.get(str(ref).lower())
        if found is None:
            raise not_found()
        return found

    def membership_source(self, path: str) -> dict:
        with self.lock:
            found = self.projects.get(path.lower()) or self.groups.get(path.lower())
        if found is None:
            raise ValueError(f"No project or group {path} in the emulator; create_project() first.")
        return found

    def set_access(self, path: str, user: dict, level: int) -> None:
        with self.lock:
            self.membership_source(path)["members"][user["id"]] = level

    def access_level(self, project: dict, user: dict) -> int:
        """The highest level the user has on the project or any group above it (0: not a member)."""
        with self.lock:
            sources = [project] + [g for key, g in self.groups.items()
                                   if covers(key, project["path_with_namespace"])]
            return max((s["members"].get(user["id"], 0) for s in sources), default=0)

    def add_token(self, token: str, path: str, scopes: tuple[str, ...], level: int,
                  bot_username: str | None) -> dict:
        with self.lock:
            source = self.membership_source(path)
            kind = "project" if path.lower() in self.projects else "group"
            username = bot_username or f"{kind}_{source['id']}_bot_{secrets.token_hex(16)}"
            user = self.add_user(username, bot=True)
            self.set_access(path, user, level)
            record = {"id": self.next_id(), "token": token, "name": f"{kind} token", "scopes": list(scopes),
                      "path": source.get("path_with_namespace") or source["full_path"], "user": user,
                      "access_level": level, "created_at": now(), "revoked": False}
            self.tokens[token] = record
            return record

    # issues and merge requests: two separate iid sequences per project

    def open_noteable(self, project: dict, kind: str, fields: dict, author: dict) -> dict:
        with self.lock:
            records = project[kind]
            stamp = now()
            record = {"id": self.next_id(), "iid": len(records) + 1, "state": "opened", "author": author,
                      "labels": [], "label_events": [], "note_ids": [], "awards": [], "created_at": stamp,
                      "updated_at": stamp, "description": "", **fields}
            records[record["iid"]] = record
            return record

    def noteable(self, project: dict, kind: str, iid: int) -> dict:
        with self.lock:
            found = project[kind].get(int(iid))
        if found is None:
            raise not_found("Issue" if kind == "issues" else "Merge Request")
        return found

    def open_merge_requests(self, project: dict, source_branch: str) -> list[dict]:
        with self.lock:
            return [m for m in project["merge_requests"].values()
                    if m["state"] == "opened" and m["source_branch"] == source_branch]

    def add_note(self, noteable: dict, kind: str, body: str, author: dict) -> dict:
        with self.lock:
            stamp = now()
            note = {"id": self.next_id(), "body": body, "author": author, "kind": kind,
                    "noteable": noteable, "awards": [], "created_at": stamp, "updated_at": stamp}
            self.notes[note["id"]] = note
            noteable["note_ids"].append(note["id"])
            return note

    def note(self, noteable: dict, note_id: int) -> dict:
        with self.lock:
            if int(note_id) not in noteable["note_ids"]:
                raise not_found("Note")
            return self.notes[int(note_id)]

    def notes_of(self, noteable: dict) -> list[dict]:
        with self.lock:
            return [self.notes[i] for i in noteable["note_ids"]]

    def update(self, record: dict, changes: dict) -> dict:
        with self.lock:
            record.update(changes)
            record["updated_at"] = now()
            return record

    def award(self, target: dict, name: str, user: dict) -> dict:
        """One award per user and name; GitLab answers a second one with this odd 404."""
        with self.lock:
            if any(a["name"] == name and a["user"]["id"] == user["id"] for a in target["awards"]):
                raise ApiError(404, "404 Award Emoji Name has already been taken Not Found")
            award = {"id": self.next_id(), "name": name, "user": user, "created_at": now()}
            target["awards"].append(award)
            return award

    def add_label(self, project: dict, issue: dict, title: str, user: dict) -> tuple[list[dict], list[dict]]:
        """Adds a label to an issue, with the resource label event GitLab records (action "add", by user);
        returns the label records (previous, current)."""
        with self.lock:
            label = project["labels"].setdefault(title.lower(), {"id": self.next_id(), "title": title,
                                                                 "created_at": now()})
            previous = [project["labels"][t.lower()] for t in issue["labels"]]
            if title not in issue["labels"]:
                self.update(issue, {"labels": issue["labels"] + [title]})
                issue["label_events"].append({"id": self.next_id(), "user": user, "label": label, "action": "add",
                                              "created_at": now()})
            return previous, [project["labels"][t.lower()] for t in issue["labels"]]

    def remove_label(self, project: dict, issue: dict, title: str, user: dict) -> tuple[list[dict], list[dict]]:
        """Takes a label off an issue, with the resource label event (action "remove"); (previous, current)."""
        with self.lock:
            previous = [project["labels"][t.lower()] for t in issue["labels"]]
            if title in issue["labels"]:
                self.update(issue, {"labels": [t for t in issue["labels"] if t != title]})
                issue["label_events"].append({"id": self.next_id(), "user": user, "action": "remove",
                                              "label": project["labels"][title.lower()], "created_at": now()})
            return previous, [project["labels"][t.lower()] for t in issue["labels"]]

    # commit statuses

    def set_status(self, project: dict, sha: str, fields: dict, author: dict) -> dict:
        """Moves the named status of a commit to a new state, refusing a transition to the same state."""
        with self.lock:
            state = fields["status"]
            current = self.latest_status(project, sha, fields["name"])
            if current is not None and current["status"] not in FINISHED:
                if current["status"] == state:
                    event = STATUS_EVENTS[state]
                    raise ApiError(400, f"Cannot transition status via :{event} from :{state} "
                                        f"(Reason(s): Status cannot transition via \"{event}\")")
                current.update({k: v for k, v in fields.items() if v is not None})
                current["started_at"] = current["started_at"] or (now() if state == "running" else None)
                current["finished_at"] = now() if state in FINISHED else None
                return current
            stamp = now()
            status = {"id": self.next_id(), "sha": sha, "author": author, "created_at": stamp,
                      "started_at": stamp if state == "running" else None,
                      "finished_at": stamp if state in FINISHED else None, **fields}
            project["statuses"].append(status)
            return status

    def latest_status(self, project: dict, sha: str, name: str) -> dict | None:
        with self.lock:
            found = [s for s in project["statuses"] if s["sha"] == sha and s["name"] == name]
            return found[-1] if found else None


def covers(path: str, project_path: str) -> bool:
    """Whether a token or membership at path (a project or a group) reaches project_path."""
    path, project_path = path.lower(), project_path.lower()
    return project_path == path or project_path.startswith(path + "/")
