"""GET /api/openapi.json: the OpenAPI 3 document of the API, written by hand next to the routes it describes."""

from __future__ import annotations

from flask import jsonify

from bot.api.blueprint import bp
from bot.api.delegate_body import MAX_TASK, TASK_PATTERN
from bot.api.routes import MAX_LINE, MAX_WAIT

_ERROR = {"$ref": "#/components/schemas/Error"}
_RUN = {"$ref": "#/components/schemas/Run"}
_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_OBJECT = {"type": ["object", "null"]}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _answers(ok: dict, *codes: int) -> dict:
    reasons = {413: "the body is over the server's size limit", 400: "the request is malformed", 401: "no valid token", 403: "the token does not cover the repository",
               404: "no such run for this token", 409: "the run is not in a state for this",
               429: "the token is over its requests per minute (see Retry-After)", 503: "Redis is unavailable"}
    answers = dict(ok)
    for code in (401, 429, *codes):
        answers[str(code)] = _json(_ERROR, reasons[code])
    return answers


RUN_SCHEMA = {
    "type": "object",
    "required": ["id", "status", "forge", "repository", "task", "requester", "created_at", "url"],
    "properties": {
        "id": {"type": "string"}, "status": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
        "forge": {"type": "string"}, "repository": {"type": "string"}, "task": {"type": "string"},
        "requester": {"type": "string"}, "created_at": {"type": "number"}, "started_at": _NULLABLE_NUMBER,
        "finished_at": _NULLABLE_NUMBER, "summary": {"type": "string"}, "error": {"type": ["string", "null"]},
        "tests": _NULLABLE_OBJECT, "usage": _NULLABLE_OBJECT, "url": {"type": "string"},
        "duplicate": {"type": "boolean"}, "cancel_requested": {"type": "boolean"}, "pr_url": {"type": "string"},
    },
}

DELEGATE_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["task", "repository", "base_commit", "request_id"],
    "properties": {
        "task": {"type": "string", "minLength": 1, "maxLength": MAX_TASK, "pattern": TASK_PATTERN,
                 "description": "what the agent should do"},
        "forge": {"enum": ["github", "gitlab"], "default": "github"},
        "repository": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$"},
        "remote_url": {"type": "string", "maxLength": 2000, "pattern": "^[^\\u0000-\\u001f\\u007f]*$"},
        "base_commit": {"type": "string", "pattern": "^[0-9a-f]{40}$", "description": "the user's HEAD, pushed"},
        "diff": {"type": "string", "pattern": "^(diff --git |$)",
                 "description": "`git diff --binary HEAD` with untracked files added"},
        "request_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,100}$",
                       "description": "chosen by the client; the same id never starts a second run"},
        "model": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}$"},
        "pull_request": {"type": "boolean", "default": False,
                         "description": "also push a branch and open a pull request with the change"},
    },
}

LOG_SCHEMA = {"type": "object", "required": ["lines", "next", "status", "final"],
              "properties": {"lines": {"type": "array", "items": {"type": "string"}}, "next": {"type": "integer"},
                             "status": {"type": "string"}, "final": {"type": "boolean"}}}

DIFF_SCHEMA = {"type": "object", "required": ["id", "status", "diff", "base_commit", "preimages"],
               "properties": {"id": {"type": "string"}, "status": {"type": "string"}, "diff": {"type": "string"},
                              "base_commit": {"type": "string"},
                              "preimages": {"type": "object", "additionalProperties": {"type": "string"},
                                            "description": "changed files before the change, base64"}}}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "codexbot API", "version": "1",
                 "description": "Delegate coding tasks to a codexbot server and follow them. Every error is "
                                "JSON with an `error` sentence. Tokens: `codexbot token create`."},
        "servers": [{"url": "/"}],
        "security": [{"token": []}],
        "paths": {
            "/api/runs": {
                "post": {"operationId": "createRun", "summary": "Delegate a task",
                         "requestBody": {"required": True, "content": {"application/json": {"schema": DELEGATE_SCHEMA}}},
                         "responses": _answers({"202": _json(_RUN, "the run was queued"),
                                                "200": _json(_RUN, "this request id was seen before: its run")},
                                               400, 403, 413, 503)},
                "get": {"operationId": "listRuns", "summary": "The token user's delegated runs, newest first",
                        "responses": _answers({"200": _json({"type": "object", "required": ["runs"], "properties": {
                            "runs": {"type": "array", "items": _RUN}}}, "the runs")})},
            },
            "/api/runs/{run_id}": {"get": {"operationId": "getRun", "parameters": [_ID],
                                           "responses": _answers({"200": _json(_RUN, "the run")}, 404)}},
            "/api/runs/{run_id}/log": {"get": {
                "operationId": "getRunLog", "summary": "Log lines from `from`; with `wait`, waits for new ones",
                "parameters": [_ID,
                               {"name": "from", "in": "query",
                                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_LINE}},
                               {"name": "wait", "in": "query",
                                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT}}],
                "responses": _answers({"200": _json(LOG_SCHEMA, "the lines and where to go on from")}, 400, 404)}},
            "/api/runs/{run_id}/cancel": {"post": {
                "operationId": "cancelRun", "parameters": [_ID],
                "responses": _answers({"202": _json(_RUN, "the run was asked to stop")}, 404, 409)}},
            "/api/runs/{run_id}/diff": {"get": {
                "operationId": "getRunDiff", "parameters": [_ID],
                "responses": _answers({"200": _json(DIFF_SCHEMA, "the agent's change")}, 404, 409)}},
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Run": RUN_SCHEMA,
                        "Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}},
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(document())
