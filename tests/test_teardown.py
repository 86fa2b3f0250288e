"""Leaving a scope and closing a container: what is finalized, when, in which order.

A scope first waits for its tasks, then finalizes every instance it created,
exactly once, last created first.  Singletons (and transients built outside
any scope or for a singleton) are finalized when the container closes.
Values handed over with ``bind_instance`` are never finalized.  Finalizer
failures are gathered into a ``FinalizationError``; a block's own exception
alone comes out as itself.
"""

import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from collections.abc import Set as AbstractSet
from typing import Any

import anyio
import pytest

from injectq import BindingError, FinalizationError, InjectQ, Scope, ScopeError

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


class Closer:
    """Logs its name when closed."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def close(self) -> None:
        self.log.append(self.name)


class BrokenCloser(Closer):
    """Fails when closed, after logging."""

    def close(self) -> None:
        super().close()
        raise RuntimeError(f"{self.name} failed to close")


class Engine:
    pass


class ClosingEngine(Closer, Engine):
    """An ``Engine`` that logs when it is closed."""


class Repo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


def _bind_closers(
    container: InjectQ, log: list[str], scope: Scope, *, broken: AbstractSet[str] = frozenset()
) -> None:
    """Bind Engine <- Repo <- Service to factories of Closers named after them."""

    def closer(name: str) -> Closer:
        return (BrokenCloser if name in broken else Closer)(name, log)

    def make_engine() -> Closer:
        return closer("engine")

    def make_repo(engine: Engine) -> Closer:
        return closer("repo")

    def make_service(repo: Repo) -> Closer:
        return closer("service")

    container.bind_factory(Engine, make_engine, scope=scope)
    container.bind_factory(Repo, make_repo, scope=scope)
    container.bind_factory(Service, make_service, scope=scope)


def _scoped_engine(log: list[str]) -> InjectQ:
    """A container whose scoped Engine is a Closer that logs "engine closed"."""
    container = InjectQ()
    container.bind_factory(Engine, lambda: Closer("engine closed", log), scope=Scope.SCOPED)
    return container


async def _sleep_until_cancelled(log: list[str], entry: str) -> None:
    """Wait until cancelled; log ``entry`` then, and let the cancellation go on."""
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        log.append(entry)
        raise


# -- tasks first, then finalizers ------------------------------------------------------


@pytest.mark.anyio
async def test_scope_waits_for_a_running_task_before_finalizing() -> None:
    """A task still running when the block ends is awaited, with the scope's instances alive, before any finalizer runs."""
    log: list[str] = []
    container = _scoped_engine(log)
    proceed = anyio.Event()
    left = anyio.Event()
    seen: list[object] = []

    async def worker() -> None:
        await proceed.wait()
        seen.append(container.get(Engine))
        log.append("worker done")

    async def request() -> None:
        async with container.scope() as scope:
            seen.append(container.get(Engine))
            scope.start_soon(worker)
        left.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(request)
            await anyio.wait_all_tasks_blocked()
            # the block's body is over; the scope is waiting for its task
            assert log == []
            assert not left.is_set()
            proceed.set()
    assert log == ["worker done", "engine closed"]
    assert seen[0] is seen[1]


@pytest.mark.anyio
async def test_scope_tasks_are_cancelled_when_the_block_raises_then_finalized() -> None:
    """When the block raises, the scope's running tasks are cancelled before its instances are finalized."""
    log: list[str] = []
    container = _scoped_engine(log)

    async def worker() -> None:
        container.get(Engine)
        await _sleep_until_cancelled(log, "worker cancelled")

    async def request() -> None:
        async with container.scope() as scope:
            scope.start_soon(worker)
            await anyio.wait_all_tasks_blocked()
            raise LookupError("request failed")

    with anyio.fail_after(5), pytest.raises(LookupError, match="request failed"):
        await request()
    assert log == ["worker cancelled", "engine closed"]


@pytest.mark.anyio
async def test_a_failing_scope_task_cancels_the_block_and_is_raised_after_finalization() -> None:
    """A scope task that fails cancels the block and comes out in an ExceptionGroup, after finalization."""
    log: list[str] = []
    container = _scoped_engine(log)

    async def worker() -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("worker failed")

    async def request() -> None:
        async with container.scope() as scope:
            container.get(Engine)
            scope.start_soon(worker)
            await _sleep_until_cancelled(log, "block cancelled")

    with anyio.fail_after(5), pytest.raises(ExceptionGroup) as info:
        await request()
    assert [str(exc) for exc in info.value.exceptions] == ["worker failed"]
    assert log == ["block cancelled", "engine closed"]


