"""dishka: a ``Provider`` with APP-scoped singletons and REQUEST-scoped services.

At its defaults the root container takes a lock on every ``get``
(``threading.Lock`` in ``make_container``, ``asyncio.Lock`` in
``make_async_container``); request containers take none.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from ..asgi import annotate, make_app, respond
from ..checks import RacePool, open_race_pool
from ..contender import ASGIApp, Backend, Contender, SingletonCall, require
from ..workload import (
    REQUEST_SCOPED,
    SINGLETONS,
    Engine,
    RequestHandler,
    async_session_factory,
    session_factory,
)

__all__ = ["Dishka"]


def _provider(session: Callable[..., Any]) -> Any:
    dishka = require("dishka")
    provider = dishka.Provider()
    for cls in SINGLETONS:
        provider.provide(cls, scope=dishka.Scope.APP)
    provider.provide(session, scope=dishka.Scope.REQUEST)
    for cls in REQUEST_SCOPED:
        provider.provide(cls, scope=dishka.Scope.REQUEST)
    return provider


class Dishka(Contender):
    name = "dishka"
    distribution = "dishka"
    notes = (
        "make_container / make_async_container at their defaults (a lock on the root);"
        " asgi: setup_dishka(container, app), @inject and FromDishka[RequestHandler]",
    )

    def __init__(self) -> None:
        self._sync: Any = None

    def _sync_container(self) -> Any:
        if self._sync is None:
            self._sync = require("dishka").make_container(_provider(session_factory))
            self._sync.get(Engine)
        return self._sync

    def singleton(self) -> SingletonCall:
        return self._sync_container().get, (Engine,)

    def sync_request(self) -> Callable[[], RequestHandler]:
        container = self._sync_container()

        def request() -> RequestHandler:
            with container() as request_container:
                handler: RequestHandler = request_container.get(RequestHandler)
                return handler

        return request

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        container = require("dishka").make_async_container(_provider(async_session_factory))

        async def request() -> RequestHandler:
            async with container() as request_container:
                handler: RequestHandler = await request_container.get(RequestHandler)
                return handler

        return request

    def asgi(self, backend: Backend) -> ASGIApp:
        dishka = require("dishka")
        integration = require("dishka.integrations.fastapi")
        container = dishka.make_async_container(
            _provider(async_session_factory), integration.FastapiProvider()
        )

        async def endpoint(request: Any, handler: Any) -> Any:
            return respond(request, handler)

        annotate(endpoint, handler=dishka.FromDishka[RequestHandler])
        app = make_app(integration.inject(endpoint))
        integration.setup_dishka(container, app)
        app_: ASGIApp = app
        return app_

    def race(self, backend: Backend) -> Callable[[], Awaitable[object]]:
        dishka = require("dishka")
        provider = dishka.Provider()
        provider.provide(open_race_pool, scope=dishka.Scope.APP)
        container = dishka.make_async_container(provider)
        return functools.partial(container.get, RacePool)
