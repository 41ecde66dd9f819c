"""OpenAIEmulator: a scripted OpenAI API (Chat Completions and Responses) on 127.0.0.1 for the real `openai` client."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from typing import Callable, Union

from werkzeug.wrappers import Request, Response

from .faults import Faults
from .openai_quirks import QuirkError, ServerQuirks, apply_chat_quirks, check_chat_quirks, server_info_routes
from .openai_responses import check_responses_request, response_object
from .serving import BackgroundServer

ScriptItem = Union[str, dict, Callable[[dict], Union[str, dict]]]
MODELS = ("gpt-emulator", "gpt-4.1-mini", "gpt-5")
REASONING_MODELS = ("o3", "o4-mini")  # as on OpenAI: they refuse the deprecated max_tokens


class OpenAIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}

    def response(self) -> Response:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        body = {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}
        return _json(body, self.status, self.headers)


def _json(data, status: int = 200, headers: dict | None = None) -> Response:
    base = {"x-request-id": "req_" + uuid.uuid4().hex, "openai-processing-ms": "1"}
    return Response(json.dumps(data), status=status, headers={**base, **(headers or {})},
                    content_type="application/json")


class OpenAIEmulator:
    """Answers POST /v1/chat/completions and POST /v1/responses from one script, in order; records every request.

    A script item is a string (assistant text), a dict with any of `content`,
    `tool_calls` ([{"name", "arguments": dict or JSON string, "id"?}]), `usage`,
    `finish_reason`, `reasoning` (Responses only: a summary text), or an error
    `{"status": 500, "body": {...}, "headers": {...}}`, or a callable that takes the
    request JSON and returns one of those. `requests` holds both APIs' bodies as sent.
    `quirks` plays a real OpenAI-compatible server instead of OpenAI (see openai_quirks.py).
    """

    def __init__(self, script: list[ScriptItem] | None = None, api_key: str | None = None,
                 quirks: ServerQuirks | None = None):
        self.api_key, self.quirks = api_key, quirks or ServerQuirks()
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._script: deque[ScriptItem] = deque(script or [])
        self._answered = 0
        self._lock = threading.Lock()
        self._stored: dict[str, list] = {}  # response id -> its input and output items, for previous_response_id
        self.faults = Faults(self._wsgi)  # tests script failures, stalls and dropped connections here
        self._server = BackgroundServer(self.faults)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> OpenAIEmulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OpenAIEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_script(self, script: list[ScriptItem]) -> None:
        with self._lock:
            self._script = deque(script)

    def push(self, *items: ScriptItem) -> None:
        with self._lock:
            self._script.extend(items)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._route(request)
        except OpenAIError as error:
            response = error.response()
        except QuirkError as error:
            response = _json(error.body, error.status)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        if path == "/v1/chat/completions" and method == "POST":
            return self._chat_completion(request)
        if path == "/v1/responses" and method == "POST" and not self.quirks.no_responses:
            return self._response(request)
        if path == "/v1/models" and method == "GET":
            self._check_key(request)
            window = {"max_model_len": self.quirks.max_model_len} if self.quirks.max_model_len else {}
            return _json({"object": "list", "data": [{**_model(m), **window} for m in MODELS]})
        answer = server_info_routes(self.quirks, path, method, request.get_data(), MODELS)
        if answer is not None:
            return _json(answer)
        if self.quirks != ServerQuirks():
            raise QuirkError(404, {"detail": "Not Found"})  # FastAPI's answer, as llama-cpp-python and vLLM give
        if path.startswith("/v1/models/") and method == "GET":
            self._check_key(request)
            return _json(_model(path.rsplit("/", 1)[-1]))
        raise OpenAIError(404, f"Unknown request URL: {method} {path}. The emulator serves "
                               "POST /v1/chat/completions, POST /v1/responses and GET /v1/models.",
                          code="unknown_url")

    def _check_key(self, request: Request) -> None:
        if self.api_key is None:
            return
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise OpenAIError(401, "You didn't provide an API key. You need to provide your API key "
                                   "in an Authorization header using Bearer auth.")
        if key != self.api_key:
            raise OpenAIError(401, f"Incorrect API key provided: {key[:3]}...{key[-4:]}.",
                              code="invalid_api_key")

    def _chat_completion(self, request: Request) -> Response:
        body = self._record(request)
        validate_chat_request(body)
        check_chat_quirks(self.quirks, body)
        item = self._next_item(body)
        if "status" in item:
            return _scripted_error(item)
        return _json(completion(body, apply_chat_quirks(self.quirks, body, item)))

    def _response(self, request: Request) -> Response:
        body = self._record(request)
        if not isinstance(body, dict):
            raise OpenAIError(400, "The request body must be a JSON object.")
        conversation = self._full_input(body)
        check_responses_request(body, conversation, OpenAIError)
        item = self._next_item(body)
        if "status" in item:
            return _scripted_error(item)
        response_id = "resp_" + uuid.uuid4().hex
        answer = response_object(body, item, response_id)
        if body.get("store", True):
            with self._lock:
                self._stored[response_id] = conversation + answer["output"]
        return _json(answer)

    def _full_input(self, body: dict) -> list:
        """The input as the model sees it: the stored conversation of previous_response_id, then this one."""
        given = body.get("input")
        items = [{"role": "user", "content": given}] if isinstance(given, str) else list(given or [])
        previous = body.get("previous_response_id")
        if previous is None:
            return items
        with self._lock:
            if previous not in self._stored:
                raise OpenAIError(400, f"Previous response with id '{previous}' not found.",
                                  param="previous_response_id", code="previous_response_not_found")
            return self._stored[previous] + items

    def _record(self, request: Request) -> dict:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            raise OpenAIError(400, "We could not parse the JSON body of your request.")
        with self._lock:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
        self._check_key(request)
        return body

    def _next_item(self, body: dict) -> dict:
        with self._lock:
            if not self._script:
                raise OpenAIError(500, f"OpenAIEmulator script is exhausted after {self._answered} "
                                       "answers; give more with push() or set_script().",
                                  headers={"x-should-retry": "false"})
            item = self._script.popleft()
            self._answered += 1
        item = item(body) if callable(item) else item
        return {"content": item} if isinstance(item, str) else item


def validate_chat_request(body: dict) -> None:
    """The checks of the real API that catch agent-loop bugs early."""
    if not isinstance(body, dict) or not body.get("model"):
        raise OpenAIError(400, "you must provide a model parameter", param="model")
    if body.get("stream"):
        raise OpenAIError(400, "The OpenAI emulator answers stream: false only; call without "
                               "stream=True.", param="stream")
    if body["model"] in REASONING_MODELS and body.get("max_tokens") is not None:
        raise OpenAIError(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                               "'max_completion_tokens' instead.", code="unsupported_parameter", param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(400, "'messages' must be a non-empty array.", param="messages")
    _check_tool_messages(messages)


def _check_tool_messages(messages: list[dict]) -> None:
    pending: list[str] = []
    for index, message in enumerate(messages):
        if message.get("role") == "tool":
            if message.get("tool_call_id") not in pending:
                raise OpenAIError(400, "Invalid parameter: messages with role 'tool' must be a response "
                                       "to a preceeding message with 'tool_calls'.",
                                  param=f"messages.[{index}].role")
            pending.remove(message["tool_call_id"])
            continue
        if pending:
            break
        if message.get("role") == "assistant":
            pending = [call["id"] for call in message.get("tool_calls") or []]
    if pending:
        raise OpenAIError(400, "An assistant message with 'tool_calls' must be followed by tool "
                               "messages responding to each 'tool_call_id'. The following "
                               f"tool_call_ids did not have response messages: {', '.join(pending)}",
                          param="messages")


def completion(body: dict, item: dict) -> dict:
    """A chat.completion object in OpenAI's exact shape for one scripted answer."""
    calls = [_tool_call(call) for call in item.get("tool_calls") or []]
    message = {"role": "assistant", "content": item.get("content"), "refusal": None, "annotations": []}
    if calls:
        message["tool_calls"] = calls
    finish = item.get("finish_reason") or ("tool_calls" if calls else "stop")
    return {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion",
            "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(body, message, item.get("usage")), "service_tier": "default",
            "system_fingerprint": "fp_emulator"}


def _tool_call(call: dict) -> dict:
    arguments = call.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": call.get("id") or "call_" + uuid.uuid4().hex[:24], "type": "function",
            "function": {"name": call["name"], "arguments": arguments}}


def _usage(body: dict, message: dict, given: dict | None) -> dict:
    """A rough four-characters-a-token count unless the script gives the numbers."""
    prompt = len(json.dumps(body.get("messages"))) // 4
    answer = len(json.dumps([message.get("content"), message.get("tool_calls")])) // 4
    usage = {"prompt_tokens": prompt, "completion_tokens": answer, **(given or {})}
    usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
    usage.setdefault("prompt_tokens_details", {"cached_tokens": 0, "audio_tokens": 0})
    usage.setdefault("completion_tokens_details", {"reasoning_tokens": 0, "audio_tokens": 0,
                                                   "accepted_prediction_tokens": 0,
                                                   "rejected_prediction_tokens": 0})
    return usage


def _scripted_error(item: dict) -> Response:
    body = item.get("body") or {"error": {"message": "Scripted error from OpenAIEmulator.",
                                          "type": "server_error", "param": None, "code": None}}
    return _json(body, item["status"], item.get("headers"))


def _model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "openai-emulator"}
