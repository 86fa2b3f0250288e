"""Overrides: replace keys for a block, in this context only (``injectq.testing``).

While no override is active anywhere, nothing here is on the resolution path:
``container.get`` stays the ``__getitem__`` of the container's dict of ready
instances and the plans are plain dicts.  Entering the first override that
applies to a container *switches* it: four of its attributes (``get``,
``_plans``, ``_param_node``, ``_binding_for``) become routers that look at a
``ContextVar`` and, in a context where an override is active, answer from that
override's *layer*; leaving the last override switches the container back.

A layer is a shadow plan set for one override block in one container.  It is
compiled with the container's own planning code: the overridden keys are
constants, a node whose graph reaches one of them is compiled again (its
builders cache into the layer's *shadow frames*), and every other node is the
one of the layer below (the enclosing override's layer, or the container's own
plan), reached through a thin proxy.  A shadow frame stands for one real frame
(the container's singletons, a scope) and holds what the override built there;
all of a block's shadow frames share one list of teardown records, finalized
when the block ends.  Nothing the override builds reaches the container.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._codegen import MISSING_CONST
from ._errors import BindingError, ScopeError, describe_key
from ._finalize import (
    OBJ,
    Record,
    conclude,
    drive_sync,
    finalize,
    finalize_async,
    record_needs_await,
)
from ._keys import SINGLETON, TRANSIENT, normalize_key
from ._plan import Node, constant
from ._planner import Planner
from ._scope import _LEFT as _SCOPE_LEFT
from ._scope import Frame

if TYPE_CHECKING:
    from types import TracebackType

    from ._bindings import Binding
    from ._container import InjectQ
    from ._spec import Param

__all__ = ["Override", "track_container"]

_NEW, _ACTIVE, _LEFT = 0, 1, 2

#: the innermost override block of this context
_active: ContextVar[Override | None] = ContextVar("injectq.override", default=None)

_lock = threading.Lock()
_containers: weakref.WeakSet[InjectQ] = weakref.WeakSet()
_global = 0  # blocks active for every container
_own: weakref.WeakKeyDictionary[InjectQ, int] = weakref.WeakKeyDictionary()
_routers: weakref.WeakKeyDictionary[InjectQ, _Router] = weakref.WeakKeyDictionary()


def _planner() -> type[Planner]:
    return Planner


# -- switching a container between its fast path and the routed one ------------------


def track_container(container: InjectQ) -> None:
    """Called by every new container: known to overrides for every container."""
    with _lock:
        _containers.add(container)
        if _global:
            _switch_on(container)


def _count(container: InjectQ | None, delta: int) -> None:
    global _global
    with _lock:
        if container is None:
            _global += delta
            targets = list(_containers)
        else:
            _own[container] = _own.get(container, 0) + delta
            targets = [container]
        for target in targets:
            wanted = _global + _own.get(target, 0) > 0
            if wanted and target not in _routers:
                _switch_on(target)
            elif not wanted and target in _routers:
                _switch_off(target)


def _switch_on(container: InjectQ) -> None:
    router = _Router(container)
    attrs = vars(container)
    with container._plan_lock:
        router.update(container._plans)
        attrs["_plans"] = router
        attrs["_param_node"] = router.param_node
        attrs["_binding_for"] = router.binding_for
        if "get" in attrs:  # the fast ``get`` (see InjectQ.__init__): the full one instead
            router.fast_get = attrs["get"]
            attrs["get"] = container._get
    _routers[container] = router


def _switch_off(container: InjectQ) -> None:
    router = _routers.pop(container)
    attrs = vars(container)
    with container._plan_lock:
        attrs["_plans"] = dict(router)
        del attrs["_param_node"]
        del attrs["_binding_for"]
        if router.fast_get is not None:
            attrs["get"] = router.fast_get


def _layer_for(block: Override | None, container: InjectQ) -> _Layer | None:
    """The layer answering for ``container`` under ``block``: its innermost active block's."""
    while block is not None:
        if block._state == _ACTIVE and (block.container is None or block.container is container):
            return block._layer(container)
        block = block._parent
    return None


