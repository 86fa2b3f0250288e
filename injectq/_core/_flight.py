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

The request scope's own frame takes the other road (see ``_codegen``): its
builds are serialized by the scope's lock, as its instances are only ever
shared by the tasks and threads of one request.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ._errors import CircularDependencyError, InjectionError, describe_key

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable

    from ._scope import Frame

__all__ = [
    "MISSING",
    "SYNC_BUILD",
    "Flight",
    "aclaim",
    "await_flight",
    "claim",
    "finish",
    "in_flight",
    "reentered",
    "release",
    "start",
    "stop",
    "wait_flight",
]

_get_ident = threading.get_ident
MISSING: Any = object()


class Flight:
    """One build in progress: who runs it, and how to wait for its end."""

    __slots__ = ("done", "event", "is_async", "keys", "thread")

    def __init__(self, is_async: bool, keys: Iterable[Hashable]) -> None:
        self.thread = _get_ident()
        self.is_async = is_async
        self.keys = tuple(keys)
        self.done = threading.Event()
        self.event: anyio.Event | None = None  # made by waiters of the same event loop

    def __repr__(self) -> str:
        kind = "async" if self.is_async else "sync"
        return f"<Flight {kind} {', '.join(map(describe_key, self.keys))}>"


#: the async flights this context is running (a child task inherits its parent's)
_building: ContextVar[tuple[Flight, ...]] = ContextVar("injectq.building", default=())

#: in a request scope's ``pending``: the key is being built by a sync build of
#: this frame, further up the stack of the thread that holds the scope's lock
SYNC_BUILD: Any = "sync build in progress"


def _busy(key: Hashable) -> InjectionError:
    return InjectionError(
        f"{describe_key(key)} is being built by an async task of this event loop right now,"
        " and this call is sync: it cannot wait for it without blocking the loop",
        key=key,
        chain=[key],
        fix="resolve it with `await container.aget(...)` / `await scope.aget(...)`",
    )


def _cycle_or_busy(flight: Flight, key: Hashable, me: int) -> BaseException | None:
    """The error when ``flight`` (building ``key``) cannot be waited for from here."""
    if flight in _building.get() or (flight.thread == me and not flight.is_async):
        return CircularDependencyError([key])
    return None


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
                flight = Flight(False, [k for k in keys if k not in pending])
                for key in flight.keys:
                    pending[key] = flight
                return flight
        key, other = busy
        error = _cycle_or_busy(other, key, me)
        if error is not None:
            raise error
        if other.thread == me:  # a task of this loop builds it: a sync call cannot wait
            raise _busy(key)
        other.done.wait()


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
                flight = Flight(True, (key,))
                pending[key] = flight
                return MISSING, flight
        if other is SYNC_BUILD:  # a sync build of this thread, further up: a cycle
            raise CircularDependencyError([key])
        error = _cycle_or_busy(other, key, me)
        if error is not None:
            raise error
        if other.thread == me:  # another task of this event loop
            if other.event is None:
                other.event = anyio.Event()
            if not other.done.is_set():
                await other.event.wait()
        else:  # another thread, or another event loop: wait without blocking ours
            await anyio.to_thread.run_sync(other.done.wait, abandon_on_cancel=True)


def start(flight: Flight) -> Any:
    """Mark ``flight`` as running in this context (for cycle detection); returns a token."""
    return _building.set((*_building.get(), flight))


def stop(token: Any) -> None:
    _building.reset(token)


def release(frame: Frame, flight: Flight) -> None:
    """End ``flight``: its keys are free, and whoever waits for it looks again."""
    with frame.lock:
        pending = frame.pending
        if pending is not None:
            for key in flight.keys:
                if pending.get(key) is flight:
                    del pending[key]
    finish(flight)


def finish(flight: Flight) -> None:
    """Wake whoever waits for ``flight``."""
    flight.done.set()
    if flight.event is not None:
        flight.event.set()


def reentered(pending: dict[Hashable, Any], key: Hashable) -> BaseException:
    """The error when a request scope's sync build meets ``key`` in flight in its frame."""
    if pending.get(key) is SYNC_BUILD:
        return CircularDependencyError([key])
    return _busy(key)


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
    if flight in _building.get():
        return  # our own: closing from inside a build does not wait for itself
    if flight.thread == _get_ident():
        if flight.is_async:
            if flight.event is None:
                flight.event = anyio.Event()
            if not flight.done.is_set():
                await flight.event.wait()
        return  # a sync build of this thread is further up our own stack
    await anyio.to_thread.run_sync(flight.done.wait, abandon_on_cancel=True)


def wait_flight(flight: Flight) -> bool:
    """Wait for ``flight`` to end, blocking (for closing); False when this thread cannot."""
    if flight.thread == _get_ident():
        return not flight.is_async or flight in _building.get()
    flight.done.wait()
    return True
