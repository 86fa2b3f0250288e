"""The ``asgi`` operation: one HTTP request through a Starlette app, in-process.

The app is called directly with a minimal HTTP scope, a ``receive`` that hands
over an empty body and a ``send`` that drops the response, so no server and no
network are involved.  Every variant's endpoint gets a ``RequestHandler`` and
answers through :func:`respond`, which also leaves the handler in the ASGI scope
for the lifetime checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from .contender import ASGIApp, ASGIMessage
from .workload import RequestHandler

__all__ = ["TaskGroupMiddleware", "make_app", "request_through", "respond"]

HANDLER_KEY = "bench.handler"

_HTTP_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("bench", 80),
}


async def _receive() -> ASGIMessage:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _drop(message: ASGIMessage) -> None:
    return None


def respond(request: Any, handler: RequestHandler) -> Any:
    """The endpoint's answer; the handler is left in the ASGI scope for the checks."""
    from starlette.responses import PlainTextResponse

    request.scope[HANDLER_KEY] = handler
    return PlainTextResponse("ok")


def make_app(
    endpoint: Callable[[Any], Awaitable[Any]], middleware: Any = None, **options: Any
) -> ASGIApp:
    """A Starlette app serving ``endpoint`` at ``GET /``, optionally behind a pure ASGI middleware.

    ``options`` go to the middleware's constructor.
    """
    try:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.routing import Route
    except ImportError as exc:  # pragma: no cover - starlette is in requirements/bench.txt
        from .contender import Unsupported

        raise Unsupported(f"starlette is not installed ({exc})") from exc
    stack = [Middleware(middleware, **options)] if middleware is not None else []
    app: ASGIApp = Starlette(routes=[Route("/", endpoint)], middleware=stack)
    return app


class TaskGroupMiddleware:
    """A pure ASGI middleware that runs each HTTP request inside an anyio task group."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[ASGIMessage]],
        send: Callable[[ASGIMessage], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with anyio.create_task_group():
            await self.app(scope, receive, send)


def request_through(
    app: ASGIApp, send: Callable[[ASGIMessage], Awaitable[None]] = _drop
) -> Callable[[], Awaitable[RequestHandler]]:
    """One ``GET /`` through ``app`` (a fresh scope dict each time, as a server makes)."""
    base = _HTTP_SCOPE

    async def request() -> RequestHandler:
        scope = dict(base)
        await app(scope, _receive, send)
        handler: RequestHandler = scope[HANDLER_KEY]
        return handler

    return request
