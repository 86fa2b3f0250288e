"""Compile: turn a binding into a *node* and give it builders.

A key is planned once per container (and again only after the bindings
change).  Planning reads signatures, checks lifetimes and cycles; then each
node gets:

* ``build(start, created=None)``, sync: generated straight-line code (see
  ``_codegen``) for a node whose own provider is sync, even when something in
  its graph is async (it then works once those parts are cached); for an
  async factory, its cached instance or a clear "use aget" error;
* ``abuild``, async, when anything in its graph must be awaited: an async
  factory is built by a closure that awaits it (once per frame, however many
  tasks ask); any other node first awaits the cached async factories of its
  graph (its *prereqs*) and then runs the very same sync ``build``.

``start`` is the innermost active scope (the container's own frame when none
is); ``created`` collects the teardown records of uncached objects built along
the way, so whoever caches (or the top-level call) adopts them, or finalizes
them if the build fails half-way.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any

import anyio

from ._codegen import CHECK, CLASS, GENERATOR, MISSING_CONST, NONE, generate, generate_call
from ._errors import InjectionError, InjectQError, ScopeError, describe_key
from ._finalize import (
    AGEN,
    GEN,
    OBJ,
    Record,
    conclude,
    drive_sync,
    finalize,
    finalize_async,
    has_teardown,
    record_needs_await,
)
from ._keys import SINGLETON, TRANSIENT
from ._spec import CallKind

if TYPE_CHECKING:
    from ._container import Binding
    from ._scope import Frame

__all__ = ["MISSING", "Node", "compile_binding", "constant", "missing_prereqs", "scope_id_node"]

MISSING: Any = object()
Build = Callable[..., Any]  # (start: Frame, created: list[Record] | None = None) -> value
ABuild = Callable[..., Awaitable[Any]]


_NO_PENDING: dict[Hashable, anyio.Event | None] = {}


class Node:
    """A planned key: what it is made of, and the builders compiled for it."""

    __slots__ = (
        "abuild",
        "args",
        "atop",
        "build",
        "const",
        "deps",
        "is_async",
        "key",
        "may_teardown",
        "own_async",
        "peek",
        "prereqs",
        "provider",
        "requires",
        "scope",
        "teardown",
        "top",
    )

    def __init__(self, key: Hashable, scope: str) -> None:
        self.key = key
        self.scope = scope
        self.const: Any = MISSING_CONST
        self.provider: Callable[..., Any] | None = None
        self.teardown = NONE
        self.args: list[tuple[str | None, Node]] = []
        self.deps: list[Node] = []
        self.own_async = False  # its own provider must be awaited
        self.is_async = False  # something in its graph must be awaited
        self.may_teardown = False
        #: cached lifetimes this node's graph reaches through transients:
        #: scope name -> the chain of keys from this node down to one that lives there
        self.requires: dict[str, tuple[Hashable, ...]] = {}
        #: the cached async-factory nodes of its graph, leaves first; ``None`` when a
        #: transient async factory is in it (then it resolves through async builders)
        self.prereqs: list[Node] | None = []
        self.build: Build = _unset
        self.abuild: ABuild | None = None
        self.peek: Callable[[Frame], Any] | None = None
        self.top: Callable[[Frame], Any] = _unset
        self.atop: Callable[[Frame], Awaitable[Any]] | None = None


def _unset(*_: Any) -> Any:  # pragma: no cover - replaced before a node is published
    raise AssertionError("node used before it was compiled")


def constant(key: Hashable, value: Any) -> Node:
    node = Node(key, SINGLETON)
    node.const = value

    def build(start: Frame, created: list[Record] | None = None) -> Any:
        return value

    node.build = build
    node.top = node.build
    return node


def scope_id_node(name: str) -> Node:
    """The id of the innermost active ``name`` scope (for ``tenant_id`` and ``ScopeId``)."""
    key = f"{name}_id"
    node = Node(key, TRANSIENT)
    node.requires = {name: (key,)}

    def build(start: Frame, created: list[Record] | None = None) -> Any:
        current: Frame | None = start
        while current is not None:
            if current.name == name:
                return current.scope_id
            current = current.parent
        raise ScopeError(
            f"{key} is the id of the active {name!r} scope, but no {name!r} scope is active",
            key=key,
            chain=[key],
            fix=f"resolve it inside `async with container.scope({name!r}, some_id)`",
        )

    node.build = build
    node.top = build
    return node


def _async_call(fn: Callable[..., Any], key: Hashable, node: Node) -> ABuild:
    """Call ``fn`` with its arguments built, awaiting those whose graph is async."""
    plan = [(name, dep.build, dep.abuild, dep.peek) for name, dep in node.args]

    async def call(start: Frame, created: list[Record] | None) -> Any:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        try:
            for name, build, abuild, peek in plan:
                if abuild is None:
                    value = build(start, created)
                else:
                    value = MISSING if peek is None else peek(start)
                    if value is MISSING:
                        value = await abuild(start, created)
                if name is None:
                    args.append(value)
                else:
                    kwargs[name] = value
        except InjectQError as exc:
            exc.add_frame(key)
            raise
        return fn(*args, **kwargs)

    return call


# -- what a provider hands over -------------------------------------------------


def _first(gen: Any, key: Hashable) -> Any:
    try:
        return next(gen)
    except StopIteration:
        raise InjectionError(
            f"the generator factory of {describe_key(key)} returned without yielding",
            key=key,
            fix="yield the value once; put teardown after the yield",
        ) from None


def _sync_finish(
    kind: CallKind, key: Hashable, class_teardown: bool | None
) -> Callable[[Any, list[Record]], Any]:
    """Turn what a sync-callable provider returned into the value, recording teardown."""
    if kind is CallKind.GEN:

        def finish(result: Any, created: list[Record]) -> Any:
            value = _first(result, key)
            created.append((GEN, result, key))
            return value

    elif class_teardown is True:

        def finish(result: Any, created: list[Record]) -> Any:
            created.append((OBJ, result, key))
            return result

    elif class_teardown is None:  # a factory (see _with_aliasing): look at what it returned

        def finish(result: Any, created: list[Record]) -> Any:
            value, alias = result
            if not alias and value is not None and has_teardown(type(value)):  # pyright: ignore[reportUnknownArgumentType]
                created.append((OBJ, value, key))
            return value

    else:
        return lambda result, created: result
    return finish


def _no_yield(key: Hashable) -> InjectionError:
    return InjectionError(
        f"the async generator factory of {describe_key(key)} returned without yielding",
        key=key,
        fix="yield the value once; put teardown after the yield",
    )


def _with_aliasing(fn: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """Wrap a plain factory to also tell whether it returned one of its own arguments.

    Such a value belongs to whoever built the argument, so it is not finalized twice.
    """

    def aliased(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        for arg in args:
            if arg is value:
                return True
        return bool(kwargs) and any(value is arg for arg in kwargs.values())

    if is_async:

        async def afactory(*args: Any, **kwargs: Any) -> tuple[Any, bool]:
            value = await fn(*args, **kwargs)
            return value, aliased(value, args, kwargs)

        return afactory

    def factory(*args: Any, **kwargs: Any) -> tuple[Any, bool]:
        value = fn(*args, **kwargs)
        return value, aliased(value, args, kwargs)

    return factory


# -- finding frames, caching ---------------------------------------------------------


def _finder(name: str, key: Hashable, root: Frame) -> Callable[[Frame], Frame]:
    if name == SINGLETON:
        return lambda start: root

    def find(start: Frame) -> Frame:
        current: Frame | None = start
        while current is not None:
            if current.name == name:
                return current
            current = current.parent
        raise ScopeError(
            f"{describe_key(key)} lives in the {name!r} scope, but no {name!r} scope is active",
            key=key,
            chain=[key],
            fix="resolve it inside `async with container.scope("
            + ("" if name == "scoped" else repr(name) + ", some_id")
            + ")`",
        )

    return find


def _peeker(name: str, key: Hashable, root: Frame) -> Callable[[Frame], Any]:
    """The cached instance of ``key`` seen from a frame, or ``MISSING``; never raises."""
    if name == SINGLETON:
        instances = root.instances
        return lambda start: instances.get(key, MISSING)

    def peek(start: Frame) -> Any:
        current: Frame | None = start
        while current is not None:
            if current.name == name:
                return current.instances.get(key, MISSING)
            current = current.parent
        return MISSING

    return peek


def _adopt(frame: Frame, local: list[Record], record: Record) -> None:
    """A cached instance's record: what was built before it first, then its own."""
    if local:
        frame.adopt(local)
        local.clear()
    frame.adopt([record])


