"""The agent loop: step() = execute(query()) until the model calls finish or a limit stops it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

from jobs.agent.calls import CallCancelled, ModelError, OutOfTime, calls_until
from jobs.agent.context import Context
from jobs.agent.guard import RepeatGuard, cap_reply
from jobs.agent.model import Model, ModelReply
from jobs.agent.prices import DEFAULT_PRICES, Price, cost_of, find_price, unknown_price_note
from jobs.agent.prompt import CUT_NUDGE, EMPTY_NUDGE, NUDGE, RULES, system_prompt, task_message
from jobs.agent.tools import Toolbox
from jobs.agent.transcript import Transcript
from jobs.sandbox import Sandbox, SandboxCancelled, SandboxError


@dataclass
class Limits:
    """What one run may spend; each limit ends the run with its partial result and the reason."""

    max_steps: int = 30
    wall_seconds: float = 1800
    command_timeout: float = 600
    max_tokens: int | None = None  # prompt plus completion tokens over the whole run
    max_cost: float | None = None  # dollars, from the price table
    context_tokens: int | None = 64_000  # the conversation is shortened above this; None: never


@dataclass
class AgentResult:
    """How a run ended: kept whole even when a limit stopped it, so the pipeline can still publish or report."""

    finished: bool
    summary: str
    steps: int
    transcript: dict  # JSON-serialisable; see jobs/agent/transcript.py
    prompt_tokens: int
    completion_tokens: int
    stop_reason: str
    cost: float = 0.0
    notes: list[str] = field(default_factory=list)
    # finish, steps, wall_time, tokens, cost, cancelled, repeats, no_tool_calls, sandbox or model_error
    stopped_by: str = ""


class Stopped(Exception):
    """Ends the loop; carries why (a sentence and a keyword), and the summary when the model finished."""

    def __init__(self, reason: str, kind: str, finished: bool = False, summary: str = ""):
        super().__init__(reason)
        self.reason, self.kind, self.finished, self.summary = reason, kind, finished, summary


class Agent:
    """Knows only small protocols (model, sandbox); forge calls and git happen after run() returns."""

    def __init__(self, model: Model, sandbox: Sandbox, limits: Limits,
                 on_event: Callable[[str], None] = lambda line: None, *,
                 should_stop: Callable[[], str | None] | None = None, prices: Mapping[str, Price] | None = None,
                 toolbox: Toolbox | None = None, rules: str = RULES):
        """toolbox and rules: another job for the agent (a review offers read-only tools and its own rules)."""
        self.model, self.limits, self.on_event = model, limits, on_event
        self.should_stop = should_stop or (lambda: None)
        self.watch_calls = should_stop  # None: nothing can cancel, so model calls need no watching
        self.model_name = getattr(model, "model", type(model).__name__)
        self.price = find_price(self.model_name, DEFAULT_PRICES if prices is None else prices)
        self.toolbox, self.rules = toolbox or Toolbox(sandbox), rules

    def run(self, task: str, instructions: str = "", test_command: str | None = None) -> AgentResult:
        """Work on the task until finish or a limit; a ModelError still carries the partial result."""
        self.context = Context(self.context_budget())
        self.context.append({"role": "system",
                             "content": system_prompt(instructions, test_command, self.limits.command_timeout,
                                                      self.rules)})
        self.context.append({"role": "user", "content": task_message(task)})
        self.transcript = Transcript(model=self.model_name, task=task, instructions=instructions,
                                     test_command=test_command, limits=asdict(self.limits))
        self.guard = RepeatGuard()
        self.steps = self.prompt_tokens = self.completion_tokens = self.quiet = 0
        self.cost = 0.0
        self.deadline = time.monotonic() + self.limits.wall_seconds
        if self.price is None:
            self.note(unknown_price_note(self.model_name))
        try:
            while True:
                self.step()
        except Stopped as stop:
            self.on_event(f"stopped: {stop.reason}")
            return self.result(stop)
        except ModelError as error:
            self.steps = len(self.transcript.steps)  # the failed call completed no step
            error.partial = self.result(Stopped(str(error), "model_error"))  # the transcript can still be stored
            raise

    def context_budget(self) -> int | None:
        """CODEXBOT_CONTEXT_TOKENS, or half the window the server says it runs with if that is smaller: the
        rest is for the tool schemas, the answer, and the error of counting four characters a token."""
        # A wrapper (the local run's meter) keeps the adapter as `inner` and may not pass this question on.
        ask = getattr(self.model, "context_window", None) or getattr(getattr(self.model, "inner", None),
                                                                     "context_window", None)
        window = ask() if callable(ask) else None
        budget = self.limits.context_tokens
        if window and (budget is None or window // 2 < budget):
            self.on_event(f"note: the model server runs {self.model_name} with a context window of {window:,} "
                          f"tokens; the conversation is kept under about {window // 2:,}")
            return window // 2
        return budget

    def step(self) -> None:
        """One model call and the tool calls it asked for."""
        self.check_limits()
        self.steps += 1
        self.execute(self.query())

    def check_limits(self) -> None:
        """Checked before every step, so a cancellation or a spent limit takes effect within one step."""
        limits = self.limits
        cancelled = self.should_stop()
        if cancelled:
            raise Stopped(cancelled, "cancelled")
        if self.steps >= limits.max_steps:
            raise Stopped(f"the agent used all {limits.max_steps} steps without finishing", "steps")
        if time.monotonic() >= self.deadline:
            raise Stopped(f"the agent used all of its {limits.wall_seconds:g} s without finishing", "wall_time")
        tokens = self.prompt_tokens + self.completion_tokens
        if limits.max_tokens is not None and tokens >= limits.max_tokens:
            raise Stopped(f"the agent used {tokens:,} tokens, reaching its limit of {limits.max_tokens:,}", "tokens")
        if limits.max_cost is not None and self.cost >= limits.max_cost:
            raise Stopped(f"the agent spent ${self.cost:.2f}, reaching its limit of ${limits.max_cost:.2f}", "cost")

    def query(self) -> ModelReply:
        """Ask the model, with the conversation fitted to the budget; record the request and the answer."""
        if self.context.fit():
            self.on_event(f"step {self.steps}: shortened older messages; the conversation is now about "
                          f"{self.context.tokens:,} tokens")
        request = self.transcript.request(self.context.messages)
        started = time.monotonic()
        try:
            with calls_until(self.deadline, self.watch_calls):  # a call ends with the agent's time, or a cancel
                reply = self.model.complete(self.context.messages, self.toolbox.tools)
        except CallCancelled as cancel:
            self.steps = len(self.transcript.steps)
            raise Stopped(str(cancel), "cancelled") from cancel
        except OutOfTime as error:
            self.steps = len(self.transcript.steps)  # the cut call completed no step
            raise Stopped(f"the agent used all of its {self.limits.wall_seconds:g} s without finishing "
                          f"({error})", "wall_time") from error
        seconds = time.monotonic() - started
        cost = cost_of(reply.usage, self.price)
        self.prompt_tokens += reply.usage.prompt_tokens
        self.completion_tokens += reply.usage.completion_tokens
        self.cost += cost
        self.record = self.transcript.add_step(self.steps, request, reply, cost, seconds)
        reply, problem = cap_reply(reply)
        if problem:
            self.on_event(f"step {self.steps}: {problem}")
        if reply.cut_off:
            self.on_event(f"step {self.steps}: the answer reached its length limit (CODEXBOT_MODEL_MAX_TOKENS) "
                          "and was cut off")
        self.context.append(reply.message)
        return reply

    def execute(self, reply: ModelReply) -> None:
        """Run the reply's tool calls in order; their results go back to the model and into the transcript."""
        if not reply.tool_calls:
            self.nudge(reply)
            return
        self.quiet = 0
        notes, stop = [], None
        for call in reply.tool_calls:
            started = time.monotonic()
            try:
                result = self.toolbox.execute(call, timeout=self.command_timeout())
            except SandboxError as error:  # cancelled, or the sandbox's budget or machinery gave out
                raise Stopped(str(error), "cancelled" if isinstance(error, SandboxCancelled) else "sandbox") from error
            seconds = time.monotonic() - started
            result, stop = self.guard.observe(call, result)
            self.transcript.add_tool_call(self.record, call, result, seconds)
            self.context.append({"role": "tool", "tool_call_id": call.id, "content": result.output})
            notes.append(result.note)
            if result.finished:
                self.on_event(f"step {self.steps}: {'; '.join(notes)}")
                raise Stopped("the agent called finish", "finish", finished=True, summary=result.summary)
            if stop:
                break
        self.on_event(f"step {self.steps}: {'; '.join(notes)}")
        if stop:
            raise Stopped(stop, "repeats")

    def nudge(self, reply: ModelReply) -> None:
        """Ask once for a tool call; a second reply in a row without one ends the run."""
        self.quiet += 1
        if self.quiet >= 2:
            raise Stopped("the model stopped calling tools: it answered twice in a row without a tool call and "
                          "never called finish", "no_tool_calls",
                          summary=reply.content or "")
        empty = not (reply.content or "").strip()
        self.on_event(f"step {self.steps}: {'empty reply' if empty else 'no tool call'}; "
                      "asked the model to call a tool or finish")
        nudge = CUT_NUDGE if reply.cut_off else EMPTY_NUDGE if empty else NUDGE
        self.context.append({"role": "user", "content": nudge})

    def command_timeout(self) -> float:
        """The per-command limit, shortened so a command cannot outlast the run's wall time."""
        return max(1.0, min(self.limits.command_timeout, self.deadline - time.monotonic()))

    def note(self, text: str) -> None:
        """Something the user should know about the run that is not a step, such as an unknown price."""
        self.transcript.notes.append(text)
        self.on_event(f"note: {text}")

    def result(self, stop: Stopped) -> AgentResult:
        outcome = {"finished": stop.finished, "summary": stop.summary, "stop_reason": stop.reason,
                   "stopped_by": stop.kind, "steps": self.steps, "prompt_tokens": self.prompt_tokens,
                   "completion_tokens": self.completion_tokens, "cost": self.cost}
        return AgentResult(stop.finished, stop.summary, self.steps, self.transcript.to_dict(outcome),
                           self.prompt_tokens, self.completion_tokens, stop.reason, self.cost,
                           list(self.transcript.notes), stop.kind)
