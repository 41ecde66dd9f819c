"""The context window a model server says it runs with, asked once: vLLM, llama.cpp's server, Ollama, LM Studio,
LiteLLM, OpenRouter.

- vLLM lists `max_model_len` for each model in GET /v1/models (OpenRouter `context_length`).
- llama.cpp's llama-server reports the window it was started with (`-c`) in GET /props, as
  `default_generation_settings.n_ctx` (per slot; older builds put `n_ctx` at the top).
- Ollama runs with `num_ctx` from the model's parameters (POST /api/show), or else with its server default
  (OLLAMA_CONTEXT_LENGTH), which GET /api/ps shows as `context_length` once the model is loaded; its
  OpenAI-compatible API cannot change it and silently cuts longer prompts from the front.
- LM Studio says it only in its own REST API, for a loaded model: `loaded_context_length` in GET /api/v0/models
  (0.3.6 on), `loaded_instances[].config.context_length` in GET /api/v1/models (0.4 on); `max_context_length`
  is what the model could take, not what it was loaded with, so it is not used.
- A LiteLLM proxy lists `model_info.max_input_tokens` per deployment in GET /model/info (from its price map or
  the proxy's config); the smallest of the model name's deployments is taken.
- llama-cpp-python's server and OpenAI itself say nothing: CODEXBOT_CONTEXT_TOKENS stands.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import requests

ASK_SECONDS = 5.0  # each question; a server that does not answer in time is taken as saying nothing
MIN_ANSWER_TOKENS = 256  # below this a tool call cannot be written; better the server's own error then


def answer_cap(max_tokens: int, window: int | None, *prompt) -> int:
    """The answer's cap, within what the window leaves after the prompt: vLLM refuses a request whose
    prompt plus cap exceeds its max_model_len. The prompt is counted at three characters a token (code
    tokenizes denser than prose), so the estimate errs on the short side."""
    if window is None:
        return max_tokens
    size = sum(len(json.dumps(part)) for part in prompt if part)
    return max(MIN_ANSWER_TOKENS, min(max_tokens, window - size // 3))


def server_root(base_url: str) -> str:
    """The server's own address: the base URL without its OpenAI-style /v1 path."""
    return re.sub(r"/v1/?$", "", base_url.rstrip("/"))


def ask_context_window(base_url: str, api_key: str, model: str) -> int | None:
    """Tokens of context the server runs `model` with, or None when it does not say."""
    if (urlparse(base_url).hostname or "") == "api.openai.com":
        return None  # the model's window is documented there, and /models does not list it
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    root = server_root(base_url)
    for ask in (_from_models_list, _from_llama_props, _from_ollama, _from_lm_studio, _from_litellm):
        try:
            window = ask(session, base_url.rstrip("/"), root, model)
        except (requests.RequestException, ValueError, TypeError, AttributeError):
            window = None
        if window:
            return window
    return None


def _get(session: requests.Session, url: str) -> dict | None:
    response = session.get(url, timeout=ASK_SECONDS)
    return response.json() if response.ok else None


def _from_models_list(session: requests.Session, base: str, root: str, model: str) -> int | None:
    listed = _get(session, f"{base}/models") or {}
    entries = [entry for entry in listed.get("data") or [] if isinstance(entry, dict)]
    chosen = [entry for entry in entries if entry.get("id") == model] or (entries if len(entries) == 1 else [])
    for entry in chosen:
        for key in ("max_model_len", "loaded_context_length", "context_length"):
            if isinstance(entry.get(key), int) and entry[key] > 0:
                return entry[key]
    return None


def _from_llama_props(session: requests.Session, base: str, root: str, model: str) -> int | None:
    props = _get(session, f"{root}/props") or {}
    settings = props.get("default_generation_settings") or {}
    window = settings.get("n_ctx") or props.get("n_ctx")
    return window if isinstance(window, int) and window > 0 else None


def _from_ollama(session: requests.Session, base: str, root: str, model: str) -> int | None:
    shown = session.post(f"{root}/api/show", json={"model": model}, timeout=ASK_SECONDS)
    if not shown.ok:
        return None
    match = re.search(r"^\s*num_ctx\s+(\d+)", str(shown.json().get("parameters") or ""), re.MULTILINE)
    if match:
        return int(match.group(1))
    running = _get(session, f"{root}/api/ps") or {}
    for entry in running.get("models") or []:
        if entry.get("name") in (model, f"{model}:latest") and isinstance(entry.get("context_length"), int):
            return entry["context_length"]
    return None


def _from_lm_studio(session: requests.Session, base: str, root: str, model: str) -> int | None:
    for entry in (_get(session, f"{root}/api/v0/models") or {}).get("data") or []:
        if entry.get("id") == model and _positive(entry.get("loaded_context_length")):
            return entry["loaded_context_length"]
    for entry in (_get(session, f"{root}/api/v1/models") or {}).get("models") or []:
        if entry.get("key") == model:
            loaded = [(instance.get("config") or {}).get("context_length")
                      for instance in entry.get("loaded_instances") or []]
            return min(filter(_positive, loaded), default=None)
    return None


def _from_litellm(session: requests.Session, base: str, root: str, model: str) -> int | None:
    listed = (_get(session, f"{root}/model/info") or {}).get("data") or []
    windows = [(entry.get("model_info") or {}).get("max_input_tokens") for entry in listed
               if entry.get("model_name") == model]
    return min(filter(_positive, windows), default=None)


def _positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
