"""A pure ASGI middleware: one injectq request scope per HTTP request and per WebSocket.

Framework-free (no Starlette needed): it wraps any ASGI 3 application.

- ``http`` and ``websocket`` connections run inside ``async with
  container.scope()``: the scope is entered before the application sees the
  connection and left when the application returns, which is after the
  response body has been sent completely (streaming bodies included), after
  Starlette's background tasks, or after the client went away and the
  application stopped.  The scope handle is stored in the ASGI scope under
  :data:`SCOPE_KEY` (see :func:`request_scope`), and the connection's ASGI
  ``(scope, receive, send)`` is put into the request scope itself as an
  :class:`ASGIConnection`, which services (and Starlette's ``Request``) are
  built from.
- ``lifespan`` passes through untouched, except that the container is closed
  (``await container.aclose()``) after the application has finished its own
  shutdown code and before the server hears ``lifespan.shutdown.complete``.
  A closed container is like a fresh one with the same bindings, so the
  application can start and stop again in the same process.
- Anything else passes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core._active import current
from .._core._errors import ScopeError
from .._core._keys import Scope

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from .._core._container import InjectQ
    from .._core._scope import Frame, ScopeHandle

    ASGIScope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[ASGIScope, Receive, Send], Awaitable[None]]

__all__ = [
    "SCOPE_KEY",
    "ASGIConnection",
    "InjectQMiddleware",
    "bind_asgi_connection",
    "current_connection",
    "request_scope",
]

#: the ASGI scope key under which the middleware leaves the connection's scope handle
SCOPE_KEY = "injectq.scope"

_FIX = (
    "wrap the application in injectq.integrations.asgi.InjectQMiddleware"
    " (setup_starlette(container, app) or setup_fastapi(container, app) add it)"
)


class ASGIConnection(tuple[Any, Any, Any]):
    """The ASGI ``(scope, receive, send)`` of the connection a request scope serves.

    The middleware puts it into each request scope it opens (no ``ContextVar`` to
    set and reset per request); a service asks for it by type.  Outside such a
    scope, asking for it is a :class:`~injectq.ScopeError`.
    """

    __slots__ = ()


def _no_connection() -> ASGIConnection:
    raise ScopeError(
        "no ASGI connection is being handled here: the request or WebSocket is only"
        " injectable inside the request scope the injectq middleware opens for it",
        fix=_FIX,
    )


def bind_asgi_connection(container: InjectQ) -> None:
    """Bind :class:`ASGIConnection` (scoped), unless it is bound already.

    The middleware puts the connection into the request scope it opens; a
    request scope opened inside that one (one per WebSocket message, say) finds
    it in the scopes around it.
    """
    if container.has(ASGIConnection):
        return

    def connection_of_an_enclosing_scope() -> ASGIConnection:
        frame: Frame | None = container._scope_var.get()
        while frame is not None:
            found: ASGIConnection | None = frame.instances.get(ASGIConnection)
            if found is not None:
                return found
            frame = frame.parent
        return _no_connection()

    container.bind_factory(ASGIConnection, connection_of_an_enclosing_scope, scope=Scope.SCOPED)


class InjectQMiddleware:
    """Run each HTTP request and WebSocket connection inside one request scope of ``container``.

    ``close_container=False`` leaves closing the container to the caller
    instead of the application's lifespan shutdown.
    """

    __slots__ = ("app", "close_container", "container")

    def __init__(self, app: ASGIApp, container: InjectQ, *, close_container: bool = True) -> None:
        self.app = app
        self.container = container
        self.close_container = close_container
        bind_asgi_connection(container)

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            async with self.container.scope() as handle:
                scope[SCOPE_KEY] = handle
                handle.instances[ASGIConnection] = ASGIConnection((scope, receive, send))
                await self.app(scope, receive, send)
        elif kind == "lifespan" and self.close_container:
            await self.app(scope, receive, self._lifespan_send(send))
        else:
            await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        """``send`` for the lifespan: the container closes before the server hears the end."""
        container = self.container

        async def lifespan_send(message: Message) -> None:
            kind = message["type"]
            if kind in (
                "lifespan.shutdown.complete",
                "lifespan.shutdown.failed",
                "lifespan.startup.failed",
            ):
                try:
                    await container.aclose()
                except Exception as exc:
                    if kind == "lifespan.shutdown.complete":
                        message = {
                            "type": "lifespan.shutdown.failed",
                            "message": f"closing the injectq container failed: {exc}",
                        }
                    else:  # the application's own failure is what the server reports
                        message = dict(message)
                        message["message"] = (
                            f"{message.get('message', '')}\n"
                            f"(closing the injectq container failed as well: {exc})"
                        ).lstrip()
            await send(message)

        return lifespan_send


def request_scope(connection: Any) -> ScopeHandle:
    """The request scope of a connection: a Starlette ``Request``/``WebSocket`` or an ASGI scope.

    Raises :class:`~injectq.ScopeError` when no :class:`InjectQMiddleware` is
    in front of the application.
    """
    asgi_scope = getattr(connection, "scope", connection)
    handle: ScopeHandle | None = asgi_scope.get(SCOPE_KEY)
    if handle is None:
        raise ScopeError("this connection has no injectq request scope", fix=_FIX)
    return handle


def current_connection() -> ASGIConnection:
    """The ASGI ``(scope, receive, send)`` of the connection being handled in this context.

    Read from the request scope of the active container (a scope block makes
    its container the active one).
    """
    container = current()
    if not container.has(ASGIConnection):
        return _no_connection()
    connection: ASGIConnection = container.get(ASGIConnection)
    return connection
