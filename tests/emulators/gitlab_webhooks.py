"""Webhook deliveries of the GitLab emulator: GitLab's headers, the shared secret token, resends."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from .github_webhooks import Delivery, WebhookSender

GITLAB_VERSION = "17.5.0"


@dataclass
class GitLabWebhookSender(WebhookSender):
    """Posts events to the one configured hook; `secret` is sent as X-Gitlab-Token, unsigned.

    Delivery.id is the Idempotency-Key, which GitLab keeps when it resends a delivery;
    redeliver() (inherited) resends the same body with the same headers.
    """

    app_id: int = 0
    instance_url: str = ""
    hook_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def send(self, event: str, payload: dict) -> Delivery:
        if self.url is None:
            raise RuntimeError("No webhook URL; call set_webhook(url, token) on the emulator first.")
        body = json.dumps(payload, separators=(",", ":")).encode()
        key = str(uuid.uuid4())
        headers = {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": str(uuid.uuid4()),
                   "X-Gitlab-Webhook-UUID": self.hook_uuid, "Idempotency-Key": key,
                   "X-Gitlab-Instance": self.instance_url, "User-Agent": f"GitLab/{GITLAB_VERSION}",
                   "Content-Type": "application/json"}
        if self.secret:
            headers["X-Gitlab-Token"] = self.secret
        return self._post(Delivery(key, event, body, headers))
