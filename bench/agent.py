"""The agent loop's own cost: overhead per step (model and tool time excluded) and prompt tokens per step,
with and without context management, over long runs with a zero-latency scripted model.

The model is jobs.run.replay.ScriptedModel in process (no HTTP); the sandbox is an in-process fake that answers
every command at once with canned output (for this benchmark only: tool time is excluded anyway). Baseline
in the same run: a bare loop that only appends the replies and tool results and calls the same model and tools.

    python bench/agent.py [--steps 200] [--rounds 5] [--budget 30000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.agent.loop import Agent, Limits  # noqa: E402
from jobs.agent.tools import TOOLS, Toolbox  # noqa: E402
from jobs.run.replay import ScriptedModel  # noqa: E402
from jobs.sandbox import CommandResult  # noqa: E402

TARGET_OVERHEAD_MS = 2.0
TARGET_FLATNESS = 0.10


class InstantSandbox:
    """Answers every command at once: `size=N` in the command asks for N characters of output."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.network = False

    def run(self, command: str, *, timeout=None, network=None, env=None, output_limit=None) -> CommandResult:
        match = re.search(r"size=(\d+)", command)
        size = int(match.group(1)) if match else 200
        line = f"{command[:40]} ok ......................................\n"
        return CommandResult(0, (line * (size // len(line) + 1))[:size], 0.0)


def make_script(steps: int, seed: int = 7) -> list[dict]:
    """What a busy model asks for: mostly commands with output of varied size, some reads, writes and patches."""
    rng = random.Random(seed)
    script = []
    for n in range(steps - 1):
        kind = rng.random()
        if kind < 0.6:
            call = {"name": "shell", "arguments": {"command": f"make check-{n} size={rng.randint(300, 8000)}"}}
        elif kind < 0.75:
            call = {"name": "read_file", "arguments": {"path": f"src/module{rng.randint(0, 9)}.py"}}
        elif kind < 0.85:
            call = {"name": "search", "arguments": {"pattern": f"def f{n} size={rng.randint(100, 3000)}"}}
        elif kind < 0.95:
            call = {"name": "write_file", "arguments": {"path": f"gen/out{n}.py", "content": "x = 1\n" * rng.randint(50, 600)}}
        else:
            call = {"name": "apply_patch", "arguments": {"patch": f"--- /dev/null\n+++ b/gen/p{n}.txt\n@@ -0,0 +1 @@\n+{n}\n"}}
        script.append({"content": f"Step {n}: checking the next thing." if n % 3 == 0 else None, "tool_calls": [call]})
    return script + [{"tool_calls": [{"name": "finish", "arguments": {"summary": "done"}}]}]


def make_workspace(root: Path) -> Path:
    path = Path(tempfile.mkdtemp(prefix="workspace-", dir=root))
    (path / "src").mkdir()
    for n in range(10):
        (path / "src" / f"module{n}.py").write_text("".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(150)))
    return path


def run_agent(script: list[dict], budget: int | None, root: Path) -> dict:
    """One run; the overhead is the run's wall time minus what the model and the tools took."""
    sandbox = InstantSandbox(make_workspace(root))
    limits = Limits(max_steps=len(script), context_tokens=budget)
    agent = Agent(ScriptedModel(script, "gpt-5-codex"), sandbox, limits)
    started = time.perf_counter()
    result = agent.run("Make every check pass.", "Run `make check` before finishing.", "make check")
    wall = time.perf_counter() - started
    steps = result.transcript["steps"]
    outside = sum(s["model_seconds"] + sum(c["seconds"] for c in s["tool_calls"]) for s in steps)
    assert result.finished and result.steps == len(script), result.stop_reason
    return {"overhead_ms": (wall - outside) / result.steps * 1000,
            "prompt_tokens": [s["usage"]["prompt_tokens"] for s in steps],
            "transcript_bytes": len(json.dumps(result.transcript))}


def run_bare(script: list[dict], root: Path) -> float:
    """The baseline: the least a loop can do, timed the same way."""
    toolbox = Toolbox(InstantSandbox(make_workspace(root)))
    model = ScriptedModel(script, "gpt-5-codex")
    messages = [{"role": "system", "content": "rules"}, {"role": "user", "content": "task"}]
    outside = 0.0
    started = time.perf_counter()
    for _ in script:
        mark = time.perf_counter()
        reply = model.complete(messages, TOOLS)
        outside += time.perf_counter() - mark
        messages.append(reply.message)
        for call in reply.tool_calls:
            mark = time.perf_counter()
            result = toolbox.execute(call, timeout=600)
            outside += time.perf_counter() - mark
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result.output})
    return (time.perf_counter() - started - outside) / len(script) * 1000


def flatness(tokens: list[int], start: int) -> tuple[float, float]:
    """(max - min) / max over steps start..end, and the drift of the last 25 steps' mean from the first 25's."""
    window = tokens[start - 1:]
    spread = (max(window) - min(window)) / max(window)
    drift = statistics.mean(window[-25:]) / statistics.mean(window[:25]) - 1
    return spread, drift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=30_000, help="context budget in tokens when managed")
    args = parser.parse_args()
    script = make_script(args.steps)
    rounds = {"on": [], "off": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="codexbot-bench-agent-") as root:
        for _ in range(args.rounds):  # interleaved, so drift in the machine hits all three alike
            rounds["on"].append(run_agent(script, args.budget, Path(root)))
            rounds["off"].append(run_agent(script, None, Path(root)))
            rounds["bare"].append(run_bare(script, Path(root)))
    bare = statistics.median(rounds["bare"])
    print(f"agent loop, {args.steps}-step runs, median of {args.rounds} rounds "
          f"(model and tool time excluded; bare loop {bare:.3f} ms/step)")
    marks = [m for m in (1, 50, 100, 150, args.steps) if m <= args.steps]
    print(f"{'context':<22}{'overhead/step':>15}{'× bare':>8}   prompt tokens at step " + "/".join(map(str, marks)))
    for key, label in (("on", f"managed ({args.budget:,} tokens)"), ("off", "unmanaged")):
        overhead = statistics.median(r["overhead_ms"] for r in rounds[key])
        tokens = rounds[key][0]["prompt_tokens"]
        shown = "/".join(f"{tokens[m - 1]:,}" for m in marks)
        print(f"{label:<22}{overhead:>12.3f} ms{overhead / bare:>8.1f}   {shown}")
    spread = None
    if args.steps >= 75:
        spread, drift = flatness(rounds["on"][0]["prompt_tokens"], 50)
        print(f"managed prompt, steps 50-{args.steps}: spread (max-min)/max {spread:.1%}, "
              f"drift of the last 25 steps' mean from the first 25's {drift:+.1%}")
    print(f"transcript: {rounds['on'][0]['transcript_bytes'] / 1e6:.1f} MB managed, "
          f"{rounds['off'][0]['transcript_bytes'] / 1e6:.1f} MB unmanaged (JSON)")
    worst = max(statistics.median(r["overhead_ms"] for r in rounds[k]) for k in ("on", "off"))
    verdicts = [f"overhead < {TARGET_OVERHEAD_MS:g} ms/step {'met' if worst < TARGET_OVERHEAD_MS else 'MISSED'}"]
    if spread is not None:
        verdicts.append(f"prompt flat within {TARGET_FLATNESS:.0%} {'met' if spread <= TARGET_FLATNESS else 'MISSED'}")
    print("targets: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
