"""Starlette and the bare ASGI middleware: scopes per request and per WebSocket, lifespan."""

import importlib
import subprocess
import sys
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import anyio
import pytest

pytest.importorskip("starlette")

from asgi_helpers import Config, Log, Service, WebSocketClient, client_for, make_container
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from injectq import InjectQ, InjectQError, Scope, ScopeError
from injectq.integrations import MissingExtraError
from injectq.integrations.asgi import InjectQMiddleware, current_connection, request_scope
from injectq.integrations.starlette import setup_starlette

pytestmark = pytest.mark.anyio


class Greeter:
    """A scoped service built from the current connection."""

    def __init__(self, connection: HTTPConnection) -> None:
        self.path = connection.url.path


def make_app(log: Log) -> tuple[Starlette, InjectQ]:
    container = make_container(log)
    container.bind(Greeter, scope=Scope.SCOPED)

    async def numbers(request: Request) -> JSONResponse:
        scope = request_scope(request)
        first = await scope.aget(Service)
        second = await container.aget(Service)  # the current scope is the request's
        greeter = await scope.aget(Greeter)
        return JSONResponse([first.use(), second.use(), greeter.path])

    async def stream(request: Request) -> StreamingResponse:
        svc = await request_scope(request).aget(Service)

        async def body() -> AsyncIterator[bytes]:
            for index in range(3):
                log.events.append(f"chunk {index} of {svc.use()}")
                yield b"x"

        async def after() -> None:
            log.events.append(f"background with {svc.use()}")

        return StreamingResponse(body(), background=BackgroundTask(after))

    async def echo(websocket: WebSocket) -> None:
        svc = await request_scope(websocket).aget(Service)
        same = await container.aget(WebSocket)
        await websocket.accept()
        async for text in websocket.iter_text():
            async with container.scope():  # one scope per message inside the connection's
                per_message = await container.aget(Service)
                await websocket.send_text(f"{text} {svc.use()} {per_message.use()} {same.url.path}")

    app = Starlette(
        routes=[
            Route("/numbers", numbers),
            Route("/stream", stream),
            WebSocketRoute("/echo", echo),
        ]
    )
    setup_starlette(container, app)
    return app, container


async def test_each_starlette_request_resolves_from_its_own_scope() -> None:
    log = Log()
    app, _ = make_app(log)
    async with client_for(app) as client:
        assert (await client.get("/numbers")).json() == [1, 1, "/numbers"]
        assert (await client.get("/numbers")).json() == [2, 2, "/numbers"]
    assert log.closed == [1, 2]


async def test_a_streaming_body_and_its_background_task_run_before_the_teardown() -> None:
    log = Log()
    app, _ = make_app(log)
    async with client_for(app) as client:
        assert (await client.get("/stream")).text == "xxx"
    assert log.events == [
        "built 1",
        "chunk 0 of 1",
        "chunk 1 of 1",
        "chunk 2 of 1",
        "background with 1",
        "closed 1",
    ]


async def test_two_concurrent_websockets_each_have_one_scope_left_at_their_disconnect() -> None:
    log = Log()
    app, _ = make_app(log)
    first, second = WebSocketClient(app, "/echo"), WebSocketClient(app, "/echo")
    with anyio.fail_after(10), first.to_app, first.from_app, second.to_app, second.from_app:
        async with anyio.create_task_group() as group:
            group.start_soon(first.run)
            await first.connect()
            group.start_soon(second.run)
            await second.connect()
            # per connection: the same service for the whole connection, a new one per message
            assert await first.ask("a") == "a 1 3 /echo"
            assert await second.ask("b") == "b 2 4 /echo"
            assert await first.ask("c") == "c 1 5 /echo"
            assert sorted(log.closed) == [3, 4, 5]  # the message scopes only
            await first.disconnect()
            await anyio.wait_all_tasks_blocked()
            assert log.closed[-1] == 1  # the first connection's scope, left at its disconnect
            assert await second.ask("d") == "d 2 6 /echo"
            await second.disconnect()
    assert sorted(log.closed) == [1, 2, 3, 4, 5, 6]


async def test_the_request_is_not_injectable_outside_a_request() -> None:
    log = Log()
    _, container = make_app(log)
    async with container.scope():
        with pytest.raises(
            ScopeError,
            match="only injectable inside the request scope the injectq middleware opens",
        ):
            await container.aget(Request)


async def test_asking_for_a_websocket_during_an_http_request_is_a_clear_error() -> None:
    container = InjectQ()

    async def endpoint(request: Request) -> PlainTextResponse:
        with pytest.raises(InjectQError, match="ask for Request"):
            await request_scope(request).aget(WebSocket)
        return PlainTextResponse("checked")

    app = Starlette(routes=[Route("/", endpoint)])
    setup_starlette(container, app)
    async with client_for(app) as client:
        assert (await client.get("/")).text == "checked"


async def test_request_scope_without_the_middleware_names_the_fix() -> None:
    async def endpoint(request: Request) -> PlainTextResponse:
        request_scope(request)
        raise AssertionError("unreachable")  # pragma: no cover

    app = Starlette(routes=[Route("/", endpoint)])
    async with client_for(app) as client:
        with pytest.raises(ScopeError, match="InjectQMiddleware"):
            await client.get("/")


async def lifespan_events(app: Any, *, fail_startup: bool = False) -> list[str]:
    """Run an ASGI lifespan through startup and shutdown; the messages the server saw."""
    to_app, inbox = anyio.create_memory_object_stream[dict[str, Any]](5)
    outbox, from_app = anyio.create_memory_object_stream[MutableMapping[str, Any]](5)
    seen: list[str] = []
    with anyio.fail_after(10), to_app, inbox, outbox, from_app:
        async with anyio.create_task_group() as group:
            group.start_soon(app, {"type": "lifespan", "state": {}}, inbox.receive, outbox.send)
            await to_app.send({"type": "lifespan.startup"})
            message = await from_app.receive()
            if message["type"] == "lifespan.startup.complete":
                seen.append(message["type"])
                await to_app.send({"type": "lifespan.shutdown"})
                message = await from_app.receive()
                seen.append(message["type"] + " " + message.get("message", ""))
            else:
                seen.append(message["type"] + " " + message.get("message", ""))
    return seen


async def test_lifespan_shutdown_finalizes_the_singletons_after_the_apps_own_code() -> None:
    log = Log()
    container = make_container(log)
    configs: list[Config] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        configs.append(await container.aget(Config))
        await send({"type": "lifespan.startup.complete"})
        await receive()
        log.events.append("app shutdown code")
        await send({"type": "lifespan.shutdown.complete"})

    app = InjectQMiddleware(inner, container)
    assert await lifespan_events(app) == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete ",
    ]
    assert await lifespan_events(app) == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete ",
    ]
    assert [c.closed for c in configs] == [1, 1]
    assert configs[0] is not configs[1]
    assert log.events == ["app shutdown code", "config closed"] * 2


async def test_a_failing_finalizer_at_shutdown_is_reported_to_the_server_as_a_failure() -> None:
    container = InjectQ()

    def broken() -> Any:
        yield object()
        raise RuntimeError("pool did not close")

    container.bind_factory("pool", broken, scope=Scope.SINGLETON)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await container.aget("pool")
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    events = await lifespan_events(InjectQMiddleware(inner, container))
    assert events[0] == "lifespan.startup.complete"
    assert events[1].startswith("lifespan.shutdown.failed closing the injectq container failed")


async def test_close_container_false_leaves_the_container_open_at_shutdown() -> None:
    log = Log()
    container = make_container(log)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await container.aget(Config)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    await lifespan_events(InjectQMiddleware(inner, container, close_container=False))
    assert "config closed" not in log.events
    await container.aclose()
    assert log.events == ["config closed"]


def test_import_injectq_loads_no_web_framework() -> None:
    code = "import injectq, sys; print(sorted({'starlette', 'fastapi'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "missing", "extra"),
    [
        ("injectq.integrations.fastapi", "fastapi", "fastapi"),
        ("injectq.integrations.starlette", "starlette", "starlette"),
    ],
)
def test_an_integration_without_its_framework_names_the_extra_to_install(
    module: str, missing: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` fail
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(MissingExtraError, match=rf'pip install "injectq\[{extra}\]"') as caught:
        importlib.import_module(module)
    assert isinstance(caught.value, ImportError)


async def test_asking_for_a_request_during_a_websocket_is_a_clear_error() -> None:
    container = InjectQ()
    answers: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(InjectQError, match="ask for WebSocket") as caught:
            await request_scope(websocket).aget(Request)
        answers.append(str(caught.value))
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    setup_starlette(container, app)
    client = WebSocketClient(app, "/ws")
    with anyio.fail_after(10), client.to_app, client.from_app:
        async with anyio.create_task_group() as group:
            group.start_soon(client.run)
            await client.connect()
            assert (await client.from_app.receive())["type"] == "websocket.close"
    assert answers[0].startswith("Request was asked for while handling a websocket connection")


async def test_a_failed_startup_is_reported_with_the_close_failure_added() -> None:
    container = InjectQ()

    def broken() -> Any:
        yield object()
        raise RuntimeError("pool did not close")

    container.bind_factory("pool", broken, scope=Scope.SINGLETON)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await container.aget("pool")
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    events = await lifespan_events(InjectQMiddleware(inner, container))
    assert len(events) == 1
    assert events[0].startswith(
        "lifespan.startup.failed no database\n(closing the injectq container failed as well:"
    )


async def test_a_job_that_outlives_its_request_cannot_reach_the_requests_connection() -> None:
    container = InjectQ()
    request_over = anyio.Event()
    seen: list[str] = []

    async def job() -> None:
        seen.append(current_connection()[0]["path"])  # during the request: its own
        await request_over.wait()
        with pytest.raises(ScopeError, match="ended"):
            current_connection()
        with pytest.raises(ScopeError):
            await container.aget(Request)
        seen.append("refused")

    async with anyio.create_task_group() as outer:

        async def endpoint(request: Request) -> PlainTextResponse:
            outer.start_soon(job)  # an outer task group: the job outlives the request
            await anyio.wait_all_tasks_blocked()
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/fire", endpoint)])
        setup_starlette(container, app)
        async with client_for(app) as client:
            assert (await client.get("/fire")).text == "ok"
            request_over.set()
    assert seen == ["/fire", "refused"]


async def test_a_scope_opened_inside_the_request_still_reaches_its_connection() -> None:
    container = InjectQ()
    answers: list[str] = []

    async def endpoint(request: Request) -> PlainTextResponse:
        async with container.scope():  # one scope per unit of work inside the request
            inner = await container.aget(Request)
            connection = await container.aget(HTTPConnection)
            answers.append(f"{inner.url.path} {connection.url.path}")
            assert current_connection()[0] is request.scope
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/inner", endpoint)])
    setup_starlette(container, app)
    async with client_for(app) as client:
        assert (await client.get("/inner")).text == "ok"
    assert answers == ["/inner /inner"]
