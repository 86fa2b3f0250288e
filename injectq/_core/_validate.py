"""Validate: walk every binding's graph without building anything; report every problem.

Planning (``InjectQ._compile``) stops at the first problem, because resolution
must.  ``validate()`` walks the same graph with the same rules -- the
container's own ``_binding_for``, ``_scope_id_of``, ``_missing`` and the
registry's lifetime order, the same messages (``_advice``) -- but records each
problem and carries on, so one call lists them all:

* ``missing``: nothing provides a parameter (with the chain that needs it);
* ``cycle``: the whole cycle;
* ``captive``: a service needs one that does not live as long, across the
  singleton, every custom scope (in ``parent=`` order), the request scope, and
  through transients;
* ``sync-only``: a sync entry point (``validate(entry_points=...)``) needs a
  key that only ``aget`` can resolve;
* ``binding``: a provider whose signature cannot be read, an unknown scope in
  a ``ScopeId`` marker;

and, as information (``needs-aget``), which bound keys can only be resolved
with ``aget``.  The walk also yields the graph that ``_graph`` draws.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ._advice import captive_error
from ._errors import (
    BindingError,
    CircularDependencyError,
    DependencyNotFoundError,
    InjectionError,
    InjectQError,
    ScopeError,
    describe_key,
)
from ._keys import SCOPED, SINGLETON, TRANSIENT
from ._report import GraphEdge, GraphNode, Problem, ValidationReport
from ._spec import CallKind, Param, read_params

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable

    from ._container import InjectQ

__all__ = ["validate"]

# -- the walk -----------------------------------------------------------------------------


class _Info:
    """What the walk learned about one key."""

    __slots__ = (
        "async_chain",
        "bound",
        "done",
        "edges",
        "has_missing",
        "key",
        "lifetime",
        "problems",
        "provider",
        "requires",
    )

    def __init__(self, key: Hashable, lifetime: str, provider: str, bound: bool) -> None:
        self.key = key
        self.lifetime = lifetime
        self.provider = provider
        self.bound = bound
        self.done = False
        #: used edges: (parameter name, dependency)
        self.edges: list[tuple[str, _Info]] = []
        #: problems found at this key; each chain starts at this key
        self.problems: list[Problem] = []
        #: whether a dependency is missing below (then a fallback may be used instead)
        self.has_missing = False
        #: cached lifetimes reached through transients: scope -> chain from this key
        self.requires: dict[str, tuple[Hashable, ...]] = {}
        #: chain from this key to an async factory, when only ``aget`` can resolve it
        self.async_chain: tuple[Hashable, ...] | None = None


class _Walker:
    def __init__(self, container: InjectQ) -> None:
        self.container = container
        self.scopes = container._scopes
        self.infos: dict[Hashable, _Info] = {}
        self.path: list[Hashable] = []

    def visit(self, key: Hashable) -> _Info:
        info = self.infos.get(key)
        if info is not None:
            if not info.done:  # back on the path: a cycle
                cycle = (*self.path[self.path.index(key) :], key)
                error = CircularDependencyError(cycle)
                info.problems.append(
                    Problem("cycle", key, cycle, error.message, error.fix, CircularDependencyError)
                )
            return info
        binding = self.container._binding_for(key)
        if binding is None:
            info = _Info(key, "", "missing", bound=False)
            info.done = True
            info.has_missing = True
            self.infos[key] = info
            return info
        if binding.is_instance:
            info = _Info(key, SINGLETON, "instance", bound=True)
            info.done = True
            self.infos[key] = info
            return info
        provider = binding.provider
        assert provider is not None
        own_async = binding.kind in (CallKind.ASYNC, CallKind.AGEN)
        described = (
            "class" if isinstance(provider, type) else ("async factory" if own_async else "factory")
        )
        info = _Info(key, binding.scope, described, bound=key in self.container._bindings)
        self.infos[key] = info
        if own_async:
            info.async_chain = (key,)
        self.path.append(key)
        try:
            params = self.signature(info, provider)
            for param in params:
                self.guarded(info, param)
            self.lifetimes(info)
        finally:
            self.path.pop()
            info.done = True
        return info

    def signature(self, info: _Info, fn: Callable[..., Any]) -> list[Param]:
        """``read_params``; a signature that cannot be read is a ``binding`` problem."""
        key = info.key
        try:
            return read_params(fn, key)
        except InjectQError as exc:
            problem = Problem("binding", key, (key,), exc.message, exc.fix, type(exc))
        except Exception as exc:  # an annotation that typing cannot evaluate
            problem = Problem(
                "binding",
                key,
                (key,),
                f"cannot read the signature of {describe_key(fn)}: {type(exc).__name__}: {exc}",
                "fix the annotations of its parameters, or bind a factory with readable ones",
                BindingError,
            )
        info.problems.append(problem)
        return []

    def scope_id(self, name: str) -> _Info:
        key = f"{name}_id"
        info = self.infos.get(("scope id", name))
        if info is None:
            info = _Info(key, name, "scope id", bound=False)
            info.done = True
            info.requires = {name: (key,)}
            self.infos[("scope id", name)] = info
        return info

    def guarded(self, owner: _Info, param: Param) -> None:
        """``param``, with an annotation that is not a usable key reported, not raised."""
        try:
            self.param(owner, param)
        except InjectQError:  # pragma: no cover - param() records these itself
            raise
        except Exception as exc:  # e.g. an unhashable annotation
            owner.problems.append(
                Problem(
                    "binding",
                    owner.key,
                    (owner.key,),
                    f"parameter {param.name!r} of {describe_key(owner.key)} has an annotation"
                    f" that is not a key: {type(exc).__name__}: {exc}",
                    "annotate it with a class, or Annotated[T, 'name']",
                    BindingError,
                )
            )

    def param(self, owner: _Info, param: Param) -> None:
        """Mirror of ``InjectQ._param_node``: which edge fills ``param``, or a problem."""
        container = self.container
        try:
            scope_of = container._scope_id_of(param)
        except InjectQError as exc:
            owner.problems.append(
                Problem("binding", owner.key, (owner.key,), exc.message, exc.fix, type(exc))
            )
            return
        if scope_of is not None:
            self.use(owner, param.name, self.scope_id(scope_of))
            return
        key = param.key
        fallback = param.has_default or param.optional
        if key is None:
            if not param.has_default:
                owner.has_missing = True
                owner.problems.append(
                    Problem(
                        "missing",
                        owner.key,
                        (owner.key,),
                        f"parameter {param.name!r} of {describe_key(owner.key)} has no type hint",
                        "annotate it, give it a default, or bind a factory that supplies it",
                        DependencyNotFoundError,
                    )
                )
            return
        if container._binding_for(key) is not None:
            dep = self.visit(key)
            if key in container._bindings or not fallback or not dep.has_missing:
                self.use(owner, param.name, dep)
            return  # an unbound class that cannot be built: its fallback is used
        if fallback:
            return
        owner.has_missing = True
        error = container._missing(
            key, [], f" (parameter {param.name!r} of {describe_key(owner.key)})"
        )
        owner.problems.append(
            Problem("missing", key, (owner.key, key), error.message, error.fix, type(error))
        )
        missing = self.infos.setdefault(key, _Info(key, "", "missing", bound=False))
        missing.done = True
        missing.has_missing = True
        owner.edges.append((param.name, missing))

    def use(self, owner: _Info, name: str, dep: _Info) -> None:
        owner.edges.append((name, dep))
        if dep.has_missing:
            owner.has_missing = True
        if dep.async_chain is not None and owner.async_chain is None:
            owner.async_chain = (owner.key, *dep.async_chain)

    def lifetimes(self, info: _Info) -> None:
        """Mirror of ``InjectQ._check_lifetimes``, recording every captive dependency."""
        requires: dict[str, tuple[Hashable, ...]] = {}
        for _, dep in info.edges:
            requires.update(dep.requires)  # as planning does: the chain shown is the same
        if info.lifetime == TRANSIENT:
            info.requires = {name: (info.key, *chain) for name, chain in requires.items()}
            return
        for needed, chain in requires.items():
            if not self.scopes.outlives(needed, info.lifetime):
                error = captive_error(
                    self.scopes, info.key, info.lifetime, needed, chain, [info.key]
                )
                info.problems.append(
                    Problem(
                        "captive",
                        info.key,
                        tuple(error.chain),
                        error.message,
                        error.fix,
                        ScopeError,
                    )
                )
        if info.lifetime != SINGLETON:
            info.requires = {info.lifetime: (info.key,)}

    def entry_point(self, fn: Callable[..., Any]) -> _Info:
        """A function called through ``@inject`` / ``invoke``: what it needs, and how."""
        info = _Info(fn, TRANSIENT, "entry point", bound=False)
        self.infos[fn] = info
        self.path.append(fn)
        try:
            params = self.signature(info, fn)
            for param in params:
                if param.explicit:  # Inject[T]: it must be provided
                    self.guarded(info, param)
                elif param.key is not None and self.container.can_provide(param.key):
                    self.guarded(info, param)  # filled when the container can: check it
        finally:
            self.path.pop()
            info.done = True
        is_async = inspect.iscoroutinefunction(inspect.unwrap(fn))
        if not is_async and info.async_chain is not None:
            chain = info.async_chain
            needed = chain[1]
            info.problems.append(
                Problem(
                    "sync-only",
                    needed,
                    chain,
                    f"{describe_key(fn)} is sync, and the {describe_key(needed)} it needs can"
                    f" only be resolved with aget ({describe_key(chain[-1])} is built by an"
                    " async factory)",
                    f"make {describe_key(fn)} an async function (then @inject awaits its"
                    f" parameters), or bind a sync factory for {describe_key(chain[-1])}",
                    InjectionError,
                )
            )
        return info


def _lifetime_order(container: InjectQ) -> list[str]:
    """Singleton, custom scopes with each parent before its children, scoped, transient."""
    parents = container._scopes.parents
    ordered: list[str] = []

    def place(name: str) -> None:
        if name in ordered:
            return
        parent = parents.get(name)
        if parent is not None:
            place(parent)
        ordered.append(name)

    for name in parents:
        place(name)
    return [SINGLETON, *ordered, SCOPED, TRANSIENT]


def validate(
    container: InjectQ,
    *,
    strict: bool = True,
    entry_points: Iterable[Callable[..., Any]] = (),
) -> ValidationReport:
    """See ``InjectQ.validate``."""
    walker = _Walker(container)
    with container._plan_lock:
        roots: list[_Info] = [walker.visit(key) for key in list(container._bindings)]
        bound = len(roots)
        roots += [walker.entry_point(fn) for fn in entry_points]
        problems = _collect(roots)
        if not problems:
            problems = _plan_all(container)  # the planner agrees: compile what was walked
    info = [
        Problem(
            "needs-aget",
            root.key,
            root.async_chain,
            f"{describe_key(root.key)} can only be resolved with aget: "
            + (
                "it is built by an async factory"
                if len(root.async_chain) == 1
                else f"{describe_key(root.async_chain[-1])} in its graph is built by an async factory"
            ),
            f"await container.aget({describe_key(root.key)}) / await scope.aget(...)"
            " (or an async @inject function)",
            InjectionError,
            severity="info",
        )
        for root in roots
        if root.bound and root.async_chain is not None
    ]
    report = ValidationReport(
        problems, info, _graph(walker), _lifetime_order(container), bound, len(roots) - bound
    )
    if strict:
        report.raise_for_problems()
    return report


def _collect(roots: list[_Info]) -> list[Problem]:
    """Every problem reachable from ``roots``, each chain completed from its root."""
    problems: list[Problem] = []
    missing: dict[Hashable, int] = {}  # a missing key is one problem, whoever needs it
    needed_by: dict[Hashable, list[str]] = {}
    seen: set[int] = set()

    def walk(info: _Info, prefix: tuple[Hashable, ...]) -> None:
        if id(info) in seen:
            return
        seen.add(id(info))
        for problem in info.problems:
            chain = (*prefix, *problem.chain)
            if problem.kind == "missing" and problem.key != info.key:
                if problem.key in missing:
                    needed_by[problem.key].append(describe_key(info.key))
                    continue
                missing[problem.key] = len(problems)
                needed_by[problem.key] = []
            problems.append(
                Problem(
                    problem.kind,
                    problem.key,
                    chain,
                    problem.message,
                    problem.fix,
                    problem.error,
                    problem.severity,
                )
            )
        for _, dep in info.edges:
            walk(dep, (*prefix, info.key))

    for root in roots:
        walk(root, ())
    for key, index in missing.items():
        if needed_by[key]:
            problem = problems[index]
            also = ", ".join(needed_by[key])
            problems[index] = Problem(
                problem.kind,
                problem.key,
                problem.chain,
                f"{problem.message}; also needed by {also}",
                problem.fix,
                problem.error,
            )
    return problems


def _plan_all(container: InjectQ) -> list[Problem]:
    """Plan every binding as resolution would; a problem the walk missed is still reported."""
    problems: list[Problem] = []
    for key in list(container._bindings):
        try:
            container._plan(key)
        except InjectQError as exc:  # pragma: no cover - the walk finds these first
            problems.append(
                Problem("binding", key, tuple(exc.chain) or (key,), exc.message, exc.fix, type(exc))
            )
    return problems


def _graph(walker: _Walker) -> dict[Hashable, GraphNode]:
    nodes: dict[Hashable, GraphNode] = {}
    for info in walker.infos.values():
        node = GraphNode(
            key=info.key,
            lifetime=info.lifetime,
            provider=info.provider,
            bound=info.bound,
            needs_aget=info.async_chain is not None,
        )
        node.edges = [GraphEdge(info.key, dep.key, name) for name, dep in info.edges]
        node.problems = list(info.problems)
        nodes[info.key] = node
    for node in list(nodes.values()):  # a captive or sync-only problem also marks its target
        for problem in node.problems:
            target = nodes.get(problem.chain[-1])
            marks = problem.kind in ("captive", "sync-only") and target is not None
            if marks and problem not in target.problems:  # type: ignore[union-attr]
                target.problems.append(problem)  # type: ignore[union-attr]
    return nodes
