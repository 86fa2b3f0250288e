"""Compile: turn a binding into a *node*, the closures that build it.

A key is planned once per container (and again only after the bindings
change).  Planning reads signatures, checks lifetimes and cycles, and picks,
per node, one builder: a sync closure when nothing in its graph needs
awaiting, an async one otherwise.  Resolution then only calls closures.

Builders take ``(frame, created)``: ``frame`` is the innermost active scope
(the container's own frame when none is), ``created`` collects the teardown
records of uncached objects built along the way, so whoever caches (or the
top-level call) can adopt them, or finalize them if the build fails half-way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any

import anyio

from ._errors import InjectionError, InjectQError, ScopeError, describe_key
from ._finalize import (
    AGEN,
    GEN,
    OBJ,
    Record,
    conclude,
    drive_shielded,
    drive_sync,
    finalize,
    has_teardown,
    record_needs_await,
)
from ._keys import SINGLETON, TRANSIENT
from ._scope import Frame
from ._spec import CallKind

if TYPE_CHECKING:
    from ._container import Binding

__all__ = ["MISSING", "Node", "compile_binding", "constant", "scope_id_node"]

MISSING: Any = object()
Build = Callable[[Frame, "list[Record] | None"], Any]
ABuild = Callable[[Frame, "list[Record] | None"], Awaitable[Any]]


class Node:
    """A planned key: how to build it and what it needs."""

    __slots__ = (
        "abuild",
        "atop",
        "build",
        "deps",
        "is_async",
        "key",
        "may_teardown",
        "requires",
        "scope",
        "top",
    )

    def __init__(self, key: Hashable, scope: str) -> None:
        self.key = key
        self.scope = scope
        self.deps: list[Node] = []
        self.is_async = False
        self.may_teardown = False
        #: cached lifetimes this node's graph reaches through transients:
        #: scope name -> the chain of keys from this node down to one that lives there
        self.requires: dict[str, tuple[Hashable, ...]] = {}
        self.build: Build = _unset
        self.abuild: ABuild | None = None
        self.top: Callable[[Frame], Any] = _unset
        self.atop: Callable[[Frame], Awaitable[Any]] | None = None


def _unset(*_: Any) -> Any:  # pragma: no cover - replaced before a node is published
    raise AssertionError("node used before it was compiled")


def constant(key: Hashable, value: Any) -> Node:
    node = Node(key, SINGLETON)
    node.build = lambda frame, created: value
    node.top = lambda frame: value
    return node


def scope_id_node(name: str) -> Node:
    """The id of the innermost active ``name`` scope (for ``tenant_id`` and ``ScopeId``)."""
    key = f"{name}_id"
    node = Node(key, TRANSIENT)
    node.requires = {name: (key,)}

    def build(frame: Frame, created: list[Record] | None) -> Any:
        current: Frame | None = frame
        while current is not None:
            if current.name == name:
                return current.scope_id
            current = current.parent
        raise ScopeError(
            f"{key} is the id of the active {name!r} scope, but no {name!r} scope is active",
            key=key,
            fix=f"resolve it inside `async with container.scope({name!r}, some_id)`",
        )

    node.build = build
    node.top = lambda frame: build(frame, None)
    return node


# -- argument gathering ---------------------------------------------------------


def _sync_call(
    fn: Callable[..., Any], key: Hashable, pos: list[Build], kw: dict[str, Build]
) -> Build:
    """``fn`` called with every argument built; frames are added to escaping errors."""
    if kw:

        def call(frame: Frame, created: list[Record] | None) -> Any:
            try:
                return fn(
                    *[b(frame, created) for b in pos],
                    **{n: b(frame, created) for n, b in kw.items()},
                )
            except InjectQError as exc:
                exc.add_frame(key)
                raise

    elif not pos:
        return lambda frame, created: fn()
    elif len(pos) == 1:
        (b0,) = pos

        def call(frame: Frame, created: list[Record] | None) -> Any:
            try:
                return fn(b0(frame, created))
            except InjectQError as exc:
                exc.add_frame(key)
                raise

    else:

        def call(frame: Frame, created: list[Record] | None) -> Any:
            try:
                return fn(*[b(frame, created) for b in pos])
            except InjectQError as exc:
                exc.add_frame(key)
                raise

    return call


def _async_call(
    fn: Callable[..., Any], key: Hashable, deps: list[tuple[str | None, Node]]
) -> ABuild:
    """Like ``_sync_call``, awaiting the arguments whose graph is async."""
    plan = [(name, node.build, node.abuild) for name, node in deps]

    async def call(frame: Frame, created: list[Record] | None) -> Any:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        try:
            for name, build, abuild in plan:
                value = build(frame, created) if abuild is None else await abuild(frame, created)
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


async def _async_finish(kind: CallKind, key: Hashable, result: Any, created: list[Record]) -> Any:
    if kind is CallKind.AGEN:
        try:
            value = await result.__anext__()
        except StopAsyncIteration:
            raise InjectionError(
                f"the async generator factory of {describe_key(key)} returned without yielding",
                key=key,
                fix="yield the value once; put teardown after the yield",
            ) from None
        created.append((AGEN, result, key))
        return value
    value, alias = await result
    if not alias and value is not None and has_teardown(type(value)):  # pyright: ignore[reportUnknownArgumentType]
        created.append((OBJ, value, key))
    return value


def _with_aliasing(fn: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """Wrap a plain factory to also tell whether it returned one of its own arguments.

    Such a value belongs to whoever built the argument, so it is not finalized twice.
    """

    def aliased(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return any(value is arg for arg in args) or any(value is arg for arg in kwargs.values())

    if is_async:

        async def afactory(*args: Any, **kwargs: Any) -> tuple[Any, bool]:
            value = await fn(*args, **kwargs)
            return value, aliased(value, args, kwargs)

        return afactory

    def factory(*args: Any, **kwargs: Any) -> tuple[Any, bool]:
        value = fn(*args, **kwargs)
        return value, aliased(value, args, kwargs)

    return factory


# -- caching -------------------------------------------------------------------


def _finder(name: str, key: Hashable, root: Frame) -> Callable[[Frame], Frame]:
    if name == SINGLETON:
        return lambda frame: root

    def find(frame: Frame) -> Frame:
        current: Frame | None = frame
        while current is not None:
            if current.name == name:
                return current
            current = current.parent
        raise ScopeError(
            f"{describe_key(key)} lives in the {name!r} scope, but no {name!r} scope is active",
            key=key,
            chain=[key],
            fix=f"resolve it inside `async with container.scope({'' if name == 'scoped' else repr(name)})`",
        )

    return find


def _failed_sync(local: list[Record], exc: BaseException, key: Hashable) -> None:
    # what needs an await cannot be finalized here; the refusal that brought us here says so
    local[:] = [record for record in local if not record_needs_await(record)]
    errors = drive_sync(finalize(local, is_async=False), lambda: exc)
    conclude(errors, exc, f"a failed build of {describe_key(key)}")


async def _failed_async(local: list[Record], exc: BaseException, key: Hashable) -> None:
    errors = await drive_shielded(finalize(local, is_async=True))
    conclude(errors, exc, f"a failed build of {describe_key(key)}")


def _cache_sync(node: Node, produce: Build, find: Callable[[Frame], Frame]) -> Build:
    key = node.key

    def build(frame: Frame, created: list[Record] | None) -> Any:
        target = find(frame)
        value = target.instances.get(key, MISSING)
        if value is not MISSING:
            return value
        with target.lock:
            value = target.instances.get(key, MISSING)
            if value is not MISSING:
                return value
            if key in target.pending:
                raise _await_error(key, "is being built by an async task right now")
            local: list[Record] = []
            try:
                value = produce(frame, local)
                target.adopt(local)
            except BaseException as exc:
                _failed_sync(local, exc, key)
                raise
            target.instances[key] = value
            return value

    return build


def _cache_async(node: Node, produce: ABuild, find: Callable[[Frame], Frame]) -> ABuild:
    key = node.key

    async def abuild(frame: Frame, created: list[Record] | None) -> Any:
        target = find(frame)
        instances = target.instances
        value = instances.get(key, MISSING)
        if value is not MISSING:
            return value
        pending = target.pending
        while (event := pending.get(key)) is not None:
            await event.wait()
            value = instances.get(key, MISSING)
            if value is not MISSING:
                return value
        event = pending[key] = anyio.Event()
        try:
            local: list[Record] = []
            try:
                value = await produce(frame, local)
                target.adopt(local)
            except BaseException as exc:
                await _failed_async(local, exc, key)
                raise
            instances[key] = value
            return value
        finally:
            del pending[key]
            event.set()

    return abuild


def _needs_await(node: Node, find: Callable[[Frame], Frame]) -> Build:
    """The sync builder of an async node: a cached instance, or a clear refusal."""
    key = node.key

    def build(frame: Frame, created: list[Record] | None) -> Any:
        if node.scope != TRANSIENT:
            value = find(frame).instances.get(key, MISSING)
            if value is not MISSING:
                return value
        raise _await_error(key, "is built by an async factory")

    return build


def _await_error(key: Hashable, why: str) -> InjectionError:
    return InjectionError(
        f"{describe_key(key)} {why}, and this call is sync: it cannot await",
        key=key,
        chain=[key],
        fix="resolve it with `await container.aget(...)` / `await scope.aget(...)`"
        " (an async @inject function does that for its parameters)",
    )


# -- top level ------------------------------------------------------------------


def _tops(node: Node) -> None:
    build, abuild, key = node.build, node.abuild, node.key
    if not node.may_teardown or node.scope != TRANSIENT:
        node.top = lambda frame: build(frame, None)
        if abuild is not None:
            node.atop = lambda frame: abuild(frame, None)
        return

    def top(frame: Frame) -> Any:
        local: list[Record] = []
        try:
            value = build(frame, local)
            frame.adopt(local)
        except BaseException as exc:
            _failed_sync(local, exc, key)
            raise
        return value

    node.top = top
    if abuild is None:
        return

    async def atop(frame: Frame) -> Any:
        local: list[Record] = []
        try:
            value = await abuild(frame, local)
            frame.adopt(local)
        except BaseException as exc:
            await _failed_async(local, exc, key)
            raise
        return value

    node.atop = atop


def _then(call: Build, finish: Callable[[Any, list[Record]], Any]) -> Build:
    def produce(frame: Frame, created: list[Record] | None) -> Any:
        return finish(call(frame, created), created)  # type: ignore[arg-type]

    return produce


def compile_binding(
    node: Node,
    binding: Binding,
    deps: list[tuple[str | None, Node]],
    root: Frame,
) -> None:
    """Fill ``node``'s builders for ``binding`` whose arguments are ``deps``."""
    provider = binding.provider
    assert provider is not None
    kind = binding.kind
    key = node.key
    node.deps = [dep for _, dep in deps]
    node.is_async = kind in (CallKind.ASYNC, CallKind.AGEN) or any(d.is_async for d in node.deps)
    class_teardown: bool | None = None
    if isinstance(provider, type) and kind is CallKind.SYNC:
        class_teardown = has_teardown(provider)
    own_teardown = kind in (CallKind.GEN, CallKind.AGEN) or class_teardown is not False
    if class_teardown is None and kind in (CallKind.SYNC, CallKind.ASYNC):
        provider = _with_aliasing(provider, kind is CallKind.ASYNC)
    node.may_teardown = own_teardown or any(
        d.may_teardown and d.scope == TRANSIENT for d in node.deps
    )
    find = _finder(node.scope, key, root)
    is_awaited = kind in (CallKind.ASYNC, CallKind.AGEN)
    sync_finish = _sync_finish(kind, key, class_teardown)
    if is_awaited:
        node.build = _needs_await(node, find)
    else:
        # also for a node with async dependencies: sync code may use it once those are built
        pos = [d.build for name, d in deps if name is None]
        kw = {name: d.build for name, d in deps if name is not None}
        call = _sync_call(provider, key, pos, kw)
        produce = (
            call if kind is CallKind.SYNC and class_teardown is False else _then(call, sync_finish)
        )
        node.build = produce if node.scope == TRANSIENT else _cache_sync(node, produce, find)
    if node.is_async:
        acall = _async_call(provider, key, deps)

        async def aproduce(frame: Frame, created: list[Record] | None) -> Any:
            result = await acall(frame, created)
            if is_awaited:
                return await _async_finish(kind, key, result, created)  # type: ignore[arg-type]
            return sync_finish(result, created)  # type: ignore[arg-type]

        node.abuild = aproduce if node.scope == TRANSIENT else _cache_async(node, aproduce, find)
    _tops(node)