# -- order and exactly once ------------------------------------------------------------


@pytest.mark.anyio
async def test_async_scope_finalizes_each_instance_once_last_created_first() -> None:
    """Leaving an async scope finalizes every instance it built once, dependents before their dependencies."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SCOPED)
    async with container.scope():
        await container.aget(Service)  # builds engine, then repo, then service
        container.get(Service)
        assert log == []
    assert log == ["service", "repo", "engine"]
    await container.aclose()
    assert log == ["service", "repo", "engine"]


def test_sync_scope_finalizes_each_instance_once_last_created_first() -> None:
    """Leaving a ``with`` scope finalizes every instance it built once, last created first."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SCOPED)
    with container.scope():
        container.get(Repo)
        container.get(Service)
        container.get(Engine)
    assert log == ["service", "repo", "engine"]
    container.close()
    assert log == ["service", "repo", "engine"]


def test_generator_factory_teardown_runs_when_the_scope_ends() -> None:
    """A generator factory's code after ``yield`` runs at scope exit, instead of the value's own ``close``."""
    log: list[str] = []

    def open_engine() -> Iterator[Closer]:
        log.append("open")
        yield Closer("close() called", log)
        log.append("teardown")

    container = InjectQ()
    container.bind_factory(Engine, open_engine, scope=Scope.SCOPED)
    with container.scope():
        container.get(Engine)
        assert log == ["open"]
    assert log == ["open", "teardown"]


@pytest.mark.anyio
async def test_async_generator_factory_teardown_is_awaited_when_the_scope_ends() -> None:
    """An async generator factory's teardown runs to completion when the async scope ends."""
    log: list[str] = []

    async def open_engine() -> AsyncIterator[Engine]:
        log.append("open")
        yield Engine()
        await anyio.lowlevel.checkpoint()
        log.append("teardown")

    container = InjectQ()
    container.bind_factory(Engine, open_engine, scope=Scope.SCOPED)
    async with container.scope():
        await container.aget(Engine)
        assert log == ["open"]
    assert log == ["open", "teardown"]


