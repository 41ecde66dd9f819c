"""What a failed model call means, in one sentence with the fix: the servers people run each fail their own way.

Known wordings (checked against each server's own messages):
- vLLM without tool parsing: 400 '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser'
- llama.cpp's llama-server without templates: 500 "tools param requires --jinja flag"
- Ollama, a model whose template has no tools: 400 "<model> does not support tools"
- OpenRouter, no provider of the model takes tools: 404 "No endpoints found that support tool use"
- LiteLLM, a provider that does not take a parameter (tool_choice, max_tokens): 400 "litellm.UnsupportedParamsError:
  … does not support parameters: ['tool_choice'] … To drop unsupported params set `litellm.drop_params = True`"
- FastAPI-based servers (llama-cpp-python, older vLLM) answer a missing route with 404 {"detail": "Not Found"},
  Ollama with "404 page not found", and a request that fails validation with 422 {"detail": [{"loc", "msg"}]}
  or, in llama-cpp-python, with a 500 carrying pydantic's "N validation errors for …" text.
"""

from __future__ import annotations

import json
import re

import openai

LINE_CHARS = 240  # of a server's message, in a sentence; the whole body stays on ModelError.details
_PYDANTIC = re.compile(r"\d+ validation errors? for \w+\s*\n\s*(\S+)\n\s*(.+?)(?: \[|\n|$)")


def detail(error: openai.APIError) -> str:
    """The server's own message, on one line and clipped: never a traceback in the run log."""
    field = validation_field(error)
    if field:
        return f"invalid field {field}"
    body = error.body
    text = error.message
    if isinstance(body, str) and body.strip():
        text = body
    elif isinstance(body, dict):
        if isinstance(body.get("message"), str):
            text = body["message"]
        elif isinstance(body.get("detail"), str):
            text = body["detail"]
        elif isinstance(body.get("error"), str):
            text = body["error"]
    return one_line(text)


def one_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "").rstrip(".")
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS - 1] + "…"


def full_body(error: openai.APIError) -> str:
    """Everything the server said, for the run's details: never printed on each retry."""
    body = error.body
    if body is None:
        return error.message
    return body if isinstance(body, str) else json.dumps(body, indent=1, default=str)


def code_of(error: openai.APIError) -> str | None:
    body = error.body
    return body.get("code") if isinstance(body, dict) and isinstance(body.get("code"), str) else None


def _text(error: openai.APIError) -> str:
    """All the words of the body, for matching known wordings."""
    return f"{error.message} {full_body(error)}"


def validation_field(error: openai.APIError) -> str | None:
    """Which field of the request a server's validation refused, with its complaint, if it says."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("detail"), list) and body["detail"]:
        first = body["detail"][0] if isinstance(body["detail"][0], dict) else {}
        location = ".".join(str(part) for part in first.get("loc", []) if part != "body")
        return f"{location} ({first.get('msg', 'invalid')})" if location else None
    match = _PYDANTIC.search(_text(error).replace("\\n", "\n"))
    return f"{match.group(1)} ({match.group(2).strip()})" if match else None


def is_invalid_request(error: openai.APIError) -> bool:
    """The server refused the request itself: sending it again unchanged cannot help, whatever the status."""
    status = getattr(error, "status_code", None)
    if status in (400, 404, 413, 422):
        return True
    text = _text(error).lower()
    return status is not None and status >= 500 and (
        validation_field(error) is not None or "validation error" in text or "requires --jinja" in text)


def server_quirk(error: openai.APIError, model: str) -> str | None:
    """The sentence for a known server's known refusal, or None."""
    text = _text(error)
    lower = text.lower()
    if "--enable-auto-tool-choice" in text:
        return ("this vLLM server does not parse tool calls: start it with --enable-auto-tool-choice and "
                "--tool-call-parser (the parser for the model, e.g. hermes for Qwen)")
    if "requires --jinja" in lower:
        return "this llama.cpp server does not take tools: start llama-server with --jinja"
    if "does not support tools" in lower:
        return f"{model} does not support tools on this server: pick a model whose template has tools"
    if "no endpoints found that support tool use" in lower:
        return f"no provider of {model} on OpenRouter supports tool use: pick a model that lists tools"
    if "unsupportedparamserror" in lower or "drop_params" in lower:
        return (f"the LiteLLM proxy's provider for {model} does not take a parameter codexbot sends ({detail(error)}): "
                "set drop_params: true under litellm_settings in the proxy's config")
    if "tool_choice" in lower and ("not support" in lower or "unsupported" in lower or "no endpoints" in lower):
        return f"the server refused tool_choice \"auto\" for {model}: {detail(error)}"
    return None


