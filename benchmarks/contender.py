"""What a contender is: one way of wiring the workload, asked for each operation.

A contender answers each operation with a ready-to-time callable, built once
before any timing:

- ``singleton()``: ``(function, args)`` whose call returns the already-built
  ``Engine``; the timed loop calls ``function(*args)`` directly, so a
  container's ``get(Engine)`` is one call, just as the plain function is;
- ``sync_request()``: a function that enters a request scope, resolves the
  ``RequestHandler``, leaves the scope and returns the handler;
- ``async_request(backend)``: the same as a coroutine function, run inside a
  loop of ``backend`` (``"asyncio"`` or ``"trio"``);
- ``asgi(backend)``: an ASGI application serving ``GET /`` whose endpoint gets
  a ``RequestHandler`` and hands it to :func:`benchmarks.asgi.respond`.

A contender that cannot express an operation raises :class:`Unsupported`
with the reason, which the table shows in place of a number.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, MutableMapping
from types import ModuleType
from typing import Any, ClassVar, Literal

from .workload import Engine, RequestHandler

__all__ = [
    "BACKENDS",
    "ASGIApp",
    "Backend",
    "Contender",
    "NotCompared",
    "Role",
    "SingletonCall",
    "Unsupported",
    "require",
]

Backend = Literal["asyncio", "trio"]
BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")
Role = Literal["baseline", "subject", "peer"]
SingletonCall = tuple[Callable[..., Engine], tuple[Any, ...]]
ASGIMessage = MutableMapping[str, Any]
ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[ASGIMessage]],
        Callable[[ASGIMessage], Awaitable[None]],
    ],
    Awaitable[None],
]


class Unsupported(Exception):
    """This contender cannot run this operation; ``str(exc)`` says why (shown in its cell)."""


class NotCompared(Unsupported):
    """This contender is left out of this operation's comparison (no cell at all)."""


class Contender:
    """A way of wiring the workload.  Subclasses override the operations they can express."""

    name: ClassVar[str]
    role: ClassVar[Role] = "peer"
    #: the distribution whose version the report records (``None``: part of this repository)
    distribution: ClassVar[str | None] = None
    #: what a reader of the table should know about how this contender is wired
    notes: ClassVar[tuple[str, ...]] = ()

    def singleton(self) -> SingletonCall:
        raise NotCompared("no singleton lookup")

    def sync_request(self) -> Callable[[], RequestHandler]:
        raise NotCompared("no sync request scope")

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        raise NotCompared("no async request scope")

    def asgi(self, backend: Backend) -> ASGIApp:
        raise NotCompared("not in the ASGI comparison")

    def race(self, backend: Backend) -> Callable[[], Awaitable[object]] | None:
        """A fresh container with ``checks.open_race_pool`` as an async singleton, and its getter.

        ``None``: this contender has no singleton lifetime to race for.
        """
        return None


def require(module: str) -> ModuleType:
    """Import a peer's library, or say in its cells that it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unsupported(
            f"not installed ({exc.name}): pip install -r requirements/bench.txt"
        ) from exc
