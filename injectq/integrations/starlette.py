"""Starlette: ``setup_starlette(container, app)`` and ``request_scope(request)``.

``pip install "injectq[starlette]"``.  ``setup_starlette`` adds
:class:`~injectq.integrations.asgi.InjectQMiddleware` (one request scope per
HTTP request and per WebSocket connection; the container closed at lifespan
shutdown) and binds the connection types, so services can ask for them:

- ``HTTPConnection``: the current request or WebSocket, always;
- ``Request``: the current HTTP request (an ``InjectQError`` in a WebSocket);
- ``WebSocket``: the current WebSocket (an ``InjectQError`` in an HTTP request).

Each is scoped: one object per scope, built on first use from the ASGI
connection the middleware is handling.  In an endpoint, resolve from the
request's scope with ``await request_scope(request).aget(Service)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import require_extra

require_extra("starlette", "starlette", "Starlette")

from starlette.requests import HTTPConnection, Request  # noqa: E402
from starlette.websockets import WebSocket  # noqa: E402

from .._core._errors import InjectQError  # noqa: E402
from .._core._keys import Scope  # noqa: E402
from .asgi import (  # noqa: E402
    ASGIConnection,
    InjectQMiddleware,
    bind_asgi_connection,
    request_scope,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from .._core._container import InjectQ

__all__ = ["InjectQMiddleware", "bind_connection", "request_scope", "setup_starlette"]


def _http_connection(connection: ASGIConnection) -> HTTPConnection:
    scope, receive, _ = connection
    return HTTPConnection(scope, receive)


def _of_kind(connection: ASGIConnection, kind: str, asked: type, other: str) -> ASGIConnection:
    """``connection``, when it is of ``kind``; else the error that says what to ask for."""
    if connection[0]["type"] != kind:
        raise InjectQError(
            f"{asked.__name__} was asked for while handling a {connection[0]['type']} connection",
            key=asked,
            fix=f"ask for {other} (or HTTPConnection, which both are) instead",
        )
    return connection


def _request(connection: ASGIConnection) -> Request:
    return Request(*_of_kind(connection, "http", Request, "WebSocket"))


def _websocket(connection: ASGIConnection) -> WebSocket:
    return WebSocket(*_of_kind(connection, "websocket", WebSocket, "Request"))


_CONNECTION_TYPES: tuple[tuple[Hashable, Callable[[ASGIConnection], object]], ...] = (
    (HTTPConnection, _http_connection),
    (Request, _request),
    (WebSocket, _websocket),
)


def bind_connection(container: InjectQ) -> None:
    """Bind ``HTTPConnection``, ``Request`` and ``WebSocket`` as scoped, unless already bound."""
    bind_asgi_connection(container)
    for key, factory in _CONNECTION_TYPES:
        if not container.has(key):
            container.bind_factory(key, factory, scope=Scope.SCOPED)


def setup_starlette(container: InjectQ, app: Any, *, close_container: bool = True) -> None:
    """Give ``app`` one request scope of ``container`` per request and per WebSocket.

    Call it before the application starts (Starlette builds its middleware
    stack on the first call).  With ``close_container=False`` the lifespan
    leaves the container open.
    """
    bind_connection(container)
    app.add_middleware(InjectQMiddleware, container=container, close_container=close_container)
