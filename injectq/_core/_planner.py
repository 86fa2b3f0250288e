"""Compile, part one: from bindings to a graph of planned nodes.

The planner walks a key's dependencies as the providers' signatures declare
them (``_spec``), decides for each parameter what fills it (a binding, a class
built on demand, a scope id, or the parameter's own fallback), finds cycles,
and checks the lifetime order; each node is then given its builders by
``_plan.compile_binding`` (part two).  ``validate()`` walks the same graph
without building anything and reports every problem (``_validate``).

``Planner`` is a base class of ``InjectQ``: it works on the container's
bindings, plans and frames (the attributes declared below), and the override
layers of ``_override`` run the same methods on layers of their own.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from ._advice import captive_error
from ._bindings import (
    DECLARED_SCOPE,
    UNREADABLE,
    Binding,
    auto_buildable,
    declared,
    is_any,
    unbuildable,
)
from ._codegen import MISSING_CONST
from ._errors import CircularDependencyError, DependencyNotFoundError, describe_key
from ._keys import SINGLETON, TRANSIENT, normalize_key, unhashable_key
from ._plan import Node, compile_binding, constant, scope_id_node
from ._spec import Param, read_params

if TYPE_CHECKING:
    import threading
    from collections.abc import Hashable

    from ._registry import ScopeRegistry
    from ._scope import Frame

__all__ = ["Planner"]


class Planner:
    """The planning half of the container: key -> node, once per key."""

    _bindings: dict[Hashable, Binding]
    _plans: dict[Hashable, Node]
    _plan_lock: threading.RLock
    _root: Frame
    _ready: dict[Hashable, Any]
    _scopes: ScopeRegistry

    def _forget_plans(self) -> None:
        self._plans.clear()
        self._ready.clear()

    def _binding_for(self, key: Hashable) -> Binding | None:
        binding = self._bindings.get(key)
        if binding is None and auto_buildable(key):
            assert isinstance(key, type)
            declared = getattr(key, DECLARED_SCOPE, TRANSIENT)
            binding = Binding(key, declared, provider=key)
        return binding

    def _plan(self, key: Any) -> Node:
        """The resolution plan of ``key``, made once: what every ``get``/``aget`` runs."""
        try:
            node = self._plans.get(key)
        except TypeError:
            raise unhashable_key(key) from None
        if node is not None:
            return node
        normalized = normalize_key(key)
        with self._plan_lock:
            node = self._compile(normalized, [])
            self._plans[key] = node
            if node.const is not MISSING_CONST:
                self._ready[key] = node.const
        return node

    def _missing(
        self, key: Hashable, path: list[Hashable], detail: str = ""
    ) -> DependencyNotFoundError:
        name = describe_key(key)
        hint = f"container.bind({name}, Impl) or bind_instance / bind_factory"
        if is_any(key):
            detail += "; typing.Any names no type, so nothing is ever built for it"
            hint = (
                "annotate the parameter with the type it needs, or give it a default"
                " (a value for it can be bound under a name: Annotated[Any, 'name'])"
            )
        elif isinstance(key, type) and getattr(builtins, key.__name__, None) is key:
            hint = (
                f"builtins are never built automatically: bind_instance({name}, value)"
                " or give the parameter a default"
            )
        elif isinstance(key, type) and (why := unbuildable(key)) is not None:
            detail += f"; {name} {why}, so it is never built automatically"
            if why == UNREADABLE:
                hint = (
                    f"container.bind_factory({name}, make) or bind_instance({name}, value),"
                    " or give the parameter a default"
                )
        return DependencyNotFoundError(
            f"nothing is bound to {name}{detail}",
            key=key,
            chain=[*path, key],
            fix=hint,
        )

    def _scope_id_of(self, param: Param) -> str | None:
        if param.scope_id_of is not None:
            self._scopes.check(param.scope_id_of)
            return param.scope_id_of
        name = param.name
        explicitly_bound = param.key is not None and param.key in self._bindings
        if name.endswith("_id") and name[:-3] in self._scopes.custom and not explicitly_bound:
            return name[:-3]
        return None

    def _param_node(self, param: Param, owner: Hashable, path: list[Hashable]) -> Node | None:
        """The node that fills ``param``, or ``None`` when it keeps its fallback.

        The fallback is the parameter's default, else ``None`` for an optional one.
        """
        scope_of = self._scope_id_of(param)
        if scope_of is not None:
            return scope_id_node(scope_of)
        key = param.key
        if key is None:
            if param.has_default:
                return None
            raise DependencyNotFoundError(
                f"parameter {param.name!r} of {describe_key(owner)} has no type hint",
                key=owner,
                chain=path,
                fix="annotate it, give it a default, or bind a factory that supplies it",
            )
        if param.has_default or param.optional:
            # an explicit fallback wins over auto-building: only a binding or a declared
            # lifetime (@singleton, ...) replaces it
            if key in self._bindings or declared(key):
                return self._compile(key, path)
            return None
        if self._binding_for(key) is not None:
            return self._compile(key, path)
        raise self._missing(key, path, f" (parameter {param.name!r} of {describe_key(owner)})")

    def _compile(self, key: Hashable, path: list[Hashable]) -> Node:
        node = self._plans.get(key)
        if node is not None:
            return node
        if key in path:
            raise CircularDependencyError([*path[path.index(key) :], key])
        binding = self._binding_for(key)
        if binding is None:
            raise self._missing(key, path)
        if binding.is_instance:
            node = constant(key, binding.instance)
        else:
            assert binding.provider is not None
            node = Node(key, binding.scope)
            inner = [*path, key]
            deps: list[tuple[str | None, Node]] = []
            for param in read_params(binding.provider, key):
                dep = self._param_node(param, key, inner)
                if dep is None:
                    dep = constant(param.name, param.default if param.has_default else None)
                deps.append((param.name if param.keyword_only else None, dep))
            self._check_lifetimes(node, [d for _, d in deps], inner)
            compile_binding(node, binding, deps, self._root, self._ready)
        self._plans[key] = node
        return node

    def _check_lifetimes(self, node: Node, deps: list[Node], path: list[Hashable]) -> None:
        requires: dict[str, tuple[Hashable, ...]] = {}
        for dep in deps:
            requires.update(dep.requires)
        if node.scope == TRANSIENT:
            node.requires = {name: (node.key, *chain) for name, chain in requires.items()}
            return
        for needed, chain in requires.items():
            if not self._scopes.outlives(needed, node.scope):
                raise captive_error(self._scopes, node.key, node.scope, needed, chain, path)
        if node.scope != SINGLETON:
            node.requires = {node.scope: (node.key,)}

    def get_dependency_graph(self) -> dict[Hashable, list[Hashable]]:
        """Each bound key with the keys it depends on directly."""
        graph: dict[Hashable, list[Hashable]] = {}
        for key in list(self._bindings):
            graph[key] = [dep.key for dep in self._plan(key).deps]
        return graph
