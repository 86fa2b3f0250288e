"""FastAPI: one request scope per request, injected endpoint parameters, teardown timing."""

import threading
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import pytest

pytest.importorskip("fastapi")

from asgi_helpers import Config, Log, Service, WebSocketClient, client_for, make_container
from fastapi import BackgroundTasks, Depends, FastAPI, Request, WebSocket
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from injectq import InjectQ, InjectQError, Scope
from injectq.integrations.fastapi import InjectAPI, InjectFastAPI, dependency_of, setup_fastapi

pytestmark = pytest.mark.anyio


def make_app(log: Log) -> tuple[FastAPI, InjectQ]:
    container = make_container(log)
    app = FastAPI()

    def number_of(svc: InjectAPI[Service]) -> int:
        return svc.use()

    @app.get("/async")
    async def async_endpoint(
        a: InjectAPI[Service],
        b: Annotated[Service, InjectAPI(Service)],
        c: Annotated[Service, InjectFastAPI(Service)],
        d: Annotated[int, Depends(number_of)],
    ) -> dict[str, int]:
        return {"a": a.use(), "b": b.use(), "c": c.use(), "d": d}

    @app.get("/sync")
    def sync_endpoint(
        a: InjectAPI[Service], b: Annotated[Service, InjectFastAPI(Service)]
    ) -> dict[str, int]:
        return {"a": a.use(), "b": b.use(), "thread": threading.get_ident()}

    @app.get("/boom")
    async def boom(svc: InjectAPI[Service]) -> None:
        raise RuntimeError(f"boom {svc.use()}")

    @app.get("/path")
    async def path(request: Request, svc: InjectAPI[Service], req: InjectAPI[Request]) -> str:
        return f"{req.url.path} {req.scope is request.scope}"

    setup_fastapi(container, app)
    return app, container


async def test_each_request_has_its_own_scope_shared_by_all_its_parameters() -> None:
    log = Log()
    app, _ = make_app(log)
    async with client_for(app) as client:
        first = (await client.get("/async")).json()
        second = (await client.get("/async")).json()
    assert first == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert second == {"a": 2, "b": 2, "c": 2, "d": 2}
    assert log.closed == [1, 2]


async def test_a_sync_endpoint_gets_its_request_scope_and_runs_in_a_worker_thread() -> None:
    log = Log()
    app, _ = make_app(log)
    async with client_for(app) as client:
        first = (await client.get("/sync")).json()
        second = (await client.get("/sync")).json()
    assert (first["a"], first["b"], second["a"], second["b"]) == (1, 1, 2, 2)
    assert first["thread"] != threading.get_ident()
    assert log.closed == [1, 2]


async def test_fifty_concurrent_requests_each_get_and_tear_down_their_own_instances() -> None:
    log = Log()
    container = make_container(log)
    app = FastAPI()
    arrived = 0
    all_in = anyio.Event()

    @app.get("/held")
    async def held(svc: InjectAPI[Service], again: InjectAPI[Service]) -> int:
        nonlocal arrived
        assert svc is again
        arrived += 1
        if arrived == 50:
            all_in.set()
        await all_in.wait()  # every request is inside its scope at the same time
        return svc.use()

    setup_fastapi(container, app)
    numbers: list[int] = []
    async with client_for(app) as client:

        async def one() -> None:
            numbers.append((await client.get("/held")).json())

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(one)
    assert sorted(numbers) == list(range(1, 51))
    assert sorted(log.closed) == list(range(1, 51))  # each exactly once


async def test_the_scope_is_torn_down_when_the_endpoint_raises() -> None:
    log = Log()
    app, _ = make_app(log)
    async with client_for(app, raise_app_exceptions=False) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert log.closed == [1]


async def test_a_streaming_body_uses_its_scoped_service_until_the_last_chunk() -> None:
    log = Log()
    container = make_container(log)
    app = FastAPI()

    @app.get("/stream")
    async def stream(svc: InjectAPI[Service]) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for index in range(3):
                log.events.append(f"chunk {index} of {svc.use()}")
                yield f"{index}".encode()

        return StreamingResponse(body())

    setup_fastapi(container, app)
    async with client_for(app) as client:
        response = await client.get("/stream")
    assert response.text == "012"
    assert log.events == ["built 1", "chunk 0 of 1", "chunk 1 of 1", "chunk 2 of 1", "closed 1"]


