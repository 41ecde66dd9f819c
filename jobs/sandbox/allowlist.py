"""Which domains a fenced phase may reach: the preset of common package registries, the operator's
CODEXBOT_NETWORK_ALLOW (replacing or, with a leading "+", extending it), a repository's `[network] allow`, and
the tests-only map of names to local test servers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# the registries and download hosts setup commands commonly need
DEFAULT_ALLOW = (
    "pypi.org", "files.pythonhosted.org",                                   # pip
    "registry.npmjs.org", "registry.yarnpkg.com",                           # npm, yarn
    "deb.debian.org", "security.debian.org", "archive.ubuntu.com", "security.ubuntu.com",  # apt
    "crates.io", "index.crates.io", "static.crates.io",                     # cargo
    "proxy.golang.org", "sum.golang.org",                                   # go modules
    "rubygems.org", "index.rubygems.org",                                   # gems
    "repo.maven.apache.org", "repo1.maven.org",                             # maven
    "github.com", "codeload.github.com", "objects.githubusercontent.com",   # release downloads
    "release-assets.githubusercontent.com", "raw.githubusercontent.com",
)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{4,253}}$){_LABEL}(?:\.{_LABEL})+$")


class AllowlistError(ValueError):
    """A domain or test upstream that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Allowlist:
    """Domains a fenced phase may reach: a name matches itself and its subdomains."""

    domains: tuple[str, ...]
    # tests only (CODEXBOT_NETWORK_TEST_UPSTREAMS): a name served by a local test server, reached at that
    # address; the only way past the refusal of loopback, and empty unless a test sets it
    test_upstreams: dict[str, tuple[str, int]] = field(default_factory=dict)

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in (x.lower().lstrip(".") for x in self.domains))

    def extended(self, domains: tuple[str, ...]) -> Allowlist:
        return Allowlist(tuple(dict.fromkeys(self.domains + domains)), self.test_upstreams)


def check_domain(name: str, where: str) -> str:
    """A domain name in lower case, or AllowlistError: IP addresses and single labels ("com") are refused."""
    domain = name.strip().lower().rstrip(".")
    if not _DOMAIN.match(domain) or domain.replace(".", "").isdigit():
        raise AllowlistError(f"{where}: {name!r} is not a domain name such as pypi.org (no scheme, port, path, "
                             "wildcard or IP address; a domain also allows its subdomains)")
    return domain


def operator_domains(setting: str) -> tuple[str, ...]:
    """CODEXBOT_NETWORK_ALLOW: empty for the preset, "+a.org,b.org" for the preset and more, "a.org,b.org" for
    exactly those, "none" for nothing."""
    text = setting.strip()
    if text.lower() == "none":
        return ()
    extend = text.startswith("+") or not text
    names = [n for n in text.lstrip("+").split(",") if n.strip()]
    own = tuple(check_domain(n, "CODEXBOT_NETWORK_ALLOW") for n in names)
    return tuple(dict.fromkeys((DEFAULT_ALLOW if extend else ()) + own))


def upstreams_for_tests(setting: str) -> dict[str, tuple[str, int]]:
    """CODEXBOT_NETWORK_TEST_UPSTREAMS, for tests only: "pypi.test=127.0.0.1:8080,…"."""
    upstreams: dict[str, tuple[str, int]] = {}
    for item in filter(None, (part.strip() for part in setting.split(","))):
        name, _, address = item.partition("=")
        host, _, port = address.rpartition(":")
        if not name or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise AllowlistError(f"CODEXBOT_NETWORK_TEST_UPSTREAMS: {item!r} is not name=host:port")
        upstreams[check_domain(name, "CODEXBOT_NETWORK_TEST_UPSTREAMS")] = (host, int(port))
    return upstreams