class _Teardowns:
    """Records the teardown methods called on it, in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[str] = []


class AllThree(_Teardowns):
    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.calls.append("aclose")

    def close(self) -> None:
        self.calls.append("close")

    def cleanup(self) -> None:
        self.calls.append("cleanup")


class CloseAndCleanup(_Teardowns):
    def close(self) -> None:
        self.calls.append("close")

    def cleanup(self) -> None:
        self.calls.append("cleanup")


class OnlyCleanup(_Teardowns):
    def cleanup(self) -> None:
        self.calls.append("cleanup")


class AsyncClose(_Teardowns):
    async def close(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.calls.append("close awaited")


class AsyncCleanup(_Teardowns):
    async def cleanup(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.calls.append("cleanup awaited")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (AllThree, ["aclose"]),
        (CloseAndCleanup, ["close"]),
        (OnlyCleanup, ["cleanup"]),
        (AsyncClose, ["close awaited"]),
        (AsyncCleanup, ["cleanup awaited"]),
    ],
)
async def test_async_scope_calls_the_first_teardown_method_the_object_has(
    cls: type, expected: list[str]
) -> None:
    """An async scope calls the first of ``aclose``, ``close``, ``cleanup`` an object has, awaiting its result."""
    container = InjectQ()
    container.bind(cls, cls, scope=Scope.SCOPED)
    async with container.scope():
        obj = await container.aget(cls)
    assert obj.calls == expected


@pytest.mark.parametrize(
    ("cls", "expected"),
    [(AllThree, ["close"]), (CloseAndCleanup, ["close"]), (OnlyCleanup, ["cleanup"])],
)
def test_sync_scope_skips_aclose_and_calls_the_first_sync_teardown(
    cls: type, expected: list[str]
) -> None:
    """A ``with`` scope never calls ``aclose``: it calls the first of ``close``, ``cleanup``."""
    container = InjectQ()
    container.bind(cls, cls, scope=Scope.SCOPED)
    with container.scope():
        obj = container.get(cls)
    assert obj.calls == expected


@pytest.mark.anyio
async def test_bound_instances_are_never_finalized() -> None:
    """Values given with ``bind_instance`` or ``container[key] = value`` are never closed by the container."""
    log: list[str] = []
    given = ClosingEngine("given closed", log)
    assigned = Closer("assigned closed", log)
    container = InjectQ()
    container.bind_instance(Engine, given)
    container["assigned"] = assigned

    def make_repo(engine: Engine) -> Repo:
        return Repo(engine)

    container.bind_factory(Repo, make_repo, scope=Scope.SCOPED)
    async with container.scope():
        assert (await container.aget(Repo)).engine is given
        assert container.get("assigned") is assigned
    with container.scope():
        assert container.get(Engine) is given
    await container.aclose()
    assert log == []


def test_factory_returning_a_singleton_does_not_finalize_it_again() -> None:
    """A transient factory that hands back a singleton it was given does not make the singleton finalized more than once."""
    log: list[str] = []

    def make_engine() -> Closer:
        return Closer("engine", log)

    def alias(engine: Engine) -> Engine:
        return engine

    container = InjectQ()
    container.bind_factory(Engine, make_engine, scope=Scope.SINGLETON)
    container.bind_factory(Repo, alias, scope=Scope.TRANSIENT)
    container.get(Repo)
    with container.scope():
        assert container.get(Repo) is container.get(Engine)
    # the singleton is still in use: leaving the scope must not close it
    assert log == []
    container.close()
    assert log == ["engine"]


def test_factory_returning_a_bound_instance_never_finalizes_it() -> None:
    """A factory that hands back a ``bind_instance`` value does not make the container finalize it."""
    log: list[str] = []
    given = ClosingEngine("given", log)

    def alias(engine: Engine) -> Engine:
        return engine

    container = InjectQ()
    container.bind_instance(Engine, given)
    container.bind_factory(Repo, alias, scope=Scope.SCOPED)
    with container.scope():
        assert container.get(Repo) is given
    container.close()
    assert log == []


# -- transients ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transient_is_finalized_with_the_scope_it_was_built_in() -> None:
    """A transient with teardown built inside a scope is finalized when that scope ends."""
    log: list[str] = []
    container = InjectQ()
    container.bind_factory(Engine, lambda: Closer("transient", log), scope=Scope.TRANSIENT)
    async with container.scope():
        first = container.get(Engine)
        second = await container.aget(Engine)
        assert first is not second
        assert log == []
    assert log == ["transient", "transient"]
    await container.aclose()
    assert log == ["transient", "transient"]


@pytest.mark.anyio
async def test_transient_built_outside_any_scope_is_finalized_with_the_container() -> None:
    """A transient with teardown built outside every scope lives until the container closes."""
    log: list[str] = []
    container = InjectQ()
    container.bind_factory(Engine, lambda: Closer("transient", log), scope=Scope.TRANSIENT)
    container.get(Engine)
    async with container.scope():
        pass
    assert log == []
    await container.aclose()
    assert log == ["transient"]


def test_transient_built_for_a_singleton_is_finalized_with_the_container() -> None:
    """A transient built as part of a singleton, even inside a scope, is finalized with the container."""
    log: list[str] = []
    container = InjectQ()
    container.bind_factory(Engine, lambda: Closer("engine", log), scope=Scope.TRANSIENT)
    container.bind(Repo, Repo, scope=Scope.SINGLETON)
    with container.scope():
        repo = container.get(Repo)
    assert log == []
    container.close()
    assert log == ["engine"]
    assert isinstance(repo.engine, Closer)


# -- closing the container -----------------------------------------------------------------


def test_close_finalizes_singletons_last_created_first_and_only_once() -> None:
    """``close()`` finalizes every singleton once, last created first; closing again does nothing."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SINGLETON)
    container.get(Service)
    container.close()
    assert log == ["service", "repo", "engine"]
    container.close()
    assert log == ["service", "repo", "engine"]


async def _singletons_built_with_async_engine_teardown(log: list[str]) -> InjectQ:
    """A container whose singleton Service <- Repo <- Engine are built; Engine's teardown needs an await."""

    async def open_engine() -> AsyncIterator[Engine]:
        yield Engine()
        await anyio.lowlevel.checkpoint()
        log.append("engine")

    container = InjectQ()
    _bind_closers(container, log, Scope.SINGLETON)
    container.bind_factory(Engine, open_engine, scope=Scope.SINGLETON)
    await container.aget(Service)
    return container


