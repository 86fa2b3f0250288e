"""FastAPI: ``setup_fastapi(container, app)`` and injected endpoint parameters.

``pip install "injectq[fastapi]"``.  Declare a parameter as ``InjectAPI[T]``,
``Annotated[T, InjectAPI(T)]`` or ``Annotated[T, InjectFastAPI(T)]``; it is
resolved from the request's scope (see :mod:`injectq.integrations.asgi`).

How it is fast: each marker is a FastAPI ``Depends`` whose callable resolves
the key from the connection's scope, so it works anywhere FastAPI solves
dependencies (inside a user's own ``Depends`` function too).  For the
endpoint's own parameters, ``setup_fastapi`` takes the markers out of the
route's dependency tree once per route and wraps the endpoint instead: the
wrapper resolves them as ``await container.aget(key)`` would and calls the
endpoint (a sync endpoint in FastAPI's thread pool, as FastAPI would), so
FastAPI's dependency solver never runs for them.  Routes the walk does not
reach (added after the application started, or generator endpoints) keep
the ``Depends`` path, which gives the same instances.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the signature
# of _Resolver.__call__ at run time, and a string annotation would not resolve.

import inspect
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from . import require_extra

require_extra("fastapi", "fastapi", "FastAPI")

from fastapi import params  # noqa: E402
from fastapi import routing as fastapi_routing  # noqa: E402
from fastapi.concurrency import run_in_threadpool  # noqa: E402
from fastapi.routing import APIRoute, request_response  # noqa: E402
from starlette.requests import HTTPConnection  # noqa: E402

from .._core._container import InjectQ  # noqa: E402
from .._core._errors import InjectQError, describe_key  # noqa: E402
from .asgi import SCOPE_KEY, InjectQMiddleware  # noqa: E402
from .starlette import bind_connection  # noqa: E402

__all__ = ["InjectAPI", "InjectFastAPI", "InjectQMiddleware", "dependency_of", "setup_fastapi"]

T = TypeVar("T")


class _Resolver:
    """The ``Depends`` callable of one key: resolve it from the connection's request scope.

    One per key (see :func:`dependency_of`), so it can key ``app.dependency_overrides``.
    """

    __slots__ = ("key",)

    def __init__(self, key: Hashable) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"InjectAPI[{describe_key(self.key)}]"

    async def __call__(self, connection: HTTPConnection) -> Any:
        handle = connection.scope.get(SCOPE_KEY)
        if handle is None:
            raise InjectQError(
                f"{describe_key(self.key)} is injected with InjectAPI, but this request has"
                " no injectq request scope: setup_fastapi() was not called for this app",
                key=self.key,
                fix="call injectq.integrations.fastapi.setup_fastapi(container, app)"
                " before the application starts",
            )
        return await handle.aget(self.key)


_RESOLVERS: dict[Hashable, _Resolver] = {}


def dependency_of(key: Hashable) -> Callable[..., Any]:
    """The ``Depends`` callable behind ``InjectAPI[key]``: the key for ``app.dependency_overrides``."""
    resolver = _RESOLVERS.get(key)
    if resolver is None:
        resolver = _RESOLVERS.setdefault(key, _Resolver(key))
    return resolver


def InjectFastAPI(key: Any) -> Any:
    """``Annotated[T, InjectFastAPI(T)]``: a parameter resolved from the request's scope."""
    return params.Depends(dependency_of(key), use_cache=True)


class _InjectAPI:
    """``InjectAPI[T]`` (an annotation) and ``InjectAPI(T)`` (``Annotated`` metadata)."""

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        return Annotated[key, InjectFastAPI(key)]

    def __call__(self, key: Any) -> Any:
        return InjectFastAPI(key)

    def __repr__(self) -> str:
        return "InjectAPI"


if TYPE_CHECKING:
    # To a type checker ``InjectAPI[T]`` is ``T`` itself.
    InjectAPI = Annotated[T, "InjectAPI"]
else:
    InjectAPI = _InjectAPI()


# -- the fast path: markers taken out of the route's dependency tree --------------------


