#!/usr/bin/env bash
# Bring the Debian packages codexbot needs (redis-server, git, bubblewrap, socat, chromium, python3-venv) when they are missing.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v git >/dev/null || missing+=(git)
command -v bwrap >/dev/null || missing+=(bubblewrap)
# the sandbox's network fence: socat forwards the in-sandbox proxy port to the worker's egress proxy
command -v socat >/dev/null || missing+=(socat)
# node and npm: the sample projects of the JavaScript runners' tests (and the sandbox's Wasm test)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v mocha >/dev/null || missing+=(mocha)
# the sandbox sees the system's python3, never the worker's: the sample repositories' tests need its pytest
/usr/bin/python3 -c 'import pytest' 2>/dev/null || missing+=(python3-pytest)
# real tox, nox and go runs of the test-detection tests (tests/jobs/repo/test_runners.py)
command -v tox >/dev/null || missing+=(tox)
command -v nox >/dev/null || missing+=(nox)
command -v go >/dev/null || missing+=(golang-go)
# the fence's abuse tests play a machine in a network namespace (ip, from iproute2)
command -v ip >/dev/null || missing+=(iproute2)
# the browser tests drive Debian's Chromium through Playwright (never a downloaded browser)
command -v chromium >/dev/null || missing+=(chromium)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "codexbot needs these Debian packages: run 'sudo apt-get install -y ${missing[*]}' and try again" >&2
    exit 1
fi
echo "installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
