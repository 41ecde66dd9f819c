"""Answers to the control commands (`/codex help`, `status`, `cancel`, `retry`) and to bad commands."""

from __future__ import annotations

import redis

from jobs.forges.base import Forge
from jobs.settings import Settings
from jobs.tracking import marker, render_help
from jobs.types import Task


def reply_to_control_command(forge: Forge, conn: redis.Redis, task: Task, settings: Settings) -> None:
    """Post one reply for the command, once: a retried job finds its reply by the run's marker."""
    trigger, command = task.trigger, task.trigger.command
    if forge.find_comment(trigger.number, marker(task.run_id)) is not None:
        return
    if command.kind == "help":
        text = render_help(settings.command, command.errors, command.notes)
    else:
        text = (f"`{settings.command} {command.kind}` is not available yet in this version of codexbot; "
                f"`{settings.command} help` lists what is.")
    forge.comment(trigger.number, f"{marker(task.run_id)}\n@{trigger.author} {text}")