def _failed_in(frame: Frame, local: list[Record], exc: BaseException, key: Hashable) -> None:
    _failed_sync(local, exc, key)


def _failed_sync(local: list[Record], exc: BaseException, key: Hashable) -> None:
    # what needs an await cannot be finalized here; the refusal that brought us here says so
    local[:] = [record for record in local if not record_needs_await(record)]
    errors = drive_sync(finalize(local, is_async=False), lambda: exc)
    conclude(errors, exc, f"a failed build of {describe_key(key)}")


async def _failed_async(local: list[Record], exc: BaseException, key: Hashable) -> None:
    errors = await finalize_async(local)
    conclude(errors, exc, f"a failed build of {describe_key(key)}")


def _await_error(
    key: Hashable, path: tuple[Hashable, ...], why: str = "is built by an async factory"
) -> InjectionError:
    return InjectionError(
        f"{describe_key(key)} {why}, and this call is sync: it cannot await",
        key=key,
        chain=list(path) or [key],
        fix="resolve it with `await container.aget(...)` / `await scope.aget(...)`"
        " (an async @inject function does that for its parameters)",
    )


def _needs_await(node: Node, find: Callable[[Frame], Frame]) -> Build:
    """The sync builder of an async factory: its cached instance, or a clear refusal."""
    key = node.key
    cached = node.scope != TRANSIENT

    def build(start: Frame, created: list[Record] | None = None) -> Any:
        if cached:
            value = find(start).instances.get(key, MISSING)
            if value is not MISSING:
                return value
        raise _await_error(key, ())

    return build


