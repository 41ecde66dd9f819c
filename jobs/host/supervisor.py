"""Child processes of `codexbot up`: started with their output prefixed, restarted with backoff, stopped in order."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from jobs.host import process_tree

COLD_STOP_SECONDS = 5.0  # after a second SIGTERM (RQ's cold shutdown) before SIGKILL


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    restart: bool = False  # a worker is restarted when it dies; any other child's death stops everything
    stop_last: bool = False  # Redis: stopped after the processes that use it


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0  # a child that ran this long was not crash-looping: its count starts over
    max_crashes: int = 5  # in a row; then it is reported and left down


class Child:
    """One spec and its current process."""

    def __init__(self, spec: ChildSpec):
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.crashes = 0
        self.due: float | None = None  # when a crashed child is started again
        self.gave_up = False
        self.forced = False  # needed a second signal or SIGKILL to stop
        self.stopped_by_us = False  # was running when the stop began

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Owns every child (each in a process group of its own, so a terminal's Ctrl-C reaches only us)."""

    def __init__(self, out: TextIO = sys.stdout, policy: RestartPolicy = RestartPolicy(), grace: float = 30.0,
                 subreaper: bool = False, cold: float = COLD_STOP_SECONDS):
        """subreaper: adopt and finally kill our children's orphans; only for a process that owns all its
        children (the `codexbot up` process), since every child of ours that no spec owns is killed at stop."""
        self.out, self.policy, self.grace, self.cold, self.subreaper = out, policy, grace, cold, subreaper
        self.children: list[Child] = []
        self.lock = threading.Lock()
        self.pumps: list[threading.Thread] = []
        if subreaper:
            process_tree.become_subreaper()

    def say(self, text: str, name: str = "up") -> None:
        with self.lock:
            self.out.write(f"{name:<9}| {text}\n")
            self.out.flush()

    def start(self, spec: ChildSpec) -> Child:
        child = Child(spec)
        self.children.append(child)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        env = dict(child.spec.env, PYTHONUNBUFFERED="1")
        child.proc = subprocess.Popen(child.spec.argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, process_group=0,
                                      preexec_fn=process_tree.die_with_parent)
        child.started, child.due = time.monotonic(), None
        pump = threading.Thread(target=self._pump, args=(child.spec.name, child.proc.stdout), daemon=True)
        pump.start()
        self.pumps.append(pump)
        self.say(f"started {child.spec.name} (pid {child.proc.pid})")

    def _pump(self, name: str, stream) -> None:
        for raw in stream:
            self.say(raw.decode("utf-8", "replace").rstrip("\n"), name)
        stream.close()

    def watch(self, stop: threading.Event) -> str | None:
        """Until stop is set (None) or the product cannot go on (the reason, one sentence)."""
        last_reap = time.monotonic()
        while not stop.wait(0.2):
            now = time.monotonic()
            if self.subreaper and now - last_reap > 5:
                process_tree.reap_zombies({c.proc.pid for c in self.children if c.proc is not None})
                last_reap = now
            for child in self.children:
                if child.due is not None and now >= child.due:
                    self._spawn(child)
                elif child.proc is not None and child.due is None and not child.gave_up and not child.running:
                    reason = self._on_exit(child, now)
                    if reason:
                        return reason
            if any(c.spec.restart for c in self.children) and all(c.gave_up for c in self.children if c.spec.restart):
                return "every worker keeps crashing: fix what their output above says, then start again"
        return None

    def _on_exit(self, child: Child, now: float) -> str | None:
        name, code = child.spec.name, child.proc.returncode
        if not child.spec.restart:
            return f"{name} stopped ({describe_exit(code)}): see its output above"
        child.crashes = 1 if now - child.started >= self.policy.stable_after else child.crashes + 1
        if child.crashes >= self.policy.max_crashes:
            child.gave_up = True
            self.say(f"{name} crashed {child.crashes} times in a row ({describe_exit(code)}): "
                     "not restarting it; see its output above")
            return None
        delay = min(self.policy.first_delay * 2 ** (child.crashes - 1), self.policy.max_delay)
        child.due = now + delay
        self.say(f"{name} stopped ({describe_exit(code)}); restarting it in {delay:g} s")
        return None

    def stop(self, hurry: threading.Event) -> bool:
        """SIGTERM, a grace period, a second SIGTERM, then SIGKILL; the stop_last ones (Redis) after the others.
        True when all stopped cleanly."""
        for child in self.children:
            child.due, child.stopped_by_us = None, child.running
        first = [c for c in self.children if not c.spec.stop_last]
        self._stop_group(first, hurry)
        self._stop_group([c for c in self.children if c.spec.stop_last], hurry)
        known = {c.proc.pid for c in self.children if c.proc is not None}
        orphans = process_tree.reap_orphans(known) if self.subreaper else []
        if orphans:
            self.say(f"killed {len(orphans)} process(es) left behind by stopped children: {'; '.join(orphans)}")
        for pump in self.pumps:
            pump.join(2)
        return not orphans and all(self._stopped_cleanly(c) for c in self.children)

    def _stop_group(self, group: list[Child], hurry: threading.Event) -> None:
        live = [c for c in group if c.running]
        for child in live:
            self.say(f"stopping {child.spec.name} (pid {child.proc.pid})")
            process_tree.send(child.proc.pid, signal.SIGTERM)
        live = self._wait(live, self.grace, hurry)
        for child in live:  # RQ takes a second SIGTERM as "stop now": it kills its work horse and unregisters
            child.forced = True
            self.say(f"{child.spec.name} did not stop within {self.grace:g} s: asking again")
            process_tree.send(child.proc.pid, signal.SIGTERM)
        live = self._wait(live, self.cold, hurry)
        for child in live:
            killed = process_tree.kill_tree(child.proc.pid)
            self.say(f"killed {child.spec.name} and {len(killed) - 1} process(es) it started")
        self._wait(live, self.cold, threading.Event())

    def _wait(self, live: list[Child], seconds: float, hurry: threading.Event) -> list[Child]:
        deadline = time.monotonic() + seconds
        while live and time.monotonic() < deadline and not hurry.is_set():
            time.sleep(0.05)
            live = [c for c in live if c.running]
        return [c for c in live if c.running]

    def _stopped_cleanly(self, child: Child) -> bool:
        if not child.stopped_by_us:
            return not child.gave_up  # a crash before the stop was reported when it happened
        code = child.proc.poll()
        if child.gave_up or child.forced or code not in (0, -signal.SIGTERM):
            if not child.gave_up:
                how = describe_exit(code) if code is not None else "still running"
                self.say(f"{child.spec.name} did not stop cleanly ({how})")
            return False
        return True

