"""``@inject`` and the class decorators that declare lifetimes."""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, TypeVar, overload
from weakref import WeakKeyDictionary

from typing_extensions import ParamSpec

from ._active import current
from ._bindings import DECLARED_SCOPE
from ._errors import DependencyNotFoundError, InjectionError, describe_key
from ._keys import Scope, scope_name
from ._plan import Node, constant
from ._spec import Param, read_params

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Mapping, Sequence

    from ._container import InjectQ

__all__ = ["Injector", "inject", "register_as", "scoped", "singleton", "transient"]

_NONE = constant(None, None)
P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)


def _weakrefable(fn: object) -> bool:
    return hasattr(type(fn), "__weakref__") and not inspect.ismethod(fn)


class Injector:
    """Which parameters of a callable the container fills, read once per callable."""

    __slots__ = ("__weakref__", "_fn", "_params", "_positional")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self._params: list[Param] | None = None  # read lazily: forward references
        self._positional: list[str] = []

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> Injector:
        injector = _INJECTORS.get(fn) if _weakrefable(fn) else None
        if injector is None:
            injector = cls(fn)
            if _weakrefable(fn):
                _INJECTORS[fn] = injector
        return injector

    def _read(self) -> list[Param]:
        if self._params is None:
            params = read_params(self._fn, getattr(self._fn, "__qualname__", repr(self._fn)))
            self._positional = [p.name for p in params if not p.keyword_only]
            self._params = params
        return self._params

    def targets(
        self, container: InjectQ, args: Sequence[Any], given: Mapping[str, Any]
    ) -> list[tuple[str | None, Node]]:
        """The parameters to fill for a call with ``args`` and ``given``, and their nodes.

        A name of ``None`` is a positional-only parameter, passed after ``args`` in order.
        """
        params = self._read()
        passed = set(self._positional[: len(args)])
        found: list[tuple[str | None, Node]] = []
        defaults = 0  # positional-only defaults at the end of ``found``
        for param in params:
            if param.name in passed:
                continue
            if param.positional_only:
                node = self._node(container, param)
                if node is not None:
                    found.append((None, node))
                    defaults = 0
                else:  # it keeps its default; passed on only if a later one is filled
                    found.append((None, constant(param.name, param.default)))
                    defaults += 1
                continue
            if defaults:
                del found[-defaults:]
                defaults = 0
            if param.name in given:
                continue
            node = self._node(container, param)
            if node is not None:
                found.append((param.name, node))
        if defaults:
            del found[-defaults:]
        return found

    def _node(self, container: InjectQ, param: Param) -> Node | None:
        """The node that fills ``param``, or ``None`` when the call keeps its own."""
        if param.key is None and not param.has_default:
            raise InjectionError(
                f"cannot fill parameter {param.name!r} of {describe_key(self._fn)}:"
                " it has no type hint and was not passed",
                key=self._fn,
                fix=f"annotate it with the type to inject, or pass {param.name}=...",
            )
        try:
            node = container._param_node(param, self._fn, [self._fn])
        except DependencyNotFoundError as exc:
            if exc.key != param.key:
                raise
            raise InjectionError(
                f"cannot fill parameter {param.name!r} of {describe_key(self._fn)}:"
                f" nothing provides {describe_key(param.key)}",
                key=param.key,
                chain=exc.chain,
                fix=f"bind {describe_key(param.key)} in the active container, or pass"
                f" {param.name}=...",
            ) from None
        if node is not None:
            return node
        if param.explicit:
            raise InjectionError(
                f"cannot fill parameter {param.name!r} of {describe_key(self._fn)}:"
                f" nothing provides {describe_key(param.key)}",
                key=param.key,
                fix=f"bind {describe_key(param.key)} in the active container, or pass"
                f" {param.name}=...",
            )
        if not param.has_default:  # optional without a default
            return _NONE
        return None

    def fill(
        self, container: InjectQ, args: Sequence[Any], given: Mapping[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """The positional arguments to pass after ``args``, and the keyword ones."""
        frame = container._scope_var.get()
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        for name, node in self.targets(container, args, given):
            value = node.top(frame)
            if name is None:
                positional.append(value)
            else:
                keywords[name] = value
        return positional, keywords

    async def afill(
        self, container: InjectQ, args: Sequence[Any], given: Mapping[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """``fill``, awaiting what must be awaited."""
        frame = container._scope_var.get()
        positional: list[Any] = []
        keywords: dict[str, Any] = {}
        for name, node in self.targets(container, args, given):
            value = node.top(frame) if node.atop is None else await node.atop(frame)
            if name is None:
                positional.append(value)
            else:
                keywords[name] = value
        return positional, keywords


_INJECTORS: WeakKeyDictionary[Any, Injector] = WeakKeyDictionary()


@overload
def inject(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def inject(*, container: InjectQ | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def inject(fn: Any = None, /, *, container: InjectQ | None = None) -> Any:
    """Fill a function's injectable parameters at call time; passed arguments win.

    Works on sync and async functions and methods.  Parameters are filled from
    ``container`` when given, else from the active container at each call.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        injector = Injector.of(func)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                active = container or current()
                extra, filled = await injector.afill(active, args, kwargs)
                kwargs.update(filled)
                return await func(*args, *extra, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            active = container or current()
            extra, filled = injector.fill(active, args, kwargs)
            kwargs.update(filled)
            return func(*args, *extra, **kwargs)

        return wrapper

    return decorate if fn is None else decorate(fn)


def _declare(cls: C, scope: str) -> C:
    setattr(cls, DECLARED_SCOPE, scope)
    current().bind(cls, cls, scope=scope)
    return cls


class _Lifetime:
    """``@singleton`` / ``@transient`` / ``@scoped``, bare or called.

    Declares the class's lifetime (any container that builds it honours it)
    and registers the class on the active container.
    """

    __slots__ = ("_scope",)

    def __init__(self, scope: Scope) -> None:
        self._scope = scope.value

    def __repr__(self) -> str:
        return f"<injectq.{self._scope}>"

    @overload
    def __call__(self, cls: C, /) -> C: ...
    @overload
    def __call__(self, cls: None = None, /) -> Callable[[C], C]: ...
    def __call__(self, cls: C | None = None, /) -> C | Callable[[C], C]:
        if cls is None:
            return self._later
        return _declare(cls, self._scope)

    def _later(self, cls: C) -> C:
        return _declare(cls, self._scope)


singleton = _Lifetime(Scope.SINGLETON)
transient = _Lifetime(Scope.TRANSIENT)
scoped = _Lifetime(Scope.SCOPED)


def register_as(key: Hashable, scope: str | Scope = Scope.SINGLETON) -> Callable[[C], C]:
    """Class decorator: bind ``key`` to the class on the active container."""

    def decorate(cls: C) -> C:
        current().bind(key, cls, scope=scope_name(scope))
        return cls

    return decorate