class _Router(dict[Hashable, Node]):
    """A switched container's plans, and its routed look-ups.

    It is the container's plan dict while the container is switched, so the
    container's own code keeps reading and writing it as before.
    """

    __slots__ = ("container", "fast_get", "generation")

    def __init__(self, container: InjectQ) -> None:
        super().__init__()
        self.container = container
        self.fast_get: Callable[[Any], Any] | None = None
        self.generation = 0  # bumped whenever the container forgets its plans

    def get(self, key: Hashable, default: Any = None) -> Any:
        layer = _layer_for(_active.get(), self.container)
        if layer is not None:
            return layer.top_node(key)
        return super().get(key, default)

    def clear(self) -> None:
        self.generation += 1
        super().clear()

    def param_node(self, param: Param, owner: Hashable, path: list[Hashable]) -> Node | None:
        layer = _layer_for(_active.get(), self.container)
        if layer is None:
            return _planner()._param_node(self.container, param, owner, path)
        return layer.top_param_node(param, owner, path)

    def binding_for(self, key: Hashable) -> Binding | None:
        layer = _layer_for(_active.get(), self.container)
        if layer is None:
            return _planner()._binding_for(self.container, key)
        return layer._binding_for(key)


class _Suspended:
    """Run the container's own planning with no override in sight (this context only)."""

    __slots__ = ("_saved",)

    def __enter__(self) -> None:
        self._saved = _active.get()
        _active.set(None)

    def __exit__(self, *exc: object) -> None:
        _active.set(self._saved)


# -- shadow frames -------------------------------------------------------------------


class _ShadowFrame(Frame):
    """What an override built for one real frame; ``base`` is the same frame one layer down."""

    __slots__ = ("base",)

    def __init__(self, real: Frame, base: Frame, parent: Frame | None, block: Override) -> None:
        super().__init__(real.name, parent, is_async=block._is_async)
        self.scope_id = real.scope_id
        self.pending = {}
        self.base = base
        with block._layers_lock:
            block._made[id(self)] = self

    def _cannot_await(self, key: Hashable) -> ScopeError:
        return ScopeError(
            f"{describe_key(key)} needs an async teardown, but the override it was"
            " built under was entered with `with` and cannot await it",
            key=key,
            fix="enter the override with `async with override_dependency(...)`",
        )


class _Closer:
    """Put in a real scope's records: what the override built in that scope goes with it.

    Whatever is still there when the override ends is finalized then.  Once the
    real scope has ended, the layer forgets its frame (a long override block
    that serves many scopes does not keep them all).
    """

    __slots__ = ("_frame", "_key", "_layer")

    def __init__(self, layer: _Layer, frame: _ShadowFrame, key: int) -> None:
        self._layer = layer
        self._frame = frame
        self._key = key

    def _what(self) -> str:
        return f"what an override built in the {self._frame.name!r} scope"

    def close(self) -> None:
        records = self._frame.records
        if any(record_needs_await(record) for record in records):
            self._layer.release(self._frame, self._key)
            return  # a sync exit cannot await: the override's async end finalizes them
        try:
            errors = drive_sync(finalize(records, is_async=False), _sync_refused)
        finally:
            self._layer.release(self._frame, self._key)
        conclude(errors, None, self._what())

    async def aclose(self) -> None:
        try:
            errors = await finalize_async(self._frame.records)
        finally:
            self._layer.release(self._frame, self._key)
        conclude(errors, None, self._what())


def _ended(frame: Frame) -> bool:
    """Whether ``frame`` is a scope that has been left (work that outlived it asks)."""
    return getattr(frame, "_state", None) == _SCOPE_LEFT


# -- layers ------------------------------------------------------------------------------


class _Layer:
    """One override block's plans and frames in one container.

    Its planning reuses the container's code (``Planner._compile`` and the
    helpers it calls, run with this object as ``self``): the attributes and
    methods below are the ones that code reads.
    """

    def __init__(self, container: InjectQ, block: Override, base: _Layer | None) -> None:
        self.container = container
        self.block = block
        self.base = base
        # what InjectQ's planning code reads on ``self``
        self._bindings = container._bindings
        self._scopes = container._scopes
        self._ready: dict[Hashable, Any] = {}
        self._plans: dict[Hashable, Node] = {}
        self._lock = threading.RLock()
        self._frames: dict[int, tuple[object, _ShadowFrame]] = {}
        real_root = container._root
        base_root = real_root if base is None else base.frame(real_root)
        self._root = _ShadowFrame(real_root, base_root, None, block)
        self._frames[id(real_root.instances)] = (real_root.instances, self._root)
        self._router = _routers[container]
        self._reset()

    def _reset(self) -> None:
        """(Re)start planning: after the container's bindings changed, plan again."""
        self._generation = self._router.generation
        self._plans.clear()
        self._ready.clear()
        self._tops: dict[Hashable, Node] = {}
        self._reach: set[int] = set()  # ids of nodes compiled here (they reach an override)
        self._mine: set[int] = set()  # ids of every node this layer made
        for key, value in self.block._overrides.items():
            node = constant(key, value)
            self._plans[key] = node
            self._reach.add(id(node))

    # -- planning, with InjectQ's code ------------------------------------------------

    def _binding_for(self, key: Hashable) -> Binding | None:
        overrides = self.block._overrides
        if key in overrides:
            from ._bindings import Binding

            return Binding(key, SINGLETON, instance=overrides[key])
        if self.base is not None:
            return self.base._binding_for(key)
        return _planner()._binding_for(self.container, key)

    def _param_node(self, param: Param, owner: Hashable, path: list[Hashable]) -> Node | None:
        return _planner()._param_node(self, param, owner, path)  # type: ignore[arg-type]

    def _missing(self, key: Hashable, path: list[Hashable], detail: str = "") -> Exception:
        return _planner()._missing(self, key, path, detail)  # type: ignore[arg-type]

    def _scope_id_of(self, param: Param) -> str | None:
        return _planner()._scope_id_of(self, param)  # type: ignore[arg-type]

    def _check_lifetimes(self, node: Node, deps: list[Node], path: list[Hashable]) -> None:
        _planner()._check_lifetimes(self, node, deps, path)  # type: ignore[arg-type]

    def _compile(self, key: Hashable, path: list[Hashable]) -> Node:
        node = self._plans.get(key)
        if node is not None:
            return node
        node = _planner()._compile(self, key, path)  # type: ignore[arg-type]
        if node.const is not MISSING_CONST:
            pass  # a value, the same in every layer
        elif any(id(dep) in self._reach for dep in node.deps):
            self._shadow(node)
        elif node.scope != TRANSIENT:
            node = self._proxy(key)  # the layer below's instance, wherever it is cached
        # (a transient that reaches no override stays: it is built where it is asked for)
        self._mine.add(id(node))
        self._plans[key] = node
        return node

    def _shadow(self, node: Node) -> None:
        """``node`` reaches an override: asked for from outside, it builds in shadow frames."""
        self._reach.add(id(node))
        node.prereqs = None  # prefetching would hand real frames to shadow builders
        frame, top, atop = self.frame, node.top, node.atop
        node.top = lambda start: top(frame(start))
        if atop is not None:
            node.atop = lambda start: atop(frame(start))

    def _below(self, key: Hashable) -> Node:
        """The node of ``key`` one layer down, as its own builders see it."""
        if self.base is not None:
            return self.base._compile(key, [])
        with _Suspended():
            return self.container._plan(key)

    def _proxy(self, key: Hashable) -> Node:
        below = self._below(key)
        if below.const is not MISSING_CONST:
            return below
        node = Node(key, below.scope)
        node.requires = below.requires
        node.deps = below.deps
        node.is_async = below.is_async
        node.may_teardown = below.may_teardown
        node.prereqs = None if below.is_async else []
        build, abuild = below.build, below.abuild

        def proxy_build(start: Any, created: list[Record] | None = None) -> Any:
            return build(start.base, created)

        node.build = proxy_build
        if abuild is not None:

            def proxy_abuild(start: Any, created: list[Record] | None = None) -> Any:
                return abuild(start.base, created)

            node.abuild = proxy_abuild
        node.top, node.atop = below.top, below.atop
        return node

    # -- what the routers ask ---------------------------------------------------------

    def _fresh(self) -> None:
        if self._generation != self._router.generation:
            self._reset()

    def _top(self, node: Node) -> Node:
        """The node to hand a caller that passes real frames."""
        if id(node) in self._reach or id(node) not in self._mine:
            return node  # shadow nodes map frames; scope ids and defaults need none
        return self.top_node(node.key)

    def top_node(self, key: Hashable) -> Node:
        self.block._check_open()
        node = self._tops.get(key)
        if node is not None and self._generation == self._router.generation:
            return node
        with self.container._plan_lock:
            self._fresh()
            inner = self._compile(normalize_key(key), [])
            if id(inner) in self._reach or inner.const is not MISSING_CONST:
                node = inner
            elif self.base is not None:
                node = self.base.top_node(key)
            else:
                with _Suspended():
                    node = self.container._plan(key)
            self._tops[key] = node
        return node

    def top_param_node(self, param: Param, owner: Hashable, path: list[Hashable]) -> Node | None:
        self.block._check_open()
        with self.container._plan_lock:
            self._fresh()
            node = self._param_node(param, owner, path)
        return None if node is None else self._top(node)

    def frame(self, real: Frame) -> Frame:
        """This layer's frame for the real frame ``real``."""
        found = self._frames.get(id(real.instances))
        if found is not None:
            return found[1]
        with self._lock:
            found = self._frames.get(id(real.instances))
            if found is not None:
                return found[1]
            if _ended(real):
                raise ScopeError(
                    f"the {real.name!r} scope has ended; nothing can be resolved in it",
                    fix=f"resolve inside `async with container.scope({real.name!r})`",
                )
            assert real.parent is not None  # only the container's own frame has none
            parent = self.frame(real.parent)
            base = real if self.base is None else self.base.frame(real)
            shadow = _ShadowFrame(real, base, parent, self.block)
            # the real scope's exit finalizes what the override built in it, in its place
            # among the scope's own instances; the override's end finalizes the rest
            key = id(real.instances)
            real.adopt([(OBJ, _Closer(self, shadow, key), "override")])
            self._frames[key] = (real.instances, shadow)
            return shadow

    def release(self, shadow: _ShadowFrame, key: int) -> None:
        """The real scope of ``shadow`` has ended: forget it (its records, if any, stay the block's)."""
        with self._lock:
            found = self._frames.get(key)
            if found is not None and found[1] is shadow:
                del self._frames[key]
        shadow.instances = {}
        if not shadow.records:
            with self.block._layers_lock:
                self.block._made.pop(id(shadow), None)

    def forget(self) -> None:
        """The block ended: nothing it built can be handed out again."""
        for _, shadow in self._frames.values():
            shadow.instances = {}
        self._ready.clear()


