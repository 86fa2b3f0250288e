"""Lifetime checks, run on every contender before anything is timed.

A contender is only comparable if it builds the workload's graph: the three
singletons shared by every request (and the ``Engine`` of the singleton lookup
the one requests get), one ``Session`` per request shared by the three
repositories, one ``OrderRepository`` per request shared by both services,
seven new objects per request, and the ``Session`` closed exactly once, after
the handler was built, by the end of the scope.

"Still open when the handler was built" is observed by wrapping
``RequestHandler.__init__`` for the checked requests only; the timed code is
never wrapped.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from .workload import Engine, RequestHandler, Session

__all__ = [
    "RacePool",
    "check_async_request",
    "check_race",
    "check_singleton",
    "check_sync_request",
    "open_race_pool",
]


@contextmanager
def _watching_handlers() -> Iterator[list[bool]]:
    """While active, record for each ``RequestHandler`` built whether its session was still open."""
    open_at_build: list[bool] = []
    original = RequestHandler.__init__

    @functools.wraps(original)
    def init(self: RequestHandler, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        open_at_build.append(self.users.users.session.closes == 0)

    RequestHandler.__init__ = init  # type: ignore[method-assign]
    try:
        yield open_at_build
    finally:
        RequestHandler.__init__ = original  # type: ignore[method-assign]


def _per_request(handler: RequestHandler) -> dict[str, object]:
    return {
        "RequestHandler": handler,
        "UserService": handler.users,
        "CatalogService": handler.catalog,
        "UserRepository": handler.users.users,
        "OrderRepository": handler.users.orders,
        "ProductRepository": handler.catalog.products,
        "Session": handler.users.users.session,
    }


def _judge(
    first: RequestHandler, second: RequestHandler, open_at_build: list[bool], *, is_async: bool
) -> list[str]:
    problems: list[str] = []
    for handler in (first, second):
        session: object = handler.users.users.session
        if not isinstance(session, Session):
            problems.append(f"the repositories got {type(session).__name__}, not a Session")
            continue
        if not (
            handler.users.orders.session is session and handler.catalog.products.session is session
        ):
            problems.append("one request got more than one Session")
        if handler.users.orders is not handler.catalog.orders:
            problems.append("UserService and CatalogService got different OrderRepositories")
        if session.closes != 1:
            problems.append(
                f"the Session was closed {session.closes} times by the end of the scope"
            )
        if is_async and not session.opened:
            problems.append("the async Session factory's open was not awaited")
        if handler.settings is not session.engine.settings:
            problems.append("the handler's Settings is not the one the Engine was built with")
        if handler.catalog.cache.settings is not handler.settings:
            problems.append("the Cache was built with another Settings")
    if len(open_at_build) != 2:
        problems.append(f"{len(open_at_build)} RequestHandlers were built for 2 requests")
    elif not all(open_at_build):
        problems.append("the Session was already closed when the RequestHandler was built")
    one, two = _per_request(first), _per_request(second)
    problems += [f"{name} shared between requests" for name in one if one[name] is two[name]]
    if first.settings is not second.settings:
        problems.append("Settings not shared between requests")
    if first.users.users.session.engine is not second.users.users.session.engine:
        problems.append("Engine not shared between requests")
    if first.catalog.cache is not second.catalog.cache:
        problems.append("Cache not shared between requests")
    return list(dict.fromkeys(problems))


def check_sync_request(request: Callable[[], RequestHandler]) -> list[str]:
    """The lifetime violations of a sync request operation (an empty list: it honours them)."""
    request()  # lets lazy planning happen before the constructor is wrapped
    with _watching_handlers() as open_at_build:
        first, second = request(), request()
    return _judge(first, second, open_at_build, is_async=False)


async def check_async_request(request: Callable[[], Awaitable[RequestHandler]]) -> list[str]:
    """The lifetime violations of an async request operation, inside a running loop."""
    await request()
    with _watching_handlers() as open_at_build:
        first = await request()
        second = await request()
    return _judge(first, second, open_at_build, is_async=True)


def check_singleton(
    call: tuple[Callable[..., Engine], tuple[Any, ...]],
    request: Callable[[], RequestHandler] | None,
) -> list[str]:
    """The singleton lookup gives one ``Engine``, the one this contender's requests get."""
    function, args = call
    engine: object = function(*args)
    problems: list[str] = []
    if not isinstance(engine, Engine):
        problems.append(f"the lookup gave {type(engine).__name__}, not an Engine")
    if function(*args) is not engine:
        problems.append("two lookups gave two Engines")
    if request is not None and request().users.users.session.engine is not engine:
        problems.append("the lookup's Engine is not the one requests get")
    return problems


# -- the race check: outside the timed workload --------------------------------------
#
# The workload's singletons are sync, so in one event loop nothing ever races to
# build them.  This check makes two tasks ask at once for an *async* singleton
# whose factory suspends, as a pool opened on first use does: it must be built
# once, and nothing may break on the backend.  A failure is attached to the
# contender's async cells on that backend as a caveat; it does not replace
# the timed number, which is for the workload.


class RacePool:
    """An async singleton opened on first use."""


RACE_BUILDS: list[RacePool] = []


async def open_race_pool() -> RacePool:
    """The async factory of the race check: suspends while it opens the pool."""
    await anyio.sleep(0.005)
    pool = RacePool()
    RACE_BUILDS.append(pool)
    return pool


async def check_race(get_pool: Callable[[], Awaitable[object]]) -> list[str]:
    """Two tasks resolve the async singleton at once: built once, one instance for both."""
    RACE_BUILDS.clear()
    got: list[object] = []

    async def ask() -> None:
        got.append(await get_pool())

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        tg.start_soon(ask)
    problems = []
    if len(RACE_BUILDS) != 1:
        problems.append(f"an async singleton raced by two tasks was built {len(RACE_BUILDS)} times")
    if len({id(pool) for pool in got}) != 1:
        problems.append("two tasks racing for an async singleton got different instances")
    return problems
