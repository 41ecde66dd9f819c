"""The conversation the model sees, kept under a token budget however long the run: old tool output goes first."""

from __future__ import annotations

import json

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 16  # characters a message costs beyond its text (role, ids, separators)
KEPT_CHARS = 160  # of a shortened text, kept at each end
LONG_TEXT = 3 * KEPT_CHARS + 100  # texts longer than this are worth shortening
LONG_ARGUMENT = 200
KEEP_RECENT_STEPS = 3  # the latest state: these last steps are never shortened
# Over budget, shorten to 3% under it: the prompt stays flat (within 10%); a wider gap would compact less
# often, which suits prompt caching better, at the price of a prompt that swings more.
LOW_WATER = 0.97


def message_size(message: dict) -> int:
    """Characters of the message that reach the model: its text and tool-call arguments."""
    size = MESSAGE_OVERHEAD + len(message.get("content") or "")
    for call in message.get("tool_calls") or ():
        size += MESSAGE_OVERHEAD + len(call["function"]["arguments"])
    for item in message.get("reasoning") or ():
        size += len(item.get("encrypted_content") or "")
    return size


class Context:
    """Messages plus their running size; fit() shortens, then drops, the oldest steps to stay under budget.

    The system prompt and the task (the first `pinned` messages) and the last few steps are kept as they
    are. Messages are never changed in place: a shortened message is a new dict, so the transcript can
    record each request exactly.
    """

    def __init__(self, budget_tokens: int | None, pinned: int = 2, low_water: float = LOW_WATER):
        self.budget, self.pinned, self.low_water = budget_tokens, pinned, low_water
        self.messages: list[dict] = []
        self.sizes: list[int] = []
        self.total = 0
        self.dropped = 0  # messages removed so far
        self.compactions = 0
        self._shortened_upto = pinned  # messages before this index are already as short as they get
        self._task: str | None = None  # the task's text before a note about dropped messages was added

    def append(self, message: dict) -> None:
        self.messages.append(message)
        self.sizes.append(message_size(message))
        self.total += self.sizes[-1]

    @property
    def tokens(self) -> int:
        return self.total // CHARS_PER_TOKEN

    def fit(self) -> bool:
        """Bring the conversation under budget if it is over; True when something was shortened or dropped."""
        if self.budget is None or self.tokens <= self.budget:
            return False
        target = int(self.budget * self.low_water) * CHARS_PER_TOKEN
        recent = self._recent_start()
        self._shorten(recent, target)
        if self.total > target:
            self._drop(recent, target)
        self.compactions += 1
        return True

    def _recent_start(self) -> int:
        """Where the last few steps begin: from there on the model sees everything as it was."""
        seen = 0
        for index in range(len(self.messages) - 1, self.pinned - 1, -1):
            if self.messages[index]["role"] == "assistant":
                seen += 1
                if seen == KEEP_RECENT_STEPS:
                    return index
        return self.pinned

    def _shorten(self, end: int, target: int) -> None:
        """Shorten the oldest messages first, stopping as soon as the conversation is under target."""
        index = self._shortened_upto
        while index < end and self.total > target:
            shorter = shorten(self.messages[index])
            if shorter is not None:
                self._replace(index, shorter)
            index += 1
        self._shortened_upto = max(index, self._shortened_upto)

    def _drop(self, end: int, target: int) -> None:
        """Remove whole steps (an assistant turn and the tool results and notes after it), oldest first."""
        start = self.pinned
        stop = start
        freed = 0
        while stop < end and self.total - freed > target:
            unit_end = stop + 1
            while unit_end < end and self.messages[unit_end]["role"] != "assistant":
                unit_end += 1
            freed += sum(self.sizes[stop:unit_end])
            stop = unit_end
        if stop == start:
            return
        del self.messages[start:stop], self.sizes[start:stop]
        self.total -= freed
        self.dropped += stop - start
        self._shortened_upto = max(self.pinned, self._shortened_upto - (stop - start))
        if self._task is None:
            self._task = self.messages[self.pinned - 1]["content"]
        note = (f"\n\n[{self.dropped} older messages were removed to keep the conversation small; "
                "the task above still holds.]")
        self._replace(self.pinned - 1, {"role": "user", "content": self._task + note})

    def _replace(self, index: int, message: dict) -> None:
        self.total -= self.sizes[index]
        self.messages[index] = message
        self.sizes[index] = message_size(message)
        self.total += self.sizes[index]


def shorten(message: dict) -> dict | None:
    """A shorter copy of an old message, or None when it is already short."""
    if message["role"] == "tool" and len(message["content"]) > LONG_TEXT:
        return {**message, "content": clip(message["content"], "of this output")}
    if message["role"] != "assistant":
        return None
    calls = message.get("tool_calls") or []
    long_content = len(message.get("content") or "") > LONG_TEXT
    long_calls = any(len(call["function"]["arguments"]) > LONG_TEXT for call in calls)
    if not (long_content or long_calls or message.get("reasoning")):
        return None
    shorter = {key: value for key, value in message.items() if key != "reasoning"}
    if long_content:
        shorter["content"] = clip(message["content"], "of this reply")
    if long_calls:
        shorter["tool_calls"] = [shorten_call(call) for call in calls]
    return shorter


def shorten_call(call: dict) -> dict:
    """The call with its long string arguments (file contents, patches) replaced by their length."""
    raw = call["function"]["arguments"]
    if len(raw) <= LONG_TEXT:
        return call
    try:
        arguments = json.loads(raw)
    except json.JSONDecodeError:
        arguments = None
    if isinstance(arguments, dict):
        arguments = {key: f"[{len(value)} characters, left out to keep the conversation small]"
                     if isinstance(value, str) and len(value) > LONG_ARGUMENT else value
                     for key, value in arguments.items()}
    else:
        arguments = {"left_out": f"[{len(raw)} characters of arguments that were not a JSON object]"}
    return {**call, "function": {**call["function"], "arguments": json.dumps(arguments)}}


def clip(text: str, what: str) -> str:
    cut = len(text) - 2 * KEPT_CHARS
    return (f"{text[:KEPT_CHARS]}\n[… {cut} characters {what} were dropped to keep the conversation small; "
            f"run the call again if you need them …]\n{text[-KEPT_CHARS:]}")
