"""Threads: sync services built once under contention, scopes kept per thread.

A thread started with ``threading.Thread`` begins with an empty context, so
it sees no scope; ``anyio.to_thread.run_sync`` copies the caller's context,
so its worker sees the caller's scope.  Threads are joined with timeouts and
every wait is bounded.
"""

import gc
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import CodeType
from typing import Any, Generic, TypeVar

import anyio
import pytest

from injectq import InjectQ, Scope, ScopeError, ScopeHandle

TIMEOUT = 5.0
T = TypeVar("T")


class Pool:
    """An expensive application-wide service."""


class Session:
    """A per-request service."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _run_threads(count: int, target: Callable[[int], None]) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), f"{thread.name} did not finish"


class _HeldFactory(Generic[T]):
    """A sync factory of ``cls`` that counts its calls and holds each build until released."""

    def __init__(self, cls: Callable[[], T]) -> None:
        self.cls = cls
        self.callers: list[int] = []  # list.append is atomic: no call goes uncounted
        self.release = threading.Event()

    @property
    def calls(self) -> int:
        return len(self.callers)

    def __call__(self) -> T:
        self.callers.append(threading.get_ident())
        assert self.release.wait(TIMEOUT)
        return self.cls()


def _in_injectq(code: CodeType) -> bool:
    """Whether ``code`` is injectq's own: its modules or a builder it generated."""
    return code.co_filename.startswith("<injectq builder") or f"{os.sep}injectq{os.sep}" in (
        code.co_filename
    )


def _inside(threads: list[threading.Thread]) -> bool:
    """Whether every thread is currently inside a call into injectq (resolving, or waiting)."""
    frames = sys._current_frames()
    for thread in threads:
        frame = frames.get(thread.ident) if thread.ident is not None else None
        while frame is not None and not _in_injectq(frame.f_code):
            frame = frame.f_back
        if frame is None:
            return False
    return True


def _wait_until(condition: Callable[[], bool]) -> None:
    """Poll a condition about other threads, failing after ``TIMEOUT``."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "the threads never reached the expected state"
        time.sleep(0.001)


def _ask_from_threads_at_once(
    count: int, ask: Callable[[], T], release: threading.Event
) -> dict[int, T]:
    """What ``ask()`` gave in each of ``count`` threads that call it at the same moment.

    The build is held until every thread is inside injectq (resolving or waiting for
    the build); only then is ``release`` set.  No thread may have raised.
    """
    barrier = threading.Barrier(count, timeout=TIMEOUT)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def ask_in_thread(index: int) -> None:
        try:
            barrier.wait()
            results[index] = ask()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = _run_threads(count, ask_in_thread)
    try:
        # the factory stays blocked until every thread is inside get()
        _wait_until(lambda: _inside(threads))
    finally:
        release.set()
        _join(threads)
    assert errors == []
    return results


def test_sync_singleton_is_built_once_for_eight_threads_at_once() -> None:
    """Eight threads inside ``get`` at the same moment for a sync singleton cause one factory call."""
    make_pool = _HeldFactory(Pool)
    container = InjectQ()
    container.bind_factory(Pool, make_pool, scope=Scope.SINGLETON)
    results = _ask_from_threads_at_once(8, lambda: container.get(Pool), make_pool.release)
    assert make_pool.calls == 1
    assert len(results) == 8
    assert len({id(pool) for pool in results.values()}) == 1


def test_sync_scoped_service_is_built_once_for_eight_threads_sharing_a_handle() -> None:
    """Eight threads asking one scope handle at once for a scoped service share one instance."""
    open_session = _HeldFactory(Session)
    container = InjectQ()
    container.bind_factory(Session, open_session, scope=Scope.SCOPED)
    with container.scope() as scope:
        results = _ask_from_threads_at_once(8, lambda: scope.get(Session), open_session.release)
        assert open_session.calls == 1
        assert len({id(session) for session in results.values()}) == 1
        assert container.get(Session) is results[0]
    assert results[0].closed == 1


def test_ten_threads_with_their_own_scope_are_isolated() -> None:
    """Ten threads each inside ``with container.scope()`` see ten different instances, each finalized once."""
    container = InjectQ()
    container.bind(Session, Session, scope=Scope.SCOPED)
    barrier = threading.Barrier(10, timeout=TIMEOUT)
    seen: dict[int, list[Session]] = {}
    errors: list[BaseException] = []

    def request(index: int) -> None:
        try:
            with container.scope() as scope:
                first = container.get(Session)
                barrier.wait()  # all ten scopes are open at once
                seen[index] = [first, container.get(Session), scope.get(Session)]
                barrier.wait()  # nobody leaves before everyone has looked
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    _join(_run_threads(10, request))
    assert errors == []
    assert len(seen) == 10
    for sessions in seen.values():
        assert sessions[0] is sessions[1] is sessions[2]
    firsts = [sessions[0] for sessions in seen.values()]
    assert len({id(session) for session in firsts}) == 10
    assert [session.closed for session in firsts] == [1] * 10


def _ask_in_plain_thread(container: InjectQ, key: Any) -> BaseException | None:
    """Resolve ``key`` in a new ``threading.Thread``; the error it raised, if any."""
    outcome: list[BaseException | None] = []

    def ask() -> None:
        try:
            container.get(key)
        except BaseException as exc:  # handed back to the caller
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    _join([thread])
    return outcome[0]


def test_a_plain_new_thread_starts_with_no_scope() -> None:
    """A ``threading.Thread`` started inside a scope block does not see the scope."""
    container = InjectQ()
    container.bind(Session, Session, scope=Scope.SCOPED)
    with container.scope():
        container.get(Session)
        error = _ask_in_plain_thread(container, Session)
    assert isinstance(error, ScopeError)
    assert "Session" in str(error)


@pytest.mark.anyio
async def test_to_thread_worker_sees_the_scope_but_a_plain_thread_does_not() -> None:
    """Inside ``async with`` a ``to_thread`` worker gets the scope's instance; a plain thread gets a ScopeError."""
    container = InjectQ()
    container.bind(Session, Session, scope=Scope.SCOPED)
    with anyio.fail_after(TIMEOUT):
        async with container.scope():
            mine = container.get(Session)
            assert await anyio.to_thread.run_sync(container.get, Session) is mine
            error = await anyio.to_thread.run_sync(_ask_in_plain_thread, container, Session)
    assert isinstance(error, ScopeError)


