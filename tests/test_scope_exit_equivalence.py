"""An async scope behaves exactly like a hand-written anyio task group.

The reference is what the contract describes: an ``anyio`` task group around
the block, then the teardown in a shielded cancel scope.  injectq leaves a
scope that started no task differently (it tears down first, shielded by the
group's own cancel scope, then closes the group), so every scenario here runs
both ways, with and without a task started, and the two logs must be equal:
what the block, the teardown and the code around the scope saw, and whether
the enclosing cancel scope caught a cancellation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Protocol

import anyio
import pytest

from injectq import InjectQ, Scope


class Connection:
    pass


class Teardown(Protocol):
    def __call__(self, log: list[str]) -> Awaitable[None]: ...


class ScopeLike(Protocol):
    async def __aenter__(self) -> ScopeLike: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...
    def start_soon(self, func: Callable[[], Coroutine[Any, Any, Any]]) -> None: ...
    async def aget(self, key: type[Connection]) -> Connection: ...


OpenScope = Callable[[Teardown, list[str]], ScopeLike]


class HandWritten:
    """The reference: a task group, then the teardown shielded in a cancel scope of its own."""

    def __init__(self, teardown: Teardown, log: list[str]) -> None:
        self.teardown = teardown
        self.log = log
        self.built = False

    async def __aenter__(self) -> HandWritten:
        self.group = anyio.create_task_group()
        await self.group.__aenter__()
        return self

    def start_soon(self, func: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.group.start_soon(func)

    async def aget(self, key: type[Connection]) -> Connection:
        self.built = True
        return key()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            return await self.group.__aexit__(exc_type, exc, tb)
        finally:
            if self.built:
                with anyio.CancelScope(shield=True):
                    await self.teardown(self.log)


def injectq_scope(teardown: Teardown, log: list[str]) -> ScopeLike:
    async def connect() -> AsyncIterator[Connection]:
        yield Connection()
        await teardown(log)

    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)
    return container.scope()  # type: ignore[return-value]


async def checkpointing_teardown(log: list[str]) -> None:
    log.append("teardown started")
    await anyio.sleep(0)  # noqa: ASYNC115 - a checkpoint, as real teardown has
    await anyio.lowlevel.checkpoint()
    log.append("teardown finished")


async def idle() -> None:
    await anyio.lowlevel.checkpoint()


async def begin(scope: ScopeLike, spawn: bool) -> None:
    """How every scenario's block starts: a task started or not, then the connection."""
    if spawn:
        scope.start_soon(idle)
    await scope.aget(Connection)


Scenario = Callable[[OpenScope, bool], Awaitable[list[str]]]


async def deadline_in_the_block(open_scope: OpenScope, spawn: bool) -> list[str]:
    log: list[str] = []
    with anyio.move_on_after(0.01) as timeout:
        async with open_scope(checkpointing_teardown, log) as scope:
            await begin(scope, spawn)
            await anyio.sleep_forever()
        log.append("after the scope")
    log.append(f"timeout caught: {timeout.cancelled_caught}")
    return log


async def cancelled_during_teardown(open_scope: OpenScope, spawn: bool) -> list[str]:
    log: list[str] = []
    waiting, release = anyio.Event(), anyio.Event()

    async def teardown(log: list[str]) -> None:
        waiting.set()
        await release.wait()
        await anyio.lowlevel.checkpoint()
        log.append("teardown finished")

    request = anyio.CancelScope()

    async def handle() -> None:
        with request:
            async with open_scope(teardown, log) as scope:
                await begin(scope, spawn)
            log.append("right after the scope")
            await anyio.lowlevel.checkpoint()
            log.append("after a checkpoint")

    async with anyio.create_task_group() as tg:
        tg.start_soon(handle)
        await waiting.wait()
        request.cancel()
        await anyio.wait_all_tasks_blocked()
        log.append("cancelled while tearing down")
        release.set()
    log.append(f"request caught: {request.cancelled_caught}")
    return log


