"""Signature checks, starting with GitHub's own documented test vector."""

import json

import pytest

from bot.webhooks.signatures import sign_github, verify_github_signature, verify_shared_token
from tests.payloads import CORPUS

VECTORS = json.loads((CORPUS / "signature-vectors.json").read_text())


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["platform"] == "github"])
def test_github_documentation_vector_verifies(vector):
    body = vector["payload"].encode()
    assert sign_github(body, vector["secret"]) == vector["expected"]
    assert verify_github_signature(body, vector["expected"], [vector["secret"]])


def test_any_of_several_secrets_verifies_during_rotation():
    body = b'{"a": 1}'
    assert verify_github_signature(body, sign_github(body, "new"), ["old", "new"])
    assert verify_github_signature(body, sign_github(body, "old"), ["old", "new"])


@pytest.mark.parametrize("header", [None, "", "sha1=abc", "sha256=", "sha256=00", "sha256=ünïcode"])
def test_bad_headers_do_not_verify(header):
    assert not verify_github_signature(b"{}", header, ["secret"])


def test_tampered_body_or_wrong_secret_fails():
    sig = sign_github(b'{"a": 1}', "secret")
    assert not verify_github_signature(b'{"a": 2}', sig, ["secret"])
    assert not verify_github_signature(b'{"a": 1}', sig, ["other"])
    assert not verify_github_signature(b'{"a": 1}', sig, [])


def test_shared_token():
    assert verify_shared_token("tok", ["a", "tok"])
    assert not verify_shared_token("tok2", ["tok"])
    assert not verify_shared_token(None, ["tok"])
