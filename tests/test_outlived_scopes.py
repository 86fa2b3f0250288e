"""Work that outlives its scope, and scopes left from the wrong task or thread."""

from __future__ import annotations

import contextvars
import threading

import anyio
import pytest

from injectq import InjectQ, Scope, ScopeError, ScopeManager, TenantScopeManager

TIMEOUT = 5


class Conn:
    """Opened when built, closed by the container."""

    opened = 0

    def __init__(self) -> None:
        Conn.opened += 1
        self.closed = False

    def close(self) -> None:
        self.closed = True


class TenantConn:
    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Settings:
    """A singleton: outlives every scope."""


@pytest.fixture
def container() -> InjectQ:
    container = InjectQ()
    container.bind(Conn, scope=Scope.SCOPED)
    container.bind(Settings)
    return container


@pytest.mark.anyio
async def test_a_job_started_through_an_outer_task_group_gets_a_scope_error_and_builds_nothing(
    container: InjectQ,
) -> None:
    """A background job that resolves a request-scoped service after its request ended is refused."""
    left = anyio.Event()
    seen: list[BaseException] = []
    Conn.opened = 0

    async def background_job() -> None:
        await left.wait()
        try:
            container.get(Conn)
        except ScopeError as exc:
            seen.append(exc)
        try:
            await container.aget(Conn)
        except ScopeError as exc:
            seen.append(exc)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as outer:
            async with container.scope():
                outer.start_soon(background_job)
            left.set()
    assert len(seen) == 2
    assert "the request scope ('scoped') has ended" in str(seen[0])
    assert "scope.start_soon" in str(seen[0])
    assert Conn.opened == 0  # nothing was built for the ended scope
    await container.aclose()


@pytest.mark.anyio
async def test_singletons_stay_available_to_work_that_outlived_its_scope(
    container: InjectQ,
) -> None:
    """Only what lives in the ended scope is refused: a singleton outlives it."""
    settings = container.get(Settings)
    context: list[contextvars.Context] = []
    async with container.scope():
        context.append(contextvars.copy_context())
    assert context[0].run(container.get, Settings) is settings


def test_a_copied_context_of_a_left_scope_is_refused(container: InjectQ) -> None:
    """A context copied inside a scope, run after the scope ended, cannot resolve its services."""
    with container.scope() as scope:
        inside = scope.get(Conn)
        copied = contextvars.copy_context()
    assert inside.closed
    with pytest.raises(ScopeError, match="has ended"):
        copied.run(container.get, Conn)


def test_a_transient_with_teardown_built_for_an_ended_scope_is_finalized_at_once() -> None:
    """A transient whose teardown would belong to an ended scope is refused, and closed, not leaked."""
    built: list[Conn] = []

    def make() -> Conn:
        conn = Conn()
        built.append(conn)
        return conn

    container = InjectQ()
    container.bind_factory(Conn, make)
    with container.scope():
        copied = contextvars.copy_context()
    with pytest.raises(ScopeError, match="has ended"):
        copied.run(container.get, Conn)
    assert [conn.closed for conn in built] == [True]


def test_a_kept_handle_says_the_scope_has_ended_and_how_to_keep_work_inside(
    container: InjectQ,
) -> None:
    """A scope handle used after its block is a ScopeError naming the fix."""
    with container.scope() as scope:
        pass
    with pytest.raises(ScopeError, match="after it has been left") as info:
        scope.get(Conn)
    assert "start_soon" in str(info.value)


@pytest.mark.anyio
async def test_a_job_that_outlived_an_evicted_tenant_never_gets_its_finalized_instance() -> None:
    """After a tenant was evicted and finalized, a job still in its context is refused, not handed the closed instance."""
    container = InjectQ()
    container.register_scope_manager("tenant", TenantScopeManager(max_tenants=1))
    container.bind(TenantConn, scope="tenant")
    left = anyio.Event()
    got: list[object] = []

    async def background_job() -> None:
        await left.wait()
        try:
            got.append(container.get(TenantConn))
        except ScopeError as exc:
            got.append(exc)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as outer:
            async with container.scope("tenant", "a") as scope:
                first = scope.get(TenantConn)
                outer.start_soon(background_job)
            async with container.scope("tenant", "b") as scope:  # evicts tenant a
                scope.get(TenantConn)
            left.set()
    assert first.closed
    [outcome] = got
    assert isinstance(outcome, ScopeError)
    assert "the 'tenant' scope 'a' has ended" in str(outcome)
    await container.aclose()


