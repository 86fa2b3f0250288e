"""A small FastAPI service wired with injectq.

Serve it:   uvicorn docs.examples.fastapi_app:app            (asyncio)
            hypercorn --worker-class trio docs.examples.fastapi_app:app   (trio)
Try it:     python docs/examples/fastapi_app.py   (in-process, on asyncio and on trio)

Needs ``pip install "injectq[fastapi]"`` (and httpx2 for the in-process run).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from injectq import InjectQ, Scope
from injectq.integrations.fastapi import InjectAPI, setup_fastapi

trace: list[str] = []


class Pool:
    """One per application: opened at first use, closed at lifespan shutdown."""

    def __init__(self) -> None:
        trace.append("pool opened")

    def close(self) -> None:
        trace.append("pool closed")


class Session:
    """One per request, on the pool."""

    def __init__(self, pool: Pool, request: Request) -> None:
        self.pool = pool
        self.path = request.url.path


async def session(pool: Pool, request: Request) -> AsyncIterator[Session]:
    opened = Session(pool, request)
    trace.append(f"session for {opened.path}")
    try:
        yield opened
    finally:
        trace.append(f"session for {opened.path} closed")


class Greeter:
    def __init__(self, session: Session) -> None:
        self.session = session

    def greet(self, name: str) -> str:
        return f"hello {name} (via {self.session.path})"


container = InjectQ()
container.bind(Pool, scope=Scope.SINGLETON)
container.bind_factory(Session, session, scope=Scope.SCOPED)
container.bind(Greeter, scope=Scope.SCOPED)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    trace.append("app started")
    yield
    trace.append("app stopping")  # the container is closed after this


app = FastAPI(lifespan=lifespan)


@app.get("/hello/{name}")
async def hello(name: str, greeter: InjectAPI[Greeter], same: InjectAPI[Session]) -> str:
    assert greeter.session is same  # one Session per request
    return greeter.greet(name)


setup_fastapi(container, app)


def main() -> None:
    from fastapi.testclient import TestClient

    expected = [
        "app started",
        "pool opened",
        "session for /hello/ada",
        "session for /hello/ada closed",
        "app stopping",
        "pool closed",
    ]
    for backend in ("asyncio", "trio"):
        trace.clear()
        with TestClient(app, backend=backend) as client:
            print(client.get("/hello/ada").json())
        assert trace == expected, trace
        print(f"{backend}: ok")


if __name__ == "__main__":
    main()
