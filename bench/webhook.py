"""Webhook front door under load: codexbot vs Probot vs a bare Flask endpoint, all on the loopback, one run.

Deliveries are signed issue_comment webhooks (the 14 KB example payload): 80% comments without a command,
20% tasks, and 5% of all requests redeliveries of earlier tasks. Each server is measured at a fixed rate
(open loop, latency from when the request was due) and at full speed (closed loop, 16 connections), from
separate processes, in rounds that interleave the servers so the machine's drift hits all alike. Every
server is held to the same CPUs (the first two this process may use), and its CPU time per request at full
speed is printed (codexbot's with its Redis). The Probot peer (bench/probot) is installed with npm by this
script.

    python bench/webhook.py [--rate 500] [--seconds 5] [--requests 4000] [--rounds 5] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import peers  # noqa: E402
from jobs.host import process_tree  # noqa: E402
from bench.loadgen import Result, fixed_rate, full_speed, median  # noqa: E402
from tests.payloads import github_headers, load_corpus  # noqa: E402
from tests.services import RedisServer, free_port  # noqa: E402

SECRET = "bench-secret"
PATH = "/webhooks/github"


def make_deliveries(count: int, seed: int) -> list[tuple[bytes, dict[str, str]]]:
    rng = random.Random(seed)
    template = load_corpus("github", "issue_comment", "created.with-installation.json")
    tasks: list[tuple[bytes, dict[str, str]]] = []
    out = []
    for i in range(count):
        if tasks and rng.random() < 0.05:
            out.append(rng.choice(tasks))  # the same delivery id and body again
            continue
        is_task = rng.random() < 0.20
        template["comment"]["body"] = f"/codex fix the failing test number {i}" if is_task else f"Looks good, thanks ({i})"
        template["comment"]["id"] = 10_000 + i
        body = json.dumps(template).encode()
        req = (body, github_headers(body, "issue_comment", str(uuid.uuid4()), SECRET))
        out.append(req)
        if is_task:
            tasks.append(req)
    return out


def server_cpus() -> set[int]:
    return set(sorted(os.sched_getaffinity(0))[:2])


def start_server(command: peers.Command, port: int, log: Path) -> subprocess.Popen:
    argv, env = command
    cpus = server_cpus()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.post(f"http://127.0.0.1:{port}{PATH}", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start: see {log}")


def report(name: str, label: str, res: Result, cpu_us: float | None = None) -> None:
    cpu = f"   server CPU {cpu_us:4.0f} us/req" if cpu_us is not None else ""
    print(f"{name:<10} {label:<11} {res.rps:8.0f} req/s   p50 {res.percentile(50):6.2f} ms   "
          f"p99 {res.percentile(99):7.2f} ms   errors {res.errors}/{res.sent}{cpu}", flush=True)


def cpu_seconds(roots: list[int]) -> float:
    """CPU time (user and system) a server's process trees have used so far (codexbot's include its Redis)."""
    ticks = 0
    for each in set(roots).union(*map(process_tree.descendants, roots)):
        fields = process_tree.stat_fields(each)
        ticks += int(fields[11]) + int(fields[12]) if fields else 0
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(ports: dict[str, int], pids: dict[str, list[int]],
            args: argparse.Namespace) -> dict[str, dict[str, list[Result]]]:
    """Rounds of (fixed rate, full speed) for each server in turn; the order of servers rotates each round."""
    results: dict[str, dict[str, list]] = {name: {"paced": [], "full": [], "cpu": []} for name in ports}
    names = list(ports)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            paced = fixed_rate(ports[name], PATH, make_deliveries(int(args.rate * args.seconds), seed=100 + r), args.rate)
            deliveries = make_deliveries(args.requests, seed=200 + r)
            used = cpu_seconds(pids[name])
            full = full_speed(ports[name], PATH, deliveries)
            cpu_us = (cpu_seconds(pids[name]) - used) / full.sent * 1e6
            results[name]["paced"].append(paced)
            results[name]["full"].append(full)
            results[name]["cpu"].append(cpu_us)
            print(f"round {r + 1}: ", end="")
            report(name, "fixed rate", paced)
            print(f"round {r + 1}: ", end="")
            report(name, "full speed", full, cpu_us)
    return results


def summarize(results: dict[str, dict[str, list[Result]]], rate: float) -> None:
    print("\nmedians over rounds:")
    for name, res in results.items():
        rps = median([r.rps for r in res["full"]])
        p99 = median([r.percentile(99) for r in res["paced"]])
        errors = sum(r.errors for r in res["full"] + res["paced"])
        cpu = median(res["cpu"])
        print(f"  {name:<10} full speed {rps:8.0f} req/s   p99 at {rate:.0f}/s {p99:7.2f} ms   "
              f"server CPU {cpu:4.0f} us/req   errors {errors}")
    bot = results["codexbot"]
    for peer, goal in (("probot", "target >= 1.00"), ("bare flask", "")):
        ratios = [b.rps / p.rps for b, p in zip(bot["full"], results[peer]["full"])]
        p99s = [b.percentile(99) / p.percentile(99) for b, p in zip(bot["paced"], results[peer]["paced"])]
        print(f"\ncodexbot / {peer} full-speed throughput: median {median(ratios):.2f} "
              f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)}) {goal}")
        print(f"codexbot / {peer} p99 at {rate:.0f}/s: median {median(p99s):.2f} "
              f"(rounds: {', '.join(f'{x:.2f}' for x in p99s)}) {'target <= 1.50' if goal else ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="web server processes for codexbot and bare flask (0: codexbot's default)")
    args = parser.parse_args()
    from bot.server import default_workers
    from jobs.settings import Settings

    workers = args.workers or default_workers()
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"codexbot-bench-{os.getpid()}"
    logdir.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXBOT_")}
    print(f"{peers.install_probot()}; servers on CPUs {sorted(server_cpus())}; bare flask and codexbot: {workers} "
          f"granian workers x {Settings.web_threads} threads; {args.rate:.0f}/s for {args.seconds:.0f} s, then "
          f"{args.requests} requests at full speed, x {args.rounds} rounds; logs in {logdir}", flush=True)
    with RedisServer() as redis_server:
        env = dict(base_env, CODEXBOT_REDIS_URL=redis_server.url, CODEXBOT_GITHUB_WEBHOOK_SECRET=SECRET)
        ports = {"bare flask": free_port(), "probot": free_port(), "codexbot": free_port()}
        commands = {"bare flask": peers.bare_flask(ports["bare flask"], workers, Settings.web_threads, base_env),
                    "probot": peers.probot(ports["probot"], SECRET, base_env),
                    "codexbot": peers.codexbot(ports["codexbot"], args.workers, env)}
        procs = [start_server(commands[name], ports[name], logdir / f"{name.replace(' ', '-')}.log") for name in ports]
        try:
            pids = {name: [proc.pid] for name, proc in zip(ports, procs)}
            pids["codexbot"].append(redis_server.proc.pid)
            results = measure(ports, pids, args)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    summarize(results, args.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
