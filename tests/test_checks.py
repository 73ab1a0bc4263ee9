"""The value-checks switch: per thread and per context, restored on exit."""

from __future__ import annotations

import asyncio
import threading

import pytest

from birnn_utils import value_checks, value_checks_enabled


def test_leaving_a_block_restores_the_value_it_had_on_entry() -> None:
    with value_checks(False):
        with value_checks(True):
            assert value_checks_enabled()
        assert not value_checks_enabled()
        with value_checks(False):
            assert not value_checks_enabled()
        assert not value_checks_enabled()
    assert value_checks_enabled()


def test_threads_that_leave_their_blocks_out_of_order_leave_checks_on() -> None:
    # a enters, b enters, a leaves, b leaves: with one process-global switch, b's exit restores
    # the False that a had set, and checks stay off for the whole process.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with value_checks(False):
            a_in.set()
            b_in.wait(5)
            seen["a inside"] = value_checks_enabled()
        a_out.set()

    def second() -> None:
        a_in.wait(5)
        with value_checks(False):
            b_in.set()
            a_out.wait(5)
            seen["b inside, a gone"] = value_checks_enabled()
        seen["b after"] = value_checks_enabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    a_in.wait(5)
    seen["main while a inside"] = value_checks_enabled()
    for thread in threads:
        thread.join(5)
    assert seen == {
        "main while a inside": True,
        "a inside": False,
        "b inside, a gone": False,
        "b after": True,
    }
    assert value_checks_enabled()


def test_each_asyncio_task_has_its_own_switch() -> None:
    async def off(entered: asyncio.Event, done: asyncio.Event) -> bool:
        with value_checks(False):
            entered.set()
            await done.wait()
            return value_checks_enabled()

    async def main() -> tuple[bool, bool]:
        entered, done = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(off(entered, done))
        await entered.wait()
        other = value_checks_enabled()
        done.set()
        return other, await task

    assert asyncio.run(main()) == (True, False)


def test_value_checks_needs_a_bool() -> None:
    bad = value_checks(0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"value_checks: `enabled` must be a bool, got int"), bad:
        pass
