"""injectq after an override: the resolution path once every override has ended.

The same containers as ``subject.InjectQContender``, except that each one has
been through ``container.override(...)`` blocks (a dependency of the handler
overridden, the graph resolved inside) before any timing.  The contract says
that with no override active, overrides cost nothing on the resolution path;
this column shows it next to plain ``injectq``, in the same interleaved rounds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

import anyio

from injectq import InjectQ
from injectq.testing import override_dependency

from .contender import ASGIApp, Backend, NotCompared, Role
from .subject import InjectQContender, _container
from .workload import Cache, Engine, RequestHandler, Settings, async_session_factory

__all__ = ["InjectQAfterOverride"]


def _overridden_sync(container: InjectQ) -> InjectQ:
    with container.override(Cache, Cache(Settings())), container.scope() as scope:
        scope.get(RequestHandler)
    with override_dependency(Settings, Settings()):  # for every container
        container.get(Engine)
    return container


async def _overridden_async(container: InjectQ) -> InjectQ:
    async with container.override(Cache, Cache(Settings())), container.scope() as scope:
        await scope.aget(RequestHandler)
    return container


class InjectQAfterOverride(InjectQContender):
    name = "injectq-ov"
    role: ClassVar[Role] = "subject"
    distribution = "injectq"
    notes = ("injectq-ov: injectq's containers after override blocks ended (none active)",)

    def __init__(self) -> None:
        super().__init__()
        _overridden_sync(self.sync_container)
        self.sync_container.get(Engine)

    def async_request(self, backend: Backend) -> Callable[[], Awaitable[RequestHandler]]:
        container = _container(async_session_factory)
        anyio.run(_overridden_async, container, backend=backend)
        scope = container.scope

        async def request() -> RequestHandler:
            async with scope() as request_scope:
                return await request_scope.aget(RequestHandler)

        return request

    def asgi(self, backend: Backend) -> ASGIApp:
        raise NotCompared("the override check is on the resolution path, not on ASGI")

    def race(self, backend: Backend) -> Callable[[], Awaitable[object]] | None:
        return None
