"""The app that ``test_taskiq_redis.py`` runs in real taskiq worker processes.

The workers are started as ``taskiq worker taskiq_redis_app:worker_broker``
(taskiq calls the factory in each worker process); the test process builds the
sending side with ``build()``.  Everything a worker does that the test checks
is appended, one line per event, to the events file named by
``INJECTQ_TEST_EVENTS`` (short appends to a file opened for appending land
whole, so the worker processes can share it):

    started <pid>                  the worker's broker started (WORKER_STARTUP)
    singleton-built <pid> <token>  the worker's singleton was built
    singleton-closed <pid> <token> ... and finalized
    open <pid> <token>             a task execution's scoped resource was built
    close <pid> <token>            ... and finalized
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, TaskiqEvents, TaskiqState
from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

from injectq import InjectQ, TenantScopeManager
from injectq.integrations.taskiq import InjectTask, setup_taskiq

QUEUE = "injectq-test"


class EventLog:
    """Appends one line per event to the shared events file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, *words: object) -> None:
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(" ".join(map(str, words)) + "\n")


class WorkerResources:
    """The worker's singleton: built once per worker process, finalized at its shutdown."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.token = uuid.uuid4().hex
        log.write("singleton-built", os.getpid(), self.token)

    def close(self) -> None:
        self.log.write("singleton-closed", os.getpid(), self.token)


class TaskResource:
    """Request-scoped: one per task execution."""

    def __init__(self, token: str) -> None:
        self.token = token


class TenantConfig:
    """Tenant-scoped: built from the id of the tenant scope the task runs in."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id


tickers: set[asyncio.Task[None]] = set()


async def tick() -> None:
    while True:  # noqa: ASYNC110 - the point is to wake the loop, not to wait for an event
        await asyncio.sleep(0.2)


def build(redis_url: str, events_path: str) -> tuple[InjectQ, AsyncBroker, dict[str, Any]]:
    """The container, the broker and the tasks, the same on both sides."""
    log = EventLog(events_path)
    container = InjectQ()
    container.bind_instance(EventLog, log)
    container.bind(WorkerResources)

    async def task_resource() -> AsyncIterator[TaskResource]:
        token = uuid.uuid4().hex
        log.write("open", os.getpid(), token)
        try:
            yield TaskResource(token)
        finally:
            log.write("close", os.getpid(), token)

    container.bind_factory(TaskResource, task_resource, scope="scoped")
    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind(TenantConfig, scope="tenant")

    # socket_timeout=None: the broker waits for messages with a BRPOP that blocks until
    # one comes, and redis-py's default 5 s read timeout would end an idle worker.
    broker = ListQueueBroker(redis_url, queue_name=QUEUE, socket_timeout=None).with_result_backend(
        RedisAsyncResultBackend(redis_url)
    )
    setup_taskiq(container, broker, carry_scopes=["tenant"])

    async def started(state: TaskiqState) -> None:
        log.write("started", os.getpid())
        # taskiq's worker learns of SIGINT/SIGTERM from a plain signal handler, which
        # does not wake an idle event loop blocked on BRPOP: a tick wakes it.
        tickers.add(asyncio.get_running_loop().create_task(tick()))

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, started)

    @broker.task(task_name="injectq_test.work")
    async def work(
        n: int, resource: InjectTask[TaskResource], shared: InjectTask[WorkerResources]
    ) -> dict[str, Any]:
        await anyio.sleep(0.005)  # stand-in for real work, so tasks overlap in a worker
        if n % 4 == 0:
            raise ValueError(f"task {n} failed in scope {resource.token}")
        return {"pid": os.getpid(), "scope": resource.token, "singleton": shared.token}

    @broker.task(task_name="injectq_test.whoami")
    async def whoami(
        config: InjectTask[TenantConfig], resource: InjectTask[TaskResource]
    ) -> dict[str, Any]:
        return {"pid": os.getpid(), "tenant": config.tenant_id, "scope": resource.token}

    tasks: dict[str, AsyncTaskiqDecoratedTask[Any, Any]] = {"work": work, "whoami": whoami}
    return container, broker, tasks


def worker_broker() -> AsyncBroker:
    """The broker of a worker process, configured from the environment the test sets."""
    _, broker, _ = build(os.environ["INJECTQ_TEST_REDIS_URL"], os.environ["INJECTQ_TEST_EVENTS"])
    return broker
