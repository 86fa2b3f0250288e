"""Generated wrong usages of the public API: each works or raises an InjectQError (behaviour.md §8).

Hypothesis draws short programs of calls (bind, bind_instance, bind_factory, get,
aget, try_get, invoke, ainvoke, scopes, register_scope_manager, ``@inject``, item
access) with keys, values, scopes and factories taken from pools of good and bad
ones, and runs them on asyncio and trio.  Every call must either return or raise an
``InjectQError``: never another exception, never a hang (each program is bounded
by ``anyio.fail_after``), never a coroutine handed back unawaited (the test also
runs with warnings as errors, so a coroutine that was dropped unawaited fails it).

The run is deterministic (``derandomize=True``, no example database) and takes a
few seconds.
"""

from __future__ import annotations

import abc
import contextlib
import datetime
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, Optional, Protocol

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from injectq import (
    ConfigurationModule,
    Inject,
    InjectQ,
    InjectQError,
    Scope,
    ScopeManager,
    SessionScopeManager,
    TenantScopeManager,
    inject,
)

# -- the pools ------------------------------------------------------------------------------


class Plain:
    pass


class Leaf:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Branch:
    def __init__(self, leaf: Leaf, plain: Plain | None = None) -> None:
        self.leaf, self.plain = leaf, plain


class NeedsAny:
    def __init__(self, value: Any) -> None:
        self.value = value


class NeedsWhen:
    def __init__(self, when: datetime.datetime) -> None:
        self.when = when


class NeedsName:
    def __init__(self, name: str, tenant_id: str = "none") -> None:
        self.name = name


class Abstract(abc.ABC):
    @abc.abstractmethod
    def run(self) -> None: ...


class Shape(Protocol):
    def area(self) -> float: ...


class SelfLoop:
    def __init__(self, again: SelfLoop) -> None:
        self.again = again


async def make_leaf() -> Leaf:
    await anyio.lowlevel.checkpoint()
    return Leaf()


@functools.wraps(make_leaf)
def wrapped_make_leaf() -> Any:
    return make_leaf()


def sync_leaf(plain: Plain) -> Leaf:
    return Leaf()


def leaf_lines() -> Iterator[Leaf]:
    leaf = Leaf()
    yield leaf
    leaf.close()


async def async_leaf_lines() -> AsyncIterator[Leaf]:
    leaf = Leaf()
    yield leaf
    await anyio.lowlevel.checkpoint()
    leaf.close()


def never_yields() -> Iterator[Leaf]:
    return
    yield Leaf()


def hands_back_a_coroutine() -> Any:
    return make_leaf()


def positional_only(leaf: Leaf, /, plain: Plain | None = None) -> tuple[Leaf, Plain | None]:
    return leaf, plain


def untyped(x, y=1):  # type: ignore[no-untyped-def]
    return x, y


def wants_any(value: Any) -> Any:
    return value


def wants_marker(leaf: Leaf = Inject[Leaf], when: datetime.datetime | None = None) -> Leaf:
    return leaf


async def async_job(leaf: Leaf, branch: Branch | None = None) -> Leaf:
    await anyio.lowlevel.checkpoint()
    return leaf


_made: list[Any] = []  # coroutines made as values: closed after each program


def _coroutine() -> Any:
    coroutine = make_leaf()
    _made.append(coroutine)
    return coroutine


# Keys: good and bad.  Each is a function so that mutable ones are fresh per use.
KEYS: list[Callable[[], Any]] = [
    lambda: Plain,
    lambda: Leaf,
    lambda: Branch,
    lambda: NeedsAny,
    lambda: NeedsWhen,
    lambda: NeedsName,
    lambda: Abstract,
    lambda: Shape,
    lambda: SelfLoop,
    lambda: datetime.datetime,
    lambda: Any,
    lambda: int,
    lambda: str,
    lambda: object,
    lambda: "name",
    lambda: "leaf",
    lambda: Annotated[Leaf, "primary"],
    lambda: Annotated[str, "url"],
    lambda: Optional[Leaf],  # noqa: UP045
    lambda: list[int],
    lambda: [1],
    lambda: {"a": 1},
    lambda: {1},
    lambda: None,
    lambda: 42,
    lambda: (Leaf, "x"),
    lambda: make_leaf,
    lambda: Leaf(),
]

# Values handed to bind / bind_instance / item assignment.
VALUES: list[Callable[[], Any]] = [
    lambda: Plain,
    lambda: Leaf,
    lambda: Branch,
    lambda: Abstract,
    lambda: Shape,
    lambda: Any,
    lambda: datetime.datetime,
    lambda: SelfLoop,
    lambda: Leaf(),
    lambda: Plain(),
    lambda: "text",
    lambda: 3,
    lambda: None,
    lambda: [1, 2],
    lambda: make_leaf,
    lambda: _coroutine(),
    lambda: object(),
]

