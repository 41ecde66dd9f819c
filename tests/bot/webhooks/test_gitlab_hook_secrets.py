"""GitLab webhook secrets per project or group: a project with its own secret (or a group above it with one)
is admitted by those only; the shared secret admits the other projects; the project is read from the start of
the body before the token is checked."""

import io
import json

import pytest

from bot import create_app
from bot.webhooks.gitlab import PROJECT_WINDOW, project_path_in
from jobs.access.hook_secrets import KEY as STORED, HookSecrets
from jobs.settings import SettingsError, Settings
from tests.bot.webhooks.test_gitlab import note_payload, post
from tests.payloads import LargeBody, corpus_files, recorded_keys

SHARED = "shared-hook-token"
KEY = "hook-secret-key"


def make_client(redis_server, shared=(SHARED,), secret_key=KEY):
    return create_app(Settings(redis_url=redis_server.url, gitlab_webhook_secret=shared,
                               secret_key=secret_key)).test_client()


@pytest.fixture
def secrets(redis_conn):
    return HookSecrets(redis_conn, KEY)


def payload_for(project: str) -> dict:
    payload = note_payload()
    payload["project"]["path_with_namespace"] = project
    return payload


def test_a_project_secret_admits_its_project_and_the_shared_one_no_longer_does(redis_server, secrets):
    secrets.set("gitlab-org/gitlab-test", "project-own")
    client = make_client(redis_server)
    assert post(client, payload_for("gitlab-org/gitlab-test"), token="project-own").status_code == 202
    assert post(client, payload_for("gitlab-org/gitlab-test"), token=SHARED).status_code == 401
    assert post(client, payload_for("Gitlab-Org/Gitlab-Test"), token=SHARED).status_code == 401
    assert post(client, payload_for("other/project"), token=SHARED).status_code == 202
    assert post(client, payload_for("other/project"), token="project-own").status_code == 401


def test_a_group_secret_admits_the_projects_below_it(redis_server, secrets):
    secrets.set("gitlab-org", "group-own")
    secrets.set("gitlab-org/sub/app", "app-own")
    client = make_client(redis_server)
    assert post(client, payload_for("gitlab-org/gitlab-test"), token="group-own").status_code == 202
    assert post(client, payload_for("gitlab-org/sub/app"), token="group-own").status_code == 202
    assert post(client, payload_for("gitlab-org/sub/app"), token="app-own").status_code == 202
    assert post(client, payload_for("gitlab-org/sub/other"), token="app-own").status_code == 401
    assert post(client, payload_for("gitlab-org/sub/other"), token=SHARED).status_code == 401
    assert post(client, payload_for("gitlab-orgx/app"), token=SHARED).status_code == 202


def test_project_secrets_alone_enable_gitlab_webhooks(redis_server, redis_conn, secrets):
    client = make_client(redis_server, shared=())
    assert post(client, payload_for("gitlab-org/gitlab-test"), token="anything").status_code == 404
    secrets.set("gitlab-org", "group-own")
    assert post(client, payload_for("gitlab-org/gitlab-test"), token="group-own").status_code == 202
    assert post(client, payload_for("other/project"), token="group-own").status_code == 401


def test_a_secret_stored_with_another_key_admits_nothing_not_even_the_shared_one(redis_server, secrets):
    secrets.set("gitlab-org/gitlab-test", "project-own")
    client = make_client(redis_server, secret_key="another-key")
    resp = post(client, payload_for("gitlab-org/gitlab-test"), token=SHARED)
    assert resp.status_code == 401 and b"gitlab-hook-secret set gitlab-org/gitlab-test" in resp.data


def test_a_body_naming_its_project_twice_is_refused(redis_server, redis_conn, secrets):
    """json.loads keeps the last "project": the token must have been checked for that one."""
    secrets.set("victim/app", "victim-own")
    client = make_client(redis_server)
    attacker = json.dumps(payload_for("attacker/app"))
    body = attacker[:-1] + ', "project": ' + json.dumps(payload_for("victim/app")["project"]) + "}"
    resp = post(client, body.encode(), token=SHARED)
    assert resp.status_code == 400 and b"names its project" in resp.data
    assert recorded_keys(redis_conn) == [STORED.encode()]  # the secret, and no delivery


def test_a_project_past_the_window_is_refused(redis_server, redis_conn, secrets):
    secrets.set("victim/app", "victim-own")
    client = make_client(redis_server)
    payload = payload_for("victim/app")
    project = payload.pop("project")
    body = json.dumps({"padding": "x" * PROJECT_WINDOW, **payload, "project": project}).encode()
    assert post(client, body, token=SHARED).status_code == 400
    assert recorded_keys(redis_conn) == [STORED.encode()]  # the secret, and no delivery


def test_a_wrong_token_reads_no_more_than_the_window(redis_server, secrets):
    secrets.set("gitlab-org", "group-own")
    stream = LargeBody(10 * 1024 * 1024)
    headers = {"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "wrong", "Content-Length": str(stream.size),
               "Content-Type": "application/json"}
    resp = make_client(redis_server).post("/webhooks/gitlab", input_stream=stream, headers=headers)
    assert resp.status_code == 401
    assert stream.read_bytes <= 2 * PROJECT_WINDOW


@pytest.mark.parametrize("path", sorted(p.name for p in corpus_files("gitlab")))
def test_every_corpus_payload_names_its_project_within_the_window(path):
    (found,) = [p for p in corpus_files("gitlab") if p.name == path][:1]
    body = found.read_bytes()
    project = json.loads(body).get("project")
    expected = project.get("path_with_namespace") if isinstance(project, dict) else None
    assert project_path_in(body[:PROJECT_WINDOW]) == expected


def test_the_store_refuses_bad_paths_and_values(secrets):
    for path, value in (("not a path", "s"), ("group/x.git", "s"), ("group", ""), ("group", "has space")):
        with pytest.raises(SettingsError):
            secrets.set(path, value)
    secrets.set("Group/Sub/", "ok")
    assert secrets.paths() == ["group/sub"] and secrets.secrets_for("GROUP/sub/app") == ("ok",)
    assert secrets.remove("group/sub") and not secrets.remove("group/sub") and secrets.secrets_for("group/sub") == ()



class Trickle(io.RawIOBase):
    """A request body that hands over at most 7 bytes per read, as a socket may (PEP 3333 allows short reads)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=0):
        self.pos = {0: offset, 1: self.pos + offset, 2: len(self.data) + offset}[whence]
        return self.pos

    def readinto(self, buf):
        n = min(len(buf), 7, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def test_a_body_arriving_in_pieces_is_read_to_its_project(redis_server, secrets):
    secrets.set("gitlab-org", "group-own")
    body = json.dumps(payload_for("gitlab-org/gitlab-test")).encode()
    headers = {"X-Gitlab-Event": "Note Hook", "X-Gitlab-Token": "group-own", "Content-Length": str(len(body)),
               "Content-Type": "application/json", "Idempotency-Key": "pieces-1"}
    resp = make_client(redis_server).post("/webhooks/gitlab", input_stream=Trickle(body), headers=headers)
    assert resp.status_code == 202, resp.data