async def cancel_pending_when_the_block_ends(open_scope: OpenScope, spawn: bool) -> list[str]:
    log: list[str] = []
    with anyio.CancelScope() as outer:
        async with open_scope(checkpointing_teardown, log) as scope:
            await begin(scope, spawn)
            outer.cancel()  # no checkpoint between this and the end of the block
        log.append("right after the scope")
        await anyio.lowlevel.checkpoint()
        log.append("after a checkpoint")
    log.append(f"outer caught: {outer.cancelled_caught}")
    return log


async def entered_in_a_cancelled_scope(open_scope: OpenScope, spawn: bool) -> list[str]:
    log: list[str] = []
    with anyio.CancelScope() as outer:
        outer.cancel()
        async with open_scope(checkpointing_teardown, log) as scope:
            await begin(scope, spawn)
            log.append("block before its first checkpoint")
            await anyio.lowlevel.checkpoint()
            log.append("block after a checkpoint")
        log.append("after the scope")
    log.append(f"outer caught: {outer.cancelled_caught}")
    return log


async def cancelled_right_after_the_scope(open_scope: OpenScope, spawn: bool) -> list[str]:
    log: list[str] = []
    with anyio.CancelScope() as outer:
        async with open_scope(checkpointing_teardown, log) as scope:
            await begin(scope, spawn)
        outer.cancel()  # the scope is left: nothing of it may still shield this task
        log.append("right after the cancel")
        await anyio.lowlevel.checkpoint()
        log.append("after a checkpoint")
    log.append(f"outer caught: {outer.cancelled_caught}")
    return log


async def teardown_with_its_own_deadline(open_scope: OpenScope, spawn: bool) -> list[str]:
    log: list[str] = []

    async def teardown(log: list[str]) -> None:
        with anyio.move_on_after(0.01) as own:
            await anyio.sleep_forever()
        log.append(f"teardown's own deadline caught: {own.cancelled_caught}")

    with anyio.move_on_after(0.01) as timeout:
        async with open_scope(teardown, log) as scope:
            await begin(scope, spawn)
            await anyio.sleep_forever()
    log.append(f"timeout caught: {timeout.cancelled_caught}")
    return log


SCENARIOS: list[tuple[Scenario, list[str] | None]] = [
    (
        deadline_in_the_block,
        ["teardown started", "teardown finished", "timeout caught: True"],
    ),
    (
        cancelled_during_teardown,
        [
            "cancelled while tearing down",
            "teardown finished",
            "right after the scope",
            "request caught: True",
        ],
    ),
    (
        cancel_pending_when_the_block_ends,
        None,  # differs with and without a task: see the test below
    ),
    (
        entered_in_a_cancelled_scope,
        [
            "block before its first checkpoint",
            "teardown started",
            "teardown finished",
            "outer caught: True",
        ],
    ),
    (
        cancelled_right_after_the_scope,
        ["teardown started", "teardown finished", "right after the cancel", "outer caught: True"],
    ),
    (
        teardown_with_its_own_deadline,
        ["teardown's own deadline caught: True", "timeout caught: True"],
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize("spawn", [False, True], ids=["no-task", "a-task"])
@pytest.mark.parametrize(
    ("scenario", "expected"), SCENARIOS, ids=[scenario.__name__ for scenario, _ in SCENARIOS]
)
async def test_a_scope_leaves_like_a_hand_written_task_group(
    scenario: Scenario, expected: list[str] | None, spawn: bool
) -> None:
    """Each cancellation scenario gives the same log through injectq as through the reference."""
    with anyio.fail_after(5):
        reference = await scenario(HandWritten, spawn)
        ours = await scenario(injectq_scope, spawn)
    assert ours == reference
    if expected is not None:
        assert ours == expected


@pytest.mark.anyio
async def test_a_pending_cancellation_reaches_the_task_at_the_exit_that_waits_for_tasks() -> None:
    """With a task to wait for, the exit is a cancel point; without one, the next checkpoint is."""
    with anyio.fail_after(5):
        without_task = await cancel_pending_when_the_block_ends(injectq_scope, False)
        with_task = await cancel_pending_when_the_block_ends(injectq_scope, True)
    assert without_task == [
        "teardown started",
        "teardown finished",
        "right after the scope",
        "outer caught: True",
    ]
    assert with_task == ["teardown started", "teardown finished", "outer caught: True"]
