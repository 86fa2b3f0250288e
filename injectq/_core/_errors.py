"""The exception tree.

Every error injectq raises derives from :class:`InjectQError` and also from the
stdlib class a caller would naturally catch (``LookupError`` for a missing
binding, ``TypeError`` for a bad binding, ...).  Errors keep structured fields
(``key``, ``chain``, ``fix``) and render their message lazily, so the
resolution chain can be completed while the error travels up the graph.
"""

from __future__ import annotations

import inspect
import sys
import typing
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

if sys.version_info < (3, 11):  # pragma: no cover - depends on the interpreter
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup
else:  # pragma: no cover
    from builtins import BaseExceptionGroup, ExceptionGroup

__all__ = [
    "AlreadyRegisteredError",
    "BaseExceptionGroup",
    "BindingError",
    "CircularDependencyError",
    "DependencyNotFoundError",
    "FinalizationError",
    "InjectQError",
    "InjectionError",
    "ScopeError",
    "describe_key",
]


def describe_key(key: object) -> str:
    """A short, readable name for a binding key."""
    if key is typing.Any:
        return "typing.Any"  # a class on 3.11+, a special form before: one name for both
    if isinstance(key, type) or inspect.isfunction(key) or inspect.ismethod(key):
        return str(key.__qualname__)
    if isinstance(key, str):
        return repr(key)
    metadata = getattr(key, "__metadata__", None)
    origin = getattr(key, "__origin__", None)
    if metadata is not None and origin is not None:
        inner = ", ".join(repr(m) for m in metadata)
        return f"Annotated[{describe_key(origin)}, {inner}]"
    return repr(key)


class InjectQError(Exception):
    """Root of every error raised by injectq."""

    def __init__(
        self,
        message: str,
        *,
        key: Hashable | None = None,
        chain: Sequence[Hashable] = (),
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.chain: list[Hashable] = list(chain)
        self.fix = fix

    def add_frame(self, key: Hashable) -> None:
        """Record that the failing resolution was reached through ``key``."""
        if not self.chain or self.chain[0] != key:
            self.chain.insert(0, key)

    def __str__(self) -> str:
        lines = [self.message]
        if len(self.chain) > 1:
            lines.append("chain: " + " -> ".join(describe_key(k) for k in self.chain))
        if self.fix:
            lines.append("fix: " + self.fix)
        return "\n  ".join(lines)


class DependencyNotFoundError(InjectQError, LookupError):
    """Nothing is bound to a key and it cannot be built automatically."""


class CircularDependencyError(InjectQError):
    """The dependency graph has a cycle; ``cycle`` lists it, first key repeated last.

    A cycle found at run time (a factory that asks the container for something
    that needs the factory's own key) is completed as the error travels back up
    through the builds that make it.
    """

    def __init__(self, cycle: Sequence[Hashable]) -> None:
        super().__init__(
            "circular dependency",
            key=cycle[0],
            chain=cycle,
            fix="break the cycle: inject a factory or move the shared part into its own service",
        )

    @property
    def message(self) -> str:
        """``circular dependency: A -> B -> A``, the cycle as it is known now."""
        return "circular dependency: " + " -> ".join(describe_key(k) for k in self.cycle)

    @message.setter
    def message(self, value: str) -> None:  # set by InjectQError.__init__; the cycle decides
        return

    @property
    def cycle(self) -> list[Hashable]:
        """The keys of the cycle, its first key repeated last."""
        chain = self.chain
        start = chain.index(chain[-1])
        return chain[start:] if start < len(chain) - 1 else list(chain)

    def __str__(self) -> str:
        cycle = self.cycle
        lines = [self.message]
        if len(self.chain) > len(cycle):
            lines.append("chain: " + " -> ".join(describe_key(k) for k in self.chain))
        lines.append(f"fix: {self.fix}")
        return "\n  ".join(lines)


class ScopeError(InjectQError, RuntimeError):
    """A scope is missing, misused, or a lifetime rule is broken."""


class BindingError(InjectQError, TypeError):
    """A binding cannot work as declared."""


class AlreadyRegisteredError(BindingError):
    """A key is registered where a second registration is not allowed."""


class InjectionError(InjectQError, TypeError):
    """A parameter of an injected call cannot be filled."""


class FinalizationError(ExceptionGroup[Exception], InjectQError):  # type: ignore[override]
    """One or more finalizers failed while a scope or container closed.

    Holds every failure (and the block's own exception when it raised), in the
    order they happened.  It is raised even when only one finalizer failed, so
    ``except* FinalizationError`` and ``except FinalizationError`` see one shape.
    """

    def __new__(cls, message: str, exceptions: Sequence[Exception]) -> FinalizationError:
        return super().__new__(cls, message, exceptions)

    def __init__(self, message: str, exceptions: Sequence[Exception]) -> None:
        ExceptionGroup.__init__(self, message, exceptions)
        self.key = None
        self.chain = []
        self.fix = None

    def derive(self, excs: Sequence[Exception]) -> FinalizationError:  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]
        return FinalizationError(self.message, excs)

    def __str__(self) -> str:
        return str(ExceptionGroup.__str__(self))
