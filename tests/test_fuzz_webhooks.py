"""Property-based fuzzing of POST /webhooks/github and /webhooks/gitlab against the real app and Redis.

Random headers, bodies, encodings, sizes and nestings, with and without valid signatures, and the forges' own
payloads with random parts replaced: never a 5xx, never an exception, and nothing recorded or enqueued unless
the delivery was signed and answered 202. Each test prints how many inputs it tried.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot import create_app
from bot.webhooks.signatures import sign_github
from jobs.settings import Settings
from tests.payloads import WEBHOOK_SECRET, corpus_files

pytestmark = pytest.mark.abuse
GITLAB_TOKEN = "fuzz-gitlab-token"
FUZZ = settings(max_examples=1000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_DEEP = settings(FUZZ, max_examples=2500)  # mutated forge payloads: where the parsers' bugs were found

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zl", "Lo"]), max_size=6)  # lone surrogates, bidi, NUL
    | st.sampled_from(["/codex fix it", "/codex --attempts 3 go", "/codex", "/codex help", "codex", "open",
                       "opened", "Bot", "created", "labeled", "submitted", "changes_requested"]),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
    max_leaves=15)
HEADER_VALUE = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=80)
HEADER_NAMES = ["X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256", "X-Hub-Signature", "Content-Type",
                "X-Gitlab-Event", "X-Gitlab-Token", "X-Gitlab-Event-UUID", "Idempotency-Key", "Content-Encoding",
                "Transfer-Encoding", "User-Agent"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data",
                 "application/json; charset=utf-16", ""]


def _corpus(forge: str) -> dict[str, dict]:
    """Event name (as the forge sends it in its header) → example payloads of that event."""
    found: dict[str, dict] = {}
    for path in corpus_files(forge):
        found[f"{path.parent.name}/{path.name}"] = json.loads(path.read_text(encoding="utf-8"))
    return found


def _as_tasks(examples: dict[str, dict], forge: str) -> dict[str, dict]:
    """The examples plus copies made into tasks (a command, an open issue, an installation), so mutations
    reach the parsers' deeper paths and the intake, not only their first refusals."""
    tasks = {}
    for name, payload in examples.items():
        task = copy.deepcopy(payload)
        for key in ("comment", "object_attributes", "review"):
            if isinstance(task.get(key), dict):
                task[key]["note" if forge == "gitlab" and key == "object_attributes" else "body"] = "/codex fix it"
        for key in ("issue", "pull_request"):
            if isinstance(task.get(key), dict):
                task[key]["state"] = "opened" if forge == "gitlab" else "open"
        if forge == "github":
            task.setdefault("installation", {"id": 77})
            task.get("sender", {}).update(type="User", login="alice")
        tasks[name + ".task"] = task
    return {**examples, **tasks}


GITHUB = _as_tasks(_corpus("github"), "github")
GITLAB = _as_tasks({k: v for k, v in _corpus("gitlab").items() if not k.startswith("system_hook/")}, "gitlab")
GITLAB_EVENTS = {"note": "Note Hook", "issue": "Issue Hook", "merge_request": "Merge Request Hook", "push": "Push Hook"}


@pytest.fixture
def fuzz_app(redis_server, redis_conn, tmp_path):
    s = Settings(redis_url=redis_server.url, data_dir=str(tmp_path / "data"), secret_key="fuzz-secret-key",
                 github_webhook_secret=(WEBHOOK_SECRET,), gitlab_webhook_secret=(GITLAB_TOKEN,),
                 rate_limit_repo=0, rate_limit_user=0)  # limits have their own tests; here every task is accepted
    app = create_app(s)
    app.config["TESTING"] = True  # an exception in a view reaches the test instead of becoming a 500
    return app.test_client()


