"""Webhook deliveries of the GitHub emulator: GitHub's headers, HMAC signatures, redelivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass, field

import requests

DELIVERY_TIMEOUT = 10  # GitHub gives up on a hook after 10 seconds


@dataclass
class Delivery:
    """One attempt to deliver an event; redeliveries keep the id and the exact body."""

    id: str
    event: str
    body: bytes
    headers: dict
    status: int | None = None
    response: str = ""
    error: str | None = None
    redelivery: bool = False

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


def signature_headers(body: bytes, secret: str | None) -> dict:
    if not secret:
        return {}
    key = secret.encode()
    return {"X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()}


@dataclass
class WebhookSender:
    """Posts events to the one configured hook URL and keeps the log of deliveries."""

    app_id: int
    hook_id: int = 424242
    url: str | None = None
    secret: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, url: str, secret: str | None) -> None:
        self.url, self.secret = url, secret

    def send(self, event: str, payload: dict) -> Delivery:
        if self.url is None:
            raise RuntimeError("No webhook URL; call set_webhook(url, secret) on the emulator first.")
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery_id = str(uuid.uuid4())
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id,
                   "X-GitHub-Hook-ID": str(self.hook_id),
                   "X-GitHub-Hook-Installation-Target-Type": "integration",
                   "X-GitHub-Hook-Installation-Target-ID": str(self.app_id),
                   "User-Agent": "GitHub-Hookshot/" + uuid.uuid4().hex[:7],
                   "Content-Type": "application/json", **signature_headers(body, self.secret)}
        return self._post(Delivery(delivery_id, event, body, headers))

    def redeliver(self, delivery_id: str) -> Delivery:
        with self.lock:
            first = next((d for d in self.deliveries if d.id == delivery_id), None)
        if first is None:
            raise KeyError(f"No delivery {delivery_id} was sent by this emulator.")
        return self._post(Delivery(first.id, first.event, first.body, dict(first.headers),
                                   redelivery=True))

    def _post(self, delivery: Delivery) -> Delivery:
        try:
            answer = requests.post(self.url, data=delivery.body, headers=delivery.headers,
                                   timeout=DELIVERY_TIMEOUT, allow_redirects=False)
            delivery.status, delivery.response = answer.status_code, answer.text
        except requests.RequestException as err:
            delivery.error = f"{type(err).__name__}: {err}"  # GitHub logs a failed delivery too
        with self.lock:
            self.deliveries.append(delivery)
        return delivery
