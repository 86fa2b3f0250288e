"""The ready managers (session, tenant, workflow) give the same results in every mode.

Each scenario below is one async function written against a small ``Driver``
and run four ways: entering scopes with ``async with`` on asyncio, the same on
trio, and entering them with plain ``with`` in worker threads, coordinated from
an asyncio or a trio loop.  Time never passes by itself: every manager gets a ``FakeClock``
that the scenario moves by hand.  Waits are bounded by ``anyio.fail_after``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest
from anyio.abc import TaskStatus

from injectq import (
    InjectQ,
    ScopeError,
    ScopeHandle,
    ScopeMetrics,
    SessionScopeManager,
    TenantScopeManager,
    WorkflowScopeManager,
)

MODES = ["asyncio", "trio", "threads-asyncio", "threads-trio"]


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Driver:
    """Enters scopes the way one mode does: ``async with`` on a backend, or ``with`` in worker threads."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.threads = mode.startswith("threads-")

    async def use(
        self,
        container: InjectQ,
        name: str,
        scope_id: str,
        body: Callable[[ScopeHandle], Any] = lambda scope: None,
    ) -> Any:
        """Enter the scope once, run ``body`` inside, leave; return what ``body`` returned."""
        if self.threads:

            def entry() -> Any:
                with container.scope(name, scope_id) as scope:
                    return body(scope)

            return await anyio.to_thread.run_sync(entry)
        async with container.scope(name, scope_id) as scope:
            return body(scope)

    async def get(self, container: InjectQ, name: str, scope_id: str, key: Any) -> Any:
        """One entry that resolves ``key``."""
        return await self.use(container, name, scope_id, lambda scope: scope.get(key))

    @contextlib.asynccontextmanager
    async def held(
        self, container: InjectQ, name: str, scope_id: str
    ) -> AsyncIterator[ScopeHandle]:
        """Keep the scope entered by another task (or thread) for the length of the block."""
        if self.threads:
            release = threading.Event()
            entered = anyio.Event()
            handles: list[ScopeHandle] = []

            def entry() -> None:
                with container.scope(name, scope_id) as scope:
                    handles.append(scope)
                    anyio.from_thread.run_sync(entered.set)
                    release.wait(10)

            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, entry)
                try:
                    await entered.wait()
                    yield handles[0]
                finally:
                    release.set()
            return
        release_async = anyio.Event()

        async def hold(*, task_status: TaskStatus[ScopeHandle]) -> None:
            async with container.scope(name, scope_id) as scope:
                task_status.started(scope)
                await release_async.wait()

        async with anyio.create_task_group() as tg:
            handle = await tg.start(hold)
            try:
                yield handle
            finally:
                release_async.set()

    async def finalize_ended(self, container: InjectQ) -> None:
        if self.threads:
            await anyio.to_thread.run_sync(container.finalize_ended)
        else:
            await container.afinalize_ended()

    async def close(self, container: InjectQ) -> None:
        if self.threads:
            await anyio.to_thread.run_sync(container.close)
        else:
            await container.aclose()


Scenario = Callable[[Driver], Awaitable[None]]


def run_in_mode(mode: str, scenario: Scenario) -> None:
    """Run ``scenario`` on asyncio or trio, entering scopes in tasks or (``threads-…``) in worker threads."""

    async def main() -> None:
        with anyio.fail_after(10):
            await scenario(Driver(mode))

    anyio.run(main, backend=mode.removeprefix("threads-"))


def in_every_mode(scenario: Scenario) -> Callable[[str], None]:
    """Turn a scenario into a test parametrised over every mode."""

    def test(mode: str) -> None:
        run_in_mode(mode, scenario)

    test.__name__ = scenario.__name__
    test.__doc__ = scenario.__doc__
    return pytest.mark.parametrize("mode", MODES)(test)


# -- services -----------------------------------------------------------------------------


class Finalizable:
    """Counts how many times the container finalized it."""

    def __init__(self) -> None:
        self.finalized = 0

    def close(self) -> None:
        self.finalized += 1


