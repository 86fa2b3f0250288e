"""Many tasks at once: cached services are built once, and scopes stay apart.

Every test reaches its interesting moment deterministically: factories wait
on events the test controls, and ``anyio.wait_all_tasks_blocked()`` tells
when every task is parked.  Each test is bounded by ``anyio.fail_after``.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

import anyio
import pytest

from injectq import InjectQ, Scope


class Pool:
    """An expensive application-wide service."""


class Connection:
    """A per-request service."""


class Config:
    """Shared by every request."""


class Repository:
    """A per-request service that needs the shared config."""

    def __init__(self, connection: Connection, config: Config) -> None:
        self.connection = connection
        self.config = config


class BuildFailed(Exception):
    """Raised by a factory on purpose."""


T = TypeVar("T")


class _HeldFactory(Generic[T]):
    """An async factory of ``cls`` that counts its calls and holds each build until released."""

    def __init__(self, cls: Callable[[], T]) -> None:
        self.cls = cls
        self.calls = 0
        self.release = anyio.Event()

    async def __call__(self) -> T:
        self.calls += 1
        await self.release.wait()
        return self.cls()


async def _ask_at_once(
    start_soon: Callable[[Callable[[], Awaitable[None]]], object],
    count: int,
    ask: Callable[[], Awaitable[T]],
    *,
    builds: Callable[[], int],
    release: anyio.Event,
) -> list[T]:
    """Start ``count`` tasks that each ``ask`` at the same moment, then let the build finish.

    Once every task is parked, one build must be under way and no task may have an
    answer yet; only then is ``release`` set.  The returned list gets each task's
    answer as it ends: read it after the task group or scope behind ``start_soon``
    has waited for its tasks.
    """
    answers: list[T] = []

    async def ask_once() -> None:
        answers.append(await ask())

    for _ in range(count):
        start_soon(ask_once)
    await anyio.wait_all_tasks_blocked()
    # every task is waiting for the one build in progress
    assert builds() == 1
    assert answers == []
    release.set()
    return answers


@pytest.mark.anyio
async def test_async_singleton_is_built_once_for_fifty_simultaneous_tasks() -> None:
    """Fifty tasks asking at the same moment for an async singleton share one factory call."""
    make_pool = _HeldFactory(Pool)
    container = InjectQ()
    container.bind_factory(Pool, make_pool, scope=Scope.SINGLETON)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            results = await _ask_at_once(
                tg.start_soon,
                50,
                lambda: container.aget(Pool),
                builds=lambda: make_pool.calls,
                release=make_pool.release,
            )
    assert len(results) == 50
    assert all(pool is results[0] for pool in results)
    assert make_pool.calls == 1
    assert await container.aget(Pool) is results[0]


@pytest.mark.anyio
async def test_async_generator_singleton_is_built_and_finalized_once_under_contention() -> None:
    """An async-generator singleton asked for by many tasks at once is set up once and torn down once."""
    release = anyio.Event()
    log: list[str] = []

    async def make_pool() -> AsyncIterator[Pool]:
        log.append("setup")
        await release.wait()
        yield Pool()
        await anyio.lowlevel.checkpoint()
        log.append("teardown")

    container = InjectQ()
    container.bind_factory(Pool, make_pool, scope=Scope.SINGLETON)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            results = await _ask_at_once(
                tg.start_soon,
                20,
                lambda: container.aget(Pool),
                builds=lambda: log.count("setup"),
                release=release,
            )
        await container.aclose()
    assert len({id(pool) for pool in results}) == 1
    assert len(results) == 20
    assert log == ["setup", "teardown"]


@pytest.mark.anyio
async def test_twenty_tasks_of_one_scope_get_one_scoped_instance() -> None:
    """Twenty tasks of one scope asking at once for an async scoped service get one instance."""
    connect = _HeldFactory(Connection)
    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)
    with anyio.fail_after(5):
        async with container.scope() as scope:
            results = await _ask_at_once(
                scope.start_soon,
                20,
                lambda: container.aget(Connection),
                builds=lambda: connect.calls,
                release=connect.release,
            )
        assert len(results) == 20
        assert all(conn is results[0] for conn in results)
        assert connect.calls == 1


@pytest.mark.anyio
async def test_a_failed_scoped_build_lets_a_later_ask_retry() -> None:
    """When a scoped factory fails, the next ask in the same scope builds it again."""
    calls = 0

    async def connect() -> Connection:
        nonlocal calls
        calls += 1
        await anyio.lowlevel.checkpoint()
        if calls == 1:
            raise BuildFailed("first attempt")
        return Connection()

    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)
    with anyio.fail_after(5):
        async with container.scope():
            with pytest.raises(BuildFailed, match="first attempt"):
                await container.aget(Connection)
            conn = await container.aget(Connection)
            assert await container.aget(Connection) is conn
    assert calls == 2


@pytest.mark.anyio
async def test_waiters_of_a_failed_build_are_released_and_end_with_one_instance() -> None:
    """Tasks waiting on a build that fails are released, and every instance handed out afterwards is one."""
    release = anyio.Event()
    calls = 0

    async def connect() -> Connection:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
            raise BuildFailed("first attempt")
        await anyio.lowlevel.checkpoint()
        return Connection()

    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)

    async def ask() -> Connection | BuildFailed:
        try:
            return await container.aget(Connection)
        except BuildFailed as exc:
            return exc

    with anyio.fail_after(5):
        async with container.scope():
            async with anyio.create_task_group() as tg:
                outcomes = await _ask_at_once(
                    tg.start_soon, 10, ask, builds=lambda: calls, release=release
                )
            got = [outcome for outcome in outcomes if isinstance(outcome, Connection)]
            failed = [outcome for outcome in outcomes if isinstance(outcome, BuildFailed)]
            # every task came back, none is stuck waiting
            assert len(got) + len(failed) == 10
            assert failed  # at least the first caller saw the failure
            later = await container.aget(Connection)
        assert all(conn is later for conn in got)
        assert calls == 2


@pytest.mark.anyio
async def test_a_cancelled_builder_does_not_wedge_the_waiters() -> None:
    """If the task building a scoped service is cancelled, the tasks waiting for it still get one instance."""
    calls = 0

    async def connect() -> Connection:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()
        return Connection()

    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)
    builder_scope = anyio.CancelScope()
    got: list[Connection] = []

    async def builder() -> None:
        with builder_scope:
            await container.aget(Connection)

    async def waiter() -> None:
        got.append(await container.aget(Connection))

    with anyio.fail_after(5):
        async with container.scope() as scope:
            scope.start_soon(builder)
            await anyio.wait_all_tasks_blocked()
            for _ in range(5):
                scope.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert got == []
            builder_scope.cancel()
        assert builder_scope.cancelled_caught
        assert len(got) == 5
        assert all(conn is got[0] for conn in got)
        assert calls == 2


@pytest.mark.anyio
async def test_a_cancelled_waiter_does_not_disturb_the_build() -> None:
    """A task cancelled while it waits for someone else's build leaves that build to finish for the rest."""
    connect = _HeldFactory(Connection)
    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)
    waiter_scope = anyio.CancelScope()
    got: list[Connection] = []

    async def ask() -> None:
        got.append(await container.aget(Connection))

    async def impatient() -> None:
        with waiter_scope:
            await container.aget(Connection)

    with anyio.fail_after(5):
        async with container.scope() as scope:
            scope.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            scope.start_soon(impatient)
            await anyio.wait_all_tasks_blocked()
            waiter_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            connect.release.set()
            scope.start_soon(ask)
        assert waiter_scope.cancelled_caught
        assert len(got) == 2
        assert got[0] is got[1]
        assert connect.calls == 1


