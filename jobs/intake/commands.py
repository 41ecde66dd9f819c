"""The slash-command grammar: find a `/codex …` line in a comment and turn it into a Command (pure)."""

from __future__ import annotations

import re
import unicodedata

from jobs.types import Command, strip_invisible

MAX_TASK_CHARS = 20_000
MAX_ATTEMPTS = 5
CONTROL_WORDS = ("help", "status", "cancel", "retry")
PULL_WORDS = ("review", "fix-ci", "pick")  # on a pull request: `review [focus]`, `fix-ci`, `pick N`
OPTIONS = ("attempts", "model", "models", "fresh")
FLAGS = ("fresh",)  # options without a value

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_QUOTE = re.compile(r"^ {0,3}>")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_OPTION = re.compile(r"(?<!\S)--([A-Za-z][\w-]*)(?:=(\S*))?(?!\S)")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}$")


def find_command_line(body: str, word: str) -> tuple[str, str] | None:
    """The rest of the first line that starts with `word`, and the lines after it.

    Lines inside fenced code blocks, indented code and `>` quotes are not commands.
    """
    pattern = re.compile(r"^ {0,3}" + re.escape(word) + r"(?=\s|$)(.*)$", re.IGNORECASE)
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fence: str | None = None
    for i, line in enumerate(lines):
        fence_match = _FENCE.match(line)
        if fence is not None:
            if fence_match and fence_match.group(1)[0] == fence[0] and len(fence_match.group(1)) >= len(fence):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        if _QUOTE.match(line) or line.startswith(("    ", "\t")):
            continue
        match = pattern.match(line)
        if match:
            return match.group(1), "\n".join(lines[i + 1 :])
    return None


def parse_command(body: str | None, word: str = "/codex") -> Command | None:
    """The command in a comment body, or None when the comment has none."""
    if not body:
        return None
    found = find_command_line(body, word)
    if found is None:
        return None
    first, rest = found
    notes: list[str] = []
    errors: list[str] = []
    first, options = _take_options(first, notes, errors)
    first, rest = _clean(first, notes), _clean(rest, notes)
    head = first.strip()
    if head.lower() in CONTROL_WORDS:
        if options:
            notes.append(f"options are not used by {word} {head.lower()}")
        return Command(kind=head.lower(), text=rest.strip(), notes=_unique(notes))  # type: ignore[arg-type]
    word, _, focus = head.partition(" ")
    if word.lower() in PULL_WORDS:
        return _pull_command(word.lower(), "\n".join(p for p in (focus.strip(), rest.strip()) if p), options,
                             notes, errors)
    text = "\n".join(part for part in (head, rest.strip()) if part)
    if len(text) > MAX_TASK_CHARS:
        errors.append(f"the task is {len(text)} characters long; the limit is {MAX_TASK_CHARS}: put details in the issue")
    attempts, model = _option_values(options, errors)
    models = _models(options, errors)
    if options.get("fresh"):
        errors.append("`--fresh` takes no value")
    if errors:
        return Command(kind="help", text=text[:MAX_TASK_CHARS], notes=_unique(notes), errors=_unique(errors))
    return Command(kind="task", text=text, attempts=len(models) or attempts, model=model, fresh="fresh" in options,
                   models=models, notes=_unique(notes))


def _models(options: dict[str, str], errors: list[str]) -> tuple[str, ...]:
    """`--models a,b,c`: one attempt per model (2 to 5), instead of `--model` and `--attempts`."""
    if "models" not in options:
        return ()
    names = [name for name in options["models"].split(",") if name]
    if not 2 <= len(names) <= MAX_ATTEMPTS or not all(_MODEL_NAME.match(name) for name in names):
        errors.append(f"`--models` takes 2 to {MAX_ATTEMPTS} model names separated by commas, such as "
                      "`--models gpt-5,o4-mini`")
    elif "model" in options:
        errors.append("`--models` and `--model` cannot go together: name every model in `--models`")
    elif "attempts" in options and options["attempts"] != str(len(names)):
        errors.append(f"`--models` names {len(names)} models, so it makes {len(names)} attempts: leave out `--attempts`")
    else:
        return tuple(names)
    return ()


