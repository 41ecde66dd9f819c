"""JSON shapes of GitHub's REST API and webhooks, built from the emulator's records."""

from __future__ import annotations

import base64
import zlib
from collections import Counter
from typing import Callable

from .github_state import REACTIONS, now_iso

LEGACY_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read",
                     "read": "read", "none": "none"}
ASSOCIATION = {"admin": "OWNER", "maintain": "MEMBER", "write": "COLLABORATOR",
               "triage": "COLLABORATOR", "read": "CONTRIBUTOR", "none": "NONE"}


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0:{kind}{number}".encode()).decode()


class Shapes:
    """Renders records with absolute URLs under the emulator's base URL.

    `resolve_sha(repo, branch)` gives a branch's head commit, so pulls show real shas.
    """

    def __init__(self, base: str, resolve_sha: Callable[[dict, str], str | None],
                 role_of: Callable[[dict, str], str], repo_by_id: Callable[[int], dict] | None = None):
        self.base = base
        self.repo_by_id = repo_by_id
        self.resolve_sha = resolve_sha
        self.role_of = role_of

    def user(self, user: dict) -> dict:
        login = user["login"]
        return {"login": login, "id": user["id"], "node_id": node_id("User", user["id"]),
                "avatar_url": f"{self.base}/avatars/{login}", "gravatar_id": "",
                "url": f"{self.base}/users/{login}", "html_url": f"{self.base}/{login}",
                "type": user["type"], "site_admin": False}

    def repo(self, repo: dict) -> dict:
        full, api = repo["full_name"], f"{self.base}/repos/{repo['full_name']}"
        return {"id": repo["id"], "node_id": node_id("Repository", repo["id"]), "name": repo["name"],
                "full_name": full, "private": repo["private"], "owner": self.user(repo["owner"]),
                "html_url": f"{self.base}/{full}", "description": None, "fork": False, "url": api,
                "issues_url": api + "/issues{/number}", "pulls_url": api + "/pulls{/number}",
                "contents_url": api + "/contents/{+path}", "clone_url": f"{self.base}/{full}.git",
                "git_url": f"{self.base}/{full}.git", "ssh_url": f"git@127.0.0.1:{full}.git",
                "created_at": repo["created_at"], "updated_at": repo["created_at"],
                "pushed_at": repo["created_at"], "default_branch": repo["default_branch"],
                "archived": False, "disabled": False, "visibility": "private",
                "has_issues": True, "open_issues_count": 0, "topics": [], "size": 0}

    def reactions_summary(self, url: str, reactions: list[dict]) -> dict:
        counts = Counter(r["content"] for r in reactions)
        return {"url": url + "/reactions", "total_count": len(reactions),
                **{content: counts.get(content, 0) for content in REACTIONS}}

    def label(self, repo: dict, name: str) -> dict:
        label_id = zlib.crc32(f"{repo['id']}/{name}".encode())
        return {"id": label_id, "node_id": node_id("Label", label_id),
                "url": f"{self.base}/repos/{repo['full_name']}/labels/{name}", "name": name,
                "color": "ededed", "default": False, "description": None}

    def issue_event(self, repo: dict, issue: dict, event: dict) -> dict:
        return {"id": event["id"], "node_id": node_id("LabeledEvent", event["id"]),
                "url": f"{self.base}/repos/{repo['full_name']}/issues/events/{event['id']}",
                "actor": self.user(event["actor"]), "event": event["event"], "commit_id": None, "commit_url": None,
                "created_at": event["created_at"], "label": {"name": event["label"], "color": "ededed"},
                "performed_via_github_app": None}

    def issue(self, repo: dict, issue: dict) -> dict:
        api = f"{self.base}/repos/{repo['full_name']}/issues/{issue['number']}"
        data = {"url": api, "repository_url": f"{self.base}/repos/{repo['full_name']}",
                "comments_url": api + "/comments", "labels_url": api + "/labels{/name}",
                "html_url": f"{self.base}/{repo['full_name']}/issues/{issue['number']}",
                "id": issue["id"], "node_id": node_id("Issue", issue["id"]), "number": issue["number"],
                "title": issue["title"], "body": issue["body"], "user": self.user(issue["user"]),
                "labels": [self.label(repo, n) for n in issue["labels"]], "state": issue["state"],
                "locked": False, "assignee": None, "assignees": [], "milestone": None,
                "comments": len(issue["comment_ids"]), "created_at": issue["created_at"],
                "updated_at": issue["updated_at"], "closed_at": issue["closed_at"],
                "author_association": self.association(repo, issue["user"]),
                "reactions": self.reactions_summary(api, issue["reactions"])}
        if issue["pull"] is not None:
            pulls = f"{self.base}/repos/{repo['full_name']}/pulls/{issue['number']}"
            html = f"{self.base}/{repo['full_name']}/pull/{issue['number']}"
            data["pull_request"] = {"url": pulls, "html_url": html, "diff_url": html + ".diff",
                                    "patch_url": html + ".patch", "merged_at": None}
            data["draft"] = issue["pull"]["draft"]
        return data

    def association(self, repo: dict, user: dict) -> str:
        return ASSOCIATION[self.role_of(repo, user["login"])]

    def comment(self, repo: dict, comment: dict) -> dict:
        api = f"{self.base}/repos/{repo['full_name']}/issues/comments/{comment['id']}"
        html = f"{self.base}/{repo['full_name']}/issues/{comment['number']}"
        return {"url": api, "html_url": f"{html}#issuecomment-{comment['id']}",
                "issue_url": f"{self.base}/repos/{repo['full_name']}/issues/{comment['number']}",
                "id": comment["id"], "node_id": node_id("IssueComment", comment["id"]),
                "user": self.user(comment["user"]), "created_at": comment["created_at"],
                "updated_at": comment["updated_at"], "body": comment["body"],
                "author_association": self.association(repo, comment["user"]),
                "performed_via_github_app": None,
                "reactions": self.reactions_summary(api, comment["reactions"])}

    def reaction(self, reaction: dict) -> dict:
        return {"id": reaction["id"], "node_id": node_id("Reaction", reaction["id"]),
                "user": self.user(reaction["user"]), "content": reaction["content"],
                "created_at": reaction["created_at"]}

    def pull(self, repo: dict, issue: dict) -> dict:
        data = self.issue(repo, issue)
        pull, number = issue["pull"], issue["number"]
        data.update({"url": data["pull_request"]["url"], "html_url": data["pull_request"]["html_url"],
                     "diff_url": data["pull_request"]["diff_url"],
                     "patch_url": data["pull_request"]["patch_url"],
                     "issue_url": f"{self.base}/repos/{repo['full_name']}/issues/{number}",
                     "head": self.pull_end(self.head_repo(repo, pull), pull["head"]),
                     "base": self.pull_end(repo, pull["base"]),
                     "merged": pull["merged"], "merged_at": None, "mergeable": True,
                     "merge_commit_sha": None, "requested_reviewers": [], "commits": 1,
                     "maintainer_can_modify": False})
        del data["pull_request"], data["reactions"]
        return data

    def head_repo(self, repo: dict, pull: dict) -> dict:
        """The repository the pull request's head branch lives in: a fork's, or the same one."""
        return self.repo_by_id(pull["head_repo_id"]) if pull.get("head_repo_id") else repo

    def pull_end(self, repo: dict, branch: str) -> dict:
        owner = repo["owner"]["login"]
        return {"label": f"{owner}:{branch}", "ref": branch, "sha": self.resolve_sha(repo, branch),
                "user": self.user(repo["owner"]), "repo": self.repo(repo)}

    def branch(self, repo: dict, name: str, sha: str) -> dict:
        api = f"{self.base}/repos/{repo['full_name']}"
        return {"name": name, "commit": {"sha": sha, "url": f"{api}/commits/{sha}"},
                "protected": False, "_links": {"self": f"{api}/branches/{name}",
                                               "html": f"{self.base}/{repo['full_name']}/tree/{name}"}}

    def ref(self, repo: dict, name: str, sha: str) -> dict:
        api = f"{self.base}/repos/{repo['full_name']}/git"
        return {"ref": f"refs/heads/{name}", "node_id": node_id("Ref", len(name)),
                "url": f"{api}/refs/heads/{name}",
                "object": {"sha": sha, "type": "commit", "url": f"{api}/commits/{sha}"}}

    def content(self, repo: dict, path: str, ref: str, blob: bytes, sha: str) -> dict:
        api = f"{self.base}/repos/{repo['full_name']}/contents/{path}?ref={ref}"
        return {"type": "file", "encoding": "base64", "size": len(blob), "name": path.rsplit("/", 1)[-1],
                "path": path, "content": base64.encodebytes(blob).decode(), "sha": sha, "url": api,
                "html_url": f"{self.base}/{repo['full_name']}/blob/{ref}/{path}", "git_url": None,
                "download_url": None, "_links": {"self": api}}

    def check_run(self, repo: dict, run: dict, app: dict) -> dict:
        api = f"{self.base}/repos/{repo['full_name']}/check-runs/{run['id']}"
        output = {"title": None, "summary": None, "text": None, "annotations_count": 0,
                  **run["output"]}
        return {"id": run["id"], "node_id": node_id("CheckRun", run["id"]), "name": run["name"],
                "head_sha": run["head_sha"], "external_id": run["external_id"], "url": api,
                "html_url": f"{self.base}/{repo['full_name']}/runs/{run['id']}",
                "details_url": run["details_url"], "status": run["status"],
                "conclusion": run["conclusion"], "started_at": run["started_at"],
                "completed_at": run["completed_at"], "output": output, "app": app,
                "pull_requests": [], "check_suite": {"id": run["id"]}}

    def app(self, app_id: int, slug: str, owner: dict) -> dict:
        stamp = now_iso()
        return {"id": app_id, "slug": slug, "node_id": node_id("App", app_id), "name": slug,
                "owner": self.user(owner), "description": "", "external_url": self.base,
                "html_url": f"{self.base}/apps/{slug}", "created_at": stamp, "updated_at": stamp,
                "permissions": {}, "events": ["issue_comment", "issues", "pull_request"]}

    def installation(self, inst: dict, app_id: int, slug: str) -> dict:
        api = f"{self.base}/app/installations/{inst['id']}"
        return {"id": inst["id"], "account": self.user(inst["account"]), "app_id": app_id,
                "app_slug": slug, "target_id": inst["account"]["id"],
                "target_type": inst["account"]["type"], "repository_selection": "selected",
                "access_tokens_url": api + "/access_tokens", "repositories_url":
                f"{self.base}/installation/repositories", "html_url": f"{self.base}/settings/installations",
                "permissions": inst["permissions"], "events": [], "created_at": inst["created_at"],
                "updated_at": inst["created_at"], "single_file_name": None, "suspended_at": None}
