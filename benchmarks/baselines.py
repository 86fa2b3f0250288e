"""The hand-written baselines every ratio is taken against.

- ``plain``: the graph built by constructor calls, the session closed in a
  ``try/finally``; the singletons built once at start-up and a plain function
  returning the ``Engine``.
- ``same-shape`` (async only): the plain code inside ``anyio.create_task_group()``
  with the teardown in a shielded ``anyio.CancelScope`` -- what a
  structured-concurrency request costs before any container is involved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio

from .asgi import TaskGroupMiddleware, annotate, make_app, respond
from .contender import ASGIApp, Backend, Contender, Role, SingletonCall
from .floor import floor_request
from .workload import (
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
)

__all__ = ["Floor", "Plain", "SameShape"]


class Plain(Contender):
    name = "plain"
    role: ClassVar[Role] = "baseline"

    def __init__(self) -> None:
        self.settings = Settings()
        self.engine = Engine(self.settings)
        self.cache = Cache(self.settings)

    def singleton(self) -> SingletonCall:
        engine = self.engine

        def get_engine() -> Engine:
            return engine

        return get_engine, ()

    def sync_request(self) -> Callable[[], RequestHandler]:
        settings, engine, cache = self.settings, self.engine, self.cache

        def request() -> RequestHandler:
            session = Session(engine)
            try:
                orders = OrderRepository(session)
                return RequestHandler(
                    settings,
                    UserService(UserRepository(session), orders),
                    CatalogService(ProductRepository(session), orders, cache),
                )
            finally:
                session.close()

        return request

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        settings, engine, cache = self.settings, self.engine, self.cache

        async def request() -> RequestHandler:
            session = Session(engine)
            await session.connect()
            try:
                orders = OrderRepository(session)
                return RequestHandler(
                    settings,
                    UserService(UserRepository(session), orders),
                    CatalogService(ProductRepository(session), orders, cache),
                )
            finally:
                await session.disconnect()

        return request

    def asgi(self, backend: Backend) -> ASGIApp:
        settings, engine, cache = self.settings, self.engine, self.cache

        async def endpoint(request: Any) -> Any:
            session = Session(engine)
            await session.connect()
            try:
                orders = OrderRepository(session)
                handler = RequestHandler(
                    settings,
                    UserService(UserRepository(session), orders),
                    CatalogService(ProductRepository(session), orders, cache),
                )
                return respond(request, handler)
            finally:
                await session.disconnect()

        return make_app(annotate(endpoint))


class Floor(Plain):
    name = "floor"
    notes = (
        "sync_request only: a hand-written scope object with a ContextVar, a get() that"
        " checks the scope is active and its cache, then finds the key's builder in a dict,"
        " a lock, a cache and generator teardown, and nothing else (benchmarks/floor.py):"
        " what a sync scope's guarantees and API cost before any container work",
    )

    def singleton(self) -> SingletonCall:
        return Contender.singleton(self)

    def sync_request(self) -> Callable[[], RequestHandler]:
        return floor_request(self.settings, self.engine, self.cache)

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        return Contender.async_request(self, backend)

    def asgi(self, backend: Backend) -> ASGIApp:
        return Contender.asgi(self, backend)


class SameShape(Plain):
    name = "same-shape"
    notes = (
        "the plain code inside anyio.create_task_group(), teardown in a shielded CancelScope;"
        " in asgi, a pure ASGI middleware opens the task group",
    )

    def singleton(self) -> SingletonCall:
        return Contender.singleton(self)

    def sync_request(self) -> Callable[[], RequestHandler]:
        return Contender.sync_request(self)

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        settings, engine, cache = self.settings, self.engine, self.cache

        async def request() -> RequestHandler:
            async with anyio.create_task_group():
                session = Session(engine)
                await session.connect()
                try:
                    orders = OrderRepository(session)
                    handler = RequestHandler(
                        settings,
                        UserService(UserRepository(session), orders),
                        CatalogService(ProductRepository(session), orders, cache),
                    )
                finally:
                    with anyio.CancelScope(shield=True):
                        await session.disconnect()
            return handler

        return request

    def asgi(self, backend: Backend) -> ASGIApp:
        settings, engine, cache = self.settings, self.engine, self.cache

        async def endpoint(request: Any) -> Any:
            session = Session(engine)
            await session.connect()
            try:
                orders = OrderRepository(session)
                handler = RequestHandler(
                    settings,
                    UserService(UserRepository(session), orders),
                    CatalogService(ProductRepository(session), orders, cache),
                )
                return respond(request, handler)
            finally:
                with anyio.CancelScope(shield=True):
                    await session.disconnect()

        return make_app(annotate(endpoint), TaskGroupMiddleware)