class Cart(Finalizable):
    """Per session."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []


class TenantConfig(Finalizable):
    """Per tenant, built from the tenant id."""

    def __init__(self, tenant_id: str) -> None:
        super().__init__()
        self.tenant_id = tenant_id


class WorkflowContext(Finalizable):
    """Per workflow: data that the steps pass along."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__()
        self.workflow_id = workflow_id
        self.data: dict[str, Any] = {}


def session_setup(timeout: float = 10.0) -> tuple[InjectQ, SessionScopeManager, FakeClock]:
    clock = FakeClock()
    manager = SessionScopeManager(timeout=timeout, clock=clock)
    container = InjectQ()
    container.register_scope_manager("session", manager)
    container.bind(Cart, scope="session")
    return container, manager, clock


def tenant_setup(max_tenants: int) -> tuple[InjectQ, TenantScopeManager, FakeClock]:
    clock = FakeClock()
    manager = TenantScopeManager(max_tenants=max_tenants, clock=clock)
    container = InjectQ()
    container.register_scope_manager("tenant", manager)
    container.bind(TenantConfig, scope="tenant")
    return container, manager, clock


def workflow_setup() -> tuple[InjectQ, WorkflowScopeManager, FakeClock]:
    clock = FakeClock()
    manager = WorkflowScopeManager(clock=clock)
    container = InjectQ()
    container.register_scope_manager("workflow", manager)
    container.bind(WorkflowContext, scope="workflow")
    return container, manager, clock


# -- sessions ----------------------------------------------------------------------------------


@in_every_mode
async def test_session_keeps_its_instances_until_timeout_after_its_last_use(d: Driver) -> None:
    """A session survives as long as it is used more often than every `timeout` seconds, then expires."""
    container, manager, clock = session_setup(timeout=10)
    cart = await d.get(container, "session", "alice", Cart)
    for _ in range(3):  # 27 s in all, never more than 9 s between uses
        clock.advance(9)
        assert await d.get(container, "session", "alice", Cart) is cart
    clock.advance(11)
    await d.use(container, "session", "bob")  # notices that alice expired
    assert cart.finalized == 1
    assert "alice" not in manager
    fresh = await d.get(container, "session", "alice", Cart)
    assert fresh is not cart
    assert manager.metrics == ScopeMetrics(alive=2, created=3, cleaned_up=1)


@in_every_mode
async def test_session_expiry_counts_from_the_end_of_its_last_entry(d: Driver) -> None:
    """The idle time of a session starts when its last entry is left, not when it was entered."""
    container, _, clock = session_setup(timeout=10)
    async with d.held(container, "session", "alice") as held:
        cart = held.get(Cart)
        clock.advance(50)
    clock.advance(5)
    await d.use(container, "session", "bob")
    assert cart.finalized == 0
    assert await d.get(container, "session", "alice", Cart) is cart


@in_every_mode
async def test_session_never_expires_while_it_is_entered(d: Driver) -> None:
    """However long an entry lasts, its session is neither expired nor finalized under it."""
    container, manager, clock = session_setup(timeout=10)
    async with d.held(container, "session", "alice") as held:
        cart = held.get(Cart)
        clock.advance(100)
        await d.use(container, "session", "bob")  # sweeps expired sessions
        assert manager.sweep() == 0
        await d.finalize_ended(container)
        assert cart.finalized == 0
        assert "alice" in manager
        assert held.get(Cart) is cart
    clock.advance(10)
    await d.use(container, "session", "carol")
    assert cart.finalized == 1
    assert manager.metrics == ScopeMetrics(alive=1, created=3, cleaned_up=2)


@in_every_mode
async def test_concurrent_entries_of_one_session_share_one_instance(d: Driver) -> None:
    """Ten entries of the same session open at the same time all get the same cart, and it is created once."""
    container, manager, _ = session_setup()
    async with contextlib.AsyncExitStack() as stack:
        handles = [
            await stack.enter_async_context(d.held(container, "session", "alice"))
            for _ in range(10)
        ]
        carts = {id(handle.get(Cart)) for handle in handles}
    assert len(carts) == 1
    assert manager.metrics == ScopeMetrics(alive=1, created=1, cleaned_up=0)


