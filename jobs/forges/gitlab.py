"""GitLabForge: the forge protocol over GitLab's REST API, for one project and one issue or merge request."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import gitlab
import requests
from gitlab.exceptions import GitlabAuthenticationError, GitlabError, GitlabParsingError, RedirectError
from requests.adapters import HTTPAdapter

from jobs.forges.base import (Comment, ForgeAuthError, ForgeConflict, ForgeError, ForgeNotFound, ForgeUnavailable,
                              GitCredentials, Issue, PullRequest, Repository, decode_text)
from jobs.forges.gitlab_shapes import (ADD_TOKEN, DESCRIPTION_LIMIT, EMOJI, ROLES, STATES, detail_of, explain_error,
                                      is_draft_title, latest_label_actor, pull_of, state_of)
from jobs.forges.gitlab_reviews import GitLabReviews
from jobs.forges.retrying import ApiWatch, forge_retry


class GitLabForge(GitLabReviews):
    """One GitLab project and one noteable: the issue, or the merge request when is_merge_request.

    GitLab numbers issues and merge requests separately (#1 and !1 both exist), so notes,
    note edits and award emoji go to whichever the trigger came from.
    """

    def __init__(self, url: str, token: str, project_path: str, *, is_merge_request: bool,
                 number: int | None = None, min_timeout: float = 30, watch: ApiWatch | None = None,
                 backoff: float = 0.5):
        """number: the trigger's iid, where edit_comment finds notes it did not post or find itself;
        min_timeout: seconds each API request may take before GitLab counts as unavailable;
        watch: where API calls and retry waits are reported; backoff: seconds before the second retry."""
        self.url, self.project_path, self.is_merge_request = url.rstrip("/"), project_path, is_merge_request
        self.number = number
        self._token = token
        self._note_numbers: dict[int, int] = {}  # note id → iid, for the notes seen by this forge
        self._project_info: tuple[int, str] | None = None  # (id, path with namespace)
        self.watch = watch or ApiWatch("gitlab")
        session = requests.Session()  # our retries, reported, before python-gitlab's own silent ones for 429
        session.mount(self.url, HTTPAdapter(max_retries=forge_retry("gitlab", self.watch, backoff=backoff)))
        self._gl = gitlab.Gitlab(self.url, private_token=token, timeout=min_timeout, user_agent="codexbot",
                                 session=session)
        self._project = self._gl.projects.get(project_path, lazy=True)  # lazy: no request yet
        self._bot_username: str | None = None
        self._checks: dict[int, tuple[str, str, str]] = {}  # status id → (sha, name, target_url)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GitLabForge(url={self.url!r}, project={self.project_path!r}, mr={self.is_merge_request})"

    def repository(self) -> Repository:
        with self._calling("read the project", self._missing("project")):
            project = self._gl.projects.get(self.project_path)
        self._project_info = (project.id, project.path_with_namespace)
        return Repository(full_name=project.path_with_namespace, id=project.id,
                          default_branch=project.default_branch, clone_url=project.http_url_to_repo,
                          html_url=project.web_url)

    def issue(self, number: int) -> Issue:
        where = self._where(number)
        with self._calling(f"read {where}", self._missing(where)):
            if not self.is_merge_request:
                found = self._project.issues.get(number)
                return Issue(number=found.iid, title=found.title, body=found.description or "",
                             state=state_of(found.state), url=found.web_url, is_pull_request=False)
            pull = self._pull(self._project.mergerequests.get(number).attributes)
        return Issue(number=pull.number, title=pull.title, body=pull.body, state=pull.state, url=pull.url,
                     is_pull_request=True, pull=pull)

    def permission(self, login: str) -> str:
        """The role of a member; ForgeNotFound for a user who is not one (the pipeline reads "none")."""
        missing = f"{login} is not a member of {self.project_path} on GitLab: add them to the project"
        with self._calling(f"read the access level of {login}", missing):
            users = self._gl.users.list(username=login, get_all=False)
            if not users:
                raise ForgeNotFound(f"GitLab has no user {login}: check the username")
            level = self._project.members_all.get(users[0].id).access_level
        return next((role for floor, role in ROLES if level >= floor), "none")

    def comment(self, number: int, body: str) -> Comment:
        where = self._where(number)
        with self._calling(f"comment on {where}", self._missing(where)):
            note = self._noteable(number).notes.create({"body": body})
        return self._comment(number, note.attributes)

    def edit_comment(self, comment_id: int, body: str) -> None:
        """GitLab's note URLs name the issue or MR: the one the note was seen on, else self.number."""
        with self._lock:
            number = self._note_numbers.get(comment_id, self.number)
        if number is None:
            raise ForgeError(f"GitLab needs the issue or merge request of note {comment_id} to edit it: "
                             "build GitLabForge with number=trigger.number")
        where = f"note {comment_id} on {self._where(number)}"
        with self._calling(f"edit {where}", self._missing(where)):
            self._noteable(number).notes.update(comment_id, {"body": body})

    def read_comment(self, number: int, comment_id: int) -> Comment:
        where = f"note {comment_id} on {self._where(number)}"
        with self._calling(f"read {where}", self._missing(where)):
            return self._comment(number, self._noteable(number).notes.get(comment_id).attributes)

    def labeled_by(self, number: int, label: str, removed: bool = False) -> str | None:
        """Who last added (removed: took off) the label, by the resource label events; None: nobody."""
        where = self._where(number)
        with self._calling(f"read the label events of {where}", self._missing(where)):
            events = self._noteable(number).resourcelabelevents
            return latest_label_actor(events, label, "remove" if removed else "add")

    def find_comment(self, number: int, marker: str) -> Comment | None:
        where = self._where(number)
        with self._calling(f"read the notes on {where}", self._missing(where)):
            bot = self._bot().lower()
            for note in self._noteable(number).notes.list(iterator=True, sort="asc", order_by="created_at"):
                # Only the bot's own notes: anyone can paste a marker into theirs.
                if marker in (note.body or "") and note.author["username"].lower() == bot and not note.system:
                    return self._comment(number, note.attributes)
        return None

    def react(self, number: int, comment_id: int | None, content: str) -> None:
        name = EMOJI.get(content, content)
        where = self._where(number) if comment_id is None else f"note {comment_id} on {self._where(number)}"
        with self._calling(f"award {name} on {where}", self._missing(where)):
            target = self._noteable(number)
            if comment_id is not None:
                target = target.notes.get(comment_id, lazy=True)
            try:
                target.awardemojis.create({"name": name})
            except gitlab.GitlabCreateError as error:
                # GitLab answers a second award of the same emoji by the same user with this 404.
                if error.response_code != 404 or "already been taken" not in detail_of(error):
                    raise

    def find_pull_request(self, head_branch: str) -> PullRequest | None:
        with self._calling(f"look up the merge request from {head_branch}"):
            project_id = self._info()[0]
            found = [self._pull(m.attributes) for m in self._project.mergerequests.list(
                source_branch=head_branch, state="all", iterator=True) if m.source_project_id == project_id]
        # An open one is the live one; otherwise the newest closed or merged one.
        found.sort(key=lambda p: (p.state == "open", p.number), reverse=True)
        return found[0] if found else None

    def open_pull_request(self, head_branch: str, base_branch: str, title: str, body: str,
                          draft: bool = False) -> PullRequest:
        """The merge request from head_branch, opened only if none exists; the body is used as given. A draft
        is a title starting with "Draft:", GitLab's own way (it cannot be merged until the prefix goes)."""
        title = f"Draft: {title}" if draft and not is_draft_title(title) else title
        existing = self.find_pull_request(head_branch)
        if existing is not None:
            return existing
        with self._calling(f"open a merge request from {head_branch} into {base_branch}"):
            try:
                created = self._project.mergerequests.create({"source_branch": head_branch, "title": title,
                                                              "target_branch": base_branch, "description": body})
                return self._pull(created.attributes)
            except gitlab.GitlabCreateError as error:
                if error.response_code != 409:
                    raise
                detail = detail_of(error)
        # Another attempt of this job opened it between our look-up and our create.
        existing = self.find_pull_request(head_branch)
        if existing is None:
            raise ForgeConflict(f"GitLab refused to open a merge request from {head_branch} in "
                                f"{self.project_path} ({detail}): fix the branches and retry")
        return existing

    def update_pull_request(self, number: int, *, title: str | None = None,
                            body: str | None = None) -> PullRequest:
        changes = {k: v for k, v in (("title", title), ("description", body)) if v is not None}
        with self._calling(f"update merge request !{number}", self._missing(f"merge request !{number}")):
            if changes:
                return self._pull(self._project.mergerequests.update(number, changes))
            return self._pull(self._project.mergerequests.get(number).attributes)

    def read_file(self, path: str, ref: str) -> str | None:
        with self._calling(f"read {path} at {ref}"):
            try:
                data = self._project.files.get(file_path=path, ref=ref).decode()
            except gitlab.GitlabGetError as error:
                if error.response_code == 404:
                    return None  # no such file, or no such ref: both mean "not there"
                raise
        return decode_text(data, f"{path} at {ref} in {self.project_path}")

    def git_credentials(self, write: bool) -> GitCredentials:
        """The same token for reading and writing: GitLab cannot down-scope an access token per call,
        so its scopes and role (set when it was created) are the only limit."""
        return GitCredentials("oauth2", self._token)

    def start_check(self, head_sha: str, name: str, details_url: str) -> int:
        """A running commit status; its GitLab id is the handle finish_check takes."""
        data = {"state": "running", "name": name, **({"target_url": details_url} if details_url else {})}
        with self._calling(f"start the commit status {name!r}", self._missing(f"commit {head_sha}")):
            commit = self._project.commits.get(head_sha, lazy=True)
            try:
                status_id = commit.statuses.create(data).id
            except gitlab.GitlabCreateError as error:
                # An earlier attempt of this job already set it running: reuse that one.
                if error.response_code != 400 or "Cannot transition" not in detail_of(error):
                    raise
                found = [s.id for s in commit.statuses.list(name=name, iterator=True)]
                if not found:
                    raise
                status_id = found[0]
        with self._lock:
            self._checks[status_id] = (head_sha, name, details_url)
        return status_id

    def finish_check(self, check_id: int, conclusion: str, title: str, summary: str) -> None:
        """Commit statuses carry one short line, so the title is shown and the summary is not."""
        with self._lock:
            known = self._checks.get(check_id)
        if known is None:
            raise ForgeError(f"commit status {check_id} was not started by this run: start the job again")
        if conclusion not in STATES:
            raise ForgeError(f"{conclusion!r} is not a check conclusion: use one of {', '.join(STATES)}")
        sha, name, url = known
        description = title if len(title) <= DESCRIPTION_LIMIT else title[:DESCRIPTION_LIMIT - 1] + "…"
        data = {"state": STATES[conclusion], "name": name, "description": description,
                **({"target_url": url} if url else {})}
        with self._calling(f"finish the commit status {name!r}", self._missing(f"commit {sha}")):
            self._project.commits.get(sha, lazy=True).statuses.create(data)

    def close(self) -> None:
        """Nothing to revoke: the access token is long-lived and owned by the admin, not minted per job."""
        self._gl.session.close()

    def _noteable(self, number: int):
        """A lazy issue or merge request: no request until one of its notes or awards is used."""
        manager = self._project.mergerequests if self.is_merge_request else self._project.issues
        return manager.get(number, lazy=True)

    def _where(self, number: int) -> str:
        return f"merge request !{number}" if self.is_merge_request else f"issue #{number}"

    def _missing(self, thing: str) -> str:
        return (f"GitLab found no {thing} in {self.project_path}: check it exists and that the token "
                "belongs to this project or a group above it")

    def _bot(self) -> str:
        """The token's own user (project_<id>_bot_<hex>), the author of the bot's notes."""
        if self._bot_username is None:
            self._gl.auth()
            self._bot_username = self._gl.user.username
        return self._bot_username

    def _info(self) -> tuple[int, str]:
        if self._project_info is None:
            project = self._gl.projects.get(self.project_path)
            self._project_info = (project.id, project.path_with_namespace)
        return self._project_info

    def _comment(self, number: int, note: dict) -> Comment:
        with self._lock:
            self._note_numbers[note["id"]] = number
        kind = "merge_requests" if self.is_merge_request else "issues"
        return Comment(id=note["id"], body=note.get("body") or "", author=note["author"]["username"],
                       url=f"{self.url}/{self.project_path}/-/{kind}/{number}#note_{note['id']}")

    def _pull(self, mr: dict) -> PullRequest:
        return pull_of(mr, self._source_path(mr["source_project_id"]))

    def _source_path(self, project_id: int) -> str | None:
        """The source project's path; None for a fork the token cannot see (or that was deleted)."""
        own_id, own_path = self._info()
        if project_id == own_id:
            return own_path
        try:
            return self._gl.projects.get(project_id).path_with_namespace
        except gitlab.GitlabGetError as error:
            if error.response_code in (403, 404):
                return None
            raise

    @contextmanager
    def _calling(self, action: str, missing: str = "") -> Iterator[None]:
        """Turns python-gitlab and network failures into ForgeErrors that say what to fix."""
        try:
            yield
            self.watch.called("ok")
        except GitlabAuthenticationError as error:
            self.watch.called("401")
            raise ForgeAuthError(f"the GitLab token was rejected trying to {action} in "
                                 f"{self.project_path}: {ADD_TOKEN}") from error
        except (RedirectError, GitlabParsingError) as error:
            raise ForgeError(f"{self.url} answered a request to {action} with a redirect or a page that is "
                             "not GitLab's JSON: set CODEXBOT_GITLAB_URL to GitLab's own address "
                             "(often https://)") from error
        except GitlabError as error:
            self.watch.called(str(error.response_code or "error"))
            raise explain_error(error, f"{action} in {self.project_path}", missing) from error
        except requests.RequestException as error:
            self.watch.called("unreachable")
            raise ForgeUnavailable(f"could not reach GitLab at {self.url} to {action} "
                                   f"({type(error).__name__}): check the network and "
                                   "CODEXBOT_GITLAB_URL") from error
