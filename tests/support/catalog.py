"""Qwen Code as a user adds it (`corral agent add`): the entry docs/sessions.md shows, so the
tests check what the documentation tells people to do."""

from __future__ import annotations

from typing import Any

__all__ = ["QWEN_CODE", "QWEN_CODE_VERSION"]

QWEN_CODE_VERSION = "0.24.4"

QWEN_CODE: dict[str, Any] = {
    "title": "Qwen Code",
    "package": "@qwen-code/qwen-code",
    "version": QWEN_CODE_VERSION,
    "command": ["qwen", "--acp", "--auth-type", "openai"],
    "credentials": {"openai": "OPENAI_API_KEY"},
    "endpoint_env": ["OPENAI_BASE_URL"],
    # Qwen starts in its own `auto` approval mode, which asks nothing.
    "initial_mode": "default",
}
"""Qwen Code's catalog entry, a Gemini CLI fork that speaks OpenAI Chat Completions."""
