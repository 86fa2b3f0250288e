"""Helpers for tests of code that uses injectq."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._core._container import InjectQ

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["test_container"]


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