def _is_injected(dependant: Any) -> bool:
    return dependant.name is not None and isinstance(dependant.call, _Resolver)


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def _wrap_endpoint(
    endpoint: Callable[..., Any],
    injected: tuple[tuple[str, Hashable, _Resolver], ...],
    container: InjectQ,
    provider: Any,
) -> Callable[..., Any]:
    """The endpoint with its injected parameters resolved by injectq, built once per route.

    The resolution is ``container.aget(key)`` written out in place (the current
    frame, the key's compiled plan, its async or sync builder): one coroutine
    less per parameter on every request.
    """
    plans, plan, scope_var = container._plans, container._plan, container._scope_var
    is_async = _is_async(endpoint)

    async def injected_endpoint(**values: Any) -> Any:
        overrides = getattr(provider, "dependency_overrides", None)
        frame = scope_var.get()
        for name, key, resolver in injected:
            if overrides and resolver in overrides:
                # app.dependency_overrides[dependency_of(key)]: its parameters from injectq
                values[name] = await container.ainvoke(overrides[resolver])
                continue
            node = plans.get(key) or plan(key)
            build = node.atop
            values[name] = node.top(frame) if build is None else await build(frame)
        if is_async:
            return await endpoint(**values)
        return await run_in_threadpool(endpoint, **values)

    injected_endpoint.__name__ = getattr(endpoint, "__name__", "endpoint")
    injected_endpoint.__qualname__ = getattr(endpoint, "__qualname__", "endpoint")
    injected_endpoint.__doc__ = endpoint.__doc__
    injected_endpoint.__module__ = getattr(endpoint, "__module__", __name__)
    injected_endpoint.__injectq_endpoint__ = endpoint  # type: ignore[attr-defined]
    return injected_endpoint


def _prepare(dependant: Any, container: InjectQ, provider: Any) -> bool:
    """Take the endpoint's injected parameters out of ``dependant`` and wrap its call.

    Returns whether ``dependant`` was changed.  Generator endpoints (FastAPI
    streams what they yield) keep the ``Depends`` path.
    """
    call = dependant.call
    if call is None or hasattr(call, "__injectq_endpoint__"):
        return False
    target = inspect.unwrap(call)
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        return False
    injected = tuple(
        (sub.name, sub.call.key, sub.call) for sub in dependant.dependencies if _is_injected(sub)
    )
    if not injected:
        return False
    dependant.dependencies = [sub for sub in dependant.dependencies if not _is_injected(sub)]
    dependant.call = _wrap_endpoint(call, injected, container, provider)
    return True


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every ``APIRoute`` among ``routes`` and in the routers included there."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        router = getattr(route, "original_router", None)  # FastAPI's included routers
        if router is not None:
            yield from _api_routes(router.routes)
            yield from _api_routes(getattr(router, "_low_priority_routes", ()))


def _hook_route(route: APIRoute, container: InjectQ) -> None:
    """Prepare ``route``'s dependant, and every one FastAPI builds for it later."""
    if getattr(route, "__injectq_container__", None) is container:
        return
    original = route.get_route_handler
    context_var = getattr(fastapi_routing, "_effective_route_context_var", None)

    def get_route_handler() -> Any:
        # A route included in a router is served through a context of its own,
        # built on first use with its own dependant (FastAPI 0.163): prepare that one.
        target: Any = route
        context = context_var.get() if context_var is not None else None
        if context is not None and getattr(context, "original_route", None) is route:
            target = context
        _prepare(target.dependant, container, target.dependency_overrides_provider)
        return original()

    vars(route)["get_route_handler"] = get_route_handler  # the instance's, ahead of the class's
    route.__injectq_container__ = container  # type: ignore[attr-defined]
    if _prepare(route.dependant, container, route.dependency_overrides_provider):
        route.app = request_response(original())


def _prepare_routes(app: Any, container: InjectQ) -> None:
    router = app.router
    for route in _api_routes([*router.routes, *getattr(router, "_low_priority_routes", ())]):
        _hook_route(route, container)


class _FastAPIMiddleware(InjectQMiddleware):
    """The middleware, which also prepares routes added after ``setup_fastapi``.

    Starlette builds the middleware stack on the application's first call,
    after the routes are registered.
    """

    __slots__ = ()

    def __init__(
        self, app: Any, container: InjectQ, fastapi_app: Any, *, close_container: bool = True
    ) -> None:
        super().__init__(app, container, close_container=close_container)
        _prepare_routes(fastapi_app, container)


def setup_fastapi(container: InjectQ, app: Any, *, close_container: bool = True) -> None:
    """Serve ``app`` with one request scope of ``container`` per request and per WebSocket.

    Adds the middleware (call it before the application starts), binds
    ``Request``, ``WebSocket`` and ``HTTPConnection`` as scoped, and makes the
    endpoints' ``InjectAPI`` parameters resolve without FastAPI's dependency
    solver.  The container is closed at lifespan shutdown, after the
    application's own shutdown code, unless ``close_container=False``.
    """
    if isinstance(app, InjectQ) or not hasattr(app, "router"):
        raise InjectQError(
            f"setup_fastapi() takes the container, then the FastAPI app; got"
            f" {type(container).__name__} and {type(app).__name__}",
            fix="call setup_fastapi(container, app)",
        )
    bind_connection(container)
    _prepare_routes(app, container)
    app.add_middleware(
        _FastAPIMiddleware, container=container, fastapi_app=app, close_container=close_container
    )
