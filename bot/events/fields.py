"""What both forges' event parsers share: the rules, the Ignored answer, and checked field access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.types import Trigger


class PayloadError(ValueError):
    """The payload lacks a field the event must have; the message names it."""


@dataclass(frozen=True)
class Rules:
    """The settings that decide what is a task."""

    command: str = "/codex"
    label: str = "codex"
    bot_logins: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Ignored:
    reason: str


def get_field(obj: dict[str, Any], key: str, kind: type, where: str = "payload") -> Any:
    """A field that must be there with this type."""
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PayloadError(f"{where}.{key} is missing or not a {kind.__name__}")
    return value


def opt_field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """A field that may be missing or null, but has this type when it is there."""
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise PayloadError(f"{where}.{key} is not a {kind.__name__}")
    return value


def build_trigger(**fields: Any) -> Trigger:
    """A Trigger from payload fields; a value it refuses (number 0, a repository without an owner) is a PayloadError."""
    try:
        return Trigger(**fields)
    except ValueError as exc:
        raise PayloadError(str(exc).replace("Trigger.", "the payload's ")) from None
