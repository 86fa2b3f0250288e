"""Cached instances are built once per key; builds of different keys never wait for each other."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import anyio
import anyio.from_thread
import anyio.to_thread
import pytest

from injectq import CircularDependencyError, InjectQ, Scope, TenantScopeManager

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

TIMEOUT = 5


class Model:
    """A sync singleton whose build calls back into the event loop from its worker thread."""


class Unrelated:
    """Another singleton, built by the loop while Model's build is under way."""


class Client:
    """An async singleton asked for by two event loops at once."""


@pytest.mark.anyio
async def test_a_sync_build_calling_back_into_the_loop_does_not_block_an_unrelated_singleton() -> (
    None
):
    """A worker thread building one singleton and waiting for the loop does not hold up another key."""
    in_build = threading.Event()
    unrelated_built = anyio.Event()

    async def from_the_loop() -> str:
        await unrelated_built.wait()  # the loop answers once it has built Unrelated
        return "settings"

    def make_model() -> Model:
        in_build.set()
        model = Model()
        model.settings = anyio.from_thread.run(from_the_loop)  # type: ignore[attr-defined]
        return model

    container = InjectQ()
    container.bind_factory(Model, make_model, scope=Scope.SINGLETON)
    container.bind(Unrelated)
    models: list[Model] = []

    async def build_model() -> None:
        models.append(await anyio.to_thread.run_sync(container.get, Model))

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(build_model)
            await anyio.to_thread.run_sync(in_build.wait)
            unrelated = container.get(Unrelated)  # would hang behind Model's build
            unrelated_built.set()
    assert isinstance(unrelated, Unrelated)
    assert models[0].settings == "settings"  # type: ignore[attr-defined]
    assert container.get(Model) is models[0]


def test_threads_asking_for_one_sync_singleton_wait_for_its_one_build() -> None:
    """Eight threads asking at once for a slow singleton all get the one instance."""
    calls: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def make() -> Model:
        calls.append(1)
        started.set()
        release.wait(TIMEOUT)
        return Model()

    container = InjectQ()
    container.bind_factory(Model, make, scope=Scope.SINGLETON)
    got: list[Model] = []
    threads = [threading.Thread(target=lambda: got.append(container.get(Model))) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert started.wait(TIMEOUT)
    release.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert calls == [1]
    assert len(got) == 8
    assert all(model is got[0] for model in got)


def _two_loops(container: InjectQ, builder: str, waiter: str) -> list[object]:
    """Run an async-singleton build on one loop and a waiter for it on another, in two threads."""
    building = threading.Event()
    release = threading.Event()
    results: list[object] = []

    async def make_client() -> Client:
        building.set()
        await anyio.to_thread.run_sync(release.wait, TIMEOUT)
        return Client()

    container.bind_factory(Client, make_client, scope=Scope.SINGLETON)

    def run(backend: str, waits: bool) -> None:
        async def main() -> None:
            async def ask() -> None:
                results.append(await container.aget(Client))

            with anyio.fail_after(TIMEOUT):
                if not waits:
                    await ask()
                    return
                await anyio.to_thread.run_sync(building.wait)
                async with anyio.create_task_group() as group:
                    group.start_soon(ask)
                    await anyio.wait_all_tasks_blocked()  # parked on the other loop's build
                    release.set()

        try:
            anyio.run(main, backend=backend)
        except BaseException as exc:  # reported by the assertions below
            results.append(exc)

    threads = [
        threading.Thread(target=run, args=(builder, False)),
        threading.Thread(target=run, args=(waiter, True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    return results


@pytest.mark.parametrize(
    ("builder", "waiter"),
    [("asyncio", "trio"), ("trio", "asyncio"), ("asyncio", "asyncio"), ("trio", "trio")],
)
def test_one_async_singleton_asked_for_by_two_event_loops_is_built_once(
    builder: str, waiter: str
) -> None:
    """Two event loops in two threads asking at once for an async singleton both get the one instance."""
    container = InjectQ()
    results = _two_loops(container, builder, waiter)
    assert len(results) == 2
    assert all(isinstance(result, Client) for result in results), results
    assert results[0] is results[1]


class Cfg:
    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id


class NeedsA:
    def __init__(self, a: A) -> None:
        self.a = a


class A:
    """Its factory asks the container for NeedsA, which needs A: a cycle through a factory."""


def _cycle_container(scope: str, make: Callable[[InjectQ], object]) -> InjectQ:
    container = InjectQ()
    container.bind_factory(A, lambda: make(container), scope=scope)
    container.bind(NeedsA, scope=Scope.TRANSIENT)
    return container


@pytest.mark.parametrize("scope", [Scope.SINGLETON, Scope.SCOPED])
def test_a_sync_factory_asking_for_its_own_key_is_a_cycle_error(scope: Scope) -> None:
    """A sync factory that resolves something needing its own key is a CircularDependencyError, not a RecursionError."""
    container = _cycle_container(scope, lambda c: c.get(NeedsA))
    with container.scope(), pytest.raises(CircularDependencyError) as info:
        container.get(A)
    assert info.value.cycle[0] is info.value.cycle[-1] is A
    assert NeedsA in info.value.cycle
    assert "circular dependency: A -> NeedsA -> A" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("scope", [Scope.SINGLETON, Scope.SCOPED])
async def test_an_async_factory_awaiting_its_own_key_is_a_cycle_error(scope: Scope) -> None:
    """An async factory that awaits something needing its own key is a CircularDependencyError, not a hang."""
    container = InjectQ()

    async def make_a() -> A:
        await container.aget(NeedsA)
        return A()  # pragma: no cover - the cycle is found first

    container.bind_factory(A, make_a, scope=scope)
    container.bind(NeedsA, scope=Scope.TRANSIENT)
    with anyio.fail_after(TIMEOUT):
        async with container.scope():
            with pytest.raises(CircularDependencyError) as info:
                await container.aget(A)
    assert info.value.cycle[0] is info.value.cycle[-1] is A
    assert NeedsA in info.value.cycle


@pytest.mark.anyio
async def test_an_async_factory_whose_child_task_asks_for_its_own_key_is_a_cycle_error() -> None:
    """The cycle is found through a task the factory starts, too (the child inherits what is being built)."""
    container = InjectQ()

    async def make_a() -> A:
        async with anyio.create_task_group() as group:
            group.start_soon(container.aget, NeedsA)
        return A()  # pragma: no cover - the cycle is found first

    container.bind_factory(A, make_a, scope=Scope.SINGLETON)
    container.bind(NeedsA, scope=Scope.TRANSIENT)
    with anyio.fail_after(TIMEOUT), pytest.raises(BaseExceptionGroup) as info:
        await container.aget(A)
    assert info.group_contains(CircularDependencyError)


@pytest.mark.anyio
async def test_tenants_of_one_custom_scope_build_without_waiting_for_each_other() -> None:
    """A slow build in one tenant does not hold up a build in another tenant."""
    release = anyio.Event()
    slow_started = anyio.Event()

    async def make(tenant_id: str) -> Cfg:
        if tenant_id == "slow":
            slow_started.set()
            await release.wait()
        return Cfg(tenant_id)

    container = InjectQ()
    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind_factory(Cfg, make, scope="tenant")
    got: list[str] = []

    async def tenant(tenant_id: str) -> None:
        async with container.scope("tenant", tenant_id) as scope:
            got.append((await scope.aget(Cfg)).tenant_id)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(tenant, "slow")
            await slow_started.wait()
            await tenant("quick")
            assert got == ["quick"]
            release.set()
    assert got == ["quick", "slow"]
    await container.aclose()
