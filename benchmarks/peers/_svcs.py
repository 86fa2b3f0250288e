"""svcs: a ``Registry`` of factories, a request is one ``svcs.Container``.

svcs has no singleton lifetime: the singletons are built at start-up and
registered with ``register_value``.  The classes are registered through
``svcs.autowire`` / ``svcs.aautowire`` (which fill constructor arguments from
the container by type); the session's generator goes through
``contextlib.contextmanager`` / ``asynccontextmanager`` first, as autowire asks.
The singleton operation asks a long-lived container that has already handed
out the ``Engine``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from ..contender import Backend, Contender, SingletonCall, require
from ..workload import (
    REQUEST_SCOPED,
    Cache,
    Engine,
    RequestHandler,
    Session,
    Settings,
    async_session_factory,
    session_factory,
)

__all__ = ["Svcs"]


def _registry(is_async: bool) -> Any:
    svcs = require("svcs")
    registry = svcs.Registry()
    settings = Settings()
    registry.register_value(Settings, settings)
    registry.register_value(Engine, Engine(settings))
    registry.register_value(Cache, Cache(settings))
    if is_async:
        registry.register_factory(
            Session, svcs.aautowire(contextlib.asynccontextmanager(async_session_factory))
        )
    else:
        registry.register_factory(
            Session, svcs.autowire(contextlib.contextmanager(session_factory))
        )
    wire = svcs.aautowire if is_async else svcs.autowire
    for cls in REQUEST_SCOPED:
        registry.register_factory(cls, wire(cls))
    return registry


class Svcs(Contender):
    name = "svcs"
    distribution = "svcs"
    notes = (
        "singletons registered as values built at start-up; classes through svcs.autowire;"
        " no singleton lifetime, so no race check",
    )

    def __init__(self) -> None:
        self._sync: Any = None

    def _sync_registry(self) -> Any:
        if self._sync is None:
            self._sync = _registry(is_async=False)
        return self._sync

    def singleton(self) -> SingletonCall:
        container = require("svcs").Container(self._sync_registry())
        container.get(Engine)
        return container.get, (Engine,)

    def sync_request(self) -> Callable[[], RequestHandler]:
        new_container = require("svcs").Container
        registry = self._sync_registry()

        def request() -> RequestHandler:
            with new_container(registry) as container:
                handler: RequestHandler = container.get(RequestHandler)
                return handler

        return request

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        new_container = require("svcs").Container
        registry = _registry(is_async=True)

        async def request() -> RequestHandler:
            async with new_container(registry) as container:
                handler: RequestHandler = await container.aget(RequestHandler)
                return handler

        return request