def _pull_command(kind: str, text: str, options: dict[str, str], notes: list[str], errors: list[str]) -> Command:
    """`review [focus]` (with `--model`), `fix-ci` or `pick N`; the event parser turns them on an issue into a
    task (`pick`: a help reply)."""
    if kind == "pick":
        if not text.strip().isdigit() or not 1 <= int(text.strip()) <= MAX_ATTEMPTS:
            errors.append(f"`pick` takes the number of an attempt in the comparison table, 1 to {MAX_ATTEMPTS}")
        return Command(kind="help" if errors else "pick", text=text.strip()[:10], notes=_unique(notes),
                       errors=_unique(errors))
    if kind == "fix-ci" and text:
        notes.append("`fix-ci` takes no text: it works from the failing jobs' logs")
        text = ""
    if len(text) > MAX_TASK_CHARS:
        errors.append(f"the focus is {len(text)} characters long; the limit is {MAX_TASK_CHARS}")
    unused = sorted(set(options) - {"model"})
    if unused:
        notes.append(f"{', '.join('--' + o for o in unused)} is not used by {kind}")
    _, model = _option_values({k: v for k, v in options.items() if k == "model"}, errors)
    if errors:
        return Command(kind="help", text=text[:MAX_TASK_CHARS], notes=_unique(notes), errors=_unique(errors))
    return Command(kind=kind, text=text, model=model, notes=_unique(notes))  # type: ignore[arg-type]


def as_task(command: Command, word: str) -> Command:
    """A pull request command written on an issue: `review the docs` there is a task like any other."""
    if command.kind in ("fix-ci", "pick"):
        return Command(kind="help", notes=command.notes + (f"{word} {command.kind} works on a pull request",))
    text = f"review {command.text}".strip()
    return Command(kind="task", text=text, model=command.model, notes=command.notes)


def _take_options(line: str, notes: list[str], errors: list[str]) -> tuple[str, dict[str, str]]:
    """Remove `--attempts N` / `--model NAME` from the line; other `--words` stay part of the task."""
    options: dict[str, str] = {}
    spans = [m.span() for m in _CODE_SPAN.finditer(line)]
    kept: list[str] = []
    pos = 0
    for match in _OPTION.finditer(line):
        if any(a <= match.start() < b for a, b in spans):
            continue
        name, value = match.group(1).lower(), match.group(2)
        if name not in OPTIONS:
            notes.append(f"`--{match.group(1)}` is not an option; it was kept as part of the task")
            continue
        end = match.end()
        if value is None and name not in FLAGS:
            nxt = re.match(r"\s+(?!--)(\S+)", line[end:])
            if nxt and not any(a <= end + nxt.start(1) < b for a, b in spans):
                value, end = nxt.group(1), end + nxt.end()
        if name in options:
            errors.append(f"`--{name}` is given twice")
        options[name] = value or ""
        kept.append(line[pos : match.start()])
        pos = end
    kept.append(line[pos:])
    return re.sub(r"[ \t]{2,}", " ", "".join(kept)), options


def _option_values(options: dict[str, str], errors: list[str]) -> tuple[int, str | None]:
    attempts, model = 1, None
    if "attempts" in options:
        raw = options["attempts"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_ATTEMPTS:
            errors.append(f"`--attempts` takes a number from 1 to {MAX_ATTEMPTS}, not `{_shown(raw) or 'nothing'}`")
        else:
            attempts = int(raw)
    if "model" in options:
        raw = options["model"]
        if not _MODEL_NAME.match(raw):
            errors.append("`--model` takes a model name of letters, digits and . _ : / @ + - (at most 100)")
        else:
            model = raw
    return attempts, model


def _shown(value: str) -> str:
    """An option's value as an error message may quote it: nothing invisible (the reply is stored as UTF-8 and
    posted), and short."""
    return strip_invisible(value).replace("`", "'")[:40]


def _clean(text: str, notes: list[str]) -> str:
    """The task without characters that can hide what it says (jobs.types.strip_invisible), with a note."""
    cleaned = strip_invisible(text)
    if cleaned != unicodedata.normalize("NFC", text):
        notes.append("invisible control characters were removed from the task")
    return cleaned


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def issue_task(title: str, body: str) -> str:
    """An issue as a task (the `codex` label, or `/codex` alone): its title, a blank line, its body."""
    return f"{title.strip()}\n\n{body.strip()}".strip()


def bare_command(command: Command, title: str, body: str, on_pull_request: bool, word: str,
                 pull_request: str = "pull request") -> Command:
    """`/codex` alone: on an issue, the issue is the task; on a pull (merge) request, a help reply."""
    if on_pull_request:
        return Command(kind="help", notes=command.notes + (f"{word} needs a task on a {pull_request}",))
    return Command(kind="task", text=issue_task(title, body), attempts=command.attempts, model=command.model,
                   fresh=command.fresh, models=command.models, notes=command.notes)
