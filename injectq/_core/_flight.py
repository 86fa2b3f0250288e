"""Run: single-flight builds, per key, across tasks, threads and event loops.

A cached instance (a singleton, or one of a custom scope) is built once however
many ask at the same moment.  Whoever builds it first *claims* its key in the
frame with a ``Flight``; whoever else asks waits for that flight, and only for
it: builds of other keys never wait for each other (a container-wide lock would
let a slow build, or one that calls back into the event loop from a worker
thread, hold up every unrelated one).

How a waiter waits depends on where the flight is:

* in another thread (a worker thread, or another event loop): on the flight's
  ``threading.Event`` -- blocking for a sync caller, in a worker thread for an
  async one, so its event loop keeps running;
* in a task of the same event loop: on an ``anyio.Event`` made for it; a sync
  call there cannot wait (it would block the loop the builder needs), so it is
  a clear error naming ``aget``;
* in the caller's own chain of builds (a factory that asks the container for
  something that needs the factory's own key): that is a cycle, reported as a
  ``CircularDependencyError`` rather than waiting forever.

The request scope's own frame takes a lighter road (see ``_codegen``): its
sync builds are serialized by the scope's lock and marked in ``frame.building``
(to find cycles), and its async builds, all on the loop of the task that owns
the scope, claim their key without a lock.
"""

from __future__ import annotations

import sys
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ._errors import CircularDependencyError, InjectionError, InjectQError, describe_key

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable
    from types import FrameType

    from ._scope import Frame

__all__ = [
    "MISSING",
    "Flight",
    "aclaim",
    "await_flight",
    "await_mark",
    "busy",
    "claim",
    "cycle",
    "finish",
    "in_flight",
    "release",
    "start",
    "stop",
    "wait_flight",
]

_get_ident = threading.get_ident
MISSING: Any = object()
_done_lock = threading.Lock()  # makes each flight's threading.Event once, on demand


class Flight:
    """One build in progress: who runs it, and how to wait for its end.

    The events to wait on are made by the first waiter that needs one: most
    builds have no waiter at all.
    """

    __slots__ = ("done", "event", "finished", "is_async", "keys", "thread")

    def __init__(self, is_async: bool, keys: tuple[Hashable, ...]) -> None:
        self.thread = _get_ident()
        self.is_async = is_async
        self.keys = keys
        self.finished = False
        self.done: threading.Event | None = None  # for waiters in other threads
        self.event: anyio.Event | None = None  # for waiters of the same event loop

    def __repr__(self) -> str:
        kind = "async" if self.is_async else "sync"
        return f"<{kind} build of {', '.join(map(describe_key, self.keys))}>"


#: the async builds this context runs, innermost first, as nested pairs
#: ``(flight, outer)`` (a child task inherits its parent's)
_building: ContextVar[tuple[Any, ...] | None] = ContextVar("injectq.building", default=None)


def _ours(flight: Flight) -> bool:
    """Whether ``flight`` is run by this context (or a task that started this one)."""
    chain = _building.get()
    while chain is not None:
        if chain[0] is flight:
            return True
        chain = chain[1]
    return False


def start(flight: Flight) -> Any:
    """Mark ``flight`` as run by this context (for cycle detection); returns a token."""
    return _building.set((flight, _building.get()))


def stop(token: Any) -> None:
    _building.reset(token)


def finish(flight: Flight) -> None:
    """Wake whoever waits for ``flight`` (its keys are already released)."""
    flight.finished = True
    done = flight.done  # read after ``finished`` is set: see ``_block_on``
    if done is not None:
        done.set()
    if flight.event is not None:
        flight.event.set()


def _block_on(flight: Flight) -> None:
    """Wait in this thread until ``flight`` (of another thread) has finished."""
    with _done_lock:
        done = flight.done
        if done is None:
            done = flight.done = threading.Event()
    if not flight.finished:  # checked after ``done`` exists: ``finish`` sets one or the other
        done.wait()


async def _await_here(flight: Flight) -> None:
    """Wait in a task until ``flight``, of this thread's event loop, has finished."""
    event = flight.event
    if event is None:
        event = flight.event = anyio.Event()
    if not flight.finished:
        await event.wait()


def _busy(key: Hashable) -> InjectionError:
    return InjectionError(
        f"{describe_key(key)} is being built by an async task of this event loop right now,"
        " and this call is sync: it cannot wait for it without blocking the loop",
        key=key,
        chain=[key],
        fix="resolve it with `await container.aget(...)` / `await scope.aget(...)`",
    )


def _is_cycle(flight: Flight, me: int) -> bool:
    """Whether waiting for ``flight`` would be waiting for ourselves."""
    return (flight.thread == me and not flight.is_async) or _ours(flight)


