"""Custom scopes: the ``ScopeManager`` protocol and its base class.

A manager decides which *storage* (a mutable mapping of binding key to
instance) is current.  The container calls ``enter_scope``, then
``get_current_scope`` to find the storage, and on leaving ``exit_scope`` and
``cleanup_scope(scope_id)``; each may be sync or async.

Hand-written managers often keep the current id on ``self``
(``self._current_scope = scope_id``).  To make that safe when many tasks or
threads use one manager, every attribute whose name starts with
``_current`` that is assigned *while the container is calling the manager*
is stored per context (in a ``ContextVar``), not on the instance.
Assignments made elsewhere (``__init__``, user code) stay plain attributes
and serve as the default every context starts from.
"""

from __future__ import annotations

import collections
import threading
import typing
from collections.abc import Generator, Hashable, Iterable, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["NO_ID", "ScopeManager", "calling_manager"]

_calling: ContextVar[bool] = ContextVar("injectq.calling_manager", default=False)
_LOCALS = (
    "_ScopeManager__locals"  # instance attribute holding the ContextVar of context-local values
)
_PLAIN = "_ScopeManager__plain"  # defaults of attributes that became context-local
_MISSING: Any = object()
_first_use = threading.Lock()
_OWN = "_ScopeManager__"  # the base class's own bookkeeping: not the manager's storage
_REACH = 100_000  # at most this many objects are looked at by _held (a bound, not a depth)
_ATOMS = (str, bytes, int, float, complex, bool, type, type(None))


def _children(value: object) -> Iterable[object]:
    """What ``value`` holds, as a list copied at once (other threads may change it meanwhile)."""
    try:
        if isinstance(value, Mapping):
            return list(typing.cast("Mapping[object, object]", value).values())
        if isinstance(value, (list, tuple, set, frozenset, collections.deque)):
            return list(typing.cast("Iterable[object]", value))
        if callable(value):
            return ()
        found: list[object] = []
        state = getattr(value, "__dict__", None)
        if isinstance(state, dict):
            found += list(typing.cast("dict[str, object]", state).values())
        for cls in type(value).__mro__:
            slots: Any = cls.__dict__.get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                if slot not in ("__dict__", "__weakref__"):
                    held = getattr(value, slot, _MISSING)
                    if held is not _MISSING:
                        found.append(held)
        return found
    except RuntimeError:  # pragma: no cover - changed size while copied: look again next time
        return ()


class _NoId:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no id>"


#: the key a base manager uses for a scope entered without an id
NO_ID: Any = _NoId()


@contextmanager
def calling_manager() -> Generator[None, None, None]:
    """Mark the current context as "the container is calling a manager"."""
    token = _calling.set(True)
    try:
        yield
    finally:
        _calling.reset(token)