def explain(error: openai.APIError, *, base_url: str, model: str, api: str, timeout: float, attempts: int) -> str:
    """The one sentence a user needs for a failed call."""
    tries = f" (tried {attempts} times)" if attempts > 1 else ""
    said = detail(error)
    if isinstance(error, openai.APITimeoutError):
        return (f"the model API at {base_url} did not answer within {timeout:g} s{tries}: "
                "check OPENAI_BASE_URL, lower CODEXBOT_MODEL_MAX_TOKENS, or try again later")
    if isinstance(error, openai.APIConnectionError):
        return (f"could not connect to the model API at {base_url}{tries}: "
                "check OPENAI_BASE_URL and the network")
    if isinstance(error, openai.AuthenticationError):
        return "the model API rejected the key: check OPENAI_API_KEY"
    quirk = server_quirk(error, model)
    if quirk:
        return quirk
    status = getattr(error, "status_code", None)
    code = code_of(error)
    if isinstance(error, openai.NotFoundError):
        return _not_found(error, said, base_url, model, api)
    if code == "context_length_exceeded" or "maximum context length" in said or "exceed context window" in said:
        return (f"the conversation outgrew the context window of {model} ({said}): "
                "lower CODEXBOT_CONTEXT_TOKENS so older tool output is dropped sooner")
    if "only supported in v1/responses" in said or "not supported in the v1/chat" in said:
        return f"{model} is served only by the Responses API: set CODEXBOT_MODEL_API=responses"
    if isinstance(error, openai.PermissionDeniedError):
        return f"the model API refused this key access to {model} (HTTP 403): {said}"
    if isinstance(error, openai.RateLimitError):
        if code == "insufficient_quota":
            return f"the account behind OPENAI_API_KEY has no quota left ({said}): add credit or raise the limit"
        return f"the model API is rate limiting this key (HTTP 429){tries}: {said}; wait or raise the quota"
    if is_invalid_request(error):
        return f"the model API at {base_url} refused the request as invalid (HTTP {status}): {said}"
    if status is not None and status >= 500:
        return f"the model API at {base_url} failed (HTTP {status}){tries}: {said}"
    return f"the model API at {base_url} refused the request (HTTP {status}): {said}"


def _not_found(error: openai.APIError, said: str, base_url: str, model: str, api: str) -> str:
    """A 404 is a missing model only when the server says so; a missing route means a missing API."""
    about_model = code_of(error) == "model_not_found" or "model" in said.lower()
    if api == "responses" and not about_model:
        return (f"the server at {base_url} has no Responses API (POST /responses: {said}): "
                "set CODEXBOT_MODEL_API=chat")
    if api == "chat" and not about_model and ("not found" == said.lower() or "page not found" in said.lower()):
        return f"the server at {base_url} has no Chat Completions API ({said}): check OPENAI_BASE_URL (often …/v1)"
    return f"model {model} was not found at {base_url}: check CODEXBOT_MODEL"


def short_reason(error: openai.APIError) -> str:
    if isinstance(error, openai.APITimeoutError):
        return "no answer in time"
    if isinstance(error, openai.APIConnectionError):
        return "connection failed"
    return f"HTTP {getattr(error, 'status_code', '?')} ({detail(error)})"
