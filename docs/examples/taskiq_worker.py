"""Tasks with injected services, run by real taskiq workers on Redis.

Needs ``pip install "injectq[taskiq]" taskiq-redis`` and a Redis server
(``REDIS_URL``, by default ``redis://127.0.0.1:6379/0``).  In one terminal,
from this directory, start two worker processes::

    taskiq worker taskiq_worker:broker --workers 2

and in another, send tasks and print their results::

    python taskiq_worker.py

Each worker process has its own container: the ``Mailer`` singleton is built
once per process and closed when the worker stops (Ctrl+C).  Each task
execution has its own request scope: one ``Outbox`` per task, flushed when
the task ends.  A task sent from inside ``container.scope("tenant", ...)``
runs inside that tenant's scope on the worker.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import anyio
from taskiq import TaskiqEvents, TaskiqState
from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

from injectq import InjectQ, TenantScopeManager
from injectq.integrations.taskiq import InjectTask, setup_taskiq

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class Mailer:
    """One per worker process: a connection to the mail server, say."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.delivered = 0

    def deliver(self, mails: list[str]) -> None:
        self.delivered += len(mails)

    def close(self) -> None:
        print(f"worker {self.pid}: mailer closed after {self.delivered} mails", flush=True)


class Outbox:
    """One per task execution: the mails a task writes, delivered when it ends."""

    def __init__(self) -> None:
        self.mails: list[str] = []


class Branding:
    """One per tenant: built from the id of the tenant scope the task runs in."""

    def __init__(self, tenant_id: str) -> None:
        self.signature = f"-- the {tenant_id} help desk"


async def outbox(mailer: Mailer) -> AsyncIterator[Outbox]:
    box = Outbox()
    yield box
    mailer.deliver(box.mails)  # teardown: after the task, failed or not


container = InjectQ()
container.bind(Mailer)
container.bind_factory(Outbox, outbox, scope="scoped")
container.register_scope_manager("tenant", TenantScopeManager())
container.bind(Branding, scope="tenant")

# socket_timeout=None: the broker waits for messages with a BRPOP that blocks until one
# comes; with redis-py's default read timeout (5 s) an idle worker would stop.
broker = ListQueueBroker(REDIS_URL, socket_timeout=None).with_result_backend(
    RedisAsyncResultBackend(REDIS_URL)
)
setup_taskiq(container, broker, carry_scopes=["tenant"])

# taskiq's worker learns of Ctrl+C / SIGTERM from a plain signal handler, which
# does not wake an idle event loop: waiting on a BRPOP that never returns, the
# worker would not notice.  A short tick wakes the loop so it stops promptly.
_tickers: set[asyncio.Task[None]] = set()


async def _tick() -> None:
    while True:  # noqa: ASYNC110 - the point is to wake the loop, not to wait for an event
        await asyncio.sleep(0.2)


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def keep_worker_responsive(state: TaskiqState) -> None:
    _tickers.add(asyncio.get_running_loop().create_task(_tick()))


@broker.task
async def reply(ticket: int, box: InjectTask[Outbox], branding: InjectTask[Branding]) -> str:
    box.mails.append(f"re: ticket {ticket}\n{branding.signature}")
    return f"ticket {ticket} answered by worker {os.getpid()}"


async def main() -> None:
    await broker.startup()
    try:
        async with container.scope("tenant", "acme"):
            tasks = [await reply.kiq(ticket) for ticket in range(1, 5)]
        for task in tasks:
            result = await task.wait_result(timeout=10)
            print(result.error or result.return_value)
    finally:
        await broker.shutdown()


if __name__ == "__main__":
    anyio.run(main)