@in_every_mode
async def test_sweep_ends_expired_sessions_and_finalize_ended_finalizes_them(d: Driver) -> None:
    """sweep() ends idle sessions without any entry; the container finalizes them on finalize_ended()."""
    container, manager, clock = session_setup(timeout=10)
    carts = [await d.get(container, "session", name, Cart) for name in ("a", "b", "c")]
    clock.advance(5)
    kept = await d.get(container, "session", "c", Cart)
    clock.advance(6)
    assert manager.sweep() == 2
    assert [cart.finalized for cart in carts] == [0, 0, 0]  # ended, not yet finalized
    await d.finalize_ended(container)
    await d.finalize_ended(container)
    assert [cart.finalized for cart in carts] == [1, 1, 0]
    assert kept is carts[2]
    assert manager.metrics == ScopeMetrics(alive=1, created=3, cleaned_up=2)


@in_every_mode
async def test_a_session_entered_again_after_expiry_keeps_its_new_instance_alive(d: Driver) -> None:
    """An expired session id entered again before the old one was finalized starts afresh, and the fresh instance lives on."""
    container, manager, clock = session_setup(timeout=10)
    old = await d.get(container, "session", "alice", Cart)
    clock.advance(11)
    assert manager.sweep() == 1  # ended; finalized at the next exit or finalize_ended()
    new = await d.get(container, "session", "alice", Cart)
    assert new is not old
    assert "alice" in manager
    assert (old.finalized, new.finalized) == (1, 0)
    assert await d.get(container, "session", "alice", Cart) is new
    assert new.finalized == 0


# -- tenants ------------------------------------------------------------------------------------


@in_every_mode
async def test_tenants_beyond_the_limit_evict_the_least_recently_entered(d: Driver) -> None:
    """With room for two tenants, entering a third evicts the one entered longest ago; re-entering counts as use."""
    container, manager, clock = tenant_setup(max_tenants=2)
    config_a = await d.get(container, "tenant", "a", TenantConfig)
    clock.advance(1)
    config_b = await d.get(container, "tenant", "b", TenantConfig)
    clock.advance(1)
    await d.use(container, "tenant", "a")  # only entered: still a use
    clock.advance(1)
    config_c = await d.get(container, "tenant", "c", TenantConfig)
    assert config_b.finalized == 1  # by the end of the entry that evicted it
    assert (config_a.finalized, config_c.finalized) == (0, 0)
    assert ("a" in manager, "b" in manager, "c" in manager) == (True, False, True)
    assert await d.get(container, "tenant", "a", TenantConfig) is config_a
    assert manager.metrics == ScopeMetrics(alive=2, created=3, cleaned_up=1)


@in_every_mode
async def test_an_entered_tenant_is_never_evicted(d: Driver) -> None:
    """A tenant held open survives any number of newer tenants; the limit gives way to it."""
    container, manager, clock = tenant_setup(max_tenants=1)
    async with d.held(container, "tenant", "a") as held:
        config_a = held.get(TenantConfig)
        clock.advance(1)
        others = [await d.get(container, "tenant", name, TenantConfig) for name in ("b", "c", "d")]
        assert [config.finalized for config in others] == [1, 1, 1]
        assert config_a.finalized == 0
        assert held.get(TenantConfig) is config_a
    assert "a" in manager
    assert manager.metrics == ScopeMetrics(alive=1, created=4, cleaned_up=3)


@in_every_mode
async def test_the_tenant_limit_is_exceeded_until_an_entered_tenant_is_released(d: Driver) -> None:
    """Two tenants held at once with room for one both stay; when one is released the count drops to the limit."""
    container, manager, clock = tenant_setup(max_tenants=1)
    async with d.held(container, "tenant", "a") as held_a:
        config_a = held_a.get(TenantConfig)
        clock.advance(1)
        async with d.held(container, "tenant", "b") as held_b:
            config_b = held_b.get(TenantConfig)
            assert manager.metrics.alive == 2
            assert (config_a.finalized, config_b.finalized) == (0, 0)
        clock.advance(1)
        assert manager.metrics.alive == 1
        assert (config_a.finalized, config_b.finalized) == (0, 1)
    assert manager.metrics == ScopeMetrics(alive=1, created=2, cleaned_up=1)


