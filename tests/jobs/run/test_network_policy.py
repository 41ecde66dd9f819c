"""What a run's fenced phases may reach: the operator's preset or list, the repository's `[network] allow`, and
CODEXBOT_NETWORK_STRICT; and the settings that say so, refused with a sentence when they are wrong."""

from __future__ import annotations

import pytest

from jobs.repo.config import RepoConfigError, parse_repo_config
from jobs.run.wiring import network_policy
from jobs.sandbox.allowlist import DEFAULT_ALLOW
from jobs.settings import SettingsError, load_settings

REPO = parse_repo_config('[network]\nallow = ["npm.pkg.github.com", "Corp.Example.COM."]\n')


def policy(environ: dict[str, str], config=REPO, log=None):
    return network_policy(load_settings(environ, config_path=None), config, log)


def test_the_preset_plus_the_repositorys_domains_by_default():
    allow = policy({}).allowlist
    assert allow.domains == DEFAULT_ALLOW + ("npm.pkg.github.com", "corp.example.com")
    assert allow.allows("files.pythonhosted.org") and allow.allows("x.corp.example.com")
    assert not allow.allows("example.com") and not allow.allows("evilpypi.org")


def test_the_operator_extends_or_replaces_the_preset():
    extended = policy({"CODEXBOT_NETWORK_ALLOW": "+mirror.internal.example"}, parse_repo_config(None)).allowlist
    assert extended.domains == DEFAULT_ALLOW + ("mirror.internal.example",)
    replaced = policy({"CODEXBOT_NETWORK_ALLOW": "mirror.internal.example"}, parse_repo_config(None)).allowlist
    assert replaced.domains == ("mirror.internal.example",)
    assert policy({"CODEXBOT_NETWORK_ALLOW": "none"}, parse_repo_config(None)).allowlist.domains == ()


def test_strict_ignores_the_repositorys_domains_and_says_so():
    lines = []
    strict = policy({"CODEXBOT_NETWORK_STRICT": "true"}, log=lines.append)
    assert strict.allowlist.domains == DEFAULT_ALLOW
    assert lines == ["[network] allow in .codexbot.toml is ignored: the operator set CODEXBOT_NETWORK_STRICT"]
    assert "CODEXBOT_NETWORK_ALLOW" in strict.allow_hint
    assert policy({"CODEXBOT_NETWORK_STRICT": "no"}).allowlist.allows("npm.pkg.github.com")


def test_test_upstreams_are_off_unless_set_and_allowed_when_set():
    assert policy({}).allowlist.test_upstreams == {}
    allow = policy({"CODEXBOT_NETWORK_TEST_UPSTREAMS": "pypi.test=127.0.0.1:8080"}).allowlist
    assert allow.test_upstreams == {"pypi.test": ("127.0.0.1", 8080)} and allow.allows("pypi.test")


@pytest.mark.parametrize("name, value, says", [
    ("CODEXBOT_NETWORK_ALLOW", "https://pypi.org", "'https://pypi.org' is not a domain name"),
    ("CODEXBOT_NETWORK_ALLOW", "+*.example.org", "'*.example.org' is not a domain name"),
    ("CODEXBOT_NETWORK_ALLOW", "10.0.0.8", "'10.0.0.8' is not a domain name"),
    ("CODEXBOT_NETWORK_STRICT", "maybe", "CODEXBOT_NETWORK_STRICT must be true or false"),
    ("CODEXBOT_NETWORK_TEST_UPSTREAMS", "pypi.test", "'pypi.test' is not name=host:port"),
])
def test_bad_network_settings_name_the_variable(name, value, says):
    with pytest.raises(SettingsError, match=f"^{name}.*{says}" if name != "CODEXBOT_NETWORK_STRICT" else says):
        load_settings({name: value}, config_path=None)


@pytest.mark.parametrize("text", ['[network]\nallow = "pypi.org"\n', '[network]\nallow = ["pypi.org:443"]\n',
                                  '[network]\nallow = ["org"]\n', '[network]\nallow = [1]\n'])
def test_a_bad_repository_allowlist_is_refused_with_where(text):
    with pytest.raises(RepoConfigError, match=r"^\.codexbot\.toml: \[network\] allow"):
        parse_repo_config(text)
