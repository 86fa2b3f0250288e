"""The container: the public face of the pipeline.

Bindings in (``_bindings``), planned nodes out (``_planner``, ``_plan``,
``_codegen``), resolution through a key's builders, scopes (``_scope``) and
closing around them.
"""

from __future__ import annotations

import collections
import inspect
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio

from ._active import Activation, current
from ._advice import abstract_error
from ._bindings import (
    UNREADABLE,
    Binding,
    check_instance,
    is_any,
    is_class,
    unbuildable,
)
from ._errors import (
    BaseExceptionGroup,
    BindingError,
    DependencyNotFoundError,
    InjectionError,
    ScopeError,
    describe_key,
)
from ._finalize import (
    Record,
    Steps,
    conclude,
    drive_async,
    drive_shielded,
    drive_sync,
    finalize,
    record_needs_await,
)
from ._flight import Flight, await_flight, finish, in_flight, wait_flight
from ._inject import Injector
from ._keys import (
    RESERVED_SCOPES,
    SCOPED,
    SINGLETON,
    Scope,
    normalize_key,
    scope_name,
    unhashable_key,
)
from ._override import Override, track_container
from ._plan import Node, missing_prereqs
from ._planner import Planner
from ._registry import ScopeRegistry
from ._scope import Ended, Frame, ScopeHandle, new_handle
from ._spec import CallKind, as_declared, call_kind
from ._validate import validate

if TYPE_CHECKING:
    from types import TracebackType

    from ._managers import ScopeManager
    from ._modules import Module
    from ._report import ValidationReport

__all__ = ["Binding", "InjectQ"]

T = TypeVar("T")
K = TypeVar("K")
_SELF: Any = object()
_NO_KEY: Any = object()


class _Factories(MutableMapping[Hashable, Callable[..., Any]]):
    """``container.factories``: the factory bindings seen as a dict."""

    def __init__(self, container: InjectQ) -> None:
        self._container = container

    def __getitem__(self, key: Hashable) -> Callable[..., Any]:
        return self._container.get_factory(key)

    def __setitem__(self, key: Hashable, factory: Callable[..., Any]) -> None:
        self._container.bind_factory(key, factory)

    def __delitem__(self, key: Hashable) -> None:
        self._container.get_factory(key)
        del self._container[key]

    def __iter__(self) -> Iterator[Hashable]:
        return (k for k, b in self._container._bindings.items() if not b.is_instance)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Ready(dict[Hashable, Any]):
    __slots__ = ("_container",)

    def __init__(self, container: InjectQ) -> None:
        super().__init__()
        self._container = container

    def __missing__(self, key: Any) -> Any:
        return self._container._get(key)


def _uncallable(target: object) -> str | None:
    """Why calling ``target`` cannot build anything (``Any``, a Protocol, an ABC), or None."""
    if is_any(target) or (isinstance(target, type) and is_class(target)):
        return unbuildable(target, signature=False)
    return None


def _fast_get(ready: _Ready) -> Callable[[Any], Any]:
    """``get`` for one container: its ready dict's look-up, its misses resolved in full.

    A plain function rather than the dict's bound ``__getitem__`` only so that an
    unhashable key is a ``BindingError`` rather than Python's bare ``TypeError``: the
    ``try`` costs nothing until it catches.
    """

    def get(key: Any) -> Any:
        try:
            return ready[key]
        except TypeError:
            try:
                hash(key)
            except TypeError:
                raise unhashable_key(key) from None
            raise  # raised while building: the factory's own error

    return get


