"""Scopes: which instance a resolution sees, and how a scope handle may be used.

The current scope travels with the context: ``container.get``, ``@inject``
functions and the scope's own tasks all see it; nested scopes shadow outer
ones; a handle is entered once and refuses to work outside its block.  The
sync ``with`` form needs no event loop and refuses async work at build time.
"""

from collections.abc import AsyncIterator

import anyio
import pytest
from anyio.abc import TaskStatus

from injectq import InjectionError, InjectQ, Scope, ScopeError, inject


class Session:
    """A per-request service."""


class Settings:
    """An application-wide service."""


class Handler:
    """A scoped service that uses an outer (singleton) one."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings


class AsyncClient:
    """Built by an async factory."""


class AsyncOnlyResource:
    """Can only be finalized by awaiting ``aclose()``."""

    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class AsyncCloseResource:
    """Its ``close()`` is a coroutine function: finalizing it needs an await."""

    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def container() -> InjectQ:
    container = InjectQ()
    container.bind(Session, Session, scope=Scope.SCOPED)
    container.bind(Settings, Settings, scope=Scope.SINGLETON)
    container.bind(Handler, Handler, scope=Scope.SCOPED)
    return container


# -- same scope, same instance ---------------------------------------------------


def test_with_scope_works_without_an_event_loop(container: InjectQ) -> None:
    """A sync ``with`` scope gives one instance per block, with no event loop running."""
    with container.scope() as scope:
        first = container.get(Session)
        assert container.get(Session) is first
        assert scope.get(Session) is first
    with container.scope():
        assert container.get(Session) is not first


@pytest.mark.anyio
async def test_with_scope_works_inside_a_running_loop(container: InjectQ) -> None:
    """A sync ``with`` scope behaves the same when an event loop is running."""
    with container.scope() as scope:
        first = container.get(Session)
        assert await container.aget(Session) is first
        assert scope.get(Session) is first
    with container.scope():
        assert container.get(Session) is not first


@pytest.mark.anyio
async def test_async_scope_gives_one_instance_per_block(container: InjectQ) -> None:
    """Inside one ``async with`` block every way of asking gives the same instance, another block a new one."""
    async with container.scope() as scope:
        first = await container.aget(Session)
        assert container.get(Session) is first
        assert scope.get(Session) is first
        assert await scope.aget(Session) is first
    async with container.scope() as other:
        assert await other.aget(Session) is not first


@pytest.mark.anyio
async def test_scoped_services_share_the_singletons_they_use(container: InjectQ) -> None:
    """Scoped services of different scopes get their own session but the one shared singleton."""
    async with container.scope():
        first = await container.aget(Handler)
    async with container.scope():
        second = await container.aget(Handler)
    assert first is not second
    assert first.session is not second.session
    assert first.settings is second.settings


def test_scoped_service_without_a_scope_names_service_and_scope(container: InjectQ) -> None:
    """Asking for a scoped service with no scope open is a ScopeError naming it and how to open one."""
    with pytest.raises(ScopeError, match="Session") as info:
        container.get(Session)
    assert "container.scope(" in str(info.value)


# -- the scope travels with the context ------------------------------------------


def test_sync_inject_function_sees_the_current_scope(container: InjectQ) -> None:
    """An ``@inject`` function called inside a scope block receives that scope's instance."""

    @inject(container=container)
    def handle(session: Session) -> Session:
        return session

    with container.scope():
        assert handle() is container.get(Session)


@pytest.mark.anyio
async def test_async_inject_function_uses_active_container_and_current_scope(
    container: InjectQ,
) -> None:
    """An async ``@inject`` function on the active container receives the current scope's instance."""

    @inject
    async def handle(session: Session) -> Session:
        await anyio.lowlevel.checkpoint()
        return session

    with container.context():
        async with container.scope():
            mine = await container.aget(Session)
            assert await handle() is mine
        async with container.scope():
            assert await handle() is not mine


@pytest.mark.anyio
async def test_start_soon_task_sees_the_scope(container: InjectQ) -> None:
    """A task started with ``scope.start_soon`` resolves in the scope that started it."""
    seen: list[Session] = []

    async def task() -> None:
        seen.append(await container.aget(Session))

    with anyio.fail_after(5):
        async with container.scope() as scope:
            mine = container.get(Session)
            scope.start_soon(task)
    assert len(seen) == 1
    assert seen[0] is mine


@pytest.mark.anyio
async def test_start_task_sees_the_scope_and_returns_its_started_value(container: InjectQ) -> None:
    """``await scope.start(fn)`` runs ``fn`` in the scope and returns what it passed to ``started``."""

    async def task(*, task_status: TaskStatus[Session]) -> None:
        task_status.started(container.get(Session))

    with anyio.fail_after(5):
        async with container.scope() as scope:
            started = await scope.start(task)
            assert started is container.get(Session)


