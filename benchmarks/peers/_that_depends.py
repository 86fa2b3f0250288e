"""that-depends: a ``BaseContainer`` of providers, a request is ``container_context(Container)``.

Singletons are ``providers.Singleton``; the session is a ``ContextResource``
over the generator factory.  A ``Factory`` builds a new object at every
resolution, so the ``OrderRepository`` both services share is a
``ContextResource`` too (over a one-line generator): that is how that-depends
shares a plain object within one context.  ``default_scope`` is set to
``ContextScopes.ANY``, the base container's value (the library asks for it to
be spelled out before any ``ContextResource``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from itertools import count
from typing import Any

from ..checks import open_race_pool
from ..contender import Backend, Contender, SingletonCall, require
from ..workload import (
    Cache,
    CatalogService,
    Engine,
    OrderRepository,
    ProductRepository,
    RequestHandler,
    Session,
    Settings,
    UserRepository,
    UserService,
    async_session_factory,
    session_factory,
)

__all__ = ["ThatDepends"]

_names = count()


def _order_repository(session: Session) -> Iterator[OrderRepository]:
    yield OrderRepository(session)


async def _async_order_repository(session: Session) -> AsyncIterator[OrderRepository]:
    yield OrderRepository(session)


def _container(is_async: bool) -> Any:
    td = require("that_depends")
    providers = td.providers
    session_creator = async_session_factory if is_async else session_factory
    orders_creator = _async_order_repository if is_async else _order_repository
    # Container classes register under their name process-wide: give each variant its own.
    alias_ = f"bench_that_depends_{next(_names)}"

    class Container(td.BaseContainer):  # type: ignore[misc,name-defined]
        alias = alias_
        default_scope = td.ContextScopes.ANY
        settings = providers.Singleton(Settings)
        engine = providers.Singleton(Engine, settings.cast)
        cache = providers.Singleton(Cache, settings.cast)
        session = providers.ContextResource(session_creator, engine.cast)
        users = providers.Factory(UserRepository, session.cast)
        orders = providers.ContextResource(orders_creator, session.cast)
        products = providers.Factory(ProductRepository, session.cast)
        user_service = providers.Factory(UserService, users.cast, orders.cast)
        catalog = providers.Factory(CatalogService, products.cast, orders.cast, cache.cast)
        handler = providers.Factory(RequestHandler, settings.cast, user_service.cast, catalog.cast)

    return Container


class ThatDepends(Contender):
    name = "that-depends"
    distribution = "that-depends"
    notes = (
        "OrderRepository is a ContextResource (a Factory would build one per use);"
        " a request is container_context(Container)",
    )

    def __init__(self) -> None:
        self._sync: Any = None

    def _sync_container(self) -> Any:
        if self._sync is None:
            self._sync = _container(is_async=False)
            self._sync.engine.resolve_sync()
        return self._sync

    def singleton(self) -> SingletonCall:
        return self._sync_container().engine.resolve_sync, ()

    def sync_request(self) -> Callable[[], RequestHandler]:
        container_context = require("that_depends").container_context
        container = self._sync_container()
        resolve = container.handler.resolve_sync

        def request() -> RequestHandler:
            with container_context(container):
                handler: RequestHandler = resolve()
                return handler

        return request

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        container_context = require("that_depends").container_context
        container = _container(is_async=True)
        resolve = container.handler.resolve

        async def request() -> RequestHandler:
            async with container_context(container):
                handler: RequestHandler = await resolve()
                return handler

        return request

    def race(self, backend: Backend) -> Callable[[], Awaitable[object]]:
        td = require("that_depends")
        alias_ = f"bench_that_depends_{next(_names)}"

        class RaceContainer(td.BaseContainer):  # type: ignore[misc,name-defined]
            alias = alias_
            pool = td.providers.AsyncSingleton(open_race_pool)

        resolve: Callable[[], Awaitable[object]] = RaceContainer.pool.resolve
        return resolve
