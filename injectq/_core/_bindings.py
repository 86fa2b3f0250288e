"""Declare: what a key is bound to, and what bind time refuses.

A ``Binding`` is one ``bind`` / ``bind_instance`` / ``bind_factory`` as the
container keeps it.  The checks here answer, without building anything,
whether a class can be built from its hints at all and whether a value fits
its class key; the planner (``_planner``) and ``bind`` ask them.
"""

from __future__ import annotations

import builtins
import inspect
from dataclasses import dataclass
from types import GenericAlias
from typing import Annotated, Any, get_args, get_origin

import typing_extensions

from ._errors import BindingError, describe_key
from ._spec import CallKind

if typing_extensions.TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = [
    "DECLARED_SCOPE",
    "UNREADABLE",
    "Binding",
    "auto_buildable",
    "check_instance",
    "declared",
    "is_any",
    "is_class",
    "unbuildable",
]

#: the attribute ``@singleton`` / ``@transient`` / ``@scoped`` set on a class
DECLARED_SCOPE = "__injectq_scope__"


@dataclass(frozen=True)
class Binding:
    """What a key is bound to: an instance, or a provider with a lifetime."""

    key: Hashable
    scope: str
    provider: Callable[..., Any] | None = None
    instance: Any = None
    kind: CallKind = CallKind.SYNC

    @property
    def is_instance(self) -> bool:
        return self.provider is None


def is_any(obj: object) -> bool:
    return obj is Any or obj is typing_extensions.Any


UNREADABLE = "has no readable constructor signature"


def unbuildable(cls: Any, *, signature: bool = True) -> str | None:
    """Why injectq cannot build ``cls`` from its hints (``f"{cls} {why}"``), or ``None``.

    ``signature=False`` skips the signature check (a factory is called as it is).
    """
    if is_any(cls):
        return "names no class"
    if getattr(cls, "_is_protocol", False):
        return "is a Protocol"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        return f"is abstract (missing: {missing})"
    if signature:
        try:
            inspect.signature(cls)
        except (TypeError, ValueError):
            return UNREADABLE
    return None


def is_class(obj: object) -> bool:
    """A class, not a generic alias such as ``list[int]`` (a ``type`` on Python 3.10)."""
    return isinstance(obj, type) and not isinstance(obj, GenericAlias)


def auto_buildable(key: Hashable) -> bool:
    return (
        is_class(key)
        and isinstance(key, type)
        and getattr(builtins, key.__name__, None) is not key
        and unbuildable(key) is None
    )


def declared(key: Hashable) -> bool:
    """Whether ``key`` is a class with a lifetime decorator (``@singleton`` ...)."""
    return isinstance(key, type) and hasattr(key, DECLARED_SCOPE)


def check_instance(key: Hashable, value: Any) -> None:
    """Refuse a value that is not an instance of its class key (where ``isinstance`` can tell)."""
    if inspect.iscoroutine(value):
        raise BindingError(
            f"the value bound to {describe_key(key)} is a coroutine: it would be handed out"
            " unawaited, and can be awaited only once",
            key=key,
            fix=f"await it first: bind_instance({describe_key(key)}, await make()), or let the"
            f" container await it: bind_factory({describe_key(key)}, make, scope='singleton')",
        )
    target: Any = key
    if get_origin(key) is Annotated:
        target = get_args(key)[0]
    if (
        value is None  # allowed with allow_none=True, checked by the caller
        or not is_class(target)
        or is_any(target)
        or getattr(target, "_is_protocol", False)
    ):
        return
    accepted: tuple[type, ...] = (target, *_PROMOTIONS.get(target, ()))
    try:
        if isinstance(value, accepted):
            return
    except TypeError:  # a metaclass whose isinstance cannot answer
        return
    raise BindingError(
        f"{describe_key(key)} bound to a {type(value).__qualname__}, which is not"
        f" an instance of {describe_key(target)}",
        key=key,
        fix=f"bind an instance of {describe_key(target)}; a class to build goes to"
        f" container.bind({describe_key(key)}, Impl), and a stand-in that only looks like"
        f" one to bind_factory({describe_key(key)}, lambda: fake, scope='singleton')",
    )


# what a type checker accepts in place of these (PEP 484's numeric tower)
_PROMOTIONS: dict[type, tuple[type, ...]] = {float: (int,), complex: (float, int)}
