"""Declare: what a provider needs, read once from its signature and type hints."""

from __future__ import annotations

import enum
import functools
import inspect
import typing
from dataclasses import dataclass
from typing import Any

from ._errors import BindingError, describe_key
from ._keys import InjectMarker, ScopeId, normalize_key, split_optional

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["CallKind", "Param", "call_kind", "read_params"]

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
    """Classify a provider by how its result must be obtained."""
    target: Any = fn
    if not (
        inspect.isfunction(fn) or inspect.ismethod(fn) or isinstance(fn, (functools.partial, type))
    ):
        call: Any = getattr(type(fn), "__call__", None)  # noqa: B004 - a callable instance
        if call is not None:
            target = call
    if inspect.isasyncgenfunction(target):
        return CallKind.AGEN
    if inspect.iscoroutinefunction(target):
        return CallKind.ASYNC
    if inspect.isgeneratorfunction(target):
        return CallKind.GEN
    return CallKind.SYNC


def _hints(fn: Callable[..., Any], owner: Hashable) -> dict[str, Any]:
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, type):
        init: Any = getattr(target, "__init__")  # noqa: B009 - mypy rejects fn.__init__ on a type
        if init is object.__init__:
            return {}
        target = init
    elif not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(type(target), "__call__", target)  # noqa: B004  # pyright: ignore[reportUnknownArgumentType]
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