async def test_a_background_task_uses_its_scoped_service_after_the_response() -> None:
    log = Log()
    container = make_container(log)
    app = FastAPI()

    @app.get("/later")
    async def later(svc: InjectAPI[Service], tasks: BackgroundTasks) -> str:
        async def work() -> None:
            log.events.append(f"background with {svc.use()}")

        tasks.add_task(work)
        log.events.append("responding")
        return "ok"

    setup_fastapi(container, app)
    async with client_for(app) as client:
        assert (await client.get("/later")).json() == "ok"
    assert log.events == ["built 1", "responding", "background with 1", "closed 1"]


async def test_injectapi_inside_a_users_depends_function_gets_the_requests_instance() -> None:
    log = Log()
    app, _ = make_app(log)
    async with client_for(app) as client:
        body = (await client.get("/async")).json()
    assert body["d"] == body["a"] == 1


async def test_the_current_request_is_injectable_in_its_scope() -> None:
    app, _ = make_app(Log())
    async with client_for(app) as client:
        assert (await client.get("/path")).json() == "/path True"


async def test_without_setup_fastapi_an_injected_parameter_is_an_error_naming_it() -> None:
    app = FastAPI()

    @app.get("/")
    async def endpoint(svc: InjectAPI[Service]) -> int:
        return svc.use()  # pragma: no cover - never reached

    async with client_for(app) as client:
        with pytest.raises(InjectQError, match=r"setup_fastapi\(\)") as caught:
            await client.get("/")
    assert "setup_fastapi(container, app)" in str(caught.value)


async def test_app_dependency_overrides_replace_an_injected_parameter_everywhere() -> None:
    log = Log()
    app, _ = make_app(log)
    fake = Service(99)
    app.dependency_overrides[dependency_of(Service)] = lambda: fake
    async with client_for(app) as client:
        body = (await client.get("/async")).json()
        sync_body = (await client.get("/sync")).json()
    assert body == {"a": 99, "b": 99, "c": 99, "d": 99}
    assert (sync_body["a"], sync_body["b"]) == (99, 99)
    assert log.built == []  # the real service was never built
    app.dependency_overrides.clear()
    async with client_for(app) as client:
        assert (await client.get("/async")).json()["a"] == 1


async def test_routes_of_included_routers_resolve_from_the_request_scope() -> None:
    from fastapi import APIRouter

    log = Log()
    container = make_container(log)
    app = FastAPI()
    router = APIRouter(prefix="/inner")

    @router.get("/one")
    async def one(a: InjectAPI[Service], b: InjectAPI[Service]) -> list[int]:
        return [a.use(), b.use()]

    app.include_router(router)
    setup_fastapi(container, app)

    @app.get("/late")  # added after setup_fastapi, before the app starts
    async def late(a: InjectAPI[Service]) -> int:
        return a.use()

    async with client_for(app) as client:
        assert (await client.get("/inner/one")).json() == [1, 1]
        assert (await client.get("/late")).json() == 2
    assert log.closed == [1, 2]


def test_lifespan_shutdown_closes_the_container_after_the_apps_own_code_and_twice_works(
    anyio_backend: str,
) -> None:
    """TestClient(app) opened twice in a row: each shutdown finalizes the singleton once."""
    log = Log()
    container = make_container(log)
    configs: list[Config] = []

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configs.append(await container.aget(Config))
        yield
        log.events.append("app shutdown code")

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def endpoint(cfg: InjectAPI[Config], svc: InjectAPI[Service]) -> int:
        return svc.use()

    setup_fastapi(container, app)
    for round_ in range(2):
        with TestClient(app, backend=anyio_backend) as client:
            assert client.get("/").json() == round_ + 1
    assert len(configs) == 2
    assert configs[0] is not configs[1]
    assert [cfg.closed for cfg in configs] == [1, 1]
    assert [e for e in log.events if "config" in e or "shutdown" in e] == [
        "app shutdown code",
        "config closed",
        "app shutdown code",
        "config closed",
    ]