@in_every_mode
async def test_a_tenant_entered_again_right_after_its_eviction_keeps_its_new_instance_alive(
    d: Driver,
) -> None:
    """A tenant evicted by one entry and re-entered before that entry ends gets a new config that is not finalized."""
    container, manager, clock = tenant_setup(max_tenants=2)
    old_a = await d.get(container, "tenant", "a", TenantConfig)
    clock.advance(1)
    await d.use(container, "tenant", "b")
    clock.advance(1)
    async with d.held(container, "tenant", "c"):  # evicts a, the least recently used
        clock.advance(1)
        new_a = await d.get(container, "tenant", "a", TenantConfig)  # a is back, b goes
    assert new_a is not old_a
    assert "a" in manager
    assert (old_a.finalized, new_a.finalized) == (1, 0)
    assert await d.get(container, "tenant", "a", TenantConfig) is new_a
    assert new_a.finalized == 0


@in_every_mode
async def test_each_tenant_gets_a_config_built_for_its_own_id(d: Driver) -> None:
    """Tenants never share instances, and each instance carries its own tenant's id."""
    container, manager, _ = tenant_setup(max_tenants=10)
    configs = {
        name: await d.get(container, "tenant", name, TenantConfig) for name in ("acme", "globex")
    }
    assert {name: config.tenant_id for name, config in configs.items()} == {
        "acme": "acme",
        "globex": "globex",
    }
    assert configs["acme"] is not configs["globex"]
    assert manager.get_tenant_services("acme") == {TenantConfig: configs["acme"]}


# -- workflows ----------------------------------------------------------------------------------


@in_every_mode
async def test_workflow_context_persists_across_entries_of_the_same_workflow(d: Driver) -> None:
    """Steps of one workflow share its context; another workflow has its own."""
    container, manager, _ = workflow_setup()

    def first_step(scope: ScopeHandle) -> WorkflowContext:
        context = scope.get(WorkflowContext)
        context.data["order"] = 42
        return context

    context = await d.use(container, "workflow", "wf-1", first_step)
    again = await d.get(container, "workflow", "wf-1", WorkflowContext)
    other = await d.get(container, "workflow", "wf-2", WorkflowContext)
    assert again is context
    assert again.data == {"order": 42}
    assert (other.workflow_id, other.data) == ("wf-2", {})
    assert manager.status("wf-1") == "running"
    assert context.finalized == 0


@in_every_mode
async def test_every_entry_of_a_workflow_is_recorded_as_a_step(d: Driver) -> None:
    """Three entries leave three step records, each with its start and finish times."""
    container, manager, clock = workflow_setup()
    for _ in range(3):
        clock.advance(1)
        await d.use(container, "workflow", "wf-1")
    steps = manager.workflow("wf-1").steps
    assert len(steps) == 3
    assert all(step["finished"] is not None for step in steps)
    assert [step["started"] for step in steps] == [1001.0, 1002.0, 1003.0]


@in_every_mode
async def test_record_step_notes_named_results_in_the_current_workflow(d: Driver) -> None:
    """record_step() inside an entry adds a named result to that workflow, and to no other."""
    container, manager, _ = workflow_setup()

    def step(name: str, result: Any) -> Callable[[ScopeHandle], None]:
        return lambda scope: manager.record_step(name, result)

    await d.use(container, "workflow", "wf-1", step("fetch", {"rows": 3}))
    await d.use(container, "workflow", "wf-2", step("other", None))
    await d.use(container, "workflow", "wf-1", step("store", "ok"))
    named = [(s["name"], s["result"]) for s in manager.workflow("wf-1").steps if "name" in s]
    assert named == [("fetch", {"rows": 3}), ("store", "ok")]
    with pytest.raises(ScopeError, match="record_step"):
        manager.record_step("stray", None)


@in_every_mode
async def test_completing_a_workflow_inside_its_last_step_finalizes_its_context_by_the_end_of_it(
    d: Driver,
) -> None:
    """complete() marks the workflow completed and its context is finalized once that entry is left."""
    container, manager, clock = workflow_setup()
    context = await d.get(container, "workflow", "wf-1", WorkflowContext)

    def last_step(scope: ScopeHandle) -> int:
        clock.advance(3)
        manager.complete("wf-1")
        assert scope.get(WorkflowContext) is context
        return context.finalized

    assert await d.use(container, "workflow", "wf-1", last_step) == 0
    record = manager.workflow("wf-1")
    assert (record.status, record.ended, record.error) == ("completed", 1003.0, None)
    assert context.finalized == 1
    assert manager.metrics == ScopeMetrics(alive=0, created=1, cleaned_up=1)


