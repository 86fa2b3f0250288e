"""The pytest plugin's fixtures, used by tests of their own (sync, and async on asyncio and trio).

The plugin comes from injectq's ``pytest11`` entry point: nothing here loads
it by hand.  What happens *after* a test (the scope left, the container
closed) is checked by running a small inner test session with ``pytester``.
The pytest-asyncio side is in ``tests_pytest_asyncio/`` (a run of its own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from injectq import InjectQ, ScopeHandle, inject
from injectq.testing import override_dependency

pytest_plugins = ["pytester"]


class Settings:
    pass


class Session:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


# -- the fixtures, used directly -------------------------------------------------------


def test_the_container_is_fresh_and_active(injectq_container: InjectQ) -> None:
    """A sync test gets a container with no bindings that is the active one."""
    assert InjectQ.get_instance() is injectq_container
    assert len(injectq_container.get_dependency_graph()) == 0


@pytest.mark.anyio
async def test_the_container_is_active_in_an_async_test(injectq_container: InjectQ) -> None:
    """An async test (asyncio and trio) sees the container as the active one, also for @inject."""

    @inject
    async def handler(settings: Settings) -> Settings:
        return settings

    injectq_container.bind(Settings)
    assert InjectQ.get_instance() is injectq_container
    assert await handler() is injectq_container.get(Settings)


def test_each_test_gets_its_own_container(injectq_container: InjectQ) -> None:
    """Bindings made by another test are not here."""
    assert Settings not in injectq_container
    injectq_container.bind(Settings)


def test_the_scope_is_entered_for_a_sync_test(
    injectq_container: InjectQ, injectq_scope: ScopeHandle
) -> None:
    """A sync test's scope is entered: one Session per scope, seen by ``container.get`` too."""
    injectq_container.bind(Settings)
    injectq_container.bind(Session, scope="scoped")
    session = injectq_scope.get(Session)
    assert injectq_scope.get(Session) is session
    assert injectq_container.get(Session) is session


@pytest.mark.anyio
async def test_the_scope_is_entered_with_async_with_for_an_async_test(
    injectq_container: InjectQ, injectq_scope: ScopeHandle
) -> None:
    """An async test's scope runs tasks and builds async-generator services."""
    events: list[str] = []

    async def open_session(settings: Settings) -> AsyncIterator[Session]:
        yield Session(settings)
        await anyio.lowlevel.checkpoint()
        events.append("closed")

    injectq_container.bind(Settings)
    injectq_container.bind_factory(Session, open_session, scope="scoped")
    seen: list[Session] = []

    async def task() -> None:
        seen.append(await injectq_container.aget(Session))

    session = await injectq_scope.aget(Session)
    injectq_scope.start_soon(task)
    with anyio.fail_after(5):
        while not seen:
            await anyio.wait_all_tasks_blocked()
    assert seen == [session]
    assert events == []


@pytest.fixture
def settings(injectq_container: InjectQ) -> Settings:
    """A user's fixture that binds something in the test's container."""
    value = Settings()
    injectq_container.bind_instance(Settings, value)
    return value


@pytest.mark.anyio
async def test_user_fixtures_share_the_container(
    injectq_container: InjectQ, injectq_scope: ScopeHandle, settings: Settings
) -> None:
    """What a user's fixture binds is what the test's scope builds with."""
    injectq_container.bind(Session, scope="scoped")
    assert (await injectq_scope.aget(Session)).settings is settings


# -- what happens after a test: an inner session --------------------------------------------

INNER_CONFTEST = """
import pytest

@pytest.fixture
def anyio_backend():
    return {backend!r}
"""

