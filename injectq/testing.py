"""Helpers for tests of code that uses injectq."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core._container import InjectQ
from ._core._override import Override

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Override", "override_dependency", "test_container"]


class _FreshContainer:
    """``with`` / ``async with`` a fresh container that is the active one for the block."""

    __test__ = False  # not a test class for pytest

    def __init__(self) -> None:
        self.container = InjectQ()
        self._activation = self.container.context()

    def __enter__(self) -> InjectQ:
        return self._activation.__enter__()

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.container.__exit__(et, exc, tb)
        finally:
            self._activation.__exit__(et, exc, tb)

    async def __aenter__(self) -> InjectQ:
        return self._activation.__enter__()

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.container.__aexit__(et, exc, tb)
        finally:
            self._activation.__exit__(et, exc, tb)


def test_container() -> _FreshContainer:
    """A fresh container, active for the block (decorators, ``@inject``), closed at the end.

    ``with test_container() as container:`` closes it with ``close()``;
    ``async with test_container() as container:`` with ``await aclose()``, so async
    teardown works too.
    """
    return _FreshContainer()


test_container.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest


def override_dependency(key: Any, value: Any, container: InjectQ | None = None) -> Override:
    """``with`` / ``async with``: every resolution of ``key`` gives ``value`` for the block.

    In every container, or only in ``container`` when one is given; in this
    context only (the block's own child tasks and ``anyio.to_thread`` workers
    see it, a concurrent task or another thread does not).  Instances built
    during the block that depend on ``key`` belong to the block: finalized when
    it ends, never seen after it.  ``value`` itself is never finalized.
    """
    return Override(key, value, container)
