"""Webhook front door under load: codexbot vs a bare Flask endpoint, both under gunicorn on the loopback.

Deliveries are signed issue_comment webhooks: 80% comments without a command, 20% tasks, and 5% of all
requests redeliveries of earlier tasks. Each server is measured at a fixed rate (open loop, latency from
when the request was due) and at full speed (closed loop), from a separate process.

    python bench/webhook.py [--rate 500] [--seconds 10] [--requests 4000] [--rounds 3] [--workers N]
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


def start_server(argv: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.post(f"http://127.0.0.1:{port}{PATH}", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start: see {log}")


def report(name: str, label: str, res: Result) -> None:
    print(f"{name:<10} {label:<11} {res.rps:8.0f} req/s   p50 {res.percentile(50):6.2f} ms   "
          f"p99 {res.percentile(99):6.2f} ms   errors {res.errors}/{res.sent}", flush=True)


def measure(ports: dict[str, int], args: argparse.Namespace) -> dict[str, dict]:
    """Fixed rate for each server, then full-speed rounds interleaved (bare, codexbot, bare, …) so that
    the machine's drift hits both alike; the ratio is the median of the per-round ratios."""
    results: dict[str, dict] = {name: {"rounds": []} for name in ports}
    for name, port in ports.items():
        results[name]["paced"] = fixed_rate(port, PATH, make_deliveries(int(args.rate * args.seconds), seed=1), args.rate)
        report(name, "fixed rate", results[name]["paced"])
    for r in range(args.rounds):
        for name, port in ports.items():
            results[name]["rounds"].append(full_speed(port, PATH, make_deliveries(args.requests, seed=2 + r)))
    for name in ports:
        rounds = sorted(results[name]["rounds"], key=lambda res: res.rps)
        report(name, "full speed", rounds[len(rounds) // 2])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers for both servers (0: codexbot's default)")
    args = parser.parse_args()
    from bot.server import default_workers
    from jobs.settings import Settings

    workers = args.workers or default_workers()
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"codexbot-bench-{os.getpid()}"
    logdir.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CODEXBOT_")}
    threads = Settings.web_threads
    print(f"{workers} gunicorn gthread workers x {threads} threads per server; {args.rate:.0f}/s for {args.seconds:.0f} s; "
          f"full speed: {args.requests} requests x {args.rounds} rounds (median round shown)")
    servers = {
        "bare flask": [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", str(threads),
                       "-b", "127.0.0.1:{port}", "bench.bare_app:app"],
        "codexbot": [sys.executable, "-m", "cli", "serve", "--port", "{port}", "--workers", str(workers)],
    }
    with RedisServer() as redis_server:
        env = dict(base_env, CODEXBOT_REDIS_URL=redis_server.url, CODEXBOT_GITHUB_WEBHOOK_SECRET=SECRET)
        ports = {name: free_port() for name in servers}
        procs = [start_server([a.replace("{port}", str(ports[name])) for a in argv], env, ports[name],
                              logdir / f"{name.replace(' ', '-')}.log") for name, argv in servers.items()]
        try:
            results = measure(ports, args)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    bot, bare = results["codexbot"], results["bare flask"]
    ratios = [b.rps / f.rps for b, f in zip(bot["rounds"], bare["rounds"])]
    print(f"\ncodexbot / bare flask full-speed throughput: median {median(ratios):.2f} over {len(ratios)} "
          f"interleaved rounds (each: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.50)")
    print(f"codexbot p99 at {args.rate:.0f}/s: {bot['paced'].percentile(99):.2f} ms (target < 20 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
