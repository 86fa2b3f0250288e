"""Many tasks at once: cached services are built once, and scopes stay apart.

Every test reaches its interesting moment deterministically: factories wait
on events the test controls, and ``anyio.wait_all_tasks_blocked()`` tells
when every task is parked.  Each test is bounded by ``anyio.fail_after``.
"""

from collections.abc import AsyncIterator

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


@pytest.mark.anyio
async def test_async_singleton_is_built_once_for_fifty_simultaneous_tasks() -> None:
    """Fifty tasks asking at the same moment for an async singleton share one factory call."""
    release = anyio.Event()
    calls = 0

    async def make_pool() -> Pool:
        nonlocal calls
        calls += 1
        await release.wait()
        return Pool()

    container = InjectQ()
    container.bind_factory(Pool, make_pool, scope=Scope.SINGLETON)
    results: list[Pool] = []

    async def ask() -> None:
        results.append(await container.aget(Pool))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            # all fifty are waiting for the one build in progress
            assert calls == 1
            assert results == []
            release.set()
    assert len(results) == 50
    assert all(pool is results[0] for pool in results)
    assert calls == 1
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
    results: list[Pool] = []

    async def ask() -> None:
        results.append(await container.aget(Pool))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            release.set()
        await container.aclose()
    assert len({id(pool) for pool in results}) == 1
    assert len(results) == 20
    assert log == ["setup", "teardown"]


@pytest.mark.anyio
async def test_twenty_tasks_of_one_scope_get_one_scoped_instance() -> None:
    """Twenty tasks of one scope asking at once for an async scoped service get one instance."""
    release = anyio.Event()
    calls = 0

    async def connect() -> Connection:
        nonlocal calls
        calls += 1
        await release.wait()
        return Connection()

    container = InjectQ()
    container.bind_factory(Connection, connect, scope=Scope.SCOPED)
    results: list[Connection] = []

    async def ask() -> None:
        results.append(await container.aget(Connection))

    with anyio.fail_after(5):
        async with container.scope() as scope:
            for _ in range(20):
                scope.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            assert calls == 1
            release.set()
        assert len(results) == 20
        assert all(conn is results[0] for conn in results)
        assert calls == 1


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
    got: list[Connection] = []
    failed: list[BuildFailed] = []

    async def ask() -> None:
        try:
            got.append(await container.aget(Connection))
        except BuildFailed as exc:
            failed.append(exc)

    with anyio.fail_after(5):
        async with container.scope():
            async with anyio.create_task_group() as tg:
                for _ in range(10):
                    tg.start_soon(ask)
                await anyio.wait_all_tasks_blocked()
                assert calls == 1
                release.set()
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
    release = anyio.Event()
    calls = 0

    async def connect() -> Connection:
        nonlocal calls
        calls += 1
        await release.wait()
        return Connection()

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
            release.set()
            scope.start_soon(ask)
        assert waiter_scope.cancelled_caught
        assert len(got) == 2
        assert got[0] is got[1]
        assert calls == 1


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
