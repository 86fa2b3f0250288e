"""Keys, lifetimes and the ``Inject[T]`` marker: the vocabulary of bindings."""

from __future__ import annotations

import enum
import types
import typing
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from ._errors import BindingError, describe_key

if TYPE_CHECKING:
    from collections.abc import Hashable

__all__ = [
    "SCOPED",
    "SINGLETON",
    "TRANSIENT",
    "Inject",
    "InjectMarker",
    "Scope",
    "ScopeId",
    "normalize_key",
    "unhashable_key",
]


class Scope(str, enum.Enum):
    """The built-in lifetimes.  Each compares equal to its string name."""

    SINGLETON = "singleton"
    TRANSIENT = "transient"
    SCOPED = "scoped"

    def __str__(self) -> str:
        return self.value


SINGLETON = "singleton"
TRANSIENT = "transient"
SCOPED = "scoped"
RESERVED_SCOPES = frozenset({SINGLETON, TRANSIENT, SCOPED})


def scope_name(scope: str | Scope) -> str:
    """The plain string name of a lifetime given as a ``Scope`` or a string."""
    return scope.value if isinstance(scope, Scope) else str(scope)


class InjectMarker:
    """The value of ``Inject[T]``: tells ``@inject`` to fill this parameter with ``T``."""

    __slots__ = ("key",)

    def __init__(self, key: Hashable) -> None:
        self.key = normalize_key(key)

    def __repr__(self) -> str:
        return f"Inject[{describe_key(self.key)}]"


class ScopeId:
    """``Annotated[str, ScopeId("tenant")]``: inject the id of the active ``tenant`` scope.

    A parameter named ``<scope>_id`` (``tenant_id``, ``session_id``) gets the
    same without the marker.
    """

    __slots__ = ("scope",)

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def __repr__(self) -> str:
        return f"ScopeId({self.scope!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScopeId) and other.scope == self.scope

    def __hash__(self) -> int:
        return hash((ScopeId, self.scope))


if TYPE_CHECKING:
    # To a type checker ``Inject[T]`` is simply a value of any type, so
    # ``svc: Service = Inject[Service]`` checks cleanly.
    Inject: Any
    """``param: T = Inject[T]`` marks a parameter for ``@inject`` to fill with ``T``.

    To a type checker ``Inject[T]`` is a value of any type, so the parameter
    has a default and callers may leave it out.
    """
else:

    class Inject:
        """``param: T = Inject[T]`` marks a parameter for ``@inject`` to fill."""

        __slots__ = ()

        def __class_getitem__(cls, key: Hashable) -> InjectMarker:
            return InjectMarker(key)

        def __new__(cls, *args: object, **kwargs: object) -> InjectMarker:
            raise TypeError("use Inject[T] as a parameter default, not Inject(...)")


def normalize_key(key: Any) -> Hashable:
    """The canonical form of a key.

    ``Annotated[T, "name"]`` keeps its first string as the name; any other
    ``Annotated`` metadata is dropped, leaving ``T``.  A key that cannot be
    hashed (a list, a dict, ...) can never be looked up: ``BindingError``.
    """
    if get_origin(key) is Annotated:
        inner, *metadata = get_args(key)
        for item in metadata:
            if isinstance(item, str):
                return typing.cast("Hashable", Annotated[inner, item])
        return normalize_key(inner)
    try:
        hash(key)
    except TypeError:
        raise unhashable_key(key) from None
    return typing.cast("Hashable", key)


def unhashable_key(key: object) -> BindingError:
    """The error for a key that cannot be hashed, so cannot be bound or looked up."""
    return BindingError(
        f"{type(key).__name__} {describe_key(key)[:60]} cannot be a key: keys must be hashable",
        fix="use a class, a string, or Annotated[T, 'name'] as the key",
    )


def split_optional(annotation: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``Optional[T]`` / ``T | None``, else ``(annotation, False)``."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return args[0], True
    return annotation, False
