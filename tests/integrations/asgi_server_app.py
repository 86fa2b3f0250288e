"""The FastAPI app the real-server tests run under uvicorn (asyncio) and hypercorn (trio).

Each request sends its id in ``x-request-id``; its scoped ``Tracked`` service
records that id when built and when torn down, and ``/torn-down/{id}`` waits
(bounded) until that request's scope has been left, then reports what the
app saw.  At lifespan shutdown the singleton ``Pool`` writes one line to the
file named by ``INJECTQ_TEST_SHUTDOWN_FILE``.
"""

import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from injectq import InjectQ, Scope
from injectq.integrations.fastapi import InjectAPI, setup_fastapi

built: Counter[str] = Counter()
torn_down: Counter[str] = Counter()
gone: dict[str, anyio.Event] = {}
arrived = 0
all_in: anyio.Event | None = None
GATE = 50  # the first requests of /item wait until this many are inside their scopes


class Pool:
    """A singleton: one line in the shutdown file when the container closes it."""


def pool() -> Iterator[Pool]:
    yield Pool()
    path = os.environ.get("INJECTQ_TEST_SHUTDOWN_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write("pool closed\n")


class Tracked:
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.closed = False


def _event(request_id: str) -> anyio.Event:
    event = gone.get(request_id)
    if event is None:
        event = gone[request_id] = anyio.Event()
    return event


async def tracked(request: Request) -> AsyncIterator[Tracked]:
    request_id = request.headers["x-request-id"]
    service = Tracked(request_id)
    built[request_id] += 1
    try:
        yield service
    finally:
        service.closed = True
        torn_down[request_id] += 1
        _event(request_id).set()


container = InjectQ()
container.bind_factory(Pool, pool, scope=Scope.SINGLETON)
container.bind_factory(Tracked, tracked, scope=Scope.SCOPED)
app = FastAPI()


@app.get("/item")
async def item(
    service: InjectAPI[Tracked], again: InjectAPI[Tracked], _: InjectAPI[Pool]
) -> dict[str, object]:
    global arrived, all_in
    if all_in is None:
        all_in = anyio.Event()
    arrived += 1
    if arrived >= GATE:
        all_in.set()
    with anyio.fail_after(10):
        await all_in.wait()
    return {"request_id": service.request_id, "same": service is again, "instance": id(service)}


@app.get("/pool")
async def use_pool(pool: InjectAPI[Pool]) -> str:
    return type(pool).__name__


@app.get("/boom")
async def boom(service: InjectAPI[Tracked]) -> None:
    raise RuntimeError(f"boom in {service.request_id}")


@app.get("/stream")
async def stream(request: Request, service: InjectAPI[Tracked]) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        yield f"first chunk of {service.request_id}\n".encode()
        # the client goes away now: wait for the server to tell us (bounded)
        with anyio.fail_after(10):
            while (await request.receive())["type"] != "http.disconnect":
                pass
        yield b"never read"

    return StreamingResponse(body())


@app.get("/torn-down/{request_id}")
async def wait_torn_down(request_id: str) -> dict[str, int]:
    with anyio.fail_after(10):
        await _event(request_id).wait()
    return {"built": built[request_id], "torn_down": torn_down[request_id]}


setup_fastapi(container, app)
