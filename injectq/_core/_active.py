"""Run: which container is the active one in a context.

``InjectQ.get_instance()``, ``@inject`` and the lifetime decorators use the
active container: the one whose ``container.context()`` (or
``test_container()``) block or scope block began last among those this
context is inside, else a process-wide default.  A scope block does not set a
ContextVar of its own for this (a scope is entered per request): every block
is numbered as it begins (``entries``), and the newest wins.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._container import InjectQ

__all__ = ["Activation", "current", "entries", "register"]

#: numbers every scope entry and ``container.context()`` block in the order they
#: begin: the active container is the one whose block in this context began last,
#: without a second ContextVar to set per scope
entries = itertools.count(1)


#: the innermost ``container.context()`` block of this context, and when it began
_active: ContextVar[tuple[InjectQ, int] | None] = ContextVar("injectq.active", default=None)
#: the live containers that have entered a scope (only they can have one open in a
#: context), so ``current`` can see which has the newest one here: most programs
#: have one; a tuple of weak references, replaced whole, so reading needs no lock
_scoping: tuple[weakref.ref[InjectQ], ...] = ()
_scoping_lock = threading.Lock()
_default_lock = threading.Lock()
_default: list[InjectQ] = []


class Activation:
    """``container.context()``: make a container the active one for a block."""

    __slots__ = ("_container", "_tokens")

    def __init__(self, container: InjectQ) -> None:
        self._container = container
        self._tokens: list[Token[tuple[InjectQ, int] | None]] = []

    def __enter__(self) -> InjectQ:
        self._tokens.append(_active.set((self._container, next(entries))))
        return self._container

    def __exit__(self, *exc: object) -> None:
        _active.reset(self._tokens.pop())

    async def __aenter__(self) -> InjectQ:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


def register(container: InjectQ) -> None:
    """Let ``current`` consider ``container`` (held weakly): it enters its first scope."""
    global _scoping
    ref = weakref.ref(container, _forget)
    with _scoping_lock:
        if not container._scoping:
            container._scoping = True
            # the containers gone since the last change are dropped here too (see _forget)
            _scoping = (*(r for r in _scoping if r() is not None), ref)


def _forget(ref: weakref.ref[InjectQ]) -> None:
    """Drop a container that is gone.  Never waits for the lock.

    The garbage collector calls this whenever it frees a container, which can be
    in the middle of ``register`` in this very thread, with the lock held: a
    blocking wait there would never end.  What cannot be dropped now is dropped
    by the next ``register``; ``current`` skips it meanwhile.
    """
    global _scoping
    if _scoping_lock.acquire(blocking=False):
        try:
            _scoping = tuple(r for r in _scoping if r is not ref)
        finally:
            _scoping_lock.release()


def current(make_default: type[InjectQ] | None = None) -> InjectQ:
    """The active container of this context, else the process-wide default.

    ``make_default`` builds the default on first use (``InjectQ`` when not given).
    """
    activation = _active.get()
    chosen, began = (None, 0) if activation is None else activation
    for ref in _scoping:
        container = ref()
        if container is not None:
            seq = container._scope_var.get().seq
            if seq > began:
                chosen, began = container, seq
    if chosen is not None:
        return chosen
    if not _default:
        with _default_lock:
            if not _default:
                if make_default is None:
                    from ._container import InjectQ

                    make_default = InjectQ
                _default.append(make_default())
    return _default[0]
