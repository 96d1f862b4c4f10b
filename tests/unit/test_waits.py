"""The tests' one wait, `eventually`: what passes, what is retried, what ends it at once, and
what a timeout says."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.support.waits import eventually, eventually_sync


async def test_returns_the_first_value_that_passes() -> None:
    counter = itertools.count()
    assert await eventually(lambda: next(counter) >= 3 and "done", "three rounds") == "done"


async def test_none_false_and_assertion_errors_are_retried() -> None:
    answers = iter([None, False, AssertionError("not yet"), 0])

    def check() -> int | bool | None:
        answer = next(answers)
        if isinstance(answer, AssertionError):
            raise answer
        return answer

    assert await eventually(check, "a zero") == 0


async def test_a_check_may_be_a_coroutine_function() -> None:
    rounds = itertools.count()

    async def check() -> bool:
        await asyncio.sleep(0)
        return next(rounds) == 2

    assert await eventually(check, "the third round") is True


async def test_a_timeout_names_what_was_awaited_with_the_last_failure_and_context() -> None:
    def check() -> None:
        raise AssertionError("still 41")

    with pytest.raises(AssertionError) as failed:
        await eventually(check, "the answer", wait_seconds=0.05, context=lambda: "--- the log")
    message = str(failed.value)
    assert message.startswith("the answer: not within 0.05 s; the last check failed: still 41")
    assert message.endswith("\n--- the log")
    assert isinstance(failed.value.__cause__, AssertionError)


def test_the_sync_twin_reports_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"^a value: not within 0 s; .* returned None$"):
        eventually_sync(lambda: None, "a value", wait_seconds=0)


def test_other_exceptions_and_pytest_fail_end_the_wait_at_once() -> None:
    calls = itertools.count()

    def broken() -> bool:
        next(calls)
        raise KeyError("gone")

    with pytest.raises(KeyError):
        eventually_sync(broken, "never", wait_seconds=10)
    assert next(calls) == 1
    with pytest.raises(pytest.fail.Exception, match="the process exited"):
        eventually_sync(lambda: pytest.fail("the process exited"), "never", wait_seconds=10)


async def test_a_check_that_hangs_is_cut_off_after_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tests.support.waits._GRACE_SECONDS", 0.01)

    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    with pytest.raises(AssertionError, match="did not finish"):
        await eventually(hangs, "a hang", wait_seconds=0)