@in_every_mode
async def test_failing_a_workflow_from_outside_finalizes_it_on_finalize_ended(d: Driver) -> None:
    """fail() outside any entry marks the workflow failed with the error; finalize_ended() finalizes its context."""
    container, manager, _ = workflow_setup()
    context = await d.get(container, "workflow", "wf-1", WorkflowContext)
    manager.fail("wf-1", ValueError("disk full"))
    assert (manager.status("wf-1"), manager.workflow("wf-1").error) == ("failed", "disk full")
    await d.finalize_ended(container)
    assert context.finalized == 1


@in_every_mode
async def test_a_workflow_completed_while_another_step_runs_waits_for_that_step(d: Driver) -> None:
    """Completing a workflow that is entered elsewhere finalizes its context only when that step is left."""
    container, manager, _ = workflow_setup()
    async with d.held(container, "workflow", "wf-1") as held:
        context = held.get(WorkflowContext)
        manager.complete("wf-1")
        await d.finalize_ended(container)
        assert context.finalized == 0
        assert held.get(WorkflowContext) is context
    assert context.finalized == 1
    assert manager.status("wf-1") == "completed"


# -- explicit cleanup -----------------------------------------------------------------------------


@in_every_mode
async def test_end_scope_and_cleanup_end_a_session_that_finalize_ended_then_finalizes(
    d: Driver,
) -> None:
    """end_scope(id) and its alias cleanup(id) end an idle session; finalize_ended() finalizes it exactly once."""
    container, manager, _ = session_setup()
    first = await d.get(container, "session", "a", Cart)
    second = await d.get(container, "session", "b", Cart)
    manager.end_scope("a")
    manager.cleanup("b")
    manager.end_scope("never-entered")
    assert (first.finalized, second.finalized) == (0, 0)
    await d.finalize_ended(container)
    assert (first.finalized, second.finalized) == (1, 1)
    assert manager.metrics == ScopeMetrics(alive=0, created=2, cleaned_up=2)
    await d.close(container)
    assert (first.finalized, second.finalized) == (1, 1)


@in_every_mode
async def test_end_scope_on_an_entered_tenant_finalizes_it_when_the_entry_is_left(
    d: Driver,
) -> None:
    """Ending a tenant that is entered keeps it usable until its entry is left, then finalizes it."""
    container, manager, _ = tenant_setup(max_tenants=10)
    async with d.held(container, "tenant", "acme") as held:
        config = held.get(TenantConfig)
        manager.end_scope("acme")
        await d.finalize_ended(container)
        assert config.finalized == 0
        assert held.get(TenantConfig) is config
    assert config.finalized == 1
    assert "acme" not in manager


@in_every_mode
async def test_clear_ends_every_scope_and_entered_ones_when_left(d: Driver) -> None:
    """clear() ends all sessions: idle ones at finalize_ended(), an entered one when its entry ends."""
    container, manager, _ = session_setup()
    idle = [await d.get(container, "session", name, Cart) for name in ("a", "b")]
    async with d.held(container, "session", "c") as held:
        busy = held.get(Cart)
        manager.clear()
        await d.finalize_ended(container)
        assert [cart.finalized for cart in idle] == [1, 1]
        assert busy.finalized == 0
    assert busy.finalized == 1
    assert manager.metrics == ScopeMetrics(alive=0, created=3, cleaned_up=3)