def missing_prereqs(node: Node, start: Frame) -> list[Node]:
    """The cached async factories of ``node``'s graph not built yet, seen from ``start``."""
    return [p for p in node.prereqs or () if p.peek(start) is MISSING]  # type: ignore[misc]


def _prefetching(node: Node) -> ABuild:
    """Await the cached async factories of the graph, then build the rest synchronously."""
    build = node.build

    async def abuild(start: Frame, created: list[Record] | None = None) -> Any:
        for prereq in missing_prereqs(node, start):
            await prereq.abuild(start)  # type: ignore[misc]
        return build(start, created)

    return abuild


# -- top level ------------------------------------------------------------------


def _tops(node: Node) -> None:
    build, abuild, key = node.build, node.abuild, node.key
    if not node.may_teardown or node.scope != TRANSIENT:
        node.top = build
        node.atop = abuild
        return

    def top(start: Frame) -> Any:
        local: list[Record] = []
        try:
            value = build(start, local)
            if local:
                start.adopt(local)
        except BaseException as exc:
            _failed_sync(local, exc, key)
            raise
        return value

    node.top = top
    if abuild is None:
        return

    async def atop(start: Frame) -> Any:
        local: list[Record] = []
        try:
            value = await abuild(start, local)
            if local:
                start.adopt(local)
        except BaseException as exc:
            await _failed_async(local, exc, key)
            raise
        return value

    node.atop = atop


def _prereqs_of(node: Node) -> list[Node] | None:
    if node.own_async:
        return None if node.scope == TRANSIENT else [node]
    found: dict[int, Node] = {}
    for dep in node.deps:
        if dep.prereqs is None:
            return None
        for prereq in dep.prereqs:
            found.setdefault(id(prereq), prereq)
    return list(found.values())


