"""Helpers for tests of code that uses injectq."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._core._container import InjectQ

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = ["test_container"]


@contextmanager
def test_container() -> Generator[InjectQ, None, None]:
    """A fresh container, active for the block (decorators, ``@inject``), closed at the end."""
    container = InjectQ()
    with container.context(), container:
        yield container


test_container.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest
