"""Shared pieces of the ASGI integration tests: a scoped service that records its lifetime."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2 as httpx

from injectq import InjectQ, Scope


@dataclass
class Log:
    """What the services saw: built ids, torn-down ids, and ordered events."""

    built: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class Service:
    """A request-scoped service; ``closed`` turns true at its teardown."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False

    def use(self) -> int:
        assert not self.closed, f"service {self.number} used after its teardown"
        return self.number


class Config:
    """A singleton with teardown (a pool, say)."""

    def __init__(self) -> None:
        self.closed = 0


def make_container(log: Log) -> InjectQ:
    """A container with a scoped ``Service`` (generator factory) and a singleton ``Config``."""

    async def service() -> AsyncIterator[Service]:
        svc = Service(next(log.counter))
        log.built.append(svc.number)
        log.events.append(f"built {svc.number}")
        try:
            yield svc
        finally:
            svc.closed = True
            log.closed.append(svc.number)
            log.events.append(f"closed {svc.number}")

    def config() -> object:
        cfg = Config()
        yield cfg
        cfg.closed += 1
        log.events.append("config closed")

    container = InjectQ()
    container.bind_factory(Service, service, scope=Scope.SCOPED)
    container.bind_factory(Config, config, scope=Scope.SINGLETON)
    return container


@asynccontextmanager
async def client_for(
    app: object, *, raise_app_exceptions: bool = True, seconds: float = 10
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling ``app`` in-process (no lifespan, no network).

    Everything done with it must finish within ``seconds``.
    """
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)  # type: ignore[arg-type]
    with anyio.fail_after(seconds):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


class WebSocketClient:
    """Drives one WebSocket connection of an ASGI app through memory streams."""

    def __init__(self, app: Any, path: str) -> None:
        self.app = app
        self.scope = {"type": "websocket", "path": path, "headers": [], "query_string": b""}
        self.to_app, self.app_inbox = anyio.create_memory_object_stream[dict[str, Any]](10)
        self.app_outbox, self.from_app = anyio.create_memory_object_stream[
            MutableMapping[str, Any]
        ](10)

    async def run(self) -> None:
        async with self.app_inbox, self.app_outbox:
            await self.app(self.scope, self.app_inbox.receive, self.app_outbox.send)

    async def connect(self) -> None:
        await self.to_app.send({"type": "websocket.connect"})
        assert (await self.from_app.receive())["type"] == "websocket.accept"

    async def ask(self, text: str) -> str:
        await self.to_app.send({"type": "websocket.receive", "text": text})
        message = await self.from_app.receive()
        return str(message["text"])

    async def disconnect(self) -> None:
        await self.to_app.send({"type": "websocket.disconnect", "code": 1000})