@pytest.mark.anyio
async def test_start_soon_from_a_nested_cancel_scope_sees_the_scope(container: InjectQ) -> None:
    """A task started from inside a nested cancel scope of the block still sees the scope."""
    seen: list[Session] = []

    async def task() -> None:
        seen.append(container.get(Session))

    with anyio.fail_after(5):
        async with container.scope() as scope:
            mine = container.get(Session)
            with anyio.CancelScope():
                scope.start_soon(task)
                await anyio.lowlevel.checkpoint()
    assert len(seen) == 1
    assert seen[0] is mine


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body_waits",
    [
        pytest.param(True, id="while_the_block_runs"),
        pytest.param(False, id="after_the_body"),
    ],
)
async def test_start_soon_from_a_scope_task_sees_the_scope(
    container: InjectQ, body_waits: bool
) -> None:
    """A scope task that starts another scope task, while the block still runs or after the block's body ended, hands the scope on."""
    seen: list[Session] = []
    done = anyio.Event()

    async def grandchild() -> None:
        seen.append(container.get(Session))
        done.set()

    with anyio.fail_after(5):
        async with container.scope() as scope:

            async def child() -> None:
                scope.start_soon(grandchild)

            mine = container.get(Session)
            scope.start_soon(child)
            if body_waits:
                await done.wait()
    assert len(seen) == 1
    assert seen[0] is mine


@pytest.mark.anyio
async def test_task_started_on_outer_scope_from_inner_block_belongs_to_outer(
    container: InjectQ,
) -> None:
    """A task started with the outer handle from inside an inner block resolves in the outer scope."""
    inner_left = anyio.Event()
    seen: list[Session] = []

    async def task() -> None:
        await inner_left.wait()
        seen.append(container.get(Session))

    with anyio.fail_after(5):
        async with container.scope() as outer:
            mine = container.get(Session)
            async with container.scope():
                outer.start_soon(task)
            # the inner scope is gone; the task lives on with the outer one
            inner_left.set()
    assert len(seen) == 1
    assert seen[0] is mine


@pytest.mark.anyio
async def test_start_on_outer_scope_from_inner_block_runs_in_the_outer_scope(
    container: InjectQ,
) -> None:
    """``await outer.start(fn)`` from inside an inner block runs ``fn`` in the outer scope."""

    async def task(*, task_status: TaskStatus[Session]) -> None:
        task_status.started(container.get(Session))

    with anyio.fail_after(5):
        async with container.scope() as outer:
            mine = container.get(Session)
            async with container.scope():
                started = await outer.start(task)
                assert container.get(Session) is not mine
            assert started is mine


# -- nesting ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_inner_scope_shadows_the_outer_one(container: InjectQ) -> None:
    """Inside a nested scope the container resolves in the inner one, and in the outer one again after it."""
    async with container.scope():
        outer_session = container.get(Session)
        async with container.scope():
            inner_session = container.get(Session)
            assert inner_session is not outer_session
            assert await container.aget(Session) is inner_session
        assert container.get(Session) is outer_session


def test_outer_handle_resolves_in_the_outer_scope_while_an_inner_one_is_active(
    container: InjectQ,
) -> None:
    """An outer handle keeps resolving in its own scope while an inner scope is current."""
    with container.scope() as outer:
        outer_session = outer.get(Session)
        with container.scope() as inner:
            assert outer.get(Session) is outer_session
            assert inner.get(Session) is not outer_session
            assert container.get(Session) is inner.get(Session)


# -- a handle is entered once, and only works inside its block -----------------------


def test_handle_used_before_it_is_entered_says_so(container: InjectQ) -> None:
    """A handle asked for a service before it is entered is a ScopeError saying so."""
    handle = container.scope()
    with pytest.raises(ScopeError, match="before it is entered"):
        handle.get(Session)


@pytest.mark.anyio
async def test_async_handle_used_before_it_is_entered_says_so(container: InjectQ) -> None:
    """``aget`` and ``start_soon`` on a handle not yet entered are ScopeErrors saying so."""
    handle = container.scope()
    with pytest.raises(ScopeError, match="before it is entered"):
        await handle.aget(Session)
    with pytest.raises(ScopeError, match="before it is entered"):
        handle.start_soon(anyio.lowlevel.checkpoint)


def test_handle_used_after_it_has_been_left_says_so(container: InjectQ) -> None:
    """A handle used after its block ended is a ScopeError saying so."""
    with container.scope() as handle:
        handle.get(Session)
    with pytest.raises(ScopeError, match="after it has been left"):
        handle.get(Session)


