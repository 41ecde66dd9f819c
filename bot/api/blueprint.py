"""The /api/ blueprint, and the rule that every answer under /api/ is JSON."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.after_app_request
def _json_errors(response: Response) -> Response:
    """Under /api/ every answer is JSON: the app's plain-text errors (404, 405, 413) become {"error": sentence}."""
    if not request.path.startswith("/api/") or response.status_code < 400 or response.is_json:
        return response
    text = response.get_data(as_text=True).strip() or f"HTTP {response.status_code}"
    response.set_data(json.dumps({"error": text.splitlines()[0]}))
    response.mimetype = "application/json"
    return response