def test_a_websocket_connection_has_one_scope_left_at_disconnect(anyio_backend: str) -> None:
    log = Log()
    container = make_container(log)
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, svc: InjectAPI[Service]) -> None:
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            if text == "bye":
                break
            other = await container.aget(Service)
            await websocket.send_text(f"{text} {svc.use()} {other.use()}")
        await websocket.close()

    setup_fastapi(container, app)
    with TestClient(app, backend=anyio_backend) as client:
        with client.websocket_connect("/ws") as socket:
            socket.send_text("a")
            assert socket.receive_text() == "a 1 1"
            socket.send_text("b")
            assert socket.receive_text() == "b 1 1"
            assert log.closed == []
            socket.send_text("bye")
        with client.websocket_connect("/ws") as socket:
            socket.send_text("c")
            assert socket.receive_text() == "c 2 2"
            socket.send_text("bye")
    assert log.closed == [1, 2]


async def test_setup_fastapi_with_the_arguments_swapped_is_a_clear_error() -> None:
    with pytest.raises(InjectQError, match=r"setup_fastapi\(container, app\)"):
        setup_fastapi(FastAPI(), InjectQ())  # type: ignore[arg-type]


async def test_a_scoped_binding_of_the_user_for_request_is_kept() -> None:
    container = InjectQ()
    container.bind_factory(Request, lambda: "mine", scope=Scope.SCOPED)
    app = FastAPI()

    @app.get("/")
    async def endpoint(req: InjectAPI[Request]) -> object:
        return req

    setup_fastapi(container, app)
    async with client_for(app) as client:
        assert (await client.get("/")).json() == "mine"


async def test_a_generator_endpoint_streams_items_while_its_scoped_service_lives() -> None:
    """FastAPI streams what a generator endpoint yields; the scope ends after the last item."""
    log = Log()
    container = make_container(log)
    app = FastAPI()

    @app.get("/items")
    async def items(svc: InjectAPI[Service]) -> AsyncIterator[int]:
        for _ in range(3):
            log.events.append(f"item of {svc.use()}")
            yield svc.use()

    @app.get("/plain")
    async def plain() -> str:  # no injected parameter: FastAPI's route as it was
        return "plain"

    setup_fastapi(container, app)
    async with client_for(app) as client:
        response = await client.get("/items")
        assert (await client.get("/plain")).json() == "plain"
    assert [int(line) for line in response.text.split()] == [1, 1, 1]
    assert log.events == ["built 1", "item of 1", "item of 1", "item of 1", "closed 1"]


async def test_named_and_string_keys_are_injected_too() -> None:
    container = InjectQ()
    container.bind_instance(Annotated[Config, "primary"], primary := Config())
    container.bind_instance("db_url", "sqlite://")
    app = FastAPI()

    @app.get("/")
    async def endpoint(
        config: InjectAPI[Annotated[Config, "primary"]],
        url: Annotated[str, InjectFastAPI("db_url")],
    ) -> list[object]:
        return [config is primary, url]

    setup_fastapi(container, app)
    async with client_for(app) as client:
        assert (await client.get("/")).json() == [True, "sqlite://"]


async def test_two_concurrent_fastapi_websockets_have_a_scope_each_until_their_disconnect() -> None:
    log = Log()
    container = make_container(log)
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, svc: InjectAPI[Service]) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            again = await container.aget(Service)
            await websocket.send_text(f"{text} {svc.use()} {again.use()}")

    setup_fastapi(container, app)
    first, second = WebSocketClient(app, "/ws"), WebSocketClient(app, "/ws")
    with anyio.fail_after(10), first.to_app, first.from_app, second.to_app, second.from_app:
        async with anyio.create_task_group() as group:
            group.start_soon(first.run)
            await first.connect()
            group.start_soon(second.run)
            await second.connect()
            assert await first.ask("a") == "a 1 1"
            assert await second.ask("b") == "b 2 2"
            await first.disconnect()
            await anyio.wait_all_tasks_blocked()
            assert log.closed == [1]
            assert await second.ask("c") == "c 2 2"
            await second.disconnect()
    assert log.closed == [1, 2]
