"""Type checkers see injected task parameters as their types, and kiq() takes the rest.

mypy --strict and pyright strict check this file; pytest does not collect it.
"""

from __future__ import annotations

from typing import Annotated

from taskiq import AsyncTaskiqTask, InMemoryBroker
from typing_extensions import assert_type

from injectq import InjectQ
from injectq.integrations.taskiq import InjectTask, InjectTaskiq, setup_taskiq


class Mailer:
    def send(self, to: str) -> bool:
        return bool(to)


container = InjectQ()
broker = InMemoryBroker()
setup_taskiq(container, broker, carry_scopes=("tenant",))


@broker.task
async def notify(to: str, mailer: InjectTask[Mailer]) -> bool:
    assert_type(mailer, Mailer)
    return mailer.send(to)


@broker.task
def notify_sync(to: str, mailer: Annotated[Mailer, InjectTaskiq(Mailer)]) -> bool:
    assert_type(mailer, Mailer)
    return mailer.send(to)


@broker.task
async def notify_later(to: str, mailer: Mailer = InjectTaskiq(Mailer)) -> bool:
    assert_type(mailer, Mailer)
    return mailer.send(to)


async def send() -> None:
    # As a default, the marker leaves the parameter out of what kiq() must be given.
    task = await notify_later.kiq("a@example.org")
    assert_type(task, AsyncTaskiqTask[bool])
