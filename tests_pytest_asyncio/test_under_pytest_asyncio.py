"""injectq's fixtures and overrides under pytest-asyncio, in auto and strict modes.

Every async test and fixture here is marked as pytest-asyncio's strict mode
wants (``@pytest.mark.asyncio``, ``@pytest_asyncio.fixture``), so the same file
runs in both modes.  pytest-asyncio runs an async fixture's setup and its
teardown in different tasks: the fixtures below that hold something across
their ``yield`` check that this works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import pytest_asyncio

from injectq import InjectQ, ScopeHandle
from injectq.testing import override_dependency

EVENTS: list[str] = []


class Engine:
    def __init__(self, name: str = "real") -> None:
        self.name = name


class Session:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


async def open_engine() -> AsyncIterator[Engine]:
    EVENTS.append("engine opened")
    yield Engine()
    await anyio.lowlevel.checkpoint()
    EVENTS.append("engine closed")


async def open_session(engine: Engine) -> AsyncIterator[Session]:
    EVENTS.append("session opened")
    yield Session(engine)
    await anyio.lowlevel.checkpoint()
    EVENTS.append("session closed")


@pytest_asyncio.fixture
async def bound(injectq_container: InjectQ) -> AsyncIterator[InjectQ]:
    """An async fixture that binds and builds a singleton (set up in one task, torn down in another)."""
    injectq_container.bind_factory(Engine, open_engine, scope="singleton")
    injectq_container.bind_factory(Session, open_session, scope="scoped")
    await injectq_container.aget(Engine)
    yield injectq_container
    EVENTS.append("fixture torn down")


@pytest.mark.asyncio
async def test_async_test_gets_an_entered_scope(bound: InjectQ, injectq_scope: ScopeHandle) -> None:
    """The scope is entered with ``async with`` in the test's task: tasks and async teardown work."""
    EVENTS.clear()
    assert InjectQ.get_instance() is bound
    session = await injectq_scope.aget(Session)
    assert await bound.aget(Session) is session
    seen: list[Session] = []

    async def task() -> None:
        seen.append(await bound.aget(Session))

    injectq_scope.start_soon(task)
    await anyio.wait_all_tasks_blocked()
    assert seen == [session]
    assert EVENTS == ["session opened"]


def test_after_the_async_test() -> None:
    """The scope was left, then the container closed (async teardown), then the fixture ended."""
    assert EVENTS == ["session opened", "session closed", "engine closed", "fixture torn down"]


def test_sync_test_gets_an_entered_scope(
    injectq_container: InjectQ, injectq_scope: ScopeHandle
) -> None:
    """A sync test under pytest-asyncio gets a scope entered with ``with``."""
    injectq_container.bind(Engine)
    injectq_container.bind(Session, scope="scoped")
    assert injectq_scope.get(Session) is injectq_container.get(Session)


@pytest_asyncio.fixture
async def fake_engine(injectq_container: InjectQ) -> AsyncIterator[Engine]:
    """An override entered in an async fixture's task and left in another one."""
    fake = Engine("fake")
    async with injectq_container.override(Engine, fake):
        yield fake


@pytest.mark.asyncio
async def test_override_from_an_async_fixture(
    injectq_container: InjectQ, injectq_scope: ScopeHandle, fake_engine: Engine
) -> None:
    """An override held by an async fixture is seen by the test and its scope."""
    injectq_container.bind(Session, scope="scoped")
    assert (await injectq_scope.aget(Session)).engine is fake_engine


@pytest.fixture
def sync_fake_engine() -> Iterator[Engine]:
    """An override held by a sync fixture, for every container."""
    fake = Engine("fake")
    with override_dependency(Engine, fake):
        yield fake


@pytest.mark.asyncio
async def test_override_from_a_sync_fixture(
    injectq_container: InjectQ, sync_fake_engine: Engine
) -> None:
    """The override of a sync fixture reaches the async test's resolutions."""
    injectq_container.bind(Session)
    assert (await injectq_container.aget(Session)).engine is sync_fake_engine


@pytest.mark.asyncio
async def test_concurrent_task_does_not_see_an_override(injectq_container: InjectQ) -> None:
    """Two asyncio tasks: only the overriding one sees the value."""
    injectq_container.bind(Engine)
    seen: dict[str, Engine] = {}
    entered = asyncio.Event()
    checked = asyncio.Event()

    async def overriding() -> None:
        async with override_dependency(Engine, Engine("fake")):
            entered.set()
            seen["overriding"] = await injectq_container.aget(Engine)
            await checked.wait()

    async def other() -> None:
        await entered.wait()
        seen["other"] = await injectq_container.aget(Engine)
        checked.set()

    async with asyncio.timeout(5):
        await asyncio.gather(overriding(), other())
    assert seen["overriding"].name == "fake"
    assert seen["other"].name == "real"