@pytest.mark.anyio
async def test_aclose_finalizes_singletons_last_created_first_awaiting_teardown() -> None:
    """``await aclose()`` finalizes singletons last created first and awaits async teardown."""
    log: list[str] = []
    container = await _singletons_built_with_async_engine_teardown(log)
    await container.aclose()
    assert log == ["service", "repo", "engine"]


@pytest.mark.anyio
async def test_async_with_container_finalizes_singletons_at_the_end() -> None:
    """``async with container:`` finalizes the singletons built inside it when the block ends."""
    log: list[str] = []
    async with InjectQ() as container:
        _bind_closers(container, log, Scope.SINGLETON)
        await container.aget(Service)
        assert log == []
    assert log == ["service", "repo", "engine"]


@pytest.mark.anyio
async def test_sync_close_refuses_pending_async_teardown_and_finalizes_nothing() -> None:
    """``close()`` with an async-only teardown pending names ``aclose`` and leaves everything for it."""
    log: list[str] = []
    container = await _singletons_built_with_async_engine_teardown(log)
    with pytest.raises(ScopeError, match="aclose"):
        container.close()
    assert log == []
    await container.aclose()
    assert log == ["service", "repo", "engine"]


# -- errors on the way out -----------------------------------------------------------------


def test_sync_block_exception_alone_comes_out_as_itself() -> None:
    """When only the ``with`` block fails, its own exception comes out, after finalization."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SCOPED)

    def request() -> None:
        with container.scope():
            container.get(Service)
            raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        request()
    assert log == ["service", "repo", "engine"]


@pytest.mark.anyio
async def test_async_block_exception_alone_comes_out_as_itself() -> None:
    """When only the ``async with`` block fails, ``except KeyError`` around it still catches it."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SCOPED)
    caught: list[KeyError] = []
    try:
        async with container.scope():
            await container.aget(Service)
            raise KeyError("missing")
    except KeyError as exc:
        caught.append(exc)
    assert [str(exc) for exc in caught] == ["'missing'"]
    assert log == ["service", "repo", "engine"]


def test_one_failing_finalizer_is_a_group_of_one_and_the_others_still_run() -> None:
    """A single failing finalizer comes out as a FinalizationError holding it; the other finalizers ran."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SCOPED, broken={"repo"})
    with pytest.raises(FinalizationError) as info:
        with container.scope():
            container.get(Service)
    assert isinstance(info.value, ExceptionGroup)
    assert [str(exc) for exc in info.value.exceptions] == ["repo failed to close"]
    assert log == ["service", "repo", "engine"]


@pytest.mark.anyio
async def test_several_failing_finalizers_are_all_in_the_group() -> None:
    """Every failing finalizer of an async scope is in the FinalizationError, in the order they ran."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SCOPED, broken={"service", "engine"})
    with pytest.raises(FinalizationError) as info:
        async with container.scope():
            await container.aget(Service)
    assert [str(exc) for exc in info.value.exceptions] == [
        "service failed to close",
        "engine failed to close",
    ]
    assert log == ["service", "repo", "engine"]


def test_sync_block_failure_and_finalizer_failure_are_grouped_block_first() -> None:
    """When the ``with`` block and a finalizer both fail, the group holds both, the block's first."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SCOPED, broken={"engine"})

    def request() -> None:
        with container.scope():
            container.get(Service)
            raise KeyError("missing")

    with pytest.raises(FinalizationError) as info:
        request()
    kinds = [type(exc) for exc in info.value.exceptions]
    assert kinds == [KeyError, RuntimeError]
    assert log == ["service", "repo", "engine"]


@pytest.mark.anyio
async def test_async_block_failure_and_finalizer_failure_are_grouped_block_first() -> None:
    """When the ``async with`` block and a finalizer both fail, the group holds the block's error then the finalizer's."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SCOPED, broken={"engine"})

    async def request() -> None:
        async with container.scope():
            await container.aget(Service)
            raise KeyError("missing")

    with pytest.raises(FinalizationError) as info:
        await request()
    kinds = [type(exc) for exc in info.value.exceptions]
    assert kinds == [KeyError, RuntimeError]
    assert log == ["service", "repo", "engine"]


@pytest.mark.anyio
async def test_container_close_gathers_failing_finalizers() -> None:
    """A failing singleton finalizer makes ``aclose()`` raise FinalizationError after the others ran."""
    log: list[str] = []
    container = InjectQ()
    _bind_closers(container, log, Scope.SINGLETON, broken={"repo"})
    await container.aget(Service)
    with pytest.raises(FinalizationError) as info:
        await container.aclose()
    assert [str(exc) for exc in info.value.exceptions] == ["repo failed to close"]
    assert log == ["service", "repo", "engine"]


