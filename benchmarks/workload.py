"""The workload of ``shared/design/benchmarks.md``: one web request's object graph.

Ten classes, every constructor typed, shared by every contender:

- singletons: ``Settings``, ``Engine(Settings)`` (the pool), ``Cache(Settings)``;
- request scope: ``Session(Engine)`` from a generator factory with ``try/finally``
  teardown (the async variant awaits an open and a close), the three
  repositories on the session, ``UserService``, ``CatalogService`` and
  ``RequestHandler`` on top.  One ``OrderRepository`` is shared by both services.

The classes do no work, so what is timed is the container.  The awaited open
and close of the async session complete without suspending (as a pooled
connection that is already there does): a real suspension costs the same in
every contender and would only dilute the ratios.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

__all__ = [
    "REQUEST_SCOPED",
    "SINGLETONS",
    "Cache",
    "CatalogService",
    "Engine",
    "OrderRepository",
    "ProductRepository",
    "RequestHandler",
    "Session",
    "Settings",
    "UserRepository",
    "UserService",
    "async_session_factory",
    "session_factory",
]


class Settings:
    __slots__ = ("dsn",)

    def __init__(self) -> None:
        self.dsn = "postgresql://bench"


class Engine:
    __slots__ = ("settings",)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Cache:
    __slots__ = ("settings",)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Session:
    """A unit of work on the engine; ``closes`` counts teardowns (exactly one is right)."""

    __slots__ = ("closes", "engine", "opened")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.opened = False
        self.closes = 0

    def close(self) -> None:
        self.closes += 1

    async def connect(self) -> None:
        self.opened = True

    async def disconnect(self) -> None:
        self.closes += 1


def session_factory(engine: Engine) -> Iterator[Session]:
    """The sync request's session: teardown after the ``yield``."""
    session = Session(engine)
    try:
        yield session
    finally:
        session.close()


async def async_session_factory(engine: Engine) -> AsyncIterator[Session]:
    """The async request's session: an awaited open, and an awaited close after the ``yield``."""
    session = Session(engine)
    await session.connect()
    try:
        yield session
    finally:
        await session.disconnect()


class UserRepository:
    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session


class OrderRepository:
    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session


class ProductRepository:
    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session


class UserService:
    __slots__ = ("orders", "users")

    def __init__(self, users: UserRepository, orders: OrderRepository) -> None:
        self.users = users
        self.orders = orders


class CatalogService:
    __slots__ = ("cache", "orders", "products")

    def __init__(self, products: ProductRepository, orders: OrderRepository, cache: Cache) -> None:
        self.products = products
        self.orders = orders
        self.cache = cache


class RequestHandler:
    __slots__ = ("catalog", "settings", "users")

    def __init__(self, settings: Settings, users: UserService, catalog: CatalogService) -> None:
        self.settings = settings
        self.users = users
        self.catalog = catalog


SINGLETONS: tuple[type, ...] = (Settings, Engine, Cache)
#: the request-scoped classes built from their constructors (``Session`` comes from a factory)
REQUEST_SCOPED: tuple[type, ...] = (
    UserRepository,
    OrderRepository,
    ProductRepository,
    UserService,
    CatalogService,
    RequestHandler,
)
