"""Cancellation: teardown always completes, and the cancellation is still honoured.

Scopes are left through real anyio cancel scopes (``move_on_after`` and
``CancelScope.cancel()``).  The async teardown used here awaits and
checkpoints, so it would be cut short if it were not shielded.
"""

from collections.abc import AsyncIterator

import anyio
import pytest

from injectq import FinalizationError, InjectQ, Scope


class Connection:
    pass


class Left:
    pass


class Right:
    pass


class Both:
    def __init__(self, left: Left, right: Right) -> None:
        self.left = left
        self.right = right


def _container_with_async_teardown(log: list[str], scope: Scope = Scope.SCOPED) -> InjectQ:
    async def connect() -> AsyncIterator[Connection]:
        log.append("open")
        yield Connection()
        log.append("teardown started")
        await anyio.sleep(0)  # noqa: ASYNC115 - the teardown a user would write
        await anyio.lowlevel.checkpoint()
        log.append("teardown finished")

    container = InjectQ()
    container.bind_factory(Connection, connect, scope=scope)
    return container


@pytest.mark.anyio
async def test_scope_left_through_move_on_after_completes_async_teardown() -> None:
    """A scope whose block times out under ``move_on_after`` still runs its async teardown fully, then moves on."""
    log: list[str] = []
    container = _container_with_async_teardown(log)
    with anyio.fail_after(5):
        with anyio.move_on_after(0.01) as timeout:
            async with container.scope():
                await container.aget(Connection)
                await anyio.sleep_forever()
        log.append("after the cancel scope")
    assert timeout.cancelled_caught
    assert log == ["open", "teardown started", "teardown finished", "after the cancel scope"]


@pytest.mark.anyio
async def test_scope_left_through_cancel_scope_cancel_completes_async_teardown() -> None:
    """A scope whose block is cancelled by another task's ``CancelScope.cancel()`` still runs its async teardown fully."""
    log: list[str] = []
    container = _container_with_async_teardown(log)
    request_scope = anyio.CancelScope()

    async def request() -> None:
        with request_scope:
            async with container.scope():
                await container.aget(Connection)
                await anyio.sleep_forever()
        log.append("after the cancel scope")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(request)
            await anyio.wait_all_tasks_blocked()
            assert log == ["open"]
            request_scope.cancel()
    assert request_scope.cancelled_caught
    assert log == ["open", "teardown started", "teardown finished", "after the cancel scope"]


@pytest.mark.anyio
async def test_teardown_is_shielded_when_cancellation_arrives_during_it() -> None:
    """A cancellation that arrives while teardown is waiting lets it finish, and is honoured afterwards."""
    log: list[str] = []
    teardown_waiting = anyio.Event()
    release = anyio.Event()

    async def connect() -> AsyncIterator[Connection]:
        yield Connection()
        teardown_waiting.set()
        await release.wait()
        await anyio.lowlevel.checkpoint()
        log.append("teardown finished")

    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)
    request_scope = anyio.CancelScope()

    async def request() -> None:
        with request_scope:
            async with container.scope():
                await container.aget(Connection)
            await anyio.lowlevel.checkpoint()
            log.append("not reached: the request was cancelled")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(request)
            await teardown_waiting.wait()
            request_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            # cancelled, but the teardown is still waiting, not cut short
            assert log == []
            release.set()
    assert log == ["teardown finished"]
    assert request_scope.cancelled_caught


@pytest.mark.anyio
async def test_scope_tasks_are_cancelled_when_the_block_is_cancelled_before_teardown() -> None:
    """When the block is cancelled, the scope's tasks are cancelled first, then its instances finalized."""
    log: list[str] = []
    container = _container_with_async_teardown(log)

    async def worker() -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            log.append("worker cancelled")
            raise

    with anyio.fail_after(5):
        with anyio.move_on_after(0.01) as timeout:
            async with container.scope() as scope:
                await container.aget(Connection)
                scope.start_soon(worker)
                await anyio.sleep_forever()
    assert timeout.cancelled_caught
    assert log == ["open", "worker cancelled", "teardown started", "teardown finished"]


@pytest.mark.anyio
async def test_container_aclose_in_a_cancelled_scope_still_finalizes() -> None:
    """``await container.aclose()`` called in an already cancelled scope runs async teardown fully."""
    log: list[str] = []
    container = _container_with_async_teardown(log, Scope.SINGLETON)
    await container.aget(Connection)
    with anyio.fail_after(5):
        with anyio.CancelScope() as cancelled:
            cancelled.cancel()
            await container.aclose()
            await anyio.lowlevel.checkpoint()
            log.append("not reached: the scope is cancelled")
    assert cancelled.cancelled_caught
    assert log == ["open", "teardown started", "teardown finished"]


@pytest.mark.anyio
async def test_build_cancelled_half_way_finalizes_what_was_built() -> None:
    """A graph whose build is cancelled half-way tears down the parts already built, and stays cancelled."""
    log: list[str] = []
    right_waiting = anyio.Event()

    async def open_left() -> AsyncIterator[Left]:
        yield Left()
        await anyio.sleep(0)  # noqa: ASYNC115 - the teardown a user would write
        log.append("left torn down")

    async def open_right() -> Right:
        right_waiting.set()
        await anyio.sleep_forever()
        raise AssertionError("never built")  # pragma: no cover

    container = InjectQ()
    container.bind_factory(Left, open_left, scope=Scope.TRANSIENT)
    container.bind_factory(Right, open_right, scope=Scope.TRANSIENT)
    container.bind(Both, Both, scope=Scope.SCOPED)
    build_scope = anyio.CancelScope()

    async def build() -> None:
        with build_scope:
            await container.aget(Both)
        log.append("after the cancel scope")

    with anyio.fail_after(5):
        async with container.scope():
            async with anyio.create_task_group() as tg:
                tg.start_soon(build)
                await right_waiting.wait()
                build_scope.cancel()
            assert log == ["left torn down", "after the cancel scope"]
    assert build_scope.cancelled_caught


class BrokenConnection:
    """Fails when closed."""

    def close(self) -> None:
        raise RuntimeError("close failed")


@pytest.mark.anyio
async def test_finalizer_failure_on_a_cancelled_exit_rides_on_the_cancellation() -> None:
    """A finalizer failing while a cancelled scope is left is attached to the cancellation, which stays itself."""
    log: list[str] = []
    container = _container_with_async_teardown(log)
    container.bind(BrokenConnection, BrokenConnection, scope=Scope.SCOPED)
    left_with: list[BaseException] = []

    async def request() -> None:
        with anyio.move_on_after(0.01) as deadline:
            try:
                async with container.scope():
                    await container.aget(Connection)
                    container.get(BrokenConnection)
                    await anyio.sleep_forever()
            except BaseException as exc:
                left_with.append(exc)
                raise
        assert deadline.cancelled_caught  # the cancellation reached its cancel scope

    with anyio.fail_after(5):
        await request()
    [exc] = left_with
    assert isinstance(exc, anyio.get_cancelled_exc_class())
    notes = getattr(exc, "__notes__", [])
    assert any("RuntimeError: close failed" in note for note in notes), notes
    group = exc.__injectq_finalization__  # type: ignore[attr-defined]
    assert isinstance(group, FinalizationError)
    assert [str(error) for error in group.exceptions] == ["close failed"]
    assert log == ["open", "teardown started", "teardown finished"]