FACTORIES: list[Callable[[], Any]] = [
    lambda: Leaf,
    lambda: Branch,
    lambda: make_leaf,
    lambda: wrapped_make_leaf,
    lambda: staticmethod(make_leaf),
    lambda: sync_leaf,
    lambda: leaf_lines,
    lambda: async_leaf_lines,
    lambda: never_yields,
    lambda: hands_back_a_coroutine,
    lambda: positional_only,
    lambda: wants_any,
    lambda: untyped,
    lambda: functools.partial(sync_leaf, Plain()),
    lambda: Abstract,
    lambda: Shape,
    lambda: Any,
    lambda: "not callable",
    lambda: None,
    lambda: 7,
]

SCOPES: list[Any] = [
    "singleton",
    "transient",
    "scoped",
    Scope.SINGLETON,
    Scope.SCOPED,
    "session",
    "tenant",
    "nowhere",
    "",
    5,
    None,
    [1],
]

SCOPE_NAMES: list[Any] = [None, "scoped", "session", "tenant", "singleton", "nowhere", 5, [1]]
SCOPE_IDS: list[Any] = [None, "a", "b", 3, [1], {"x": 1}]

MANAGERS: list[Callable[[], Any]] = [
    ScopeManager,
    lambda: SessionScopeManager(timeout=60),
    lambda: TenantScopeManager(max_tenants=2),
    lambda: object(),
    lambda: None,
    lambda: ScopeManager,  # the class, not an instance
]

MANAGER_NAMES: list[Any] = ["session", "tenant", "scoped", "singleton", "", 5, None, ("a",), [1]]
PARENTS: list[Any] = [None, None, "session", "tenant", "nowhere", 7]

INVOKE_TARGETS: list[Callable[[], Any]] = [
    lambda: positional_only,
    lambda: untyped,
    lambda: wants_any,
    lambda: wants_marker,
    lambda: async_job,
    lambda: Branch,
    lambda: NeedsWhen,
    lambda: "leaf",
    lambda: Leaf,
    lambda: [1],
    lambda: 5,
    lambda: None,
]

INJECTED: list[Callable[[], Any]] = [
    lambda: positional_only,
    lambda: wants_any,
    lambda: wants_marker,
    lambda: async_job,
    lambda: untyped,
]

# -- running one call -----------------------------------------------------------------------


def _pick(pool: list[Callable[[], Any]]) -> st.SearchStrategy[Callable[[], Any]]:
    return st.sampled_from(pool)


def _check(result: Any) -> None:
    """A result that is a coroutine would be handed out unawaited: that is a failure."""
    if inspect.iscoroutine(result):
        result.close()
        raise AssertionError(f"a coroutine was handed back: {result!r}")


async def _resolve(container: InjectQ, target: Any, how: str, key: Any) -> None:
    if how == "get":
        _check(target.get(key))
    elif how == "aget":
        _check(await target.aget(key))
    else:
        _check(await target.aget(key, concurrent=True))


OPS = st.one_of(
    st.tuples(st.just("bind"), _pick(KEYS), _pick(VALUES), st.sampled_from(SCOPES), st.booleans()),
    st.tuples(st.just("bind_self"), _pick(KEYS), st.sampled_from(SCOPES)),
    st.tuples(st.just("bind_instance"), _pick(KEYS), _pick(VALUES), st.booleans()),
    st.tuples(st.just("bind_factory"), _pick(KEYS), _pick(FACTORIES), st.sampled_from(SCOPES)),
    st.tuples(st.just("setitem"), _pick(KEYS), _pick(VALUES)),
    st.tuples(st.just("delitem"), _pick(KEYS)),
    st.tuples(st.just("contains"), _pick(KEYS)),
    st.tuples(st.just("resolve"), _pick(KEYS), st.sampled_from(["get", "aget", "concurrent"])),
    st.tuples(st.just("try_get"), _pick(KEYS)),
    st.tuples(st.just("invoke"), _pick(INVOKE_TARGETS), st.booleans()),
    st.tuples(
        st.just("scope"),
        st.sampled_from(SCOPE_NAMES),
        st.sampled_from(SCOPE_IDS),
        _pick(KEYS),
        st.sampled_from(["get", "aget", "concurrent", "sync"]),
    ),
    st.tuples(
        st.just("register"),
        st.sampled_from(MANAGER_NAMES),
        _pick(MANAGERS),
        st.sampled_from(PARENTS),
    ),
    st.tuples(st.just("inject"), _pick(INJECTED)),
    st.tuples(st.just("marker"), _pick(KEYS)),
    st.tuples(st.just("factories"), _pick(KEYS), _pick(FACTORIES), st.booleans()),
    st.tuples(st.just("call_factory"), _pick(KEYS), st.booleans()),
    st.tuples(st.just("module"), _pick(KEYS), _pick(VALUES)),
    st.tuples(st.just("graph")),
    st.tuples(st.just("close"), st.booleans()),
    st.tuples(st.just("validate")),
)


