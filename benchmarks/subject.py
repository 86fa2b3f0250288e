"""injectq, wired the way its documentation shows.

One container per variant: the sync one binds ``Session`` to the generator
factory, the async ones (one per backend) to the async generator factory.

The ``asgi`` variant is the FastAPI integration as its documentation shows
it: ``setup_fastapi(container, app)`` and an ``InjectAPI[RequestHandler]``
endpoint parameter.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from injectq import InjectQ, Scope

from .asgi import annotate, make_app, respond
from .checks import RacePool, open_race_pool
from .contender import ASGIApp, Backend, Contender, Role, SingletonCall
from .workload import (
    REQUEST_SCOPED,
    SINGLETONS,
    Engine,
    RequestHandler,
    Session,
    async_session_factory,
    session_factory,
)

__all__ = ["InjectQContender"]


def _container(session: Callable[..., Any]) -> InjectQ:
    container = InjectQ()
    for cls in SINGLETONS:
        container.bind(cls)
    container.bind_factory(Session, session, scope=Scope.SCOPED)
    for cls in REQUEST_SCOPED:
        container.bind(cls, scope=Scope.SCOPED)
    return container


class InjectQContender(Contender):
    name = "injectq"
    role: ClassVar[Role] = "subject"
    distribution = "injectq"
    notes = ("asgi: setup_fastapi(container, app) and an InjectAPI[RequestHandler] parameter",)

    def __init__(self) -> None:
        self.sync_container = _container(session_factory)
        self.sync_container.get(Engine)  # the singleton operation resolves an already-built Engine

    def singleton(self) -> SingletonCall:
        return self.sync_container.get, (Engine,)

    def sync_request(self) -> Callable[[], RequestHandler]:
        scope = self.sync_container.scope

        def request() -> RequestHandler:
            with scope() as request_scope:
                return request_scope.get(RequestHandler)

        return request

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        scope = _container(async_session_factory).scope

        async def request() -> RequestHandler:
            async with scope() as request_scope:
                return await request_scope.aget(RequestHandler)

        return request

    def asgi(self, backend: Backend) -> ASGIApp:
        from injectq.integrations.fastapi import InjectAPI, setup_fastapi

        async def endpoint(request: Any, handler: Any) -> Any:
            return respond(request, handler)

        app = make_app(annotate(endpoint, handler=InjectAPI[RequestHandler]))
        setup_fastapi(_container(async_session_factory), app)
        app_: ASGIApp = app
        return app_

    def race(self, backend: Backend) -> Callable[[], Awaitable[object]]:
        container = InjectQ()
        container.bind_factory(RacePool, open_race_pool, scope=Scope.SINGLETON)
        return functools.partial(container.aget, RacePool)
