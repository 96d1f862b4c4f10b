"""What an agent reports of its usage, kept on its session as two figures that answer different
questions: how full the context window is and what the session has cost (the agent's
`usage_update` notifications), and how many tokens its last turn took (the `usage` of a
prompt's result, in the turn's end event).

Agents send these in ACP's shapes, with anything missing or of another type; only counts and
a cost that make sense are kept, under the API's names.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_CURRENCY_CHARS", "TURN_FIELDS", "context_usage", "turn_usage"]

TURN_FIELDS = {
    "totalTokens": "total_tokens",
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "thoughtTokens": "thought_tokens",
    "cachedReadTokens": "cached_read_tokens",
    "cachedWriteTokens": "cached_write_tokens",
}
"""ACP's names of a turn's token counts, and ours."""
MAX_CURRENCY_CHARS = 16


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


def _cost(cost: Any) -> dict[str, Any] | None:
    if not isinstance(cost, dict):
        return None
    amount, currency = cost.get("amount"), cost.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return None
    if not math.isfinite(amount) or not isinstance(currency, str) or not currency:
        return None
    return {"amount": float(amount), "currency": currency[:MAX_CURRENCY_CHARS]}


def context_usage(update: dict[str, Any]) -> dict[str, Any] | None:
    """{used, size, cost} from a `usage_update`; None if it holds none of them."""
    kept = {
        "used": _count(update.get("used")),
        "size": _count(update.get("size")),
        "cost": _cost(update.get("cost")),
    }
    return kept if any(value is not None for value in kept.values()) else None


def turn_usage(usage: Any) -> dict[str, Any] | None:
    """{total_tokens, input_tokens, …} from a turn's `usage`; None if it holds no count."""
    if not isinstance(usage, dict):
        return None
    kept = {ours: _count(usage.get(acp)) for acp, ours in TURN_FIELDS.items()}
    return kept if any(value is not None for value in kept.values()) else None
