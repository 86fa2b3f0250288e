"""Declare: what a provider needs, read once from its signature and type hints."""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
import typing
from dataclasses import dataclass
from typing import Any

from ._errors import BindingError, InjectionError, describe_key
from ._keys import InjectMarker, ScopeId, normalize_key, split_optional

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["CallKind", "Param", "as_declared", "call_kind", "read_params", "returned_coroutine"]

_EMPTY = inspect.Parameter.empty


class CallKind(enum.Enum):
    """How a provider hands over its value."""

    SYNC = "sync function or class"
    ASYNC = "async function"
    GEN = "generator"
    AGEN = "async generator"


@dataclass(frozen=True)
class Param:
    """One parameter of a provider or injected function."""

    name: str
    key: Hashable | None
    optional: bool
    has_default: bool
    default: Any
    positional_only: bool
    keyword_only: bool
    explicit: bool
    scope_id_of: str | None = None


def call_kind(fn: Callable[..., Any]) -> CallKind:
    """Classify a provider by how its result must be obtained.

    A decorated function (``functools.wraps`` sets ``__wrapped__``) or a
    ``staticmethod`` object is classified by the function it wraps, so a plain
    decorator around an ``async def`` still makes an async factory.
    """
    target: Any = fn
    if isinstance(fn, type):
        return CallKind.SYNC
    if not (inspect.isfunction(fn) or inspect.ismethod(fn) or isinstance(fn, functools.partial)):
        if isinstance(fn, staticmethod):
            target = fn.__func__
        else:
            call: Any = getattr(type(fn), "__call__", None)  # noqa: B004 - a callable instance
            if call is not None:
                target = call
    if not (
        inspect.iscoroutinefunction(target)
        or inspect.isasyncgenfunction(target)
        or inspect.isgeneratorfunction(target)
    ):
        with contextlib.suppress(ValueError):  # a __wrapped__ cycle: classify what we have
            target = inspect.unwrap(target)
    if inspect.isasyncgenfunction(target):
        return CallKind.AGEN
    if inspect.iscoroutinefunction(target):
        return CallKind.ASYNC
    if inspect.isgeneratorfunction(target):
        return CallKind.GEN
    return CallKind.SYNC


def as_declared(fn: Callable[..., Any], kind: CallKind) -> Callable[..., Any]:
    """``fn`` ready to be called as ``kind`` says.

    An async factory recognised only through what it wraps (a decorated function,
    a ``staticmethod`` object) is called through a small ``async def`` that awaits
    its result, and hands over a result that is not awaitable as it is.
    """
    if (
        kind is not CallKind.ASYNC
        or inspect.iscoroutinefunction(fn)
        or inspect.iscoroutinefunction(getattr(type(fn), "__call__", None))  # noqa: B004
    ):
        return fn

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    call.__injectq_wraps__ = fn  # type: ignore[attr-defined]  # read_params reads ``fn``
    return call


def returned_coroutine(key: Hashable, value: Any) -> InjectionError:
    """The error for a sync factory whose result is a coroutine; the coroutine is closed."""
    value.close()  # never awaited, and never to be: no "was never awaited" warning
    return InjectionError(
        f"the factory of {describe_key(key)} is a sync callable that returned a coroutine;"
        " injectq hands out no coroutine nobody awaits",
        key=key,
        chain=[key],
        fix="make the factory an `async def` (a decorator around one should use"
        " functools.wraps so injectq sees it), then resolve it with `await container.aget(...)`",
    )


def _hints(fn: Callable[..., Any], owner: Hashable) -> dict[str, Any]:
    target: Any = getattr(fn, "__injectq_wraps__", fn)
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, type):
        init: Any = getattr(target, "__init__")  # noqa: B009 - mypy rejects fn.__init__ on a type
        if init is object.__init__:
            return {}
        target = init
    elif isinstance(target, staticmethod):
        target = target.__func__
    elif not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(type(target), "__call__", target)  # noqa: B004  # pyright: ignore[reportUnknownArgumentType]
    annotations = getattr(target, "__annotations__", None)
    if isinstance(annotations, dict) and "return" in annotations:
        # only the parameters' hints are needed: a return annotation naming a class
        # defined later, or locally, must not stop the binding
        target = _ParamsOnly(target, typing.cast("dict[str, Any]", annotations))
    try:
        return typing.get_type_hints(target, include_extras=True)
    except NameError as exc:
        raise BindingError(
            f"cannot read the type hints of {describe_key(fn)} (needed for {describe_key(owner)}):"
            f" {exc}",
            key=owner,
            fix="define the named type at module level (forward references are looked up in"
            " the module's globals), or bind a factory with resolvable hints",
        ) from exc


class _ParamsOnly:
    """A stand-in for a function, for ``get_type_hints``: its annotations minus ``return``.

    ``get_type_hints`` finds the globals through ``__wrapped__``.
    """

    def __init__(self, fn: Any, annotations: dict[str, Any]) -> None:
        self.__wrapped__ = fn
        self.__annotations__ = {k: v for k, v in annotations.items() if k != "return"}


def read_params(fn: Callable[..., Any], owner: Hashable) -> list[Param]:
    """The injectable parameters of ``fn`` in signature order."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature take nothing we can give
        return []
    hints = _hints(fn, owner)
    params: list[Param] = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = p.default
        explicit = isinstance(default, InjectMarker)
        annotation = hints.get(p.name, _EMPTY)
        scope_id_of = next(
            (m.scope for m in getattr(annotation, "__metadata__", ()) if isinstance(m, ScopeId)),
            None,
        )
        optional = False
        key: Hashable | None
        if explicit:
            key = default.key
        elif annotation is _EMPTY:
            key = None
        else:
            inner, optional = split_optional(annotation)
            key = normalize_key(inner)
        params.append(
            Param(
                name=p.name,
                key=key,
                optional=optional,
                has_default=default is not _EMPTY and not explicit,
                default=None if explicit else default,
                positional_only=p.kind is p.POSITIONAL_ONLY,
                keyword_only=p.kind is p.KEYWORD_ONLY,
                explicit=explicit,
                scope_id_of=scope_id_of,
            )
        )
    return params