class ScopeManager:
    """Base class of custom scope managers.

    Subclass it and override any of ``enter_scope``, ``exit_scope``,
    ``get_current_scope``, ``cleanup_scope`` (sync or ``async def``).  The base
    methods keep ``self._scopes`` (scope id -> storage) and
    ``self._current_scope`` (the current id, context-local), and
    ``cleanup_scope`` keeps a scope's instances for its next entry.  A manager
    ends a scope for good with :meth:`end_scope`: the container then finalizes
    that scope's instances (at the end of the current entry, or once the last
    entry of that scope is left).
    """

    _current_scope: Any

    def __init__(self) -> None:
        self._scopes: dict[Hashable, MutableMapping[Hashable, Any]] = {}
        self._current_scope = None

    # -- context-local ``_current*`` attributes ----------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_current"):
            plain: dict[str, Any] | None = self.__dict__.get(_PLAIN)
            if _calling.get() or (plain is not None and name in plain):
                self._set_local(name, value)
                return
        object.__setattr__(self, name, value)

    def _set_local(self, name: str, value: Any) -> None:
        state = self.__dict__
        plain = state.get(_PLAIN)
        if plain is None or name not in plain:
            with _first_use:  # many threads may make an attribute context-local at once
                plain = state.get(_PLAIN)
                if plain is None:
                    empty: dict[str, Any] = {}
                    # _LOCALS before _PLAIN: readers look at _PLAIN first
                    state[_LOCALS] = ContextVar(
                        f"injectq.{type(self).__name__}.current", default=empty
                    )
                    plain = state[_PLAIN] = {}
                if name not in plain:
                    plain[name] = state.pop(name, _MISSING)
        if not _calling.get():  # an assignment from outside: the new default
            plain[name] = value
            return
        var: ContextVar[dict[str, Any]] = state[_LOCALS]
        var.set({**var.get(), name: value})

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: a context-local attribute, or a real miss
        state = self.__dict__
        plain = state.get(_PLAIN)
        if plain is not None and name in plain:
            value = state[_LOCALS].get().get(name, plain[name])
            if value is not _MISSING:
                return value
        if name == "_scopes":  # a subclass that skipped __init__
            with _first_use:
                scopes: dict[Hashable, Any] | None = state.get("_scopes")
                if scopes is None:
                    scopes = {}
                    object.__setattr__(self, "_scopes", scopes)
            return scopes
        if name == "_current_scope":
            return None
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _snapshot(self) -> dict[str, Any] | None:
        var = self.__dict__.get(_LOCALS)
        return None if var is None else var.get()

    def _restore(self, snapshot: dict[str, Any] | None) -> None:
        var = self.__dict__.get(_LOCALS)
        if var is not None:
            var.set({} if snapshot is None else snapshot)

    # -- the protocol ------------------------------------------------------------------

    def enter_scope(self, scope_id: Hashable = NO_ID) -> Any:
        """Make ``scope_id``'s storage current, creating it on first entry."""
        if scope_id not in self._scopes:
            self._scopes[scope_id] = {}
        self._current_scope = scope_id

    def exit_scope(self) -> Any:
        """Leave the current scope (its instances stay for the next entry)."""
        self._current_scope = None

    def get_current_scope(self) -> Any:
        """The storage of the current scope, or ``None`` outside any."""
        current = self._current_scope
        if current is None:
            return None
        return self._scopes.get(current)

    def cleanup_scope(self, scope_id: Hashable | None) -> Any:
        """Called after ``exit_scope``; the base keeps the scope's instances."""
        return None

    def end_scope(self, scope_id: Hashable) -> None:
        """Drop ``scope_id`` for good; the container finalizes its instances."""
        storage = self._scopes.pop(scope_id, None)
        if storage is not None:
            self._ended().append((scope_id, storage))

    # -- what the container asks ---------------------------------------------------------

    def _ended(self) -> list[tuple[Hashable, Any]]:
        ended: list[tuple[Hashable, Any]] | None = self.__dict__.get("_ScopeManager__ended")
        if ended is None:
            ended = []
            object.__setattr__(self, "_ScopeManager__ended", ended)
        return ended

    def _take_ended(self) -> list[tuple[Hashable, Any]] | None:
        """``(scope id, storage)`` of scopes ended since the last call.

        ``None`` when the container must look for itself (a hand-written manager).
        """
        ended = self._ended()
        taken = list(ended)
        ended.clear()
        return taken if type(self)._tracks_ends else None

    #: True for managers that report every end through ``end_scope`` (the ready ones)
    _tracks_ends = False

    def _held(self) -> set[int]:
        """The ids of every mapping the manager can still reach, so can still hand out.

        A look through its attributes and everything they hold, at any depth
        (mappings, sequences, sets, plain objects, ``__slots__`` objects): a
        hand-written manager may keep a scope's storage in a dict of records, a
        list, a dataclass...  Should a storage still escape this look, the
        container drops what it finalized from it, so nothing finalized is
        handed out again either way.
        """
        held: set[int] = set()
        seen: set[int] = set()
        todo: list[object] = [v for k, v in list(vars(self).items()) if not k.startswith(_OWN)]
        while todo and len(seen) < _REACH:
            value = todo.pop()
            ident = id(value)
            if ident in seen or isinstance(value, _ATOMS):
                continue
            seen.add(ident)
            todo.extend(_children(value))
            if isinstance(value, Mapping):
                held.add(ident)
        return held

    def _container_closed(self, scope_ids: list[Hashable]) -> None:
        """The container finalized these scopes when it closed (ready managers forget them)."""
        return
