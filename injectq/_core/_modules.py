"""Modules: groups of bindings installed together."""

from __future__ import annotations

import collections.abc
import typing
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar, overload

from ._errors import BindingError, describe_key
from ._keys import Scope, scope_name

if typing.TYPE_CHECKING:
    from ._container import InjectQ

__all__ = ["ConfigurationModule", "Module", "ProviderModule", "SimpleModule", "provider"]

F = TypeVar("F", bound=Callable[..., Any])
PROVIDER_SCOPE = "__injectq_provider__"


class Module:
    """Subclass and override ``configure(binder)``; the binder is the container."""

    def configure(self, binder: InjectQ) -> None:
        raise NotImplementedError


@overload
def provider(fn: F, /) -> F: ...
@overload
def provider(*, scope: str | Scope = ...) -> Callable[[F], F]: ...
def provider(fn: Any = None, /, *, scope: str | Scope = Scope.TRANSIENT) -> Any:
    """Mark a ``ProviderModule`` method as the factory of its return annotation.

    Transient by default, like ``bind_factory``; pass ``scope=`` for another lifetime.
    """

    def mark(method: F) -> F:
        setattr(method, PROVIDER_SCOPE, scope_name(scope))
        return method

    return mark if fn is None else mark(fn)


class ProviderModule(Module):
    """A module whose ``@provider`` methods are factories keyed by their return type."""

    def configure(self, binder: InjectQ) -> None:
        for name in dir(type(self)):
            member = getattr(type(self), name, None)
            scope = getattr(member, PROVIDER_SCOPE, None)
            if scope is None:
                continue
            method = getattr(self, name)
            hints = typing.get_type_hints(member, include_extras=True)
            key = _provided(hints.get("return"))
            if key is None:
                raise BindingError(
                    f"provider {type(self).__qualname__}.{name} has no return annotation",
                    fix="annotate the return type: it is the key the provider is bound to",
                )
            binder.bind_factory(key, method, scope=scope)


_GENERATORS = {
    collections.abc.Iterator,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.Iterable,
    collections.abc.AsyncIterable,
}


def _provided(annotation: Any) -> Any:
    """The key a provider provides: its return type, or what it yields when it is a generator."""
    if typing.get_origin(annotation) in _GENERATORS:
        return typing.get_args(annotation)[0]
    return annotation


class SimpleModule(Module):
    """Collect bindings fluently: ``SimpleModule().bind(A, AImpl).bind_instance("url", "...")``."""

    def __init__(self) -> None:
        self._steps: list[Callable[[InjectQ], None]] = []

    def bind(
        self, key: Hashable, impl: Any = None, scope: str | Scope = Scope.SINGLETON
    ) -> SimpleModule:
        def step(container: InjectQ) -> None:
            container.bind(key, key if impl is None else impl, scope=scope)

        self._steps.append(step)
        return self

    def bind_instance(self, key: Hashable, instance: Any) -> SimpleModule:
        self._steps.append(lambda c: c.bind_instance(key, instance, allow_none=True))
        return self

    def bind_factory(
        self, key: Hashable, factory: Callable[..., Any], scope: str | Scope = Scope.TRANSIENT
    ) -> SimpleModule:
        self._steps.append(lambda c: c.bind_factory(key, factory, scope=scope))
        return self

    def configure(self, binder: InjectQ) -> None:
        for step in self._steps:
            step(binder)


class ConfigurationModule(Module):
    """Bind each key of a mapping to its value."""

    def __init__(self, values: Mapping[Hashable, Any]) -> None:
        self._values = dict(values)

    def configure(self, binder: InjectQ) -> None:
        for key, value in self._values.items():
            binder.bind_instance(key, value, allow_none=True)

    def __repr__(self) -> str:
        return f"ConfigurationModule({', '.join(describe_key(k) for k in self._values)})"