# -- a graph failing half-way ----------------------------------------------------------------


class Left:
    pass


class Right:
    pass


class Both:
    def __init__(self, left: Left, right: Right) -> None:
        self.left = left
        self.right = right


def _failing_right() -> Right:
    raise ValueError("right cannot be built")


def test_sync_graph_failing_half_way_finalizes_what_was_built() -> None:
    """When one dependency fails, the ones already built are finalized and the error comes out as itself."""
    log: list[str] = []
    container = InjectQ()
    container.bind_factory(Left, lambda: Closer("left", log), scope=Scope.TRANSIENT)
    container.bind_factory(Right, _failing_right, scope=Scope.TRANSIENT)
    container.bind(Both, Both, scope=Scope.TRANSIENT)
    with pytest.raises(ValueError, match="right cannot be built") as info:
        container.get(Both)
    assert type(info.value) is ValueError
    assert log == ["left"]
    container.close()
    assert log == ["left"]


@pytest.mark.anyio
async def test_async_graph_failing_half_way_in_a_scope_finalizes_what_was_built() -> None:
    """A scoped graph whose async part fails tears down the parts already built, awaiting their teardown."""
    log: list[str] = []

    async def open_left() -> AsyncIterator[Left]:
        yield Left()
        await anyio.lowlevel.checkpoint()
        log.append("left")

    async def fail_right() -> Right:
        await anyio.lowlevel.checkpoint()
        raise ValueError("right cannot be built")

    container = InjectQ()
    container.bind_factory(Left, open_left, scope=Scope.TRANSIENT)
    container.bind_factory(Right, fail_right, scope=Scope.TRANSIENT)
    container.bind(Both, Both, scope=Scope.SCOPED)
    async with container.scope():
        with pytest.raises(ValueError, match="right cannot be built") as info:
            await container.aget(Both)
        assert type(info.value) is ValueError
        assert log == ["left"]
    assert log == ["left"]


class _Yielded:
    def __init__(self, label: str) -> None:
        self.label = label


def test_a_generator_factory_that_yields_twice_is_a_finalization_error() -> None:
    """Teardown that reaches a second ``yield`` is stopped there and reported."""
    log: list[str] = []

    def twice() -> Iterator[_Yielded]:
        yield _Yielded("first")
        log.append("teardown reached a second yield")
        yield _Yielded("second")
        log.append("never")  # pragma: no cover

    container = InjectQ()
    container.bind_factory(_Yielded, twice, scope=Scope.SCOPED)
    with pytest.raises(FinalizationError) as info, container.scope():
        container.get(_Yielded)
    (error,) = info.value.exceptions
    assert isinstance(error, BindingError)
    assert "yielded more than once" in str(error)
    assert log == ["teardown reached a second yield"]


@pytest.mark.anyio
async def test_an_async_generator_factory_that_yields_twice_is_a_finalization_error() -> None:
    """The same for an async generator factory: closed at its second yield and reported."""
    log: list[str] = []

    async def twice() -> AsyncIterator[_Yielded]:
        yield _Yielded("first")
        try:
            yield _Yielded("second")
        finally:
            log.append("closed at the second yield")

    container = InjectQ()
    container.bind_factory(_Yielded, twice, scope=Scope.SCOPED)
    with anyio.fail_after(5), pytest.raises(FinalizationError) as info:
        async with container.scope():
            await container.aget(_Yielded)
    (error,) = info.value.exceptions
    assert isinstance(error, BindingError)
    assert "yielded more than once" in str(error)
    assert log == ["closed at the second yield"]


class _PretendSyncClose:
    """``close`` is a plain method that hands back a coroutine: only known when called."""

    def __init__(self) -> None:
        self.awaited = False

    def close(self) -> Coroutine[Any, Any, None]:
        async def finish() -> None:
            self.awaited = True  # pragma: no cover - a sync exit never awaits it

        return finish()


def test_a_sync_exit_refuses_a_close_that_turns_out_to_need_an_await() -> None:
    """A sync scope exit whose teardown hands back an awaitable says to use `async with`."""
    container = InjectQ()
    container.bind(_PretendSyncClose, scope=Scope.SCOPED)
    with pytest.raises(ScopeError, match="async with") as info, container.scope():
        built = container.get(_PretendSyncClose)
    assert "needs to await" in str(info.value)
    assert not built.awaited
