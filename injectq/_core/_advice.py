"""Messages shared by planning (``_container``) and ``validate()`` (``_validate``).

One place writes each explanation, so the error raised when a key is resolved
and the problem ``validate()`` reports for it read the same.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ._errors import BindingError, ScopeError, describe_key

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable, Sequence

    from ._registry import ScopeRegistry

__all__ = ["abstract_error", "add_note", "captive_error", "closest", "is_scope_id_key"]


def add_note(exc: BaseException, note: str) -> None:
    """PEP 678 ``exc.add_note(note)``, on Python 3.10 too (where tracebacks show it through
    the ``exceptiongroup`` backport)."""
    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, list):
        notes = []
        try:
            exc.__notes__ = notes  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - an exception class with __slots__
            return
    notes.append(note)  # pyright: ignore[reportUnknownMemberType]


def closest(name: str, known: Iterable[str]) -> str | None:
    """The name of ``known`` that ``name`` most likely meant (case or a typo), or ``None``."""
    candidates = list(known)
    lowered = {c.lower(): c for c in candidates}
    match = lowered.get(name.lower())
    if match is None:
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        match = close[0] if close else None
    return match


def is_scope_id_key(key: Hashable, scope: str) -> bool:
    """Whether ``key`` stands for the id of the active ``scope`` scope (``tenant_id``)."""
    return isinstance(key, str) and key == f"{scope}_id"


def captive_error(
    scopes: ScopeRegistry,
    key: Hashable,
    scope: str,
    needed: str,
    chain: Sequence[Hashable],
    path: Sequence[Hashable],
) -> ScopeError:
    """``key`` (living in ``scope``) reaches, through ``chain``, something living in ``needed``."""
    needed_key = chain[-1]
    who = describe_key(key)
    if is_scope_id_key(needed_key, needed):
        message = (
            f"{who} ({scope!r}) needs the id of the {needed!r} scope, which exists only"
            f" while a {needed!r} scope is entered: {who} would outlive it"
        )
        fix = (
            f"give {who} the {needed!r} lifetime (scope={needed!r}) or a shorter one,"
            " or take the id as an argument of the method that needs it"
        )
    else:
        message = (
            f"{who} ({scope!r}) depends on {describe_key(needed_key)} ({needed!r}),"
            " which does not live as long"
        )
        fix = f"give {who} a shorter lifetime, or {describe_key(needed_key)} a longer one"
    if needed in scopes.custom and scope in scopes.custom and not scopes.outlives(scope, needed):
        fix += (
            f", or declare that {scope!r} nests inside {needed!r}:"
            f" register_scope_manager({scope!r}, ..., parent={needed!r})"
        )
    return ScopeError(message, key=key, chain=[*path, *chain], fix=fix)


def abstract_error(key: Hashable, impl: type) -> BindingError:
    """``bind(key, impl)`` where ``impl`` is abstract; says so when the two look swapped."""
    missing = ", ".join(sorted(getattr(impl, "__abstractmethods__", ())))
    message = (
        f"{describe_key(impl)} is abstract (missing: {missing}) and cannot be built"
        f" for {describe_key(key)}"
    )
    fix = f"bind a concrete implementation: container.bind({describe_key(key)}, Impl)"
    if isinstance(key, type) and key is not impl and issubclass(key, impl):
        message += (
            f"; the arguments look swapped: {describe_key(key)} implements"
            f" {describe_key(impl)}, and bind() takes the key first"
        )
        fix = f"container.bind({describe_key(impl)}, {describe_key(key)})"
    return BindingError(message, key=key, fix=fix)