INNER_TESTS = """
from collections.abc import AsyncIterator, Iterator
import pytest
from injectq import InjectQ, ScopeHandle

EVENTS = []
KEPT = {{}}

class Engine:
    pass

class Session:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

async def open_engine() -> AsyncIterator[Engine]:
    EVENTS.append("engine opened")
    yield Engine()
    EVENTS.append("engine closed")

def open_session(engine: Engine) -> Iterator[Session]:
    EVENTS.append("session opened")
    yield Session(engine)
    EVENTS.append("session closed")

@pytest.mark.anyio
async def test_async_uses(injectq_container: InjectQ, injectq_scope: ScopeHandle) -> None:
    KEPT["container"] = injectq_container
    injectq_container.bind_factory(Engine, open_engine, scope="singleton")
    injectq_container.bind_factory(Session, open_session, scope="scoped")
    await injectq_scope.aget(Session)
    await injectq_scope.aget(Session)

def test_async_after() -> None:
    assert EVENTS == ["engine opened", "session opened", "session closed", "engine closed"]
    assert InjectQ.get_instance() is not KEPT["container"]
    EVENTS.clear()

def sync_engine() -> Iterator[Engine]:
    EVENTS.append("engine opened")
    yield Engine()
    EVENTS.append("engine closed")

def test_sync_uses(injectq_container: InjectQ, injectq_scope: ScopeHandle) -> None:
    injectq_container.bind_factory(Engine, sync_engine, scope="singleton")
    injectq_container.bind_factory(Session, open_session, scope="scoped")
    injectq_scope.get(Session)
    injectq_scope.get(Session)

def test_sync_after() -> None:
    assert EVENTS == ["engine opened", "session opened", "session closed", "engine closed"]
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_scope_left_and_container_closed_after_each_test(
    pytester: pytest.Pytester, backend: str
) -> None:
    """After a test, its scope's and container's instances are each finalized once, last first."""
    pytester.makeconftest(INNER_CONFTEST.format(backend=backend))
    pytester.makepyfile(test_inner=INNER_TESTS.format())
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=4)


APP_CONFTEST = """
import pytest
from injectq import InjectQ

class Greeting:
    def __init__(self) -> None:
        self.text = "hello from the app"

APP = InjectQ()
APP.bind(Greeting)

@pytest.fixture
def injectq_app_container():
    return APP
"""

APP_TESTS = """
import pytest
from conftest import APP, Greeting

SEEN = []

def test_uses_the_app_container(injectq_container) -> None:
    assert injectq_container is APP
    SEEN.append(injectq_container.get(Greeting))
    assert SEEN[0].text == "hello from the app"

@pytest.mark.anyio
async def test_singletons_start_again_in_the_next_test(injectq_container) -> None:
    greeting = await injectq_container.aget(Greeting)
    assert greeting is not SEEN[0]
"""


def test_a_conftest_can_hand_the_plugin_the_apps_container(pytester: pytest.Pytester) -> None:
    """Overriding ``injectq_app_container`` makes the fixtures use the app's container and bindings."""
    pytester.makeconftest(APP_CONFTEST + INNER_CONFTEST.format(backend="trio"))
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)


def test_a_failing_finalizer_fails_the_test(pytester: pytest.Pytester) -> None:
    """A teardown that fails when the test's scope is left is reported as the test's failure."""
    pytester.makeconftest(INNER_CONFTEST.format(backend="asyncio"))
    pytester.makepyfile(
        test_broken="""
import pytest

class Broken:
    def close(self) -> None:
        raise RuntimeError("teardown failed")

@pytest.mark.anyio
async def test_it(injectq_container, injectq_scope) -> None:
    injectq_container.bind(Broken, scope="scoped")
    await injectq_scope.aget(Broken)
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FinalizationError*", "*teardown failed*"])


# -- overrides held by fixtures ------------------------------------------------------------


@pytest.fixture
def sync_fake_settings() -> Iterator[Settings]:
    """A sync fixture holding an override (for every container) across its yield."""
    fake = Settings()
    with override_dependency(Settings, fake):
        yield fake


@pytest.fixture
async def async_fake_settings(injectq_container: InjectQ) -> AsyncIterator[Settings]:
    """An async fixture holding an override of the test's container across its yield."""
    fake = Settings()
    async with injectq_container.override(Settings, fake):
        yield fake


@pytest.mark.anyio
async def test_an_override_held_by_a_sync_fixture(
    injectq_container: InjectQ, injectq_scope: ScopeHandle, sync_fake_settings: Settings
) -> None:
    """An async test sees the override a sync fixture holds, in its scope too."""
    injectq_container.bind(Session, scope="scoped")
    assert (await injectq_scope.aget(Session)).settings is sync_fake_settings


@pytest.mark.anyio
async def test_an_override_held_by_an_async_fixture(
    injectq_container: InjectQ, injectq_scope: ScopeHandle, async_fake_settings: Settings
) -> None:
    """An async test sees the override an async fixture holds (anyio runs both in one task)."""
    injectq_container.bind(Session, scope="scoped")
    assert (await injectq_scope.aget(Session)).settings is async_fake_settings


def test_an_override_held_by_a_fixture_in_a_sync_test(
    injectq_container: InjectQ, injectq_scope: ScopeHandle, sync_fake_settings: Settings
) -> None:
    """A sync test sees it as well."""
    injectq_container.bind(Session, scope="scoped")
    assert injectq_scope.get(Session).settings is sync_fake_settings
