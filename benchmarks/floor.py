"""The floor of a sync request scope: what its guarantees cost with no container at all.

The ``floor`` baseline (in the sync_request table) is a hand-written request
that does only what injectq's contract requires of a sync scope, through the
same calls a user makes (``with scope() as s: s.get(RequestHandler)``), and
nothing a container adds on top:

- a scope object entered and left with ``with``;
- the current scope in a ``ContextVar``;
- ``get`` checking that the scope is active and whether it already holds the
  key (the contract requires both), then finding the key's one builder in a
  dict;
- a lock of its own for threads that share the scope (a lock shared by all
  scopes would make a build blocked in one scope hold up every other);
- each instance stored in the scope's cache;
- the session's generator teardown run at exit.

No other cache checks, no planning, no error handling.  Whatever this costs
over plain is out of reach of any container that keeps those guarantees (see
docs/performance.md).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator

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
    session_factory,
)

__all__ = ["floor_request"]

_CURRENT: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("floor", default=None)


class _Scope:
    __slots__ = ("instances", "lock", "parent", "records", "state", "token")

    def __init__(self) -> None:
        self.instances: dict[type, object] = {}
        self.lock = threading.RLock()
        self.records: list[Iterator[Session]] = []
        self.state = 0

    def __enter__(self) -> _Scope:
        self.parent = _CURRENT.get()
        self.token = _CURRENT.set(self)
        self.state = 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.state = 2
        _CURRENT.reset(self.token)
        for gen in reversed(self.records):
            for _ in gen:  # run the teardown after the yield
                pass

    def get(self, key: type[RequestHandler]) -> RequestHandler:
        if self.state != 1:  # a handle used outside its block is an error
            raise RuntimeError("scope not active")
        found = self.instances.get(key)  # same scope, same instance
        if found is not None:
            return found  # type: ignore[return-value]
        return _BUILDERS[key](self)


_BUILDERS: dict[type, Callable[[_Scope], RequestHandler]] = {}


def floor_request(settings: Settings, engine: Engine, cache: Cache) -> Callable[[], RequestHandler]:
    """The request with only what a sync scope's guarantees cost."""

    def build(scope: _Scope) -> RequestHandler:
        with scope.lock:
            inst = scope.instances
            gen = session_factory(engine)
            session = next(gen)
            scope.records.append(gen)
            inst[Session] = session
            orders = inst[OrderRepository] = OrderRepository(session)
            users = inst[UserRepository] = UserRepository(session)
            products = inst[ProductRepository] = ProductRepository(session)
            user_service = inst[UserService] = UserService(users, orders)
            catalog = inst[CatalogService] = CatalogService(products, orders, cache)
            handler = inst[RequestHandler] = RequestHandler(settings, user_service, catalog)
            return handler

    _BUILDERS[RequestHandler] = build
    scope = _Scope

    def request() -> RequestHandler:
        with scope() as s:
            return s.get(RequestHandler)

    return request
