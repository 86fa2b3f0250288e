"""wireup: ``@injectable`` declarations (singleton by default, ``lifetime="scoped"``).

``create_sync_container`` / ``create_async_container`` at their defaults
(``concurrent_scoped_access=False``: no lock in a scope); a request is
``container.enter_scope()``.
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

__all__ = ["Wireup"]


def _injectables(session: Callable[..., Any]) -> list[Any]:
    wireup = require("wireup")
    # The decorator only marks what it is given; marking the shared classes leaves them as they are.
    return [
        *(wireup.injectable(cls) for cls in SINGLETONS),
        wireup.injectable(session, lifetime="scoped"),
        *(wireup.injectable(cls, lifetime="scoped") for cls in REQUEST_SCOPED),
    ]


class Wireup(Contender):
    name = "wireup"
    distribution = "wireup"
    notes = (
        "create_sync_container / create_async_container at their defaults;"
        " asgi: wireup.integration.fastapi.setup(container, app) and Injected[RequestHandler]",
    )

    def __init__(self) -> None:
        self._sync: Any = None

    def _sync_container(self) -> Any:
        if self._sync is None:
            wireup = require("wireup")
            self._sync = wireup.create_sync_container(injectables=_injectables(session_factory))
            self._sync.get(Engine)
        return self._sync

    def singleton(self) -> SingletonCall:
        return self._sync_container().get, (Engine,)

    def sync_request(self) -> Callable[[], RequestHandler]:
        container = self._sync_container()

        def request() -> RequestHandler:
            with container.enter_scope() as scope:
                handler: RequestHandler = scope.get(RequestHandler)
                return handler

        return request

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        wireup = require("wireup")
        container = wireup.create_async_container(injectables=_injectables(async_session_factory))

        async def request() -> RequestHandler:
            async with container.enter_scope() as scope:
                handler: RequestHandler = await scope.get(RequestHandler)
                return handler

        return request

    def asgi(self, backend: Backend) -> ASGIApp:
        wireup = require("wireup")
        integration = require("wireup.integration.fastapi")
        container = wireup.create_async_container(injectables=_injectables(async_session_factory))

        async def endpoint(request: Any, handler: Any) -> Any:
            return respond(request, handler)

        app = make_app(annotate(endpoint, handler=wireup.Injected[RequestHandler]))
        integration.setup(container, app)
        app_: ASGIApp = app
        return app_

    def race(self, backend: Backend) -> Callable[[], Awaitable[object]]:
        wireup = require("wireup")
        container = wireup.create_async_container(injectables=[wireup.injectable(open_race_pool)])
        return functools.partial(container.get, RacePool)