class Vault:
    """Where a hand-written manager keeps its storages: a __slots__ object, deeply nested."""

    __slots__ = ("shelves",)

    def __init__(self) -> None:
        self.shelves: dict[object, list[object]] = {}

    def put(self, scope_id: object) -> None:
        shelf: list[object] = [{}]
        for _ in range(8):
            shelf = [shelf]
        self.shelves[scope_id] = shelf

    def storage(self, scope_id: object) -> object:
        shelf: object = self.shelves[scope_id]
        while isinstance(shelf, list):
            shelf = shelf[0]  # type: ignore[misc]
        return shelf


class KeepsEverything(ScopeManager):
    """A hand-written manager that keeps every scope, nested deep in a __slots__ object."""

    def __init__(self) -> None:
        super().__init__()
        self.vault = Vault()

    def enter_scope(self, scope_id: object = None) -> None:
        if scope_id not in self.vault.shelves:
            self.vault.put(scope_id)
        self._current_scope = scope_id

    def get_current_scope(self) -> object:
        return self.vault.storage(self._current_scope)


@pytest.mark.anyio
async def test_a_scope_a_manager_keeps_deep_in_a_slots_object_is_not_finalized_while_kept() -> None:
    """A storage the manager still holds, however deep, is not ended: the next entry gets the same live instance."""
    container = InjectQ()
    container.register_scope_manager("batch", KeepsEverything())
    container.bind(Conn, scope="batch")
    async with container.scope("batch", "b1") as scope:
        first = scope.get(Conn)
    assert not first.closed
    async with container.scope("batch", "b1") as scope:
        assert scope.get(Conn) is first
    await container.aclose()
    assert first.closed


@pytest.mark.anyio
async def test_a_manager_that_still_holds_a_finalized_storage_hands_out_a_new_instance() -> None:
    """After the container finalized a scope the manager still holds, the next entry builds anew."""
    container = InjectQ()
    container.register_scope_manager("batch", KeepsEverything())
    container.bind(Conn, scope="batch")
    async with container.scope("batch", "b1") as scope:
        first = scope.get(Conn)
    await container.aclose()
    assert first.closed
    async with container.scope("batch", "b1") as scope:
        again = scope.get(Conn)
    assert again is not first
    assert not again.closed
    await container.aclose()
    assert again.closed


def test_leaving_a_scope_from_another_thread_is_refused_and_the_container_stays_intact(
    container: InjectQ,
) -> None:
    """``__exit__`` called from another thread is a ScopeError; the scope then leaves normally."""
    handle = container.scope()
    handle.__enter__()
    conn = handle.get(Conn)
    errors: list[BaseException] = []

    def leave_elsewhere() -> None:
        try:
            handle.__exit__(None, None, None)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=leave_elsewhere)
    thread.start()
    thread.join(TIMEOUT)
    [error] = errors
    assert isinstance(error, ScopeError)
    assert "left from another task or thread" in str(error)
    assert handle.get(Conn) is conn  # still active, still the same instance
    handle.__exit__(None, None, None)
    assert conn.closed
    with pytest.raises(ScopeError, match="no 'scoped' scope is active"):
        container.get(Conn)  # outside any scope again: the container is intact


@pytest.mark.anyio
async def test_leaving_a_scope_from_another_task_is_refused_and_the_container_stays_intact(
    container: InjectQ,
) -> None:
    """``__aexit__`` awaited by another task is a ScopeError; the owner then leaves it normally."""
    handle = container.scope()
    await handle.__aenter__()
    conn = await handle.aget(Conn)
    errors: list[BaseException] = []

    async def leave_elsewhere() -> None:
        try:
            await handle.__aexit__(None, None, None)
        except BaseException as exc:
            errors.append(exc)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(leave_elsewhere)
    [error] = errors
    assert isinstance(error, ScopeError)
    assert not conn.closed
    await handle.__aexit__(None, None, None)
    assert conn.closed
    with pytest.raises(ScopeError, match="no 'scoped' scope is active"):
        container.get(Conn)
