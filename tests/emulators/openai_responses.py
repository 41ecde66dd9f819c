"""The Responses API half of the OpenAI emulator: request checks and response objects in OpenAI's shape."""

from __future__ import annotations

import json
import time
import uuid


def check_responses_request(body: dict, full_input: list, error) -> None:
    """The checks of the real API that catch adapter bugs early; `error` builds the OpenAIError to raise."""
    if not isinstance(body, dict) or not body.get("model"):
        raise error(400, "Missing required parameter: 'model'.", param="model")
    if body.get("stream"):
        raise error(400, "The OpenAI emulator answers stream: false only; call without stream=True.",
                    param="stream")
    if not isinstance(body.get("input"), (str, list)):
        raise error(400, "Missing required parameter: 'input'.", param="input")
    for index, tool in enumerate(body.get("tools") or []):
        _check_tool(tool, index, error)
    _check_calls(full_input, error)


def _check_tool(tool: dict, index: int, error) -> None:
    if tool.get("type") == "function" and "name" not in tool:
        raise error(400, f"Missing required parameter: 'tools[{index}].name'.", param=f"tools[{index}].name")
    parameters = tool.get("parameters") or {}
    if tool.get("strict", True) and parameters.get("type") == "object":
        missing = sorted(set(parameters.get("properties", {})) - set(parameters.get("required", [])))
        if missing:
            raise error(400, f"Invalid schema for function '{tool['name']}': In context=(), 'required' is "
                             "required to be supplied and to be an array including every key in properties. "
                             f"Missing '{missing[0]}'.", param=f"tools[{index}].parameters", code="invalid_function_parameters")


def _check_calls(items: list, error) -> None:
    calls, answered = [], set()
    for item in (item for item in items if isinstance(item, dict)):
        if item.get("type") == "function_call":
            calls.append(item.get("call_id"))
        elif item.get("type") == "function_call_output":
            if item.get("call_id") not in calls:
                raise error(400, "No tool call found for function call output with call_id "
                                 f"{item.get('call_id')}.", param="input")
            answered.add(item.get("call_id"))
    for call_id in calls:
        if call_id not in answered:
            raise error(400, f"No tool output found for function call {call_id}.", param="input")
    for item in items:
        if isinstance(item, dict) and item.get("type") == "reasoning" and not item.get("encrypted_content"):
            raise error(404, f"Item with id '{item.get('id')}' not found. Items are not persisted when `store` "
                             "is set to false. Try again with `store` set to true, or remove this item "
                             "from your input.", param="input")


def response_object(body: dict, item: dict, response_id: str) -> dict:
    """A `response` object in OpenAI's exact shape for one scripted answer."""
    output = _reasoning(body, item) + _message(item) + [_function_call(call) for call in item.get("tool_calls") or []]
    return {"id": response_id, "object": "response", "created_at": int(time.time()), "status": "completed",
            "background": False, "error": None, "incomplete_details": None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None, "model": body["model"], "output": output, "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None},
            "service_tier": "default", "store": body.get("store", True), "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
            "tools": body.get("tools") or [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
            "usage": _usage(body, output, item.get("usage")), "user": None, "metadata": {}}


def _message(item: dict) -> list[dict]:
    if not item.get("content"):
        return []
    return [{"id": "msg_" + uuid.uuid4().hex, "type": "message", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": item["content"], "annotations": [], "logprobs": []}]}]


def _reasoning(body: dict, item: dict) -> list[dict]:
    if not item.get("reasoning"):
        return []
    encrypted = "reasoning.encrypted_content" in (body.get("include") or [])
    return [{"id": "rs_" + uuid.uuid4().hex, "type": "reasoning",
             "summary": [{"type": "summary_text", "text": item["reasoning"]}],
             "encrypted_content": ("enc:" + item["reasoning"]) if encrypted else None}]


def _function_call(call: dict) -> dict:
    arguments = call.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": "fc_" + uuid.uuid4().hex, "type": "function_call", "status": "completed",
            "call_id": call.get("id") or "call_" + uuid.uuid4().hex[:24], "name": call["name"],
            "arguments": arguments}


def _usage(body: dict, output: list[dict], given: dict | None) -> dict:
    """A rough four-characters-a-token count unless the script gives the numbers (either API's names)."""
    given = given or {}
    prompt = given.get("prompt_tokens", given.get("input_tokens"))
    answer = given.get("completion_tokens", given.get("output_tokens"))
    prompt = prompt if prompt is not None else len(json.dumps([body.get("instructions"), body.get("input")])) // 4
    answer = answer if answer is not None else len(json.dumps(output)) // 4
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": answer,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": prompt + answer}
