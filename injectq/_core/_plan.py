"""Compile: turn a binding into a *node* and give it builders.

A key is planned once per container (and again only after the bindings
change).  Planning reads signatures, checks lifetimes and cycles; then each
node gets:

* ``build(start, created=None)``, sync: generated straight-line code (see
  ``_codegen``) for a node whose own provider is sync, even when something in
  its graph is async (it then works once those parts are cached); for an
  async factory, its cached instance or a clear "use aget" error;
* ``abuild``, async, when anything in its graph must be awaited, generated
  from the same template: an async factory is awaited in place (once per
  frame, however many tasks ask); any other node first awaits the cached async
  factories of its graph (its *prereqs*) and then runs the same sync body.

``start`` is the innermost active scope (the container's own frame when none
is); ``created`` collects the teardown records of uncached objects built along
the way, so whoever caches (or the top-level call) adopts them, or finalizes
them if the build fails half-way.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any

from ._codegen import CHECK, CLASS, GENERATOR, MISSING_CONST, NONE, generate, generate_async
from ._errors import InjectionError, InjectQError, ScopeError, describe_key
from ._finalize import (
    Record,
    conclude,
    drive_sync,
    finalize,
    finalize_async,
    has_teardown,
    record_needs_await,
)
from ._flight import MISSING, aclaim, await_mark, busy, claim, cycle, release, start, stop
from ._keys import SINGLETON, TRANSIENT
from ._spec import CallKind

if TYPE_CHECKING:
    from ._bindings import Binding
    from ._scope import Frame

__all__ = ["MISSING", "Node", "compile_binding", "constant", "missing_prereqs", "scope_id_node"]

Build = Callable[..., Any]  # (start: Frame, created: list[Record] | None = None) -> value
ABuild = Callable[..., Awaitable[Any]]


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


def _no_yield(key: Hashable, kind: str) -> InjectionError:
    return InjectionError(
        f"the {kind} factory of {describe_key(key)} returned without yielding",
        key=key,
        fix="yield the value once; put teardown after the yield",
    )


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


def _failed_sync(local: list[Record], exc: BaseException, key: Hashable) -> None:
    if isinstance(exc, InjectQError):
        exc.add_frame(key)
    # what needs an await cannot be finalized here; the refusal that brought us here says so
    local[:] = [record for record in local if not record_needs_await(record)]
    errors = drive_sync(finalize(local, is_async=False), lambda: exc)
    conclude(errors, exc, f"a failed build of {describe_key(key)}")


async def _failed_async(local: list[Record], exc: BaseException, key: Hashable) -> None:
    if isinstance(exc, InjectQError):
        exc.add_frame(key)
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
    key, name = node.key, node.scope
    cached = name != TRANSIENT

    def build(start: Frame, created: list[Record] | None = None) -> Any:
        if cached:
            frame = start if start.name == name else find(start)
            value = frame.instances.get(key, MISSING)
            if value is not MISSING:
                return value
        raise _await_error(key, ())

    return build


def missing_prereqs(node: Node, start: Frame) -> list[Node]:
    """The cached async factories of ``node``'s graph not built yet, seen from ``start``."""
    return [p for p in node.prereqs or () if p.peek(start) is MISSING]  # type: ignore[misc]


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
        "adopt": _adopt,
        "failed": _failed_sync,
        "failed_async": _failed_async,
        "claim": claim,
        "aclaim": aclaim,
        "release": release,
        "start_flight": start,
        "stop_flight": stop,
        "cycle": cycle,
        "busy": busy,
        "await_mark": await_mark,
        "no_yield": _no_yield,
        "await_error": _await_error,
        "finder": functools.partial(_finder, root=root),
    }
    if node.own_async:
        node.build = _needs_await(node, find)
    else:
        node.build = generate(node, root, ready, helpers)
    if node.is_async:
        node.abuild = generate_async(node, root, ready, helpers)
    _tops(node)
