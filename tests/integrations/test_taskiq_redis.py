"""Taskiq across processes: real workers on a real Redis, one scope per task execution.

The module starts ``redis-server`` (Debian's package; ``python -m nox -s tests``
installs it where it is missing) on 127.0.0.1 and a free port with no
persistence, then ``taskiq worker taskiq_redis_app:worker_broker --workers 2``
as a subprocess against a taskiq-redis broker and result backend.  It sends
200 tasks (a quarter of them fail) and one task from inside a tenant scope,
reads the results back through the result backend, stops the workers, and
reads what the workers wrote to an events file (see ``taskiq_redis_app.py``).
The run happens once, in a module fixture; each test checks one property of it.
Every wait is bounded; everything started is stopped.

asyncio only, like taskiq itself (its receiver and CLI worker are asyncio code).
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip(
    "taskiq_redis", reason="needs the test pins: pip install -r requirements/taskiq.txt"
)

import redis

HERE = Path(__file__).resolve().parent
TASKS = 200
STARTUP_WAIT = 20.0  # seconds to get redis-server up and the two workers started
RUN_WAIT = 30.0  # seconds for all results to come back
STOP_WAIT = 20.0  # seconds for a stopped process to exit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then SIGKILL if it has not exited in time; its exit code.

    Each process is started in a session (and process group) of its own, so the
    SIGKILL and the final sweep reach the worker processes it started as well:
    nothing is left running, whatever happened.
    """
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        return process.wait(STOP_WAIT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def wait_until(condition: Any, what: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Poll ``condition`` every 20 ms until it holds; fail after ``timeout`` or if ``process`` died."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of our own on 127.0.0.1 and a free port, without persistence."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip(
            "redis-server is not installed: it comes from Debian's redis-server package,"
            " which `python -m nox -s tests` installs where apt-get is available"
        )
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, "redis-server answering PING", STARTUP_WAIT, process)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


def read_events(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()]


@dataclass
class Run:
    """What one run of the scenario produced."""

    results: list[Any]  # TaskiqResult of task n, n = 0 .. TASKS - 1
    tenant: Any  # TaskiqResult of the task sent from inside scope("tenant", "acme")
    events: list[list[str]]  # the workers' events before they were stopped
    events_after_stop: list[list[str]]
    worker_exit_code: int
    seconds: float


async def send_tasks(redis_url: str, events_path: Path) -> tuple[list[Any], Any]:
    import taskiq_redis_app

    container, broker, tasks = taskiq_redis_app.build(redis_url, str(events_path))
    await broker.startup()
    try:
        with anyio.fail_after(RUN_WAIT):
            sent = [await tasks["work"].kiq(n) for n in range(TASKS)]
            async with container.scope("tenant", "acme"):
                tenant_task = await tasks["whoami"].kiq()
            results = [await task.wait_result(check_interval=0.01) for task in sent]
            tenant = await tenant_task.wait_result(check_interval=0.01)
    finally:
        await broker.shutdown()
    return results, tenant


@pytest.fixture(scope="module")
def run(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Two worker processes run the tasks the test process sends, then are stopped."""
    begin = time.monotonic()
    workdir = tmp_path_factory.mktemp("workers")
    events_path = workdir / "events.txt"
    log_path = workdir / "workers.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "INJECTQ_TEST_REDIS_URL": redis_url,
        "INJECTQ_TEST_EVENTS": str(events_path),
    }
    with open(log_path, "wb") as log:
        workers = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taskiq",
                "worker",
                "taskiq_redis_app:worker_broker",
                "--workers",
                "2",
                "--max-async-tasks",
                "50",
                "--shutdown-timeout",
                "10",
                "--log-level",
                "WARNING",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = lambda: sum(e[0] == "started" for e in read_events(events_path)) == 2  # noqa: E731
        wait_until(started, "two taskiq workers started", STARTUP_WAIT, workers)
        results, tenant = anyio.run(send_tasks, redis_url, events_path, backend="asyncio")
        events = read_events(events_path)
    except BaseException:
        stop(workers)
        sys.stdout.write(log_path.read_text(encoding="utf-8", errors="replace")[-5000:])
        raise
    exit_code = stop(workers)
    return Run(
        results=results,
        tenant=tenant,
        events=events,
        events_after_stop=read_events(events_path),
        worker_exit_code=exit_code,
        seconds=time.monotonic() - begin,
    )


def scope_token(result: Any) -> str:
    """The token of the scope a task ran in: in its return value, or in its error's message."""
    if result.is_err:
        return str(result.error).rsplit(" ", 1)[-1]
    token: str = result.return_value["scope"]
    return token


def pids(events: list[list[str]], kind: str) -> list[str]:
    return [e[1] for e in events if e[0] == kind]


def test_every_task_came_back_and_a_quarter_failed(run: Run) -> None:
    """All 200 results arrive through the result backend; exactly tasks 0, 4, 8, ... failed."""
    assert len(run.results) == TASKS
    assert [r.is_err for r in run.results] == [n % 4 == 0 for n in range(TASKS)]
    assert all(isinstance(r.error, ValueError) for r in run.results if r.is_err)


def test_each_task_ran_in_a_scope_of_its_own(run: Run) -> None:
    """200 tasks on two processes ran in 200 different scopes, each built once in its worker."""
    tokens = [scope_token(r) for r in run.results]
    assert len(set(tokens)) == TASKS
    opened = collections.Counter(e[2] for e in run.events if e[0] == "open")
    assert all(opened[token] == 1 for token in tokens)
    where = {e[2]: e[1] for e in run.events if e[0] == "open"}
    assert all(
        where[scope_token(r)] == str(r.return_value["pid"]) for r in run.results if not r.is_err
    )


def test_each_scope_was_finalized_exactly_once_failures_included(run: Run) -> None:
    """Every execution's scope was finalized once, in the process that opened it, failed tasks too."""
    opened = {e[2]: e[1] for e in run.events if e[0] == "open"}
    closed = collections.Counter((e[2], e[1]) for e in run.events if e[0] == "close")
    assert len(opened) == TASKS + 1  # the 200 tasks and the tenant's
    assert closed == collections.Counter(opened.items())
    failed = [scope_token(r) for r in run.results if r.is_err]
    assert len(failed) == TASKS // 4
    assert all(closed[token, opened[token]] == 1 for token in failed)


def test_each_worker_process_built_its_singleton_once(run: Run) -> None:
    """Each of the two worker processes built its singleton once and used it for all its tasks."""
    started = pids(run.events, "started")
    built = {e[1]: e[2] for e in run.events if e[0] == "singleton-built"}
    assert len(set(started)) == 2
    assert len(pids(run.events, "singleton-built")) == len(built)  # once per process
    ran_on = {str(r.return_value["pid"]) for r in run.results if not r.is_err}
    # Both took work: Redis hands the list's items to the workers blocked on it in
    # turn, and a worker holds at most 50 tasks (--max-async-tasks) at a time.
    assert ran_on == set(built) == set(started)
    assert all(
        built[str(r.return_value["pid"])] == r.return_value["singleton"]
        for r in run.results
        if not r.is_err
    )


def test_a_task_sent_inside_a_tenant_scope_ran_inside_that_tenant(run: Run) -> None:
    """A task sent from inside scope("tenant", "acme") ran on a worker inside the tenant scope "acme"."""
    assert not run.tenant.is_err, run.tenant.error
    assert run.tenant.return_value["tenant"] == "acme"
    assert str(run.tenant.return_value["pid"]) in pids(run.events, "started")


def test_stopping_the_workers_finalizes_their_singletons(run: Run) -> None:
    """Stopping the workers closes each process's container: its singleton finalized, once."""
    assert run.worker_exit_code == 0
    built = collections.Counter(
        (e[1], e[2]) for e in run.events_after_stop if e[0] == "singleton-built"
    )
    closed = collections.Counter(
        (e[1], e[2]) for e in run.events_after_stop if e[0] == "singleton-closed"
    )
    assert built  # some worker built one
    assert closed == built
    assert not [e for e in run.events if e[0] == "singleton-closed"]  # not before the stop


def test_the_docs_worker_example_runs_as_documented(redis_url: str, tmp_path: Path) -> None:
    """docs/examples/taskiq_worker.py: its workers answer the tickets it sends, and close their mailers on stop."""
    examples = HERE.parent.parent / "docs" / "examples"
    env = {**os.environ, "PYTHONPATH": str(examples), "REDIS_URL": redis_url}
    log_path = tmp_path / "workers.log"
    with open(log_path, "wb") as log:
        workers = subprocess.Popen(
            [sys.executable, "-m", "taskiq", "worker", "taskiq_worker:broker", "--workers", "2"],
            cwd=examples,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        sender = subprocess.run(
            [sys.executable, "taskiq_worker.py"],
            cwd=examples,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_WAIT,
            check=False,
        )
    finally:
        exit_code = stop(workers)
    worker_output = log_path.read_text(encoding="utf-8", errors="replace")

    assert sender.returncode == 0, sender.stderr
    lines = sender.stdout.splitlines()
    assert [line.split(" answered")[0] for line in lines] == [f"ticket {n}" for n in range(1, 5)]
    assert exit_code == 0, worker_output
    delivered = [
        int(line.split("after ")[1].split()[0])
        for line in worker_output.splitlines()
        if "mailer closed after" in line
    ]
    assert sum(delivered) == 4, worker_output
