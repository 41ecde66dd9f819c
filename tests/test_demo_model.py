"""`make demo` against a model server the user runs: OPENAI_BASE_URL alone picks it (a local server needs no key),
and every CODEXBOT_ model and limit setting of the environment reaches the worker's requests. The server here is
the OpenAI emulator playing llama-cpp-python's quirks; tests/jobs/agent/test_real_server.py has the real one."""

from __future__ import annotations

import subprocess
import sys

from tests import sample_repo
from tests.emulators.openai_api import OpenAIEmulator
from tests.emulators.openai_quirks import ServerQuirks
from tests.test_demo_serve import FLOW_SECONDS, ROOT, _env

LLAMA_CPP_PYTHON = ServerQuirks(tools_need_choice=True, string_content=True)


def test_the_demo_runs_against_the_users_server_with_the_users_model_settings():
    with OpenAIEmulator(script=sample_repo.fix_script(), api_key="local", quirks=LLAMA_CPP_PYTHON) as server:
        env = {**_env(), "OPENAI_BASE_URL": server.url + "/v1", "CODEXBOT_MODEL": "smollm2",
               "CODEXBOT_MODEL_API": "chat", "CODEXBOT_MODEL_MAX_TOKENS": "1024", "CODEXBOT_MODEL_RETRIES": "0",
               "CODEXBOT_AGENT_SECONDS": "240"}
        proc = subprocess.run([sys.executable, "demo.py", "--forge", "github", "--no-serve"], cwd=ROOT, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=FLOW_SECONDS,
                              check=False)
        requests, headers, url = list(server.requests), list(server.headers), server.url
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (f"Model: the real one at {url}/v1 (CODEXBOT_AGENT_SECONDS=240, CODEXBOT_MODEL=smollm2, "
            "CODEXBOT_MODEL_API=chat, CODEXBOT_MODEL_MAX_TOKENS=1024, CODEXBOT_MODEL_RETRIES=0)") in proc.stdout
    chats = [body for body in requests if "messages" in body]
    assert len(chats) == 5 and server.remaining == 0  # the whole scripted fix, from this server
    assert {body["model"] for body in chats} == {"smollm2"} and {body["max_tokens"] for body in chats} == {1024}
    assert {h.get("Authorization") for h in headers} == {"Bearer local"}
    assert "tests passed" in proc.stdout or "1 passed" in proc.stdout
