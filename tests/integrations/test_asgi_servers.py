"""Real servers on 127.0.0.1: uvicorn (asyncio) and hypercorn (trio) serving asgi_server_app.

Each server is started by the tests as a subprocess on a free port and
stopped by them; every wait is bounded.  The client runs on the server's
backend.
"""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("hypercorn")

import httpx2 as httpx

HERE = Path(__file__).resolve().parent
SERVERS = {"asyncio": "uvicorn", "trio": "hypercorn"}
START_TIMEOUT = 30.0

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The client's backend is the server's: uvicorn runs asyncio, hypercorn runs trio."""
    backend: str = request.param
    return backend


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    output: list[str]
    reader: threading.Thread

    def stop(self) -> str:
        """Stop it as Ctrl+C would (a graceful shutdown, lifespan included); its output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover - reported by the test
                self.process.kill()
                self.process.wait(timeout=5)
                raise
            finally:
                self.close()
        return "".join(self.output)

    def close(self) -> None:
        self.reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server(backend: str, shutdown_file: Path) -> Server:
    port = _free_port()
    app = "asgi_server_app:app"
    if SERVERS[backend] == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1"]
        command += ["--port", str(port), "--loop", "asyncio", "--lifespan", "on"]
        ready = "Uvicorn running on"
    else:
        command = [sys.executable, "-m", "hypercorn", "--worker-class", "trio"]
        command += ["--bind", f"127.0.0.1:{port}", "--error-logfile", "-", app]
        ready = "Running on"
    env = dict(os.environ, INJECTQ_TEST_SHUTDOWN_FILE=str(shutdown_file), PYTHONPATH=str(HERE))
    process = subprocess.Popen(
        command,
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    server = Server(process, f"http://127.0.0.1:{port}", output, reader)
    try:
        while True:
            line = lines.get(timeout=START_TIMEOUT)
            if line is None:
                raise RuntimeError(f"{command[2]} exited before serving:\n{''.join(output)}")
            if ready in line:
                return server
    except BaseException:
        process.kill()
        process.wait(timeout=5)
        server.close()
        raise


@pytest.fixture(scope="module")
def server(anyio_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(anyio_backend, tmp_path_factory.mktemp("srv") / "shutdown.txt")
    yield running
    running.stop()


def client(server: Server) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    return httpx.AsyncClient(base_url=server.url, limits=limits, timeout=20)


async def torn_down(http: httpx.AsyncClient, request_id: str) -> dict[str, int]:
    response = await http.get(f"/torn-down/{request_id}")
    assert response.status_code == 200, response.text
    counts: dict[str, int] = response.json()
    return counts


async def test_200_concurrent_requests_each_get_and_tear_down_their_own_instance(
    server: Server,
) -> None:
    ids = [f"c-{uuid.uuid4().hex}" for _ in range(200)]
    answers: dict[str, dict[str, object]] = {}
    counts: dict[str, dict[str, int]] = {}
    async with client(server) as http:

        async def one(request_id: str) -> None:
            response = await http.get("/item", headers={"x-request-id": request_id})
            assert response.status_code == 200, response.text
            answers[request_id] = response.json()
            counts[request_id] = await torn_down(http, request_id)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for request_id in ids:
                    group.start_soon(one, request_id)
    assert all(answers[i]["request_id"] == i and answers[i]["same"] for i in ids)
    assert all(counts[i] == {"built": 1, "torn_down": 1} for i in ids)


async def test_an_endpoint_that_raises_still_tears_its_scope_down_once(server: Server) -> None:
    async with client(server) as http:
        with anyio.fail_after(20):
            ids = [f"b-{uuid.uuid4().hex}" for _ in range(20)]
            async with anyio.create_task_group() as group:
                for request_id in ids:

                    async def one(request_id: str = request_id) -> None:
                        # the server may drop a connection after an error: do not reuse it
                        headers = {"x-request-id": request_id, "connection": "close"}
                        response = await http.get("/boom", headers=headers)
                        assert response.status_code == 500
                        assert await torn_down(http, request_id) == {"built": 1, "torn_down": 1}

                    group.start_soon(one)


async def test_a_client_leaving_mid_response_ends_the_scope_once(server: Server) -> None:
    ids = [f"d-{uuid.uuid4().hex}" for _ in range(20)]
    async with client(server) as http:

        async def one(request_id: str) -> None:
            # A raw connection of its own, closed once the first chunk has arrived.
            host, port = server.url.removeprefix("http://").split(":")
            request = f"GET /stream HTTP/1.1\r\nhost: {host}\r\nx-request-id: {request_id}\r\n\r\n"
            async with await anyio.connect_tcp(host, int(port)) as stream:
                await stream.send(request.encode())
                received = b""
                while f"first chunk of {request_id}".encode() not in received:
                    received += await stream.receive()
            assert await torn_down(http, request_id) == {"built": 1, "torn_down": 1}

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for request_id in ids:
                    group.start_soon(one, request_id)


def test_server_shutdown_closes_the_container_once(anyio_backend: str, tmp_path: Path) -> None:
    """Ctrl+C: the lifespan shutdown finalizes the app's singleton exactly once."""
    shutdown_file = tmp_path / "shutdown.txt"
    running = start_server(anyio_backend, shutdown_file)
    try:
        response = httpx.get(f"{running.url}/pool", headers={"x-request-id": "only"}, timeout=20)
        assert response.json() == "Pool"
    finally:
        output = running.stop()
    assert shutdown_file.read_text(encoding="utf-8") == "pool closed\n", output