@in_every_mode
async def test_closing_the_container_finalizes_every_custom_scope_instance_once(d: Driver) -> None:
    """Close finalizes alive sessions, tenants and workflows, and ended-but-unfinalized ones, each exactly once."""
    container, sessions, _ = session_setup()
    tenants = TenantScopeManager(max_tenants=10)
    workflows = WorkflowScopeManager()
    container.register_scope_manager("tenant", tenants)
    container.register_scope_manager("workflow", workflows)
    container.bind(TenantConfig, scope="tenant")
    container.bind(WorkflowContext, scope="workflow")
    built = [
        await d.get(container, "session", "s1", Cart),
        await d.get(container, "session", "s2", Cart),
        await d.get(container, "tenant", "t1", TenantConfig),
        await d.get(container, "workflow", "w1", WorkflowContext),
    ]
    sessions.end_scope("s2")  # ended, not yet finalized
    assert [item.finalized for item in built] == [0, 0, 0, 0]
    await d.close(container)
    assert [item.finalized for item in built] == [1, 1, 1, 1]
    await d.finalize_ended(container)
    assert [item.finalized for item in built] == [1, 1, 1, 1]


# -- cancellation (async only: `with` in a thread is never cancelled) -----------------------------


class AsyncLedger:
    """A tenant resource whose teardown must be awaited."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()  # teardown that really awaits, under a cancelled caller
        self.log.append("ledger closed")


@pytest.mark.anyio
async def test_async_teardown_of_an_ended_tenant_runs_fully_when_its_entry_is_cancelled() -> None:
    """A tenant ended during an entry that is then cancelled still gets its async teardown, once and to the end."""
    log: list[str] = []
    manager = TenantScopeManager(max_tenants=10, clock=FakeClock())
    container = InjectQ()
    container.register_scope_manager("tenant", manager)

    async def open_connection(tenant_id: str) -> AsyncIterator[str]:
        yield f"conn:{tenant_id}"
        await anyio.lowlevel.checkpoint()
        log.append(f"conn:{tenant_id} closed")

    container.bind_factory("connection", open_connection, scope="tenant")
    container.bind_factory(AsyncLedger, lambda: AsyncLedger(log), scope="tenant")
    inside = anyio.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def entry() -> None:
                async with container.scope("tenant", "acme") as scope:
                    assert await scope.aget("connection") == "conn:acme"
                    await scope.aget(AsyncLedger)
                    manager.end_scope("acme")
                    inside.set()
                    await anyio.Event().wait()  # until cancelled

            tg.start_soon(entry)
            await inside.wait()
            tg.cancel_scope.cancel()
    assert log == ["ledger closed", "conn:acme closed"]
    await container.aclose()
    assert log == ["ledger closed", "conn:acme closed"]


@pytest.mark.anyio
async def test_a_workflow_failed_on_cancellation_is_finalized_with_async_teardown() -> None:
    """A step that marks its workflow failed when cancelled leaves it failed and its context torn down."""
    log: list[str] = []
    manager = WorkflowScopeManager(clock=FakeClock())
    container = InjectQ()
    container.register_scope_manager("workflow", manager)

    async def context(workflow_id: str) -> AsyncIterator[dict[str, str]]:
        yield {"id": workflow_id}
        await anyio.lowlevel.checkpoint()
        log.append(f"{workflow_id} torn down")

    container.bind_factory("wf-context", context, scope="workflow")
    with anyio.fail_after(5):
        with anyio.CancelScope() as cancel:
            async with container.scope("workflow", "wf-9") as scope:
                await scope.aget("wf-context")
                try:
                    cancel.cancel()
                    await anyio.Event().wait()
                except anyio.get_cancelled_exc_class():
                    manager.fail("wf-9", "cancelled")
                    raise
    assert cancel.cancelled_caught
    assert (manager.status("wf-9"), manager.workflow("wf-9").error) == ("failed", "cancelled")
    assert log == ["wf-9 torn down"]


@pytest.mark.anyio
async def test_a_cancelled_entry_does_not_finalize_a_session_that_lives_on() -> None:
    """Cancelling one entry of a session leaves its instances alive for the next entry."""
    container, manager, _ = session_setup()
    with anyio.fail_after(5):
        with anyio.CancelScope() as cancel:
            async with container.scope("session", "alice") as scope:
                cart = await scope.aget(Cart)
                cancel.cancel()
                await anyio.Event().wait()
    async with container.scope("session", "alice") as scope:
        assert await scope.aget(Cart) is cart
    assert cart.finalized == 0
    assert manager.metrics == ScopeMetrics(alive=1, created=1, cleaned_up=0)
