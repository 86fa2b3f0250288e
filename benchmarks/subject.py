"""injectq, wired the way its documentation shows.

One container per variant: the sync one binds ``Session`` to the generator
factory, the async ones (one per backend) to the async generator factory.

The ``asgi`` variant is **provisional**: injectq has no ASGI integration yet,
so a pure ASGI middleware written here opens ``async with container.scope()``
around each HTTP request and the endpoint asks that scope for the handler.
Replace it with the integration once that exists.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, ClassVar

from injectq import InjectQ, Scope

from .asgi import make_app, respond
from .checks import RacePool, open_race_pool
from .contender import ASGIApp, ASGIMessage, Backend, Contender, Role, SingletonCall
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

SCOPE_KEY = "injectq.scope"


def _container(session: Callable[..., Any]) -> InjectQ:
    container = InjectQ()
    for cls in SINGLETONS:
        container.bind(cls)
    container.bind_factory(Session, session, scope=Scope.SCOPED)
    for cls in REQUEST_SCOPED:
        container.bind(cls, scope=Scope.SCOPED)
    return container


class _ScopeMiddleware:
    """Provisional: each HTTP request inside ``async with container.scope()``."""

    def __init__(self, app: ASGIApp, container: InjectQ) -> None:
        self.app = app
        self.container = container

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[ASGIMessage]],
        send: Callable[[ASGIMessage], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.container.scope() as request_scope:
            scope[SCOPE_KEY] = request_scope
            await self.app(scope, receive, send)


class InjectQContender(Contender):
    name = "injectq"
    role: ClassVar[Role] = "subject"
    distribution = "injectq"
    notes = (
        "asgi is provisional: no ASGI integration yet, a hand-written middleware opens"
        " `async with container.scope()`",
    )

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
        async def endpoint(request: Any) -> Any:
            handler = await request.scope[SCOPE_KEY].aget(RequestHandler)
            return respond(request, handler)

        return make_app(endpoint, _ScopeMiddleware, container=_container(async_session_factory))

    def race(self, backend: Backend) -> Callable[[], Awaitable[object]]:
        container = InjectQ()
        container.bind_factory(RacePool, open_race_pool, scope=Scope.SINGLETON)
        return functools.partial(container.aget, RacePool)