def compile_binding(
    node: Node,
    binding: Binding,
    deps: list[tuple[str | None, Node]],
    root: Frame,
    ready: dict[Hashable, Any],
) -> None:
    """Fill ``node``'s builders for ``binding`` whose arguments are ``deps``."""
    provider = binding.provider
    assert provider is not None
    kind = binding.kind
    key = node.key
    node.provider = provider
    node.args = deps
    node.deps = [dep for _, dep in deps]
    node.own_async = kind in (CallKind.ASYNC, CallKind.AGEN)
    node.is_async = node.own_async or any(d.is_async for d in node.deps)
    class_teardown: bool | None = None
    if isinstance(provider, type) and kind is CallKind.SYNC:
        class_teardown = has_teardown(provider)
    if kind in (CallKind.GEN, CallKind.AGEN):
        node.teardown = GENERATOR
    elif class_teardown is None:
        node.teardown = CHECK
    else:
        node.teardown = CLASS if class_teardown else NONE
    node.may_teardown = node.teardown != NONE or any(
        d.may_teardown and d.scope == TRANSIENT for d in node.deps
    )
    node.prereqs = _prereqs_of(node)
    find = _finder(node.scope, key, root)
    if node.scope != TRANSIENT:
        node.peek = _peeker(node.scope, key, root)
    helpers: dict[str, Any] = {
        "MISSING": MISSING,
        "first": _first,
        "adopt": _adopt,
        "failed": _failed_in,
        "await_error": _await_error,
        "finder": functools.partial(_finder, root=root),
    }
    if node.own_async:
        node.build = _needs_await(node, find)
    else:
        node.build = generate(node, root, ready, helpers)
    if node.is_async:
        if not node.own_async and node.prereqs is not None:
            node.abuild = _prefetching(node)
        else:
            node.abuild = _general_async(node, binding, class_teardown, root, ready, helpers)
    _tops(node)


def _general_async(
    node: Node,
    binding: Binding,
    class_teardown: bool | None,
    root: Frame,
    ready: dict[Hashable, Any],
    helpers: dict[str, Any],
) -> ABuild:
    """The async builder of an async factory, or of a graph holding a transient one.

    A cached one is built once per frame however many tasks ask: the first marks
    the key pending, the others wait for it (and retry if it failed).
    """
    kind, key = binding.kind, node.key
    provider = binding.provider
    assert provider is not None
    if node.teardown == CHECK:
        provider = _with_aliasing(provider, kind is CallKind.ASYNC)
    if any(dep.is_async for dep in node.deps):
        acall: ABuild | None = _async_call(provider, key, node)
        call = None
    else:
        acall, call = None, generate_call(node, provider, root, ready, helpers)
    sync_finish = _sync_finish(kind, key, class_teardown)
    name = node.scope
    cached = name != TRANSIENT
    singleton = name == SINGLETON
    find = _finder(name, key, root)

    async def abuild(start: Frame, created: list[Record] | None = None) -> Any:
        if cached:
            frame = start if start.name == name else find(start)
            instances = frame.instances
            value = instances.get(key, MISSING)
            if value is not MISSING:
                return value
            pending = frame.pending
            if pending is None:
                pending = frame.pending = {}
            while key in pending:  # another task builds it: wait, then look again
                event = pending[key]
                if event is None:
                    event = pending[key] = anyio.Event()
                await event.wait()
                value = instances.get(key, MISSING)
                if value is not MISSING:
                    return value
            pending[key] = None  # building; a waiter puts an event here
            local: list[Record] = []
        else:  # transient: nothing to cache or to mark pending
            frame, instances, pending = start, start.instances, _NO_PENDING
            local = created  # type: ignore[assignment]
        try:
            try:
                result = call(start, local) if acall is None else await acall(start, local)  # type: ignore[misc]
                if kind is CallKind.AGEN:
                    try:
                        value = await result.__anext__()
                    except StopAsyncIteration:
                        raise _no_yield(key) from None
                    local.append((AGEN, result, key))
                elif kind is CallKind.ASYNC:
                    value, alias = await result
                    if not alias and value is not None and has_teardown(type(value)):  # pyright: ignore[reportUnknownArgumentType]
                        local.append((OBJ, value, key))
                else:
                    value = sync_finish(result, local)
                if cached and local:
                    if frame.is_async:
                        frame.records += local
                    else:
                        frame.adopt(local)
            except BaseException as exc:
                if cached:
                    await _failed_async(local, exc, key)
                raise
            if cached:
                instances[key] = value
                if singleton:
                    ready[key] = value
            return value
        finally:
            if cached:
                event = pending.pop(key, None)
                if event is not None:
                    event.set()

    return abuild