# -- the block ---------------------------------------------------------------------------


class Override:
    """``with`` / ``async with``: ``key`` resolves to ``value`` in this context for the block.

    Made by ``override_dependency(key, value, container=None)`` (every container,
    or only ``container``) and ``container.override(key, value)``.
    """

    __slots__ = (
        "_is_async",
        "_layers",
        "_layers_lock",
        "_made",
        "_overrides",
        "_parent",
        "_state",
        "container",
    )

    def __init__(self, key: Any, value: Any, container: InjectQ | None = None) -> None:
        try:
            normalized = normalize_key(key)
            hash(normalized)
        except TypeError:
            raise _bad_key(key) from None
        if container is not None and not isinstance(container, _planner()):
            raise BindingError(
                f"override_dependency(container=...) takes an InjectQ container, not {container!r}",
                key=normalized,
                fix="pass the container, or leave container out to override in every container",
            )
        self._overrides: dict[Hashable, Any] = {normalized: value}
        self.container = container
        self._state = _NEW
        self._is_async = False
        self._parent: Override | None = None
        self._made: dict[int, _ShadowFrame] = {}  # in the order they were made
        self._layers: dict[int, _Layer] = {}
        self._layers_lock = threading.RLock()

    def __repr__(self) -> str:
        state = ("not entered", "active", "left")[self._state]
        keys = ", ".join(describe_key(k) for k in self._overrides)
        where = "" if self.container is None else f" in {self.container!r}"
        return f"<Override of {keys}{where} ({state})>"

    def _what(self) -> str:
        return "the override of " + ", ".join(describe_key(k) for k in self._overrides)

    def _layer(self, container: InjectQ) -> _Layer:
        layer = self._layers.get(id(container))
        if layer is None:
            with self._layers_lock:
                layer = self._layers.get(id(container))
                if layer is None:
                    layer = _Layer(container, self, _layer_for(self._parent, container))
                    self._layers[id(container)] = layer
        return layer

    def _check_open(self) -> None:
        if self._state == _LEFT:  # pragma: no cover - a left block is skipped by _layer_for
            raise ScopeError(f"{self._what()} has ended")

    # -- lifecycle, written once ------------------------------------------------------

    def _enter(self, is_async: bool) -> None:
        if self._state != _NEW:
            what = "is active" if self._state == _ACTIVE else "has been left"
            raise ScopeError(
                f"{self._what()} {what}; an override is entered once",
                fix="make a new one: `with override_dependency(key, value):`",
            )
        self._is_async = is_async
        self._parent = _active.get()
        _count(self.container, +1)
        self._state = _ACTIVE
        _active.set(self)

    def _leave(self) -> list[Record]:
        """Restore the context and the container; return the records to finalize."""
        if _active.get() is not self:
            inner = _active.get()
            raise ScopeError(
                f"{self._what()} is left in a context where it is not the innermost override"
                + ("" if inner is None or inner is self else f" ({inner!r} is)"),
                fix="leave overrides innermost first, in the task or thread that entered them",
            )
        self._state = _LEFT
        _active.set(self._parent)
        _count(self.container, -1)
        with self._layers_lock:
            for layer in self._layers.values():
                layer.forget()
            made = list(self._made.values())
            self._made.clear()
        records: list[Record] = []  # last made first when popped: inner scopes before the root
        for frame in made:
            records += frame.records
            frame.records = []
        return records

    def __enter__(self) -> Override:
        self._enter(False)
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        records = self._leave()
        if records:
            errors = drive_sync(finalize(records, is_async=False), _sync_refused)
            conclude(errors, exc, self._what())

    async def __aenter__(self) -> Override:
        self._enter(True)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        records = self._leave()
        if records:
            errors = await finalize_async(records)
            conclude(errors, exc, self._what())


def _sync_refused() -> BaseException:  # pragma: no cover - shadow frames refuse such records
    return ScopeError(
        "an override entered with `with` built something that needs an async teardown",
        fix="enter the override with `async with override_dependency(...)`",
    )


def _bad_key(key: object) -> BindingError:
    return BindingError(
        f"{key!r} cannot be overridden: a key is a type, a string or Annotated[T, 'name']",
        key=None,
        fix="override the key the dependency is bound or asked for with",
    )
