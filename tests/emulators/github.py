"""GitHubEmulator: a local GitHub (REST subset, App auth, git over HTTP, webhooks) for tests."""

from __future__ import annotations

import os
import shutil
import tempfile

from . import github_git as git
from .github_auth import FULL_PERMISSIONS, generate_app_key, mint_token, sign_app_jwt
from .faults import Faults
from .github_ci import CI
from .github_dispatch import Dispatcher
from .github_shapes import Shapes
from .github_state import GitHubState
from .github_reviews import Reviews, comment_shape, review_shape
from .github_webhooks import Delivery, WebhookSender
from .serving import BackgroundServer


class GitHubEmulator:
    """Serves the REST API at `url` (no `/api/v3` prefix) and git at `url/{owner}/{repo}.git`.

    Without `app_public_key_pem` a key pair is generated and `app_private_key_pem` holds
    the private half. `requests`, `pushes` and `deliveries` record what happened;
    `errors` holds tracebacks of emulator bugs (a test should expect it to stay empty).
    """

    def __init__(self, app_id: int = 4242, app_public_key_pem: str | None = None,
                 app_slug: str = "codexbot"):
        self.app_private_key_pem: str | None = None
        if app_public_key_pem is None:
            self.app_private_key_pem, app_public_key_pem = generate_app_key()
        self.app_id, self.app_slug, self.app_public_key_pem = app_id, app_slug, app_public_key_pem
        self.state = GitHubState()
        self.bot_user = self.state.add_user(f"{app_slug}[bot]", type="Bot")
        self.app_owner = self.state.add_user(f"{app_slug}-developers", type="Organization")
        self.requests: list[dict] = []
        self.manifests: dict[str, dict] = {}  # one-time codes of the manifest flow
        self.converted: list[dict] = []  # manifests turned into an App
        self.reviews = Reviews(self.state)
        self.ci = CI(self)  # other Apps' checks, statuses and job logs; emu.ci.suite_completed delivers
        self.pushes: list[dict] = []
        self.errors: list[str] = []
        self.webhooks = WebhookSender(app_id)
        self.repos_root = tempfile.mkdtemp(prefix="github-emulator-")
        self.faults = Faults(Dispatcher(self))  # tests script failures, stalls and dropped connections here
        self._server = BackgroundServer(self.faults)

    # lifecycle

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        return self._server.url

    def start(self) -> GitHubEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        shutil.rmtree(self.repos_root, ignore_errors=True)

    def __enter__(self) -> GitHubEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def shapes(self) -> Shapes:
        return Shapes(self.url, self._resolve_sha, self.state.role, self.state.repo_by_id)

    def _resolve_sha(self, repo: dict, branch: str) -> str | None:
        return git.branch_head(repo["path"], branch)

    def app_json(self) -> dict:
        return self.shapes.app(self.app_id, self.app_slug, self.app_owner)

    # setting the scene

    def create_repo(self, full_name: str, files: dict[str, str | bytes],
                    default_branch: str = "main") -> dict:
        """Makes a bare repository with one commit of `files`; returns the emulator's record."""
        path = os.path.join(self.repos_root, f"{full_name}.git")
        git.init_bare(path, default_branch, files)
        return self.state.add_repo(full_name, default_branch, path)

    def fork_repo(self, source: str, full_name: str) -> dict:
        """A fork: a bare clone of source's repository (the same history), as GitHub makes it."""
        path = os.path.join(self.repos_root, f"{full_name}.git")
        git.clone_bare(self.state.repo(source)["path"], path)
        return self.state.add_repo(full_name, self.state.repo(source)["default_branch"], path)

    def commit_files(self, repo: str, branch: str, files: dict[str, str | bytes],
                     message: str = "Update files", start: str | None = None) -> str:
        """Commits on `branch` of the bare repository, as a push would; returns the sha. A new branch starts
        at `start` (a branch or sha of the repository), or with no history when it is None."""
        path = self.state.repo(repo)["path"]
        if start is not None and git.branch_head(path, branch) is None:
            git.set_ref(path, f"refs/heads/{branch}", git.run_git(path, "rev-parse", start).stdout.decode().strip())
        return git.commit_files(path, branch, files, message)

    def add_installation(self, installation_id: int, repos: list[str], account: str | None = None,
                         permissions: dict | None = None) -> dict:
        records = [self.state.repo(name) for name in repos]
        account = account or records[0]["owner"]["login"]
        return self.state.add_installation(installation_id, account, [r["id"] for r in records],
                                           permissions or FULL_PERMISSIONS)

    def add_user(self, login: str, permissions: dict[str, str] | None = None,
                 type: str = "User") -> dict:
        """Adds a user; `permissions` maps repository full names to admin/maintain/write/triage/read/none."""
        user = self.state.add_user(login, type)
        for repo, role in (permissions or {}).items():
            self.set_permission(repo, login, role)
        return user

    def set_permission(self, repo: str, login: str, permission: str) -> None:
        self.state.set_role(self.state.repo(repo), login, permission)

    def issue_token(self, installation_id: int, repositories: list[str] | None = None,
                    permissions: dict | None = None) -> str:
        """A scoped installation token without the JWT round trip, for tests of other parts."""
        body = {"repositories": repositories or [], "permissions": permissions}
        return mint_token(self.state, self.state.installation(installation_id), body)["token"]

    def app_jwt(self, lifetime: int = 540) -> str:
        if self.app_private_key_pem is None:
            raise RuntimeError("The emulator was given only a public key; "
                               "sign the JWT with your own private key.")
        return sign_app_jwt(self.app_private_key_pem, self.app_id, lifetime)

    def token(self, token: str) -> dict:
        """The emulator's record of a token: repo_ids, permissions, expires, revoked."""
        with self.state.lock:
            return dict(self.state.tokens[token])

    # reading what the bot did (GitHub's JSON shapes)

    def open_issue(self, repo: str, title: str, body: str = "", user: str | None = None) -> dict:
        record = self.state.repo(repo)
        author = self.state.add_user(user) if user else record["owner"]
        return self.shapes.issue(record, self.state.open_issue(record, title, body, author))

    def open_pull(self, repo: str, head: str, title: str, base: str | None = None,
                  body: str = "", user: str | None = None, head_repo: str | None = None) -> dict:
        """A pull request from `head` of this repository, or of `head_repo` (a fork, made with create_repo)."""
        record = self.state.repo(repo)
        source = self.state.repo(head_repo) if head_repo else record
        if git.branch_head(source["path"], head) is None:
            raise ValueError(f"Branch {head!r} does not exist in {source['full_name']}; make it with commit_files().")
        author = self.state.add_user(user) if user else record["owner"]
        pull = self.state.open_pull(record, head, base or record["default_branch"], title, body, author)
        if head_repo:
            pull["pull"]["head_repo_id"] = source["id"]
        return self.shapes.pull(record, pull)

    def issue(self, repo: str, number: int) -> dict:
        record = self.state.repo(repo)
        return self.shapes.issue(record, self.state.issue(record, number))

    def comments(self, repo: str, number: int) -> list[dict]:
        record = self.state.repo(repo)
        return [self.shapes.comment(record, c) for c in self.state.issue_comments(record, number)]

    def list_pulls(self, repo: str, state: str = "all") -> list[dict]:
        record = self.state.repo(repo)
        return [self.shapes.pull(record, p) for p in self.state.find_pulls(record, state)]

    def check_runs(self, repo: str) -> list[dict]:
        record = self.state.repo(repo)
        with self.state.lock:
            runs = [r for r in self.state.check_runs.values() if r["repo_id"] == record["id"]]
        return [self.shapes.check_run(record, r, self.app_json()) for r in runs]

    def branch_head(self, repo: str, branch: str) -> str | None:
        return git.branch_head(self.state.repo(repo)["path"], branch)

    def read_file_at(self, repo: str, ref: str, path: str) -> str | None:
        found = git.read_blob(self.state.repo(repo)["path"], ref, path)
        return found[0].decode() if found else None

    # acting as a user: change the state, then deliver the webhook GitHub would send

    @property
    def deliveries(self) -> list[Delivery]:
        return self.webhooks.deliveries

    def set_webhook(self, url: str, secret: str | None) -> None:
        self.webhooks.configure(url, secret)

    def add_comment(self, login: str, repo: str, number: int, body: str) -> dict:
        """A comment by a user without a webhook (see comment_as for the delivered kind)."""
        record = self.state.repo(repo)
        comment = self.state.add_comment(record, number, body, self.state.add_user(login))
        return self.shapes.comment(record, comment)

    def comment_as(self, login: str, repo: str, number: int, body: str) -> Delivery:
        record, user = self.state.repo(repo), self.state.add_user(login)
        comment = self.state.add_comment(record, number, body, user)
        payload = {"action": "created", **self._issue_context(record, number, user),
                   "comment": self.shapes.comment(record, comment)}
        return self.webhooks.send("issue_comment", payload)

    def label_as(self, login: str, repo: str, number: int, label: str) -> Delivery:
        record, user = self.state.repo(repo), self.state.add_user(login)
        self.state.add_labels(self.state.issue(record, number), [label], user)
        payload = {"action": "labeled", **self._issue_context(record, number, user),
                   "label": self.shapes.label(record, label)}
        return self.webhooks.send("issues", payload)

    def unlabel_as(self, login: str, repo: str, number: int, label: str) -> Delivery:
        record, user = self.state.repo(repo), self.state.add_user(login)
        self.state.remove_label(self.state.issue(record, number), label, user)
        payload = {"action": "unlabeled", **self._issue_context(record, number, user),
                   "label": self.shapes.label(record, label)}
        return self.webhooks.send("issues", payload)

    def review_as(self, login: str, repo: str, number: int, state: str, body: str = "",
                  comments: list[dict] | None = None) -> Delivery:
        """Submit a review ("changes_requested", "commented", "approved") with line comments
        ([{"path", "line", "body"}]) and deliver `pull_request_review` `submitted`."""
        record, user = self.state.repo(repo), self.state.add_user(login)
        review = self.reviews.add_review(record, number, user, state, body, comments or [])
        payload = {"action": "submitted", **self._pull_context(record, number, user),
                   "review": review_shape(self.url, record, review, self.shapes.user)}
        return self.webhooks.send("pull_request_review", payload)

    def review_comment_as(self, login: str, repo: str, number: int, path: str, line: int, body: str) -> Delivery:
        """A single comment on a line of the pull request, delivered as `pull_request_review_comment`."""
        record, user = self.state.repo(repo), self.state.add_user(login)
        comment = self.reviews.add_comment(record, number, user, path, line, body)
        payload = {"action": "created", **self._pull_context(record, number, user),
                   "comment": comment_shape(self.url, record, comment, self.shapes.user)}
        return self.webhooks.send("pull_request_review_comment", payload)

    def pull_event_as(self, login: str, repo: str, number: int, action: str = "opened") -> Delivery:
        """Deliver `pull_request` with action ("opened", "ready_for_review", …) for a pull request made with
        open_pull, as GitHub sends it when login opens it."""
        record, user = self.state.repo(repo), self.state.add_user(login)
        payload = {"action": action, "number": number, **self._pull_context(record, number, user)}
        return self.webhooks.send("pull_request", payload)

    def review_replies(self, comment_id: int) -> list[dict]:
        """The replies on a review comment's thread, oldest first."""
        return list(self.reviews.thread(comment_id))

    def _pull_context(self, repo: dict, number: int, sender: dict) -> dict:
        context = self._issue_context(repo, number, sender)
        del context["issue"]
        context["pull_request"] = self.shapes.pull(repo, self.state.issue(repo, number))
        return context

    def redeliver(self, delivery_id: str) -> Delivery:
        return self.webhooks.redeliver(delivery_id)

    def _issue_context(self, repo: dict, number: int, sender: dict) -> dict:
        context = {"issue": self.shapes.issue(repo, self.state.issue(repo, number)),
                   "repository": self.shapes.repo(repo), "sender": self.shapes.user(sender)}
        installation = self.state.installation_for_repo(repo)
        if installation is not None:
            context["installation"] = {"id": installation["id"],
                                       "node_id": f"MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{installation['id']}"}
        return context
