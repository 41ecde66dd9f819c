"""GitLab's JSON shapes, for the REST answers and for webhook payloads (as in the corpus)."""

from __future__ import annotations

from datetime import datetime
from typing import Callable


def iso(stamp: datetime | None) -> str | None:
    """REST times, e.g. 2024-05-17T17:06:40.123Z."""
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z" if stamp else None


def hook_time(stamp: datetime) -> str:
    """Webhook times, e.g. 2015-05-17 17:06:40 UTC."""
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


class Shapes:
    """Renders records with the emulator's base URL; resolve_sha gives a branch's head commit."""

    def __init__(self, url: str, resolve_sha: Callable[[dict, str], str | None]):
        self.url, self.resolve_sha = url, resolve_sha

    # REST

    def user(self, user: dict) -> dict:
        return {"id": user["id"], "username": user["username"], "name": user["name"], "state": "active",
                "locked": False, "avatar_url": None, "web_url": f"{self.url}/{user['username']}"}

    def current_user(self, user: dict) -> dict:
        return {**self.user(user), "bot": user["bot"], "is_admin": False, "email": None,
                "created_at": None, "two_factor_enabled": False}

    def member(self, user: dict, level: int) -> dict:
        return {**self.user(user), "access_level": level, "created_at": None, "expires_at": None,
                "membership_state": "active"}

    def project(self, project: dict) -> dict:
        group, path = project["namespace"], project["path_with_namespace"]
        return {"id": project["id"], "name": project["path"], "path": project["path"],
                "path_with_namespace": path, "name_with_namespace": path.replace("/", " / "),
                "description": "", "default_branch": project["default_branch"], "visibility": "private",
                "web_url": f"{self.url}/{path}", "http_url_to_repo": f"{self.url}/{path}.git",
                "ssh_url_to_repo": f"git@127.0.0.1:{path}.git", "archived": False,
                "created_at": iso(project["created_at"]), "empty_repo": False,
                "namespace": {"id": group["id"], "name": group["path"], "path": group["path"], "kind": "group",
                              "full_path": group["full_path"], "parent_id": group["parent_id"],
                              "web_url": f"{self.url}/groups/{group['full_path']}"}}

    def issue(self, project: dict, issue: dict) -> dict:
        path, iid = project["path_with_namespace"], issue["iid"]
        return {**self._noteable(project, issue), "type": "ISSUE", "confidential": False,
                "web_url": f"{self.url}/{path}/-/issues/{iid}",
                "references": {"short": f"#{iid}", "relative": f"#{iid}", "full": f"{path}#{iid}"}}

    def merge_request(self, project: dict, mr: dict) -> dict:
        path, iid, source = project["path_with_namespace"], mr["iid"], mr.get("source_project") or project
        sha = self.resolve_sha(source, mr["source_branch"]) or mr["sha"]
        return {**self._noteable(project, mr), "source_branch": mr["source_branch"],
                "target_branch": mr["target_branch"], "source_project_id": source["id"],
                "target_project_id": project["id"], "sha": sha, "draft": _draft(mr), "work_in_progress": _draft(mr),
                "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
                "web_url": f"{self.url}/{path}/-/merge_requests/{iid}",
                "references": {"short": f"!{iid}", "relative": f"!{iid}", "full": f"{path}!{iid}"}}

    def _noteable(self, project: dict, record: dict) -> dict:
        return {"id": record["id"], "iid": record["iid"], "project_id": project["id"],
                "title": record["title"], "description": record["description"], "state": record["state"],
                "created_at": iso(record["created_at"]), "updated_at": iso(record["updated_at"]),
                "closed_at": None, "labels": list(record["labels"]), "author": self.user(record["author"]),
                "user_notes_count": len(record["note_ids"])}

    def note(self, project: dict, note: dict) -> dict:
        noteable, position = note["noteable"], note.get("position")
        return {"id": note["id"], "type": note.get("type"), "body": note["body"], "attachment": None,
                "author": self.user(note["author"]), "created_at": iso(note["created_at"]),
                "updated_at": iso(note["updated_at"]), "system": False, "noteable_id": noteable["id"],
                "noteable_type": _noteable_type(note["kind"]), "noteable_iid": noteable["iid"],
                "project_id": project["id"], "resolvable": note.get("resolvable", False), "confidential": False,
                "internal": False, **({"position": position} if position else {}),
                **({"resolved": note["resolved"], "resolved_by": note["resolved_by"] and self.user(note["resolved_by"])}
                   if note.get("resolvable") else {})}

    def award(self, award: dict, target: dict, awardable_type: str) -> dict:
        return {"id": award["id"], "name": award["name"], "user": self.user(award["user"]),
                "created_at": iso(award["created_at"]), "updated_at": iso(award["created_at"]),
                "awardable_id": target["id"], "awardable_type": awardable_type}

    def status(self, status: dict) -> dict:
        return {"id": status["id"], "sha": status["sha"], "ref": status["ref"], "status": status["status"],
                "name": status["name"], "target_url": status["target_url"],
                "description": status["description"], "created_at": iso(status["created_at"]),
                "started_at": iso(status["started_at"]), "finished_at": iso(status["finished_at"]),
                "allow_failure": False, "coverage": None, "author": self.user(status["author"])}

    def token(self, token: dict) -> dict:
        return {"id": token["id"], "name": token["name"], "revoked": token["revoked"],
                "created_at": iso(token["created_at"]), "scopes": list(token["scopes"]),
                "user_id": token["user"]["id"], "last_used_at": None, "active": not token["revoked"],
                "expires_at": None}

    # webhooks

    def hook_user(self, user: dict) -> dict:
        return {"id": user["id"], "name": user["name"], "username": user["username"],
                "avatar_url": None, "email": "[REDACTED]"}

    def hook_project(self, project: dict) -> dict:
        path = project["path_with_namespace"]
        web, git_http = f"{self.url}/{path}", f"{self.url}/{path}.git"
        return {"id": project["id"], "name": project["path"], "description": "", "web_url": web,
                "avatar_url": None, "git_ssh_url": f"git@127.0.0.1:{path}.git", "git_http_url": git_http,
                "namespace": project["namespace"]["path"], "visibility_level": 0,
                "path_with_namespace": path, "default_branch": project["default_branch"],
                "ci_config_path": None, "homepage": web, "url": git_http,
                "ssh_url": f"git@127.0.0.1:{path}.git", "http_url": git_http}

    def label_event(self, noteable: dict, kind: str, event: dict) -> dict:
        return {"id": event["id"], "user": self.user(event["user"]), "created_at": iso(event["created_at"]),
                "resource_type": "Issue" if kind == "issues" else "MergeRequest", "resource_id": noteable["id"],
                "label": {"id": event["label"]["id"], "name": event["label"]["title"], "color": "#6699cc",
                          "description": ""}, "action": event["action"]}

    def hook_label(self, project: dict, label: dict) -> dict:
        stamp = hook_time(label["created_at"])
        return {"id": label["id"], "title": label["title"], "color": "#6699cc", "project_id": project["id"],
                "created_at": stamp, "updated_at": stamp, "template": False, "description": "",
                "type": "ProjectLabel", "group_id": None}

    def hook_issue(self, project: dict, issue: dict) -> dict:
        return {**self._hook_noteable(project, issue), "confidential": False,
                "url": f"{self.url}/{project['path_with_namespace']}/-/issues/{issue['iid']}"}

    def hook_merge_request(self, project: dict, mr: dict) -> dict:
        source = mr.get("source_project") or project
        sha = self.resolve_sha(source, mr["source_branch"]) or mr["sha"]
        path = project["path_with_namespace"]
        return {**self._hook_noteable(project, mr), "source_branch": mr["source_branch"],
                "target_branch": mr["target_branch"], "source_project_id": source["id"],
                "target_project_id": project["id"], "source": self.hook_project(source),
                "target": self.hook_project(project), "merge_status": "can_be_merged",
                "detailed_merge_status": "mergeable", "work_in_progress": _draft(mr), "draft": _draft(mr),
                "last_commit": {"id": sha, "url": f"{self.url}/{path}/-/commit/{sha}"},
                "url": f"{self.url}/{path}/-/merge_requests/{mr['iid']}"}

    def _hook_noteable(self, project: dict, record: dict) -> dict:
        labels = [self.hook_label(project, project["labels"][t.lower()]) for t in record["labels"]]
        return {"id": record["id"], "iid": record["iid"], "title": record["title"],
                "description": record["description"], "state": record["state"],
                "author_id": record["author"]["id"], "project_id": project["id"],
                "created_at": hook_time(record["created_at"]), "updated_at": hook_time(record["updated_at"]),
                "labels": labels}

    def hook_note(self, project: dict, note: dict) -> dict:
        noteable, kind = note["noteable"], note["kind"]
        where = "issues" if kind == "issues" else "merge_requests"
        url = f"{self.url}/{project['path_with_namespace']}/-/{where}/{noteable['iid']}#note_{note['id']}"
        return {"id": note["id"], "note": note["body"], "noteable_type": _noteable_type(kind),
                "author_id": note["author"]["id"], "created_at": hook_time(note["created_at"]),
                "updated_at": hook_time(note["updated_at"]), "project_id": project["id"],
                "attachment": None, "line_code": None, "commit_id": "", "noteable_id": noteable["id"],
                "system": False, "st_diff": None, "action": "create", "url": url}


def _noteable_type(kind: str) -> str:
    return "Issue" if kind == "issues" else "MergeRequest"


def _draft(mr: dict) -> bool:
    """GitLab derives a merge request's draft state from its title."""
    return mr.get("title", "").lower().startswith(("draft:", "[draft]", "(draft)"))
