"""Subscribers by key, for the control plane's in-process feeds (session events by session,
list changes by user): who is listening, and letting go when they stop."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

__all__ = ["Subscribers"]

S = TypeVar("S")


class Subscribers(Generic[S]):
    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._by_key: dict[str, set[S]] = {}

    @contextmanager
    def subscribe(self, key: str) -> Iterator[S]:
        """A new subscription to `key`, for the length of the block."""
        subscription = self._make()
        self._by_key.setdefault(key, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribed = self._by_key.get(key)
            if subscribed is not None:
                subscribed.discard(subscription)
                if not subscribed:
                    del self._by_key[key]

    def of(self, key: str) -> Iterable[S]:
        return self._by_key.get(key, ())
