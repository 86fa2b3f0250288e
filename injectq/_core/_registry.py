"""The scopes a container knows: the lifetimes, the custom scopes, and their order.

Custom scopes are run by their managers; the registry keeps, per name, the
manager and one ``SharedScope`` per scope id that has instances, and decides
when such a scope has really ended (its manager no longer hands the storage
out and no entry of it is active) so its instances are finalized once.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from ._advice import closest
from ._errors import BindingError, ScopeError
from ._finalize import Record, Steps, finalize, record_needs_await
from ._keys import RESERVED_SCOPES, SCOPED, SINGLETON, Scope, scope_name
from ._managers import ScopeManager
from ._scope import SharedScope

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, MutableMapping

__all__ = ["ScopeRegistry"]


_OWNER = "_ScopeManager__registry"  # where a manager remembers the registry that holds it


class _CustomScopes:
    """A registered custom scope name: its manager and the scopes it has open.

    ``lock`` guards ``states``, ``ending`` and every ``SharedScope.active`` of
    this name: entries and exits on many threads decide together, and only
    once, which scope has ended.  It is never held while a manager method, a
    factory or a finalizer runs.
    """

    __slots__ = ("ending", "lock", "manager", "states")

    def __init__(self, manager: ScopeManager) -> None:
        self.manager = manager
        self.states: dict[Hashable, SharedScope] = {}
        self.ending: list[SharedScope] = []  # ended, finalized once no entry is active
        self.lock = threading.Lock()


class ScopeRegistry:
    """Scope names, their nesting order, and the custom scopes' shared state."""

    def __init__(self, ours: Callable[[Hashable], bool]) -> None:
        self.parents: dict[str, str | None] = {}
        self.custom: dict[str, _CustomScopes] = {}
        #: whether the container put a key into a storage (it drops those it finalized)
        self._ours = ours

    # -- names and order -------------------------------------------------------------

    def check(self, scope: str | Scope) -> str:
        """The name of ``scope``, which must be a lifetime or a registered custom scope."""
        name = scope_name(scope)
        if name not in RESERVED_SCOPES and name not in self.parents:
            known = sorted(RESERVED_SCOPES | self.parents.keys())
            match = closest(name, known)
            register = f"container.register_scope_manager({name!r}, manager)"
            raise ScopeError(
                f"unknown scope {name!r}"
                + (f" (did you mean {match!r}?)" if match else "")
                + f"; registered scopes: {', '.join(map(repr, known))}",
                fix=f"use {match!r}, or register a new scope first: {register}"
                if match
                else f"register it first: {register}",
            )
        return name

    def outlives(self, longer: str, shorter: str) -> bool:
        """Whether the ``longer`` lifetime lasts at least as long as ``shorter``."""
        if longer in (shorter, SINGLETON):
            return True
        if shorter == SINGLETON:
            return False
        if shorter == SCOPED:
            return True
        if longer == SCOPED:
            return False
        parent = self.parents.get(shorter)
        while parent is not None:
            if parent == longer:
                return True
            parent = self.parents.get(parent)
        return False

    def manager(self, name: str) -> ScopeManager:
        return self.custom[name].manager

    def register(self, name: str, manager: ScopeManager, parent: str | None) -> None:
        """Register (or replace) a custom scope; see ``InjectQ.register_scope_manager``."""
        given: list[object] = [name, parent]  # typed str, but anything may come
        if not isinstance(given[0], str) or not isinstance(given[1], (str, type(None))):
            bad = given[0] if not isinstance(given[0], str) else given[1]
            raise ScopeError(
                f"scope names are strings, not {type(bad).__name__} ({bad!r:.60})",
                fix="name custom scopes with strings: register_scope_manager('tenant', manager)",
            )
        if name in RESERVED_SCOPES:
            raise ScopeError(
                f"{name!r} is a built-in lifetime and cannot be registered as a custom scope",
                fix="pick another name, e.g. 'session', 'tenant' or 'workflow'",
            )
        if not isinstance(manager, ScopeManager):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise BindingError(
                f"the manager for scope {name!r} must be a ScopeManager, not {type(manager).__name__}",
                fix="subclass injectq.ScopeManager (override the methods you need)",
            )
        if parent is not None:
            self.check(parent)
            if parent in RESERVED_SCOPES:
                raise ScopeError(
                    f"parent={parent!r}: only a custom scope can be the parent of {name!r}",
                    fix="singletons outlive every scope already; leave parent=None",
                )
            ancestor: str | None = parent
            while ancestor is not None:
                if ancestor == name:
                    raise ScopeError(
                        f"parent={parent!r} would make scope {name!r} its own ancestor"
                    )
                ancestor = self.parents.get(ancestor)
        owner_ref: weakref.ref[ScopeRegistry] | None = manager.__dict__.get(_OWNER)
        owner = None if owner_ref is None else owner_ref()
        if owner is not None and owner is not self and owner.holds(manager):
            raise ScopeError(
                f"this {type(manager).__name__} already runs a scope of another container;"
                " a manager belongs to one container (sharing it would share the instances"
                " it stores between the containers)",
                fix=f"give each container its own manager:"
                f" container.register_scope_manager({name!r}, {type(manager).__name__}(...))",
            )
        old = self.custom.get(name)
        if old is not None and any(state.active for state in old.states.values()):
            raise ScopeError(
                f"scope {name!r} is entered right now; its manager cannot be replaced",
                fix="register the new manager once every entry of the scope has been left",
            )
        scopes = _CustomScopes(manager)
        if old is not None:  # the old manager's scopes are finalized at the next exit or close
            scopes.ending = [*old.ending, *old.states.values()]
        self.custom[name] = scopes
        self.parents[name] = parent
        manager.__dict__[_OWNER] = weakref.ref(self)

    def holds(self, manager: ScopeManager) -> bool:
        """Whether ``manager`` runs one of this registry's scopes."""
        return any(scopes.manager is manager for scopes in self.custom.values())

    # -- the scopes of one name ---------------------------------------------------------

    def enter(
        self, name: str, scope_id: Hashable | None, storage: MutableMapping[Hashable, Any]
    ) -> SharedScope:
        """Count an entry of the scope whose storage the manager just handed over."""
        scopes = self.custom[name]
        with scopes.lock:
            state = scopes.states.get(scope_id)
            if state is not None and state.storage is not storage:
                # the manager dropped the old storage and started a new one under the same id
                del scopes.states[scope_id]
                scopes.ending.append(state)
                state = None
            if state is None:
                state = scopes.states[scope_id] = SharedScope(storage)
            state.active += 1
            return state

    def leave(self, name: str, state: SharedScope) -> None:
        """Count an exit of ``state``'s scope (whose manager may have been replaced since)."""
        scopes = self.custom.get(name)
        if scopes is None:  # pragma: no cover - a name is never unregistered
            state.active -= 1
            return
        with scopes.lock:
            state.active -= 1

    def drain(self, name: str, is_async: bool) -> Steps[list[Exception]]:
        """Finalize the scopes of ``name`` that have ended and have no active entry."""
        scopes = self.custom.get(name)
        if scopes is None:
            return []
        manager = scopes.manager
        with scopes.lock:
            ended = manager._take_ended()
            if ended is None:  # a hand-written manager: see what it still holds
                held = manager._held()
                ended = [
                    (scope_id, state.storage)
                    for scope_id, state in scopes.states.items()
                    if not state.active and id(state.storage) not in held
                ]
            for scope_id, storage in ended:
                state = scopes.states.get(scope_id)
                # the same id may already hold a newer scope: only its own storage ends it
                if state is not None and state.storage is storage:
                    del scopes.states[scope_id]
                    scopes.ending.append(state)
            if not scopes.ending:
                return []
            # a sync exit leaves what needs an await to the next async exit or aclose()
            ready = [s for s in scopes.ending if not s.active and (is_async or not _needs_await(s))]
            if not ready:
                return []
            scopes.ending = [state for state in scopes.ending if state not in ready]
            for state in ready:
                self._forget(state)
        errors: list[Exception] = []
        for state in ready:
            errors += yield from finalize(state.records, is_async=is_async)
        return errors

    def _forget(self, state: SharedScope) -> None:
        """Drop from an ended scope's storage what the container put there, before finalizing.

        A hand-written manager may still hold the storage (or hand it out again):
        it then holds nothing that was finalized, and the next entry builds anew.
        """
        storage = state.storage
        for key in list(storage):
            if self._ours(key):
                storage.pop(key, None)

    def drain_all(self, is_async: bool) -> Steps[list[Exception]]:
        errors: list[Exception] = []
        for name in list(self.custom):
            errors += yield from self.drain(name, is_async)
        return errors

    # -- closing ------------------------------------------------------------------------

    def shared_frames(self) -> list[SharedScope]:
        """Every custom scope's shared state, where builds of its instances may be in flight."""
        found: list[SharedScope] = []
        for scopes in list(self.custom.values()):
            with scopes.lock:
                found += [*scopes.states.values(), *scopes.ending]
        return found

    def open_records(self) -> list[Record]:
        records: list[Record] = []
        for scopes in list(self.custom.values()):
            with scopes.lock:
                for state in [*scopes.states.values(), *scopes.ending]:
                    records += state.records
        return records

    def close_steps(self, is_async: bool) -> Steps[list[Exception]]:
        """Finalize every custom scope still alive, and forget them.

        A scope entered right now stays registered as ending: what its entries
        build after this is finalized when its last entry is left (or by the
        next close).
        """
        errors: list[Exception] = []
        for scopes in list(self.custom.values()):
            with scopes.lock:
                doomed = [*scopes.states.values(), *scopes.ending]
                scopes.manager._container_closed(list(scopes.states))
                scopes.states.clear()
                scopes.ending = [state for state in doomed if state.active]
                for state in doomed:
                    self._forget(state)
            for state in doomed:
                errors += yield from finalize(state.records, is_async=is_async)
        return errors


def _needs_await(state: SharedScope) -> bool:
    return any(record_needs_await(record) for record in state.records)