def claim(frame: Frame, keys: tuple[Hashable, ...]) -> Flight:
    """Claim ``keys`` (those not built yet) for a sync build, after their builds in flight."""
    me = _get_ident()
    while True:
        with frame.lock:
            pending = frame.pending
            if pending is None:
                pending = frame.pending = {}
            busy: tuple[Hashable, Flight] | None = None
            if pending:
                inst = frame.instances
                for key in keys:
                    other = pending.get(key)
                    if other is not None and key not in inst:
                        busy = (key, other)
                        break
            if busy is None:
                flight = Flight(False, tuple(k for k in keys if k not in pending))
                for key in flight.keys:
                    pending[key] = flight
                return flight
        key, other = busy
        if _is_cycle(other, me):
            raise CircularDependencyError([key])
        if other.thread == me:  # a task of this loop builds it: a sync call cannot wait
            raise _busy(key)
        _block_on(other)


async def aclaim(frame: Frame, key: Hashable) -> tuple[Any, Flight | None]:
    """Claim ``key`` for an async build: ``(MISSING, flight)``, or ``(value, None)`` once built."""
    me = _get_ident()
    while True:
        with frame.lock:
            pending = frame.pending
            if pending is None:
                pending = frame.pending = {}
            other = pending.get(key)
            if other is None:
                value = frame.instances.get(key, MISSING)
                if value is not MISSING:
                    return value, None
                flight = pending[key] = Flight(True, (key,))
                return MISSING, flight
        if _is_cycle(other, me):
            raise CircularDependencyError([key])
        if other.thread == me:  # another task of this event loop
            await _await_here(other)
        else:  # another thread, or another event loop: wait without blocking ours
            await anyio.to_thread.run_sync(_block_on, other, abandon_on_cancel=True)


def release(frame: Frame, flight: Flight) -> None:
    """End ``flight``: its keys are free, and whoever waits for it looks again."""
    with frame.lock:
        pending = frame.pending
        if pending is not None:
            for key in flight.keys:
                if pending.get(key) is flight:
                    del pending[key]
    finish(flight)


def cycle(building: object, key: Hashable) -> CircularDependencyError:
    """A request scope's sync build met ``key``, which a build further up is making."""
    return CircularDependencyError([key])


def busy(pending: dict[Hashable, Any], key: Hashable) -> InjectQError:
    """A request scope's sync build met ``key`` claimed by an async build of the frame.

    That build is either further up this very call stack (a cycle through a
    factory), or another task's (a sync call cannot wait for it).
    """
    if _on_stack(pending.get(key)):
        return CircularDependencyError([key])
    return _busy(key)


def _on_stack(mark: object, depth: int = 2) -> bool:
    """Whether a frame of the running call stack holds ``mark`` (a request scope's claim).

    A build that waits for a claim made further up its own stack -- a factory
    that asks for something needing its own key, in the same task -- would wait
    for itself.  Only looked at when a claim is found taken, which is rare.
    """
    frame: FrameType | None = sys._getframe(depth)  # from the caller's caller
    while frame is not None:
        if any(value is mark for value in frame.f_locals.values()):
            return True
        frame = frame.f_back
    return False


async def await_mark(frame: Frame, key: Hashable) -> Any:
    """Wait while another task of the loop builds ``key`` in a request scope; then look again.

    Returns the instance, or ``MISSING`` when that build failed (the caller then
    builds it); raises ``CircularDependencyError`` when the build is our own.
    """
    while True:
        pending = frame.pending
        mark: list[anyio.Event | None] | None = None if pending is None else pending.get(key)
        if mark is None:
            return frame.instances.get(key, MISSING)
        if _on_stack(mark):
            raise CircularDependencyError([key])
        event = mark[0]
        if event is None:
            event = mark[0] = anyio.Event()
        await event.wait()


def in_flight(frames: Iterable[Any]) -> list[tuple[Any, Flight]]:
    """The flights running in ``frames`` now (frames, or custom scopes' shared state)."""
    found: list[tuple[Any, Flight]] = []
    for frame in frames:
        with frame.lock:
            seen: set[int] = set()
            pending: dict[Hashable, Any] = frame.pending or {}
            for value in pending.values():
                if isinstance(value, Flight) and id(value) not in seen:
                    seen.add(id(value))
                    found.append((frame, value))
    return found


async def await_flight(flight: Flight) -> None:
    """Wait for ``flight`` to end, from a task (for closing)."""
    me = _get_ident()
    if _is_cycle(flight, me):
        return  # our own: closing from inside a build does not wait for itself
    if flight.thread == me:
        await _await_here(flight)
    else:
        await anyio.to_thread.run_sync(_block_on, flight, abandon_on_cancel=True)


def wait_flight(flight: Flight) -> bool:
    """Wait for ``flight`` to end, blocking (for closing); False when this thread cannot."""
    me = _get_ident()
    if _is_cycle(flight, me):
        return True
    if flight.thread == me:
        return False  # a task of this thread's event loop: blocking would stop it
    _block_on(flight)
    return True