@pytest.mark.anyio
async def test_to_thread_worker_sees_a_sync_scope_opened_inside_the_loop() -> None:
    """A ``with`` scope opened inside a running loop is seen by ``to_thread`` workers too."""
    container = InjectQ()
    container.bind(Session, Session, scope=Scope.SCOPED)
    with anyio.fail_after(TIMEOUT):
        with container.scope():
            # built first in the worker, then seen by the block: one instance
            built_in_worker = await anyio.to_thread.run_sync(container.get, Session)
            assert container.get(Session) is built_in_worker
    assert built_in_worker.closed == 1


@pytest.mark.anyio
async def test_to_thread_workers_of_one_scope_get_one_instance() -> None:
    """Eight ``to_thread`` workers of one scope asking at once for a sync scoped service share one build."""
    open_session = _HeldFactory(Session)
    container = InjectQ()
    container.bind_factory(Session, open_session, scope=Scope.SCOPED)
    results: list[Session] = []
    workers: list[threading.Thread] = []

    def ask() -> Session:
        workers.append(threading.current_thread())
        return container.get(Session)

    async def ask_in_thread() -> None:
        results.append(await anyio.to_thread.run_sync(ask))

    def release_when_all_inside() -> None:
        try:
            _wait_until(lambda: len(workers) == 8 and _inside(workers))
        finally:
            open_session.release.set()

    with anyio.fail_after(TIMEOUT):
        async with container.scope() as scope:
            for _ in range(8):
                scope.start_soon(ask_in_thread)
            await anyio.to_thread.run_sync(release_when_all_inside)
        assert open_session.calls == 1
        assert len(results) == 8
        assert all(session is results[0] for session in results)
        assert results[0].closed == 1


def test_handles_of_scopes_on_threads_one_after_another_have_distinct_ids() -> None:
    """``id(scope)`` of short scopes on successive threads stays distinct, as a log key would need."""
    container = InjectQ()
    seen: list[int] = []

    def one_request(_: int) -> None:
        with container.scope() as scope:
            seen.append(id(scope))

    for index in range(10):  # one thread at a time: each scope is over before the next starts
        _join(_run_threads(1, lambda _, index=index: one_request(index)))
    assert len(set(seen)) == 10


def test_a_left_request_scope_holds_on_to_none_of_its_instances() -> None:
    """Leaving a request scope drops its instances, even while its handle is still kept."""
    container = InjectQ()
    container.bind(Pool, scope=Scope.SCOPED)
    with container.scope() as scope:
        pool = scope.get(Pool)
    ref = weakref.ref(pool)
    del pool
    gc.collect()
    assert ref() is None
    assert "left" in repr(scope)


@pytest.mark.parametrize("entered", ["with", "asyncio", "trio"])
def test_the_container_keeps_no_handle_of_a_left_scope(entered: str) -> None:
    """A handle whose scope was left goes as soon as its user drops it."""
    container = InjectQ()
    container.bind(Pool, scope=Scope.SCOPED)

    async def async_scope() -> weakref.ref[ScopeHandle]:
        async with container.scope() as scope:
            await scope.aget(Pool)
        return weakref.ref(scope)

    def sync_scope() -> weakref.ref[ScopeHandle]:
        with container.scope() as scope:
            scope.get(Pool)
        return weakref.ref(scope)

    for _ in range(3):
        ref = sync_scope() if entered == "with" else anyio.run(async_scope, backend=entered)
        gc.collect()
        assert ref() is None


class SlowConnection:
    """Built by a factory that blocks until another thread's scope has built its own."""


class QuickConnection:
    pass


def test_a_build_blocked_in_one_threads_scope_does_not_hold_up_another_threads_scope() -> None:
    """Builds in separate request scopes never wait for each other, even mid-factory."""
    other_built = threading.Event()

    def slow() -> SlowConnection:
        # blocks (as a real connect would) until the other thread's scope has built
        slow_started.set()
        assert other_built.wait(TIMEOUT), "the other scope's build was held up by this one"
        return SlowConnection()

    container = InjectQ()
    container.bind_factory(SlowConnection, slow, scope=Scope.SCOPED)
    container.bind(QuickConnection, scope=Scope.SCOPED)
    slow_started = threading.Event()
    failures: list[BaseException] = []

    def first() -> None:
        try:
            with container.scope() as scope:
                scope.get(SlowConnection)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    def second() -> None:
        try:
            assert slow_started.wait(TIMEOUT)
            with container.scope() as scope:
                scope.get(QuickConnection)
            other_built.set()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert other_built.is_set()
