"""The ``asgi`` operation: one HTTP request through a FastAPI app, in-process.

Every contender serves the same FastAPI app shape: ``GET /`` whose endpoint
receives the ``Request`` and a ``RequestHandler`` and answers through
:func:`respond`, which also leaves the handler in the ASGI scope for the
lifetime checks.  The app's lifespan startup runs once before anything is
checked or timed (:func:`started`); then each request calls the app directly
with a minimal HTTP scope, a ``receive`` that hands over an empty body and a
``send`` that drops the response: no server, no network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from .contender import ASGIApp, ASGIMessage, Backend, Unsupported
from .workload import RequestHandler

__all__ = [
    "TaskGroupMiddleware",
    "annotate",
    "make_app",
    "request_through",
    "respond",
    "started",
]

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


def annotate(endpoint: Callable[..., Any], **hints: Any) -> Callable[..., Any]:
    """Give ``endpoint`` real (not string) annotations, which FastAPI and the peers read.

    The endpoints are written inside methods of modules that use postponed
    annotations, and their names (``Injected``, ``FromDishka``) are imported lazily.
    """
    from starlette.requests import Request

    endpoint.__annotations__ = {"request": Request, **hints}
    return endpoint


def make_app(endpoint: Callable[..., Awaitable[Any]], middleware: Any = None) -> Any:
    """A FastAPI app serving ``endpoint`` at ``GET /``, optionally behind a pure ASGI middleware."""
    try:
        from fastapi import FastAPI
    except ImportError as exc:  # pragma: no cover - fastapi is in requirements/bench.txt
        raise Unsupported(f"fastapi is not installed ({exc})") from exc
    app = FastAPI()
    app.add_api_route("/", endpoint, methods=["GET"])
    if middleware is not None:
        app.add_middleware(middleware)
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


def started(app: ASGIApp, backend: Backend) -> ASGIApp:
    """``app`` after its lifespan startup, run once on ``backend``.

    The lifespan task is then cancelled where it waits for the shutdown
    message: the shutdown code does not run, so what the startup prepared
    (containers, wrapped routes) stays in place for the timed requests.
    """

    async def startup() -> None:
        to_app_send, to_app_receive = anyio.create_memory_object_stream[ASGIMessage](1)
        from_app_send, from_app_receive = anyio.create_memory_object_stream[ASGIMessage](1)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:

                async def run_lifespan() -> None:
                    try:
                        await app(
                            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                            to_app_receive.receive,
                            from_app_send.send,
                        )
                    except anyio.get_cancelled_exc_class():
                        raise
                    except Exception:  # pragma: no cover - reported through the messages
                        pass

                group.start_soon(run_lifespan)
                await to_app_send.send({"type": "lifespan.startup"})
                message = await from_app_receive.receive()
                if message["type"] != "lifespan.startup.complete":
                    raise RuntimeError(f"lifespan startup failed: {message.get('message')}")
                group.cancel_scope.cancel()

    anyio.run(startup, backend=backend)
    return app


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