async def _run(container: InjectQ, op: tuple[Any, ...]) -> None:
    kind, *args = op
    if kind == "bind":
        key, value, scope, allow_none = args
        container.bind(key(), value(), scope=scope, allow_none=allow_none)
    elif kind == "bind_self":
        key, scope = args
        container.bind(key(), scope=scope)
    elif kind == "bind_instance":
        key, value, allow_none = args
        container.bind_instance(key(), value(), allow_none=allow_none)
    elif kind == "bind_factory":
        key, factory, scope = args
        container.bind_factory(key(), factory(), scope=scope)
    elif kind == "setitem":
        key, value = args
        container[key()] = value()
    elif kind == "delitem":
        del container[args[0]()]
    elif kind == "contains":
        assert isinstance(args[0]() in container, bool)
    elif kind == "resolve":
        key, how = args
        await _resolve(container, container, how, key())
    elif kind == "try_get":
        _check(container.try_get(args[0]()))
    elif kind == "invoke":
        target, is_async = args
        if is_async:
            _check(await container.ainvoke(target()))
        else:
            result = container.invoke(target())
            if inspect.iscoroutine(result):  # invoke of an async function: await it here
                await result
    elif kind == "scope":
        name, scope_id, key, how = args
        if how == "sync":
            with container.scope(name, scope_id) as handle:
                _check(handle.get(key()))
        else:
            async with container.scope(name, scope_id) as handle:
                await _resolve(container, handle, how, key())
    elif kind == "register":
        name, manager, parent = args
        container.register_scope_manager(name, manager(), parent=parent)
    elif kind == "inject":
        fn = inject(container=container)(args[0]())
        result = fn()
        if inspect.iscoroutine(result):
            _check(await result)
        else:
            _check(result)
    elif kind == "marker":  # a function whose default is Inject[key]
        marker = Inject[args[0]()]

        def uses_marker(value: Any = marker) -> Any:
            return value

        _check(inject(container=container)(uses_marker)())
    elif kind == "factories":
        key, factory, remove = args
        if remove:
            del container.factories[key()]
        else:
            container.factories[key()] = factory()
    elif kind == "call_factory":
        key, is_async = args
        if is_async:
            _check(await container.acall_factory(key()))
        else:
            result = container.call_factory(key())
            if inspect.iscoroutine(result):  # the factory is async: calling it gives this
                _check(await result)
            elif inspect.isgenerator(result) or inspect.isasyncgen(result):
                pass  # a generator factory, called as it is
    elif kind == "module":
        key, value = args
        made_key = key()
        try:
            hash(made_key)
        except TypeError:
            return  # no dict can hold it: nothing to hand to the module
        container.install_module(ConfigurationModule({made_key: value()}))
    elif kind == "graph":
        assert isinstance(container.get_dependency_graph(), dict)
    elif kind == "close":
        if args[0]:
            await container.aclose()
        else:
            container.close()
    else:
        container.validate()


@pytest.mark.anyio
@settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(managers=st.booleans(), program=st.lists(OPS, min_size=1, max_size=8))
async def test_generated_wrong_usages_work_or_raise_an_injectq_error(
    managers: bool, program: list[tuple[Any, ...]]
) -> None:
    container = InjectQ()
    if managers:  # custom scopes to misuse
        container.register_scope_manager("session", SessionScopeManager(timeout=60))
        container.register_scope_manager("tenant", TenantScopeManager(max_tenants=2))
    try:
        await _run_program(container, program)
    finally:
        while _made:  # the test's own coroutine values, refused by bind: never awaited
            _made.pop().close()


def _show(op: tuple[Any, ...]) -> str:
    """The call with the pools' entries shown as the values they make."""
    shown = [a() if getattr(a, "__name__", "") == "<lambda>" else a for a in op]
    text = repr(shown)
    for made in [a for a in shown if inspect.iscoroutine(a)]:
        made.close()
    return text


async def _run_program(container: InjectQ, program: list[tuple[Any, ...]]) -> None:
    with anyio.fail_after(10):
        for op in program:
            try:
                await _run(container, op)
            except InjectQError:
                pass
            except Exception as exc:
                raise AssertionError(f"{_show(op)} raised {type(exc).__name__}: {exc}") from exc
        with contextlib.suppress(InjectQError):
            await container.aclose()
