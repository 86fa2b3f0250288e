"""Closing a container: once per instance, in order, safe under concurrency, and reusable after."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.lowlevel
import pytest

from injectq import InjectQ, Scope, TenantScopeManager

TIMEOUT = 5


class Engine:
    pass


class Session:
    pass


class Cfg:
    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _slow_teardown(name: str, log: list[str]) -> Callable[[], AsyncIterator[str]]:
    async def factory() -> AsyncIterator[str]:
        yield name
        log.append(f"{name} teardown starts")
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        log.append(f"{name} teardown ends")

    return factory


@pytest.mark.anyio
async def test_concurrent_acloses_wait_for_each_other_and_keep_the_order() -> None:
    """Two tasks closing at once: teardowns never overlap, last created first, and neither returns early."""
    log: list[str] = []
    container = InjectQ()
    container.bind_factory(Engine, _slow_teardown("engine", log), scope=Scope.SINGLETON)
    container.bind_factory(Session, _slow_teardown("session", log), scope=Scope.SINGLETON)
    await container.aget(Engine)
    await container.aget(Session)

    async def closer(number: int) -> None:
        await container.aclose()
        log.append(f"close {number} returned")

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(closer, 1)
            group.start_soon(closer, 2)
    assert log[:4] == [
        "session teardown starts",
        "session teardown ends",
        "engine teardown starts",
        "engine teardown ends",
    ]
    assert sorted(log[4:]) == ["close 1 returned", "close 2 returned"]


def test_concurrent_closes_on_threads_finalize_each_instance_once() -> None:
    """Eight threads closing at once finalize each singleton exactly once."""
    closed: list[int] = []

    class Pool:
        def close(self) -> None:
            closed.append(id(self))

    container = InjectQ()
    container.bind_factory(Pool, Pool, scope=Scope.SINGLETON)
    pool = container.get(Pool)
    barrier = threading.Barrier(8)

    def close() -> None:
        barrier.wait(TIMEOUT)
        container.close()

    threads = [threading.Thread(target=close) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert closed == [id(pool)]


@pytest.mark.anyio
async def test_a_closed_container_is_like_a_fresh_one_and_can_be_closed_again() -> None:
    """After a close, singletons are built anew and the next close finalizes them."""
    log: list[str] = []
    container = InjectQ()
    container.bind_factory(Engine, _slow_teardown("engine", log), scope=Scope.SINGLETON)
    first = await container.aget(Engine)
    await container.aclose()
    second = await container.aget(Engine)
    await container.aclose()
    assert first == second == "engine"
    assert log.count("engine teardown ends") == 2


@pytest.mark.anyio
async def test_an_instance_built_in_a_scope_left_open_across_a_close_is_finalized() -> None:
    """A tenant entered while the container closes: what it builds after the close is finalized when it is left."""
    container = InjectQ()
    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind(Cfg, scope="tenant")
    async with container.scope("tenant", "acme") as scope:
        first = await scope.aget(Cfg)
        await container.aclose()  # a shutdown while a request is in flight
        assert first.closed == 1
        second = await scope.aget(Cfg)
        assert second is not first  # the finalized one is never handed out again
    assert second.closed == 1
    await container.aclose()
    assert (first.closed, second.closed) == (1, 1)


@pytest.mark.anyio
async def test_a_singleton_whose_build_is_in_flight_is_awaited_and_finalized_by_aclose() -> None:
    """aclose() waits for an async singleton being built, then finalizes it; the container then builds anew."""
    started = anyio.Event()
    release = anyio.Event()
    log: list[str] = []

    async def make() -> AsyncIterator[Engine]:
        started.set()
        await release.wait()
        engine = Engine()
        yield engine
        log.append("engine finalized")

    container = InjectQ()
    container.bind_factory(Engine, make, scope=Scope.SINGLETON)
    built: list[Engine] = []

    async def build() -> None:
        built.append(await container.aget(Engine))

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(build)
            await started.wait()
            group.start_soon(container.aclose)
            await anyio.wait_all_tasks_blocked()
            assert log == []  # the close waits for the build
            release.set()
    assert log == ["engine finalized"]
    release = anyio.Event()
    release.set()
    with anyio.fail_after(TIMEOUT):
        fresh = await container.aget(Engine)
    assert fresh is not built[0]
    await container.aclose()
    assert log == ["engine finalized", "engine finalized"]


@pytest.mark.anyio
async def test_an_app_lifespan_can_run_several_times_with_one_container() -> None:
    """``async with container:`` twice in a row: each round builds and finalizes its own singletons."""
    log: list[str] = []
    container = InjectQ()
    container.bind_factory(Session, _slow_teardown("session", log), scope=Scope.SINGLETON)
    for _ in range(2):
        async with container:
            await container.aget(Session)
    assert log.count("session teardown ends") == 2