@pytest.mark.anyio
async def test_async_handle_used_after_it_has_been_left_says_so(container: InjectQ) -> None:
    """``aget``, ``start_soon`` and ``start`` after the block ended are ScopeErrors saying so."""

    async def task(*, task_status: TaskStatus[None]) -> None:
        task_status.started()

    async with container.scope() as handle:
        await handle.aget(Session)
    with pytest.raises(ScopeError, match="after it has been left"):
        await handle.aget(Session)
    with pytest.raises(ScopeError, match="after it has been left"):
        handle.start_soon(anyio.lowlevel.checkpoint)
    with pytest.raises(ScopeError, match="after it has been left"):
        await handle.start(task)


def test_entering_a_handle_twice_is_a_scope_error(container: InjectQ) -> None:
    """A handle cannot be entered again, neither while it is active nor after it was left."""
    handle = container.scope()
    with handle:
        with pytest.raises(ScopeError, match="entered once"):
            handle.__enter__()
        # the failed second entry did not disturb the active scope
        assert container.get(Session) is handle.get(Session)
    with pytest.raises(ScopeError, match="entered once"), handle:
        pass  # pragma: no cover - never reached


@pytest.mark.anyio
async def test_entering_an_async_handle_twice_is_a_scope_error(container: InjectQ) -> None:
    """Entering an active or left handle again with ``async with`` raises ScopeError itself."""
    handle = container.scope()
    async with handle:
        with pytest.raises(ScopeError, match="entered once"):
            async with handle:
                pass  # pragma: no cover - never reached
        assert container.get(Session) is handle.get(Session)
    with pytest.raises(ScopeError, match="entered once"):
        async with handle:
            pass  # pragma: no cover - never reached


@pytest.mark.anyio
async def test_start_soon_under_a_sync_with_is_a_scope_error(container: InjectQ) -> None:
    """``start_soon`` and ``start`` on a scope entered with plain ``with`` ask for ``async with``."""

    async def task(*, task_status: TaskStatus[None]) -> None:
        task_status.started()  # pragma: no cover - never started

    with container.scope() as handle:
        with pytest.raises(ScopeError, match="async with"):
            handle.start_soon(anyio.lowlevel.checkpoint)
        with pytest.raises(ScopeError, match="async with"):
            await handle.start(task)


# -- sync code meeting async work is refused when it would build ---------------------


async def _make_client() -> AsyncClient:
    return AsyncClient()


def test_sync_get_of_an_async_factory_names_the_key_and_aget() -> None:
    """A sync ``get`` of an async-built service fails at once, naming the key and ``aget``."""
    container = InjectQ()
    container.bind_factory(AsyncClient, _make_client, scope=Scope.SINGLETON)
    with pytest.raises(InjectionError, match="AsyncClient") as info:
        container.get(AsyncClient)
    assert "aget" in str(info.value)


def test_sync_scope_get_of_an_async_scoped_factory_names_the_key_and_aget() -> None:
    """``scope.get`` of a scoped async-built service in a sync scope names the key and ``aget``."""
    container = InjectQ()
    container.bind_factory(AsyncClient, _make_client, scope=Scope.SCOPED)
    with container.scope() as scope:
        with pytest.raises(InjectionError, match="AsyncClient") as info:
            scope.get(AsyncClient)
    assert "aget" in str(info.value)


@pytest.mark.anyio
async def test_async_generator_factory_in_a_sync_scope_names_the_key_and_async_with() -> None:
    """An async-generator service asked for in a ``with`` scope is refused at build time, and is torn down."""
    torn_down: list[str] = []

    async def make_client() -> AsyncIterator[AsyncClient]:
        yield AsyncClient()
        await anyio.lowlevel.checkpoint()
        torn_down.append("client")

    container = InjectQ()
    container.bind_factory(AsyncClient, make_client, scope=Scope.SCOPED)
    with container.scope():
        with pytest.raises(ScopeError, match="AsyncClient") as info:
            await container.aget(AsyncClient)
        # refused at build time: nothing is left for the exit to trip on
        assert torn_down == ["client"]
    assert "async with" in str(info.value)


@pytest.mark.parametrize(
    "cls",
    [
        pytest.param(AsyncOnlyResource, id="async_only_teardown"),
        pytest.param(AsyncCloseResource, id="coroutine_close"),
    ],
)
def test_async_teardown_in_a_sync_scope_is_refused_at_build_time(cls: type) -> None:
    """A service with only ``aclose()``, or whose ``close()`` is async, asked for in a ``with`` scope is refused when built, not at exit: a ScopeError naming it and ``async with``."""
    container = InjectQ()
    container.bind(cls, cls, scope=Scope.SCOPED)
    with container.scope():
        with pytest.raises(ScopeError, match=cls.__name__) as info:
            container.get(cls)
    assert "async with" in str(info.value)