def _paths(value, prefix=()):
    """Every place in a JSON value that can be replaced."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, prefix + (i,))


def _get(value, path):
    for step in path:
        value = value[step]
    return value


def _edge_of(old):
    """A value of the same type as the one replaced, from the edges a parser may not expect."""
    if isinstance(old, bool) or old is None:
        return st.sampled_from([True, False, None])
    if isinstance(old, int):
        return st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63), 10**30])
    if isinstance(old, str):
        return st.sampled_from(["", " ", "x", "no-owner", "a/b/c", "/", "owner/", "\u202e", "../..", "x" * 10_000])
    if isinstance(old, list):
        return st.sampled_from([[], [None], [[]]])
    return st.sampled_from([{}, {"id": 1}, {"login": None}])


def _replace(value, path, new):
    if not path:
        return new
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return value


@st.composite
def mutated(draw, examples: dict[str, dict]):
    """A forge example payload with up to three parts replaced by random JSON (or a command)."""
    name = draw(st.sampled_from(sorted(examples)))
    payload = copy.deepcopy(examples[name])
    for _ in range(draw(st.integers(0, 3))):
        paths = list(_paths(payload))
        telling = [p for p in paths if p and p[-1] in TELLING_KEYS]
        path = draw(st.sampled_from(telling) if telling and draw(st.booleans()) else st.sampled_from(paths))
        old = _get(payload, path)
        payload = _replace(payload, path, draw(_edge_of(old) if draw(st.booleans()) else JSON))
    return name.split("/")[0], payload


# the fields the parsers decide by: half of the mutations hit one of them
TELLING_KEYS = {"number", "iid", "id", "full_name", "path_with_namespace", "login", "username", "type", "bot", "body",
                "note", "state", "title", "description", "action", "installation", "sender", "user", "comment", "issue",
                "pull_request", "repository", "project", "object_attributes", "noteable_type", "label", "labels",
                "changes", "review", "head", "ref", "name", "merge_request", "confidential", "html_url", "url"}


def _nested(depth: int, kind: str) -> bytes:
    return (b"[" * depth + b"]" * depth) if kind == "list" else (b'{"a":' * depth + b"1" + b"}" * depth)


BODIES = st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.text(max_size=500), st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1"]))
    .map(lambda t: t[0].encode(t[1], "replace")),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.tuples(st.integers(1, 200_000), st.sampled_from(["list", "dict"])).map(lambda t: _nested(*t)),
    st.sampled_from([0, 1, 1024, 1_000_000, 5_000_000]).map(lambda n: b" " * n + b"{}"),
)


def _state(redis_conn) -> tuple:
    """What a recorded delivery changes: delivery keys, runs and queued jobs."""
    return (len(redis_conn.keys("codexbot:delivery:*")), len(redis_conn.keys("codexbot:run:*")),
            len(redis_conn.keys("rq:job:*")))


def _report(capsys, name: str, counts: Counter) -> None:
    with capsys.disabled():
        print(f"\n[fuzz] {name}: {sum(counts.values())} inputs, answers {dict(sorted(counts.items()))}")


def test_unsigned_or_badly_signed_requests_never_crash_and_record_nothing(fuzz_app, redis_conn, capsys):
    counts: Counter = Counter()

    @FUZZ
    @given(path=st.sampled_from(["/webhooks/github", "/webhooks/gitlab"]),
           headers=st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUE, max_size=8),
           content_type=st.sampled_from(CONTENT_TYPES), body=BODIES,
           method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
           forged=st.sampled_from(["random", "another body's", "another secret's", "upper-case", "sha1"]))
    def check(path, headers, content_type, body, method, forged):
        headers = {**headers, "Content-Type": content_type}
        if forged != "random":  # near misses of a valid signature
            signature = {"another body's": sign_github(body + b" ", WEBHOOK_SECRET),
                         "another secret's": sign_github(body, WEBHOOK_SECRET + "x"),
                         "upper-case": sign_github(body, WEBHOOK_SECRET).upper(),
                         "sha1": "sha1=" + sign_github(body, WEBHOOK_SECRET)[7:47]}[forged]
            headers["X-Hub-Signature-256"] = signature
            headers["X-Gitlab-Token"] = GITLAB_TOKEN.upper()
        if headers.get("X-Gitlab-Token") == GITLAB_TOKEN:
            headers["X-Gitlab-Token"] += "x"
        before = _state(redis_conn)
        answer = fuzz_app.open(path, method=method, data=body, headers=headers)
        counts[answer.status_code] += 1
        assert answer.status_code < 500 and answer.status_code != 202
        assert _state(redis_conn) == before

    check()
    _report(capsys, "unsigned or forged requests", counts)
    assert sum(counts.values()) >= 100


def _post_github(client, event: str, body: bytes, delivery: str | None = None):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "Content-Type": "application/json", "X-Hub-Signature-256": sign_github(body, WEBHOOK_SECRET)}
    return client.post("/webhooks/github", data=body, headers=headers)


def _check_signed(answer, redis_conn, before) -> None:
    assert answer.status_code in (200, 202, 400), answer.get_data(as_text=True)
    if answer.status_code == 202:
        assert _state(redis_conn)[2] == before[2] + 1  # exactly one job for an accepted task
    else:
        assert _state(redis_conn) == before


def test_signed_github_payloads_with_random_parts_never_crash(fuzz_app, redis_conn, capsys):
    counts: Counter = Counter()

    @FUZZ_DEEP
    @given(example=mutated(GITHUB), event=st.none() | st.sampled_from(sorted({k.split("/")[0] for k in GITHUB})))
    def check(example, event):
        name, payload = example
        before = _state(redis_conn)
        answer = _post_github(fuzz_app, event or name, json.dumps(payload).encode())
        counts[answer.status_code] += 1
        _check_signed(answer, redis_conn, before)

    check()
    _report(capsys, "signed GitHub payloads, mutated", counts)


def test_signed_random_bodies_never_crash(fuzz_app, redis_conn, capsys):
    counts: Counter = Counter()

    @FUZZ
    @given(body=BODIES, event=st.from_regex(r"[a-z_]{1,20}", fullmatch=True))
    def check(body, event):
        before = _state(redis_conn)
        answer = _post_github(fuzz_app, event, body)
        counts[answer.status_code] += 1
        _check_signed(answer, redis_conn, before)

    check()
    _report(capsys, "signed random GitHub bodies", counts)


def test_gitlab_payloads_with_the_right_token_and_random_parts_never_crash(fuzz_app, redis_conn, capsys):
    counts: Counter = Counter()

    @FUZZ_DEEP
    @given(example=mutated(GITLAB), body=st.none() | BODIES)
    def check(example, body):
        name, payload = example
        raw = body if body is not None else json.dumps(payload).encode()
        headers = {"X-Gitlab-Event": GITLAB_EVENTS[name], "X-Gitlab-Token": GITLAB_TOKEN,
                   "X-Gitlab-Event-UUID": str(uuid.uuid4()), "Content-Type": "application/json"}
        before = _state(redis_conn)
        answer = fuzz_app.post("/webhooks/gitlab", data=raw, headers=headers)
        counts[answer.status_code] += 1
        _check_signed(answer, redis_conn, before)

    check()
    _report(capsys, "GitLab payloads with the token, mutated or random", counts)
