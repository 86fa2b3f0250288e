"""``aget(key, concurrent=True)``: independent async factories awaited side by side."""

from __future__ import annotations

import anyio
import pytest

from injectq import InjectQ, Scope

pytestmark = pytest.mark.anyio

TIMEOUT = 5


class Prices: ...


class Stock: ...


class Reviews: ...


class Dashboard:
    def __init__(self, prices: Prices, stock: Stock, reviews: Reviews) -> None:
        self.parts = (prices, stock, reviews)


class Gate:
    """Counts factories running now and holds them until released."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.running = 0
        self.most = 0
        self.calls: dict[str, int] = {}
        self.finished: list[str] = []

    def bind(self, container: InjectQ, scope: Scope = Scope.SINGLETON) -> None:
        for cls in (Prices, Stock, Reviews):

            async def factory(cls: type = cls) -> object:
                name = cls.__name__
                self.calls[name] = self.calls.get(name, 0) + 1
                self.running += 1
                self.most = max(self.most, self.running)
                try:
                    await self.release.wait()
                finally:
                    self.running -= 1
                    self.finished.append(name)
                return cls()

            container.bind_factory(cls, factory, scope=scope)
        container.bind(Dashboard, scope=Scope.SCOPED)


async def test_concurrent_aget_runs_the_independent_factories_at_the_same_time() -> None:
    """With concurrent=True every independent async factory is running before any finishes."""
    container, gate = InjectQ(), Gate()
    gate.bind(container)
    async with container.scope() as scope:
        result: list[Dashboard] = []

        async def ask() -> None:
            result.append(await scope.aget(Dashboard, concurrent=True))

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as group:
                group.start_soon(ask)
                await anyio.wait_all_tasks_blocked()
                assert gate.running == 3
                gate.release.set()
    assert gate.most == 3
    assert len(result[0].parts) == 3


async def test_by_default_async_factories_run_one_after_another() -> None:
    """Without concurrent=True the factories of a graph never overlap."""
    container, gate = InjectQ(), Gate()
    gate.bind(container)
    gate.release.set()
    async with container.scope() as scope:
        with anyio.fail_after(TIMEOUT):
            await scope.aget(Dashboard)
    assert gate.most == 1


async def test_concurrent_resolution_never_calls_a_factory_twice() -> None:
    """Many concurrent asks, each resolving concurrently, still call each factory once."""
    container, gate = InjectQ(), Gate()
    gate.bind(container, scope=Scope.SCOPED)
    async with container.scope() as scope:
        seen: list[Dashboard] = []

        async def ask() -> None:
            seen.append(await scope.aget(Dashboard, concurrent=True))

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(ask)
                await anyio.wait_all_tasks_blocked()
                gate.release.set()
    assert gate.calls == {"Prices": 1, "Stock": 1, "Reviews": 1}
    assert len({id(d) for d in seen}) == 1


async def test_a_cancelled_concurrent_resolution_leaves_no_task_and_no_half_state() -> None:
    """Cancelling mid-way stops every factory before aget returns; a later ask builds afresh."""
    container, gate = InjectQ(), Gate()
    gate.bind(container)
    async with container.scope() as scope:
        with anyio.fail_after(TIMEOUT):
            with anyio.CancelScope() as cancel:

                async def cancel_when_all_wait() -> None:
                    await anyio.wait_all_tasks_blocked()
                    cancel.cancel()

                async with anyio.create_task_group() as group:
                    group.start_soon(cancel_when_all_wait)
                    await scope.aget(Dashboard, concurrent=True)
            assert cancel.cancelled_caught
            assert gate.running == 0  # every factory task ended before aget returned
            assert sorted(gate.finished) == ["Prices", "Reviews", "Stock"]
            gate.release.set()
            dashboard = await scope.aget(Dashboard, concurrent=True)
    assert gate.calls == {"Prices": 2, "Stock": 2, "Reviews": 2}
    assert len(dashboard.parts) == 3


class PriceServiceDown(Exception):
    pass


async def test_a_failing_factory_in_a_concurrent_resolution_raises_its_own_error() -> None:
    """One factory failing comes out as its own exception; the others are cancelled."""
    container, gate = InjectQ(), Gate()
    gate.bind(container)

    async def broken() -> Prices:
        await anyio.wait_all_tasks_blocked()
        raise PriceServiceDown("prices are down")

    container.bind_factory(Prices, broken, scope=Scope.SINGLETON)
    async with container.scope() as scope:
        with anyio.fail_after(TIMEOUT), pytest.raises(PriceServiceDown):
            await scope.aget(Dashboard, concurrent=True)
    assert gate.running == 0