@pytest.mark.anyio
async def test_concurrent_scopes_on_many_tasks_never_see_each_others_instances() -> None:
    """Twenty requests open at the same time each see only their own scoped instances."""
    count = 20
    all_open = anyio.Event()
    opened = 0

    async def connect() -> Connection:
        await anyio.lowlevel.checkpoint()  # let the builds of different scopes interleave
        return Connection()

    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)
    container.bind(Config, Config, scope=Scope.SINGLETON)
    container.bind(Repository, Repository, scope=Scope.SCOPED)
    seen: dict[int, list[Repository]] = {}

    async def request(index: int) -> None:
        nonlocal opened
        async with container.scope() as scope:
            first = await container.aget(Repository)
            opened += 1
            if opened == count:
                all_open.set()
            await all_open.wait()  # every other request's scope is open now
            seen[index] = [first, await container.aget(Repository), await scope.aget(Repository)]

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for index in range(count):
                tg.start_soon(request, index)
    assert len(seen) == count
    for repos in seen.values():
        assert repos[0] is repos[1] is repos[2]
    firsts = [repos[0] for repos in seen.values()]
    assert len({id(repo) for repo in firsts}) == count
    assert len({id(repo.connection) for repo in firsts}) == count
    assert len({id(repo.config) for repo in firsts}) == 1