class InjectQ(Planner):
    """A dependency-injection container.

    Bind keys (types, strings, ``Annotated[T, "name"]``) to classes,
    factories or instances; resolve them with ``get``/``aget``; open scopes
    with ``container.scope()``; close it to finalize its singletons.
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        self._bindings: dict[Hashable, Binding] = {}
        self._plans: dict[Hashable, Node] = {}
        self._plan_lock = threading.RLock()
        self._root = Frame(SINGLETON, None, is_async=True)
        self._root.pending = {}
        self._spare_handles: collections.deque[ScopeHandle] = collections.deque()
        self._ended_request = Ended("the request scope ('scoped')")
        self._closing: Flight | None = None  # the close running now, if any
        # Already-built singletons and bound instances, by key.  ``get`` looks a key up
        # here (unless a subclass overrides ``get``); a miss falls through
        # ``__missing__`` to the full resolution.
        self._ready = _Ready(self)
        if type(self).get is InjectQ.get:
            object.__setattr__(self, "get", _fast_get(self._ready))
        self._scope_var: ContextVar[Frame] = ContextVar("injectq.scope", default=self._root)
        self._scopes = ScopeRegistry(self._ours)
        self.factories: MutableMapping[Hashable, Callable[..., Any]] = _Factories(self)
        self._scoping = False  # entered a scope yet (see _active.register)
        track_container(self)  # overrides for every container reach this one too
        for module in modules or ():
            self.install_module(module)

    def __repr__(self) -> str:
        return f"<InjectQ with {len(self._bindings)} bindings>"

    # -- the active container -------------------------------------------------

    @classmethod
    def get_instance(cls) -> InjectQ:
        """The active container, else a process-wide one.

        The active container is the one whose ``context()`` block (or
        ``test_container()``) or scope block began last among those this
        context is inside.
        """
        return current(cls)

    def context(self) -> Activation:
        """Make this container the active one inside a ``with`` / ``async with`` block."""
        return Activation(self)

    # -- declare ------------------------------------------------------------------

    def _set(self, binding: Binding) -> None:
        key = binding.key
        with self._plan_lock:
            self._bindings[key] = binding
            self._root.instances.pop(key, None)
            self._forget_plans()

    @overload
    def bind(
        self, key: None = None, *, scope: str | Scope = ..., allow_none: bool = ...
    ) -> Callable[[type[T]], type[T]]: ...
    @overload
    def bind(
        self, key: K, impl: Any = ..., scope: str | Scope = ..., allow_none: bool = ...
    ) -> K: ...
    def bind(
        self,
        key: Any = None,
        impl: Any = _SELF,
        scope: str | Scope = Scope.SINGLETON,
        allow_none: bool = False,
    ) -> Any:
        """Bind ``key`` to a class (built from its hints) or an instance (handed out as is).

        ``bind(X)`` binds ``X`` to itself.  Without a key it is a class decorator:
        ``@container.bind(scope="session")``.
        """
        if key is None:

            def decorate(cls: type[T]) -> type[T]:
                self.bind(cls, cls, scope=scope)
                return cls

            return decorate
        key = normalize_key(key)
        name = self._scopes.check(scope)
        if impl is _SELF:
            if not (is_class(key) or is_any(key)):
                raise BindingError(
                    f"bind({describe_key(key)}) needs an implementation: the key is not a class",
                    key=key,
                    fix=f"container.bind({describe_key(key)}, SomeClass) or bind_instance(...)",
                )
            impl = key
        if impl is None:
            if not allow_none:
                raise BindingError(
                    f"binding {describe_key(key)} to None",
                    key=key,
                    fix="pass allow_none=True to bind the value None on purpose",
                )
            self._set(Binding(key, SINGLETON, instance=None))
            return key
        if is_class(impl) or is_any(impl):
            why = unbuildable(impl)
            if why is not None:
                if inspect.isabstract(impl):
                    raise abstract_error(key, impl)
                unreadable = why == UNREADABLE
                raise BindingError(
                    f"{describe_key(impl)} {why} and cannot be built for {describe_key(key)}",
                    key=key,
                    fix=f"call it yourself: container.bind_factory({describe_key(key)}, a_function),"
                    f" or bind_instance({describe_key(key)}, value)"
                    if unreadable
                    else f"bind a concrete implementation: container.bind({describe_key(key)}, Impl)",
                )
            self._set(Binding(key, name, provider=impl, kind=CallKind.SYNC))
        else:
            check_instance(key, impl)
            self._set(Binding(key, SINGLETON, instance=impl))
        return key

    def bind_instance(self, key: Hashable, instance: Any, allow_none: bool = False) -> None:
        """Bind ``key`` to ``instance``, handed out as is and never finalized by the container."""
        if instance is None and not allow_none:
            raise BindingError(
                f"binding {describe_key(key)} to None",
                key=key,
                fix="pass allow_none=True to bind the value None on purpose",
            )
        key = normalize_key(key)
        check_instance(key, instance)
        self._set(Binding(key, SINGLETON, instance=instance))

    def bind_factory(
        self, key: Hashable, factory: Callable[..., Any], scope: str | Scope = Scope.TRANSIENT
    ) -> None:
        """Bind ``key`` to a callable: sync or async function, sync or async generator."""
        if not callable(factory):
            raise BindingError(
                f"the factory for {describe_key(key)} is not callable: {factory!r}",
                key=key,
                fix="pass a function, or use bind_instance for a value",
            )
        key = normalize_key(key)
        why = _uncallable(factory)
        if why is not None:
            raise BindingError(
                f"the factory for {describe_key(key)} cannot be called:"
                f" {describe_key(factory)} {why}",
                key=key,
                fix=f"pass a concrete class or a function: container.bind_factory({describe_key(key)}, make)",
            )
        name = self._scopes.check(scope)
        kind = call_kind(factory)
        self._set(Binding(key, name, provider=as_declared(factory, kind), kind=kind))

    def __setitem__(self, key: Hashable, value: Any) -> None:
        if isinstance(value, type) or is_any(value):
            self.bind(key, value, scope=Scope.SINGLETON)
        else:
            self.bind_instance(key, value, allow_none=True)

    def __getitem__(self, key: Any) -> Any:
        return self.get(key)

    def __delitem__(self, key: Hashable) -> None:
        key = normalize_key(key)
        with self._plan_lock:
            if key not in self._bindings:
                raise DependencyNotFoundError(f"nothing is bound to {describe_key(key)}", key=key)
            del self._bindings[key]
            self._root.instances.pop(key, None)
            self._forget_plans()

    def __contains__(self, key: object) -> bool:
        try:
            return normalize_key(key) in self._bindings
        except TypeError:
            return False

    def has(self, key: Hashable) -> bool:
        """Whether ``key`` has a binding."""
        return key in self

    def install_module(self, module: Module) -> None:
        """Let ``module`` add its bindings."""
        module.configure(self)

    def clear(self) -> None:
        """Drop every binding and cached instance (without finalizing: close first)."""
        with self._plan_lock:
            self._bindings.clear()
            self._forget_plans()
            self._root.instances.clear()
            self._root.records.clear()

    def override(self, key: Any, value: Any) -> Override:
        """``with`` / ``async with``: ``key`` resolves to ``value`` in this container, in
        this context only, for the block (see ``injectq.testing.override_dependency``)."""
        return Override(key, value, self)

    # -- validate -------------------------------------------------------------------

    def validate(
        self, *, strict: bool = True, entry_points: Iterable[Callable[..., Any]] = ()
    ) -> ValidationReport:
        """Check every binding's graph without building anything; report every problem.

        Finds missing dependencies, cycles, captive dependencies (across every
        lifetime, custom scopes and their ``parent=`` order included) and, for the
        ``entry_points`` given (functions called through ``@inject``), sync ones that
        need a key only ``aget`` can resolve; notes which bound keys need ``aget``.
        With ``strict`` (the default) any problem raises one ``ValidationError``
        that lists them all; with ``strict=False`` the report is returned instead.
        """
        return validate(self, strict=strict, entry_points=entry_points)

    # -- resolve --------------------------------------------------------------------

    def _get(self, key: Any) -> Any:
        return self._plan(key).top(self._scope_var.get())

    async def _aresolve(self, key: Any, frame: Frame, concurrent: bool) -> Any:
        """``aget`` of the container (in its current scope) and of a scope handle."""
        node = self._plan(key)
        if node.atop is None:
            return node.top(frame)
        if concurrent:
            await self._prefetch(missing_prereqs(node, frame), frame)
        return await node.atop(frame)

    @staticmethod
    async def _prefetch(missing: list[Node], frame: Frame) -> None:
        """Await the cached async factories ``missing`` side by side."""
        if len(missing) > 1:
            try:
                async with anyio.create_task_group() as group:
                    for prereq in missing:
                        group.start_soon(prereq.abuild, frame)  # type: ignore[arg-type]
            except BaseExceptionGroup as group_error:
                # one factory failed (the others were cancelled): raise its error as itself
                if len(group_error.exceptions) == 1:
                    raise group_error.exceptions[0] from None
                raise

    @overload
    def get(self, key: type[T]) -> T: ...
    @overload
    def get(self, key: Any) -> Any: ...
    def get(self, key: Any) -> Any:
        """Resolve ``key`` in the current scope (sync)."""
        return self._get(key)  # the fast path replaces this per instance (see __init__)

    @overload
    async def aget(self, key: type[T], *, concurrent: bool = False) -> T: ...
    @overload
    async def aget(self, key: Any, *, concurrent: bool = False) -> Any: ...
    async def aget(self, key: Any, *, concurrent: bool = False) -> Any:
        """Resolve ``key`` in the current scope, awaiting async factories.

        With ``concurrent=True`` the cached async factories of ``key``'s graph that
        do not depend on each other are awaited at the same time, in a task group
        that is left before this returns.
        """
        return await self._aresolve(key, self._scope_var.get(), concurrent)

    @overload
    def try_get(self, key: type[T], default: None = None) -> T | None: ...
    @overload
    def try_get(self, key: type[T], default: T) -> T: ...
    @overload
    def try_get(self, key: Any, default: Any = None) -> Any: ...
    def try_get(self, key: Any, default: Any = None) -> Any:
        """Like ``get``, but ``default`` when nothing provides ``key``."""
        if self._binding_for(normalize_key(key)) is None:
            return default
        return self.get(key)

    def can_provide(self, key: Hashable) -> bool:
        """Whether ``key`` is bound or is a class the container can build."""
        try:
            return self._binding_for(normalize_key(key)) is not None
        except TypeError:
            return False

    def get_factory(self, key: Hashable) -> Callable[..., Any]:
        """The callable bound to ``key`` with ``bind_factory`` (or a bound class)."""
        binding = self._bindings.get(normalize_key(key))
        if binding is None or binding.provider is None:
            raise self._missing(normalize_key(key), [], " as a factory")
        return binding.provider

    def call_factory(self, key: Hashable, *args: Any, **kwargs: Any) -> Any:
        """Call the factory bound to ``key`` with exactly these arguments."""
        factory = self.get_factory(key)
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # nothing to check against: call it as asked
            return factory(*args, **kwargs)
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InjectionError(
                f"call_factory({describe_key(key)}): {exc}",
                key=key,
                fix=f"pass every argument it takes, or let the container fill them:"
                f" container.invoke({describe_key(key)})",
            ) from None
        return factory(*args, **kwargs)

    async def acall_factory(self, key: Hashable, *args: Any, **kwargs: Any) -> Any:
        """``call_factory``, awaiting the result when it is awaitable."""
        result = self.call_factory(key, *args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    def _invocable(self, target: Any, given: dict[str, Any]) -> Callable[..., Any]:
        if not callable(target) or (isinstance(target, type) and target in self._bindings):
            binding = self._bindings.get(normalize_key(target))
            if binding is None:
                raise self._missing(normalize_key(target), [])
            if binding.provider is not None:
                return binding.provider
            if not callable(binding.instance):
                raise BindingError(
                    f"{describe_key(target)} is bound to a value, not a factory", key=target
                )
            target = binding.instance
        why = _uncallable(target)
        if why is not None:
            raise BindingError(
                f"cannot invoke {describe_key(target)}: it {why}",
                key=target,
                fix="invoke a concrete class or a function",
            )
        if not given:
            try:
                inspect.signature(target)
            except (TypeError, ValueError):
                raise InjectionError(
                    f"cannot invoke {describe_key(target)}: its signature cannot be read, so"
                    " nothing can be injected into it",
                    key=target,
                    fix="pass its arguments: invoke(target, name=value), or call it yourself",
                ) from None
        return target  # type: ignore[no-any-return]

    def invoke(self, target: Any, /, **given: Any) -> Any:
        """Call a factory (or the one bound to a key): ``given`` as passed, the rest injected."""

        fn = self._invocable(target, given)
        args, filled = Injector.of(fn).fill(self, (), given)
        return fn(*args, **given, **filled)

    async def ainvoke(self, target: Any, /, **given: Any) -> Any:
        """``invoke`` with async dependencies awaited, and the result awaited when awaitable."""

        fn = self._invocable(target, given)
        args, filled = await Injector.of(fn).afill(self, (), given)
        result = fn(*args, **given, **filled)
        return await result if inspect.isawaitable(result) else result

    # -- scopes -------------------------------------------------------------------------

    def scope(
        self, name: str | Scope | None = None, scope_id: Hashable | None = None
    ) -> ScopeHandle:
        """A scope to enter with ``async with`` (or ``with``): the request scope by default."""
        try:
            hash(scope_id)
        except TypeError:
            raise ScopeError(
                f"a scope id must be hashable, not {type(scope_id).__name__} ({scope_id!r:.60})",
                fix="identify the scope with a str or an int: container.scope('session', 'user-42')",
            ) from None
        if name is None:
            return new_handle(self, SCOPED, scope_id)
        resolved = scope_name(name)
        if resolved != SCOPED:
            if resolved in RESERVED_SCOPES:
                raise ScopeError(
                    f"{resolved!r} is a lifetime, not a scope that can be entered",
                    fix="use container.scope() for the request scope, or a registered custom scope",
                )
            self._scopes.check(resolved)
            return new_handle(self, resolved, scope_id, self._scopes.manager(resolved))
        return new_handle(self, resolved, scope_id)

    def register_scope_manager(
        self, name: str, manager: ScopeManager, parent: str | None = None
    ) -> None:
        """Register a custom scope ``name`` run by ``manager``.

        ``parent`` names the custom scope this one nests inside (it outlives
        this one), which the lifetime rules use.  Registering a name again
        replaces its manager, unless a scope of that name is entered.
        """
        with self._plan_lock:
            self._scopes.register(name, manager, parent)
            self._forget_plans()

    def finalize_ended(self) -> None:
        """Finalize now the custom scopes their managers have ended (sync teardown only)."""
        errors = drive_sync(self._scopes.drain_all(False), _never)
        conclude(errors, None, "ended scopes")

    async def afinalize_ended(self) -> None:
        """Finalize now the custom scopes their managers have ended, shielded."""
        errors = await drive_shielded(self._scopes.drain_all(True))
        conclude(errors, None, "ended scopes")

    async_scope = scope

    # -- closing -----------------------------------------------------------------------

    def _open_records(self) -> list[Record]:
        return self._scopes.open_records() + self._root.records

    def _ours(self, key: Hashable) -> bool:
        return key in self._plans or key in self._bindings

    def _frames(self) -> list[Any]:
        """The frames builds may be in flight in: the singletons', each custom scope's."""
        return [self._root, *self._scopes.shared_frames()]

    def _close_steps(self, is_async: bool) -> Steps[list[Exception]]:
        """Custom scopes first (they are shorter-lived), then the singletons.

        The singletons are taken out of the container before their teardown
        starts, so it is like a fresh one (with the same bindings) at once: what
        is built from now on belongs to the next close.
        """
        errors = yield from self._scopes.close_steps(is_async)
        root = self._root
        with self._plan_lock, root.lock:
            records = root.records[:]
            root.records.clear()
            root.instances.clear()
            self._forget_plans()
        errors += yield from finalize(records, is_async=is_async)
        return errors

    def _begin_close(self, is_async: bool) -> Flight | None:
        """Become the running close, or return the one running now (to wait for)."""
        with self._plan_lock:
            running = self._closing
            if running is None:
                self._closing = Flight(is_async, ())
                return None
        if running.thread == threading.get_ident() and not running.is_async:
            raise ScopeError(
                "the container is closed again from inside its own close() (a finalizer?)",
                fix="close a container once at a time; a finalizer must not close it",
            )
        return running

    def _end_close(self) -> None:
        with self._plan_lock:
            running, self._closing = self._closing, None
        if running is not None:
            finish(running)

    def _close_sync(self, exc: BaseException | None) -> None:
        while (running := self._begin_close(False)) is not None:
            if not wait_flight(running):
                raise ScopeError(
                    "the container is being closed by a task of this event loop",
                    fix="await container.aclose(): it waits for the running close",
                )
        try:
            for _, flight in in_flight(self._frames()):
                if not wait_flight(flight):
                    raise ScopeError(
                        f"{flight!r} is being built by a task of this event loop right now;"
                        " a sync close cannot wait for it",
                        fix="close the container with `await container.aclose()`",
                    )
            waiting = [r for r in self._open_records() if record_needs_await(r)]
            if waiting:
                raise ScopeError(
                    f"{describe_key(waiting[0][2])} needs an async teardown; nothing was finalized",
                    key=waiting[0][2],
                    fix="close the container with `await container.aclose()` or `async with container:`",
                )
            errors = drive_sync(self._close_steps(False), _never)
        finally:
            self._end_close()
        conclude(errors, exc, "the container")

    async def _close_async(self, exc: BaseException | None) -> None:
        while (running := self._begin_close(True)) is not None:
            with anyio.CancelScope(shield=True):  # a close is not given up half-way
                await await_flight(running)
        errors: list[Exception] = []
        try:
            with anyio.CancelScope(shield=True):
                for _, flight in in_flight(self._frames()):
                    await await_flight(flight)
                errors = await drive_async(self._close_steps(True))
        finally:
            self._end_close()
        conclude(errors, exc, "the container")

    def close(self) -> None:
        """Finalize every singleton (and unscoped transient), last created first."""
        self._close_sync(None)

    async def aclose(self) -> None:
        """Finalize every singleton, awaiting async teardown, shielded from cancellation."""
        await self._close_async(None)

    def __enter__(self) -> InjectQ:
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close_sync(exc)

    async def __aenter__(self) -> InjectQ:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close_async(exc)


def _never() -> BaseException:  # pragma: no cover - close() checks for async teardown first
    return ScopeError("the container needs an async close", fix="await container.aclose()")
