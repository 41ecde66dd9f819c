"""What a model call costs: a price table (model -> input and output dollars per million tokens).

Pure data and arithmetic, importable by the settings without the model client."""

from __future__ import annotations

from typing import Mapping

Price = tuple[float, float]  # (input $/1M tokens, output $/1M tokens)

# OpenAI list prices; a setting can add to or override them. Dated snapshots match by prefix.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": (1.25, 10.0), "gpt-5-codex": (1.25, 10.0), "gpt-5-mini": (0.25, 2.0), "gpt-5-nano": (0.05, 0.40),
    "gpt-5.1": (1.25, 10.0), "gpt-5.1-codex": (1.25, 10.0), "gpt-5.1-codex-mini": (0.25, 2.0),
    "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0), "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.0, 8.0), "o4-mini": (1.10, 4.40), "codex-mini-latest": (1.50, 6.0),
}


class PriceError(ValueError):
    """The price setting cannot be read; the message shows the expected form."""


def find_price(model: str, table: Mapping[str, Price]) -> Price | None:
    """The model's price: its own entry, else the longest entry it extends with a dash (gpt-4.1-2025-04-14)."""
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def cost_of(usage, price: Price | None) -> float:
    """Dollars for a call's usage (anything with prompt_tokens and completion_tokens); unknown prices cost 0."""
    if price is None:
        return 0.0
    return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000


def unknown_price_note(model: str) -> str:
    return (f"no price is known for model {model}: its cost counts as $0 and no cost limit applies; "
            "add it to CODEXBOT_MODEL_PRICES as model=input/output dollars per million tokens")


def parse_prices(value: str | Mapping | None) -> dict[str, Price]:
    """The default table overlaid by a setting: "model=1.25/10,other=0.5/2" or a TOML table {model = [1.25, 10]}."""
    table = dict(DEFAULT_PRICES)
    if not value:
        return table
    entries = value.items() if isinstance(value, Mapping) else (_split(item) for item in value.split(","))
    for model, price in entries:
        table[str(model).strip()] = _price(model, price)
    return table


def _split(item: str) -> tuple[str, str]:
    model, sep, price = item.partition("=")
    if not sep or not model.strip():
        raise PriceError(f"CODEXBOT_MODEL_PRICES: {item.strip()!r} is not model=input/output, e.g. gpt-5=1.25/10")
    return model, price


def _price(model, price) -> Price:
    parts = price.split("/") if isinstance(price, str) else price
    try:
        low, high = (float(part) for part in parts)
    except (TypeError, ValueError):
        raise PriceError(f"CODEXBOT_MODEL_PRICES: the price of {str(model).strip()} must be two numbers, "
                         "input/output dollars per million tokens, e.g. 1.25/10") from None
    if low < 0 or high < 0:
        raise PriceError(f"CODEXBOT_MODEL_PRICES: the price of {str(model).strip()} cannot be negative")
    return (low, high)
