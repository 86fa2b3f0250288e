"""Run: the storage of one lifetime (a *frame*) and the scope handle users enter.

A frame holds the instances of one lifetime, their teardown records, and what
concurrent builders need (a lock for threads, pending events for tasks).  The
container's own frame holds the singletons.  ``ScopeHandle`` is a frame with a
lifecycle: entered once with ``with`` or ``async with`` (the async form runs an
anyio task group), left once, its records finalized last-created first.

The lifecycle is written once as step generators (see ``_finalize``) and
driven by ``__enter__``/``__exit__`` or ``__aenter__``/``__aexit__``.
"""

from __future__ import annotations

import inspect
import threading
import typing
from _thread import RLock as _RLock
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio
from typing_extensions import TypeVarTuple, Unpack

from ._active import entries, register
from ._errors import BaseExceptionGroup, ScopeError, describe_key
from ._finalize import (
    Record,
    Steps,
    conclude,
    drive_async,
    drive_shielded,
    drive_sync,
    finalize,
    finalize_async,
    record_needs_await,
    run_sync,
)
from ._managers import ScopeManager, calling_manager

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Hashable, Iterator
    from contextvars import ContextVar, Token
    from types import TracebackType

    from anyio import CancelScope
    from anyio.abc import TaskGroup

    from ._container import InjectQ

__all__ = ["Ended", "Frame", "ScopeHandle", "SharedScope", "new_handle"]

T = TypeVar("T")
PosArgsT = TypeVarTuple("PosArgsT")
_NEW, _ACTIVE, _LEFT = 0, 1, 2

#: how many consecutive scopes of one container get handles with distinct ids
SPARE_HANDLES = 64
_ENTER_ONCE = (
    "a scope handle is entered once and left once: open a new one with container.scope(...)"
)

_NO_ERRORS: list[Exception] = []  # what an exit with nothing to finalize reports (never changed)


class Frame:
    """Instances of one lifetime and the records that finalize them."""

    __slots__ = (
        "building",
        "instances",
        "is_async",
        "lock",
        "name",
        "parent",
        "pending",
        "records",
        "scope_id",
        "seq",
    )

    def __init__(self, name: str, parent: Frame | None, *, is_async: bool) -> None:
        self.name = name
        self.parent = parent
        self.is_async = is_async
        self.scope_id: Hashable | None = None
        self.instances: MutableMapping[Hashable, Any] = {}
        #: key -> what builds it now (see ``_flight``); made on the first build in flight
        self.pending: dict[Hashable, Any] | None = None
        self.records: list[Record] = []
        self.lock: threading.RLock = threading.RLock()
        #: while a sync build runs in a request scope: the keys it caches (see ``_codegen``)
        self.building: frozenset[Hashable] | None = None
        #: when its block began (``entries``); 0 for a container's own frame
        self.seq = 0

    def adopt(self, records: list[Record]) -> None:
        """Take over ``records``; a frame left with ``with`` refuses what needs ``await``.

        A scope that has ended takes nothing: whoever built ``records`` finalizes them.
        """
        if type(self.instances) is Ended:
            raise self.instances.error(records[0][2] if records else None)
        if not self.is_async:
            for record in records:
                if record_needs_await(record):
                    raise self._cannot_await(record[2])
        self.records.extend(records)

    def _cannot_await(self, key: Hashable) -> ScopeError:
        return ScopeError(
            f"{describe_key(key)} needs an async teardown, but the {self.name!r}"
            " scope was entered with `with` and cannot await it",
            key=key,
            fix=f"enter it with `async with container.scope({self.name!r})`",
        )


def _unwrap(raised: BaseException, exc: BaseException | None) -> BaseException:
    """The block's own exception when the task group only wrapped it in a group."""
    inner: Any = getattr(raised, "exceptions", None)
    if (
        exc is not None
        and isinstance(raised, BaseExceptionGroup)
        and len(inner) == 1
        and inner[0] is exc
    ):
        return exc
    return typing.cast("BaseException", raised)  # type: ignore[redundant-cast,unused-ignore]


