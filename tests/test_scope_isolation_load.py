"""Custom scopes under load: isolation with many tasks, and no growth over many sessions.

500 tasks share one container and one manager over 50 tenants (or 50
sessions).  Each task writes its scope id into its scoped services, yields to
the others, and checks that nobody else's id got in.  In the *pressure* runs
the tenant limit is small (or the session timeout short, on a fake clock the
tasks move) so scopes are evicted or expire while other tasks are still
working; every instance must then be finalized exactly once, and never while a
task can still see it.
"""

from __future__ import annotations

import gc
import tracemalloc

import anyio
import anyio.lowlevel
import pytest

from injectq import InjectQ, ScopeManager, SessionScopeManager, TenantScopeManager

TASKS = 500
SCOPES = 50
ROUNDS = 2  # entries per task in the pressure runs


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Ledger:
    """A scoped service that remembers under which scope ids it was used."""

    def __init__(self, scope_id: str) -> None:
        self.scope_id = scope_id
        self.writer: str | None = None
        self.seen: set[str] = set()
        self.finalized = 0

    def close(self) -> None:
        self.finalized += 1


class Cache:
    """A scoped service built on the ledger of the same scope."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger


def build(kind: str, pressure: bool) -> tuple[InjectQ, ScopeManager, FakeClock, list[Ledger]]:
    clock = FakeClock()
    manager: ScopeManager
    if kind == "tenant":
        manager = TenantScopeManager(max_tenants=6 if pressure else SCOPES, clock=clock)
    else:
        manager = SessionScopeManager(timeout=1.0 if pressure else 1e9, clock=clock)
    container = InjectQ()
    container.register_scope_manager(kind, manager)
    built: list[Ledger] = []

    def make_ledger(scope_id: str) -> Ledger:
        ledger = Ledger(scope_id)
        built.append(ledger)
        return ledger

    # the id arrives through the <scope name>_id parameter: tenant_id or session_id
    if kind == "tenant":

        def ledger_factory(tenant_id: str) -> Ledger:
            return make_ledger(tenant_id)

    else:

        def ledger_factory(session_id: str) -> Ledger:  # type: ignore[misc]
            return make_ledger(session_id)

    container.bind_factory(Ledger, ledger_factory, scope=kind)
    container.bind(Cache, scope=kind)
    return container, manager, clock, built


async def use_scope(container: InjectQ, kind: str, scope_id: str, clock: FakeClock) -> None:
    """One entry: resolve, write our id, let everyone else run, check nothing leaked in."""
    clock.now += 0.05  # 20 entries per fake second: idle sessions expire during the run
    async with container.scope(kind, scope_id) as scope:
        ledger = await scope.aget(Ledger)
        cache = await scope.aget(Cache)
        assert ledger.scope_id == scope_id
        assert cache.ledger is ledger
        for _ in range(3):
            ledger.seen.add(scope_id)
            ledger.writer = scope_id
            await anyio.lowlevel.checkpoint()
            assert ledger.writer == scope_id
            assert await container.aget(Ledger) is ledger
            assert ledger.finalized == 0


def check_after_run(manager: ScopeManager, built: list[Ledger], kind: str) -> None:
    assert all(ledger.seen == {ledger.scope_id} for ledger in built), (
        "an instance was seen in another scope"
    )
    metrics = manager.metrics  # type: ignore[attr-defined]
    assert metrics.created == len(built)
    assert metrics.alive == metrics.created - metrics.cleaned_up
    alive = {id(ledger) for ledger in built if manager_holds(manager, ledger)}
    assert len(alive) == metrics.alive
    for ledger in built:
        assert ledger.finalized == (0 if id(ledger) in alive else 1)


def manager_holds(manager: ScopeManager, ledger: Ledger) -> bool:
    return ledger.scope_id in manager and any(  # type: ignore[operator]
        value is ledger for value in manager._scopes[ledger.scope_id].values()
    )


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["tenant", "session"])
async def test_500_tasks_all_inside_at_once_never_see_another_scopes_instances(kind: str) -> None:
    """With 500 tasks inside 50 scopes at the same moment, each scope has one instance and it stays its own."""
    container, manager, _, built = build(kind, pressure=False)
    inside = 0
    everyone_inside = anyio.Event()

    async def worker(number: int) -> None:
        nonlocal inside
        scope_id = f"{kind}-{number % SCOPES}"
        async with container.scope(kind, scope_id) as scope:
            ledger = await scope.aget(Ledger)
            ledger.seen.add(scope_id)
            ledger.writer = scope_id
            inside += 1
            if inside == TASKS:
                everyone_inside.set()
            await everyone_inside.wait()
            assert ledger.writer == scope_id
            assert await container.aget(Ledger) is ledger
            assert (await scope.aget(Cache)).ledger is ledger

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            for number in range(TASKS):
                tg.start_soon(worker, number)
    assert len(built) == SCOPES
    check_after_run(manager, built, kind)
    await container.aclose()
    assert [ledger.finalized for ledger in built] == [1] * SCOPES


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["tenant", "session"])
async def test_500_tasks_with_eviction_or_expiry_finalize_every_ended_scope_exactly_once(
    kind: str,
) -> None:
    """Scopes evicted or expired while 500 tasks work are finalized once, never under a task still using them."""
    container, manager, clock, built = build(kind, pressure=True)
    # All 500 tasks run at once, but at most 20 are inside a scope at a time: with every
    # one of the 50 scopes entered together nothing could be evicted or expire (entered
    # scopes never are), and the point here is scopes ending while others are in use.
    doors = anyio.CapacityLimiter(20)

    async def worker(number: int) -> None:
        for round_ in range(ROUNDS):
            scope_id = f"{kind}-{(number + 7 * round_) % SCOPES}"
            async with doors:
                await use_scope(container, kind, scope_id, clock)

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            for number in range(TASKS):
                tg.start_soon(worker, number)
    metrics = manager.metrics  # type: ignore[attr-defined]
    assert metrics.cleaned_up > SCOPES, "the run was meant to end many scopes while tasks worked"
    check_after_run(manager, built, kind)
    if kind == "tenant":
        assert metrics.alive <= 6
    await container.aclose()
    assert all(ledger.finalized == 1 for ledger in built)


class Preferences:
    """A session service whose second finalization would be an error."""

    finalized_total = 0

    def close(self) -> None:
        if getattr(self, "done", False):
            raise AssertionError("finalized twice")
        self.done = True
        Preferences.finalized_total += 1


@pytest.mark.timeout(240)  # tracemalloc under coverage on a busy 2-core machine is slow
def test_30k_expired_sessions_leave_memory_flat_and_metrics_exact() -> None:
    """Opening, using and expiring 30,000 sessions does not grow memory, and the metrics count every one."""
    # Sync on purpose: `with` and `async with` run the same scope lifecycle and the same
    # manager bookkeeping (one implementation), and 100,000 async entries, each with its
    # own task group, would take far longer than the few seconds this check deserves.
    # 30,000 is plenty: a leak of even a few dozen bytes per session would show.
    clock = FakeClock()
    manager = SessionScopeManager(timeout=10, clock=clock)
    container = InjectQ()
    container.register_scope_manager("session", manager)
    container.bind(Preferences, scope="session")
    Preferences.finalized_total = 0
    warm_up, sessions = 2_000, 30_000

    def run(first: int, count: int) -> None:
        for number in range(first, first + count):
            with container.scope("session", number) as scope:
                scope.get(Preferences)
            clock.now += 11  # the next entry finds this session expired and ends it

    run(0, warm_up)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        run(warm_up, sessions)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 2 * 1024 * 1024, f"memory grew by {after - before} bytes"
    metrics = manager.metrics
    assert metrics.created == sessions + warm_up
    assert metrics.alive == 1  # the last session has not expired yet
    assert metrics.cleaned_up == metrics.created - metrics.alive
    assert Preferences.finalized_total == metrics.cleaned_up
    assert manager.sweep() == 1
    container.finalize_ended()
    assert Preferences.finalized_total == sessions + warm_up
    assert len(manager) == 0