class Ended(MutableMapping[Any, Any]):
    """What a scope that has ended holds, seen from code that outlived it.

    A left scope's frame swaps its instances for this: the first thing every
    builder does with a frame is look a key up in it, and here that look-up is
    the clear error -- so nothing is built for, or handed out from, a scope
    that is over, at no cost to the resolution of live scopes.
    """

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def error(self, key: Hashable | None) -> ScopeError:
        asked = "" if key is None else f"; {describe_key(key)} cannot be resolved in it"
        return ScopeError(
            f"{self.what} has ended{asked} (this code outlived the scope it started in:"
            " a task started through an outer task group, a copied context, or a kept handle)",
            key=key,
            chain=() if key is None else [key],
            fix="keep the work inside the scope with `scope.start_soon(...)` / `await"
            " scope.start(...)`, or open a scope of its own in the job (`async with"
            " container.scope(): ...`)",
        )

    def get(self, key: Any, default: Any = None) -> Any:
        raise self.error(key)

    def __getitem__(self, key: Any) -> Any:
        raise self.error(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        raise self.error(key)

    def __delitem__(self, key: Any) -> None:
        raise self.error(key)

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<{self.what} (ended)>"


def _describe_scope(name: str, scope_id: Hashable | None) -> str:
    if name == "scoped":
        return "the request scope ('scoped')"
    return f"the {name!r} scope" + ("" if scope_id is None else f" {scope_id!r}")


def _name_of(func: object) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


class SharedScope:
    """One custom scope (a manager's storage for one id), shared by all its entries.

    Its instances are finalized once, when the manager no longer hands the
    storage out and no entry of it is active, or when the container closes.
    """

    __slots__ = ("active", "lock", "pending", "records", "storage")

    def __init__(self, storage: MutableMapping[Hashable, Any]) -> None:
        self.storage = storage
        self.active = 0
        self.records: list[Record] = []
        self.pending: dict[Hashable, Any] = {}
        self.lock = threading.RLock()


class ScopeHandle(Frame):
    """An entered scope: resolve with ``get``/``aget``, run tasks with ``start_soon``/``start``."""

    __slots__ = (
        "__weakref__",
        "_container",
        "_manager",
        "_shared",
        "_snapshot",
        "_spawned",
        "_state",
        "_task_group",
        "_token",
    )

    _container: InjectQ
    _manager: ScopeManager | None
    _state: int
    _task_group: TaskGroup | None
    _spawned: bool
    _token: Token[Frame] | None
    _shared: SharedScope
    _snapshot: dict[str, Any] | None

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise ScopeError(
            "a scope handle is not made directly",
            fix="open a scope with `container.scope(...)`; it gives the handle",
        )

    def __repr__(self) -> str:
        state = ("not entered", "active", "left")[self._state]
        shown = "" if self.scope_id is None else f", {self.scope_id!r}"
        return f"<ScopeHandle {self.name!r}{shown} ({state})>"

    # -- lifecycle, written once ------------------------------------------------

    def _check_new(self) -> None:
        if self._state != _NEW:
            what = "is active" if self._state == _ACTIVE else "has been left"
            raise ScopeError(
                f"this {self.name!r} scope {what}; a scope handle is entered once",
                fix="open a new one with container.scope(...)",
            )

    def _enter_frame(self, is_async: bool) -> None:
        container = self._container
        var: ContextVar[Frame] = container._scope_var
        self.parent = var.get()
        self.is_async = is_async
        self._token = var.set(self)
        # the scope block makes its container the active one (``@inject``, get_instance())
        self.seq = next(entries)
        self._state = _ACTIVE

    def _detach(self) -> None:
        """Restore the context the scope was entered from; refuse any other context.

        Called first on the way out, before anything changes: a scope left from
        another task or thread is refused and stays intact for its own task.
        """
        try:
            self._container._scope_var.reset(self._token)  # type: ignore[arg-type]
        except (ValueError, TypeError, AttributeError):
            raise self._not_here() from None
        self._token = None

    def _not_here(self) -> ScopeError:
        what = _describe_scope(self.name, self.scope_id)
        if self._state != _ACTIVE:
            return ScopeError(f"{what} is not active: it cannot be left", fix=_ENTER_ONCE)
        return ScopeError(
            f"{what} is left from another task or thread than the one that entered it;"
            " it is still active",
            fix="leave a scope in the task (and thread) that entered it: keep the"
            " `with` / `async with` block in one task, and start other work inside"
            " it with `scope.start_soon(...)`",
        )

    def _leave_frame(self) -> None:
        self._state = _LEFT
        if self._manager is None:
            # a left request scope gives up its instances
            self.instances = self._container._ended_request
        else:
            self.instances = Ended(_describe_scope(self.name, self.scope_id))

    def _open(self, is_async: bool) -> Steps[None]:
        """Enter a custom scope: the manager's steps (which may await), then the frame."""
        manager = self._manager
        if manager is not None:
            if not is_async:
                self._refuse_async_exit(manager)
            self._snapshot = manager._snapshot()
            with calling_manager():
                entered = (
                    manager.enter_scope()
                    if self.scope_id is None
                    else manager.enter_scope(self.scope_id)
                )
                if inspect.isawaitable(entered):
                    yield entered
                storage = manager.get_current_scope()
                if inspect.isawaitable(storage):
                    storage = yield storage
            if storage is None:
                manager._restore(self._snapshot)
                raise ScopeError(
                    f"{type(manager).__name__}.get_current_scope() returned None right after"
                    f" enter_scope() for the {self.name!r} scope",
                    fix="return the mapping that holds the entered scope's instances",
                )
            shared = self._container._scopes.enter(self.name, self.scope_id, storage)
            self._shared = shared
            self.instances = storage
            self.records = shared.records
            self.pending = shared.pending
            self.lock = shared.lock
        self._enter_frame(is_async)

    def _refuse_async_exit(self, manager: ScopeManager) -> None:
        for method in ("exit_scope", "cleanup_scope"):
            if inspect.iscoroutinefunction(getattr(manager, method)):
                raise ScopeError(
                    f"{type(manager).__name__}.{method} is async, so the {self.name!r} scope"
                    " cannot be left with `with`",
                    fix=f"use `async with container.scope({self.name!r}, ...)`",
                )

    def _close(self, manager: ScopeManager, is_async: bool) -> Steps[list[Exception]]:
        """Leave a custom scope: the frame, the manager's exit steps, then what it ended.

        (A request scope's exit finalizes its records directly: see ``__exit__``
        and ``_teardown``.)
        """
        self._leave_frame()
        shared = self._shared
        errors: list[Exception] = []
        registry = self._container._scopes
        with calling_manager():
            for step in (manager.exit_scope, lambda: manager.cleanup_scope(self.scope_id)):
                try:
                    result = step()
                    if inspect.isawaitable(result):
                        yield result
                except Exception as exc:
                    errors.append(exc)
        manager._restore(self._snapshot)
        registry.leave(self.name, shared)
        errors += yield from registry.drain(self.name, is_async)
        return errors

    def _refuse(self) -> ScopeError:
        return ScopeError(
            f"the {self.name!r} scope needs to await here (an async scope manager method"
            " or teardown), which `with` cannot do",
            fix=f"use `async with container.scope({self.name!r}, ...)`",
        )

    def __enter__(self) -> ScopeHandle:
        if self._state != _NEW:
            self._check_new()
        if self._manager is None:  # _enter_frame(False), written out (see __exit__)
            container = self._container
            var = container._scope_var
            self.parent = var.get()
            self.is_async = False
            self._token = var.set(self)
            self.seq = next(entries)
            self._state = _ACTIVE
        else:
            drive_sync(self._open(False), self._refuse)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._manager is None:  # a request scope: the frame, then its teardown
            # _detach() and _leave_frame(), written out: a sync request is ~3.5 µs, and
            # calling the three helpers of enter and exit made it 3% slower (measured);
            # an async scope calls them (its task group dwarfs a call)
            container = self._container
            try:
                container._scope_var.reset(self._token)  # type: ignore[arg-type]
            except (ValueError, TypeError, AttributeError):
                raise self._not_here() from None
            self._token = None
            self._state = _LEFT
            self.instances = container._ended_request
            if self.records:
                errors: list[Exception] = []
                run_sync(finalize(self.records, is_async=False, errors=errors), self._refuse)
                if errors:
                    conclude(errors, exc, f"the {self.name!r} scope")
            return
        self._detach()
        errors = drive_sync(self._close(self._manager, False), self._refuse)
        conclude(errors, exc, f"the {self.name!r} scope")

    async def __aenter__(self) -> ScopeHandle:
        if self._state != _NEW:
            self._check_new()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            if self._manager is None:
                self._enter_frame(True)
            else:
                await drive_async(self._open(True))
        except BaseException as exc:
            self._task_group = None
            try:
                await task_group.__aexit__(type(exc), exc, exc.__traceback__)
            except BaseException as raised:
                if _unwrap(raised, exc) is not exc:
                    raise
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group = self._task_group
        if task_group is None:  # pragma: no cover - __aenter__ failed, so no __aexit__
            return
        self._detach()
        # With no task to wait for, tear down first, shielded by the group's own
        # cancel scope (a cancel scope less to open and close, which is most of an
        # exit's cost on trio), then close the group unshielded, as it was entered.
        # With tasks, they finish first (they may still call start_soon() while the
        # group waits for them), and the teardown gets a shielded scope of its own.
        # tests/test_scope_exit_equivalence.py holds both orders to one behaviour.
        if self._spawned:
            errors = None
        elif self._manager is None:  # a request scope: no coroutine when nothing to finalize
            self._leave_frame()
            records = self.records
            errors = (
                await finalize_async(records, task_group.cancel_scope) if records else _NO_ERRORS
            )
        else:
            errors = await self._teardown(task_group.cancel_scope)
        block_exc = exc
        try:
            if await task_group.__aexit__(exc_type, exc, tb):
                block_exc = None
        except BaseException as raised:
            block_exc = _unwrap(raised, exc)
        finally:
            self._task_group = None
        if errors is None:
            errors = await self._teardown(None)
        if errors:
            conclude(errors, block_exc, f"the {self.name!r} scope")
        if block_exc is not None and block_exc is not exc:
            raise block_exc

    def _teardown(self, shield: CancelScope | None) -> Coroutine[Any, Any, list[Exception]]:
        """Leave the frame and finalize, shielded: by ``shield`` when given, else by a new scope."""
        if self._manager is not None:
            return drive_shielded(self._close(self._manager, True), shield)
        self._leave_frame()
        return finalize_async(self.records, shield)

    # -- use --------------------------------------------------------------------

    def _inactive(self, action: str) -> ScopeError:
        what = _describe_scope(self.name, self.scope_id)
        if self._state == _NEW:
            return ScopeError(
                f"{action} on {what} before it is entered",
                fix=f"call it inside `async with container.scope({self.name!r}) as scope:`",
            )
        return ScopeError(
            f"{action} on {what} after it has been left: the scope has ended (a kept"
            " handle, or a task that outlived the scope)",
            fix="keep the work inside the scope with `scope.start_soon(...)` / `await"
            " scope.start(...)`, or open a scope of its own in the job",
        )

    def _check_active(self, action: str) -> None:
        if self._state != _ACTIVE:
            raise self._inactive(action)

    @overload
    def get(self, key: type[T]) -> T: ...
    @overload
    def get(self, key: Any) -> Any: ...
    def get(self, key: Any) -> Any:
        """Resolve ``key`` in this scope (sync)."""
        if self._state != _ACTIVE:
            raise self._inactive(f"get({describe_key(key)})")
        return self._container._plan(key).top(self)

    @overload
    async def aget(self, key: type[T], *, concurrent: bool = False) -> T: ...
    @overload
    async def aget(self, key: Any, *, concurrent: bool = False) -> Any: ...
    async def aget(self, key: Any, *, concurrent: bool = False) -> Any:
        """Resolve ``key`` in this scope, awaiting async factories (see ``InjectQ.aget``)."""
        if self._state != _ACTIVE:
            raise self._inactive(f"aget({describe_key(key)})")
        return await self._container._aresolve(key, self, concurrent)

    def _group(self, action: str) -> TaskGroup:
        self._check_active(action)
        if self._task_group is None:
            raise ScopeError(
                f"{action} needs a scope entered with `async with`",
                fix=f"use `async with container.scope({self.name!r}) as scope:`",
            )
        self._spawned = True  # its exit waits for tasks before tearing down
        return self._task_group

    def start_soon(
        self,
        func: Callable[[Unpack[PosArgsT]], Coroutine[Any, Any, Any]],
        *args: Unpack[PosArgsT],
        name: object = None,
    ) -> None:
        """Start a task that this scope waits for before it finalizes anything."""
        group = self._group("start_soon()")
        if self._container._scope_var.get() is self:
            group.start_soon(func, *args, name=name)
        else:  # called from an inner scope or elsewhere: the task still belongs to this one
            group.start_soon(self._run_here, func, *args, name=name or _name_of(func))  # type: ignore[arg-type]

    async def start(
        self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: object = None
    ) -> Any:
        """Start a task and wait until it calls ``task_status.started()``."""
        group = self._group("start()")
        if self._container._scope_var.get() is self:
            return await group.start(func, *args, name=name)
        return await group.start(self._run_here, func, *args, name=name or _name_of(func))

    async def _run_here(
        self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any, **kwargs: Any
    ) -> Any:
        self._container._scope_var.set(self)  # the task's own context: no reset needed
        return await func(*args, **kwargs)


_blank = object.__new__


def new_handle(
    container: InjectQ, name: str, scope_id: Hashable | None, manager: ScopeManager | None = None
) -> ScopeHandle:
    """A handle for a new scope of ``container``.

    It comes from the front of the container's queue of never-used handles, and a
    new one joins the back.  So a handle was allocated SPARE_HANDLES scopes before
    it is handed out, while the handles of the scopes in between still existed:
    ``id(scope)`` of that many consecutive scopes differs even when each handle is
    dropped as soon as its scope is left (one short scope per thread, logged by
    id).  The container keeps no handle of a scope that was left.
    """
    if not container._scoping:  # its first scope: get_instance() considers it from now
        register(container)
    spares = container._spare_handles
    try:
        handle: ScopeHandle = spares.popleft()
    except IndexError:  # the first scope (or scopes opened by very many threads at once)
        spares.extend([_blank(ScopeHandle) for _ in range(SPARE_HANDLES)])
        handle = _blank(ScopeHandle)
    spares.append(_blank(ScopeHandle))
    # Frame's fields, set here directly (a request scope is opened per request);
    # parent, is_async and the token are set on entry, the custom-scope fields
    # (_shared, _snapshot) by _open
    handle.name = name
    handle.scope_id = scope_id
    handle.instances = {}
    handle.pending = None
    handle.building = None
    handle.records = []
    # its own: builds in other scopes never wait for it (the C lock threading.RLock()
    # makes, without that function's call: a scope is opened per request)
    handle.lock = _RLock()
    handle._container = container
    handle._manager = manager
    handle._state = _NEW
    handle._task_group = None
    handle._spawned = False
    return handle
