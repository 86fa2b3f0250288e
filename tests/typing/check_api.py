"""Type checkers see what users expect: ``get(T)`` is a ``T``, decorators keep signatures.

mypy --strict and pyright strict check this file; pytest does not collect it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from typing import Annotated, Any

from typing_extensions import assert_type

from injectq import (
    Inject,
    InjectQ,
    Scope,
    ScopeHandle,
    SessionScopeManager,
    inject,
    scoped,
    singleton,
    transient,
)
from injectq.testing import test_container


class Settings:
    def __init__(self) -> None:
        self.url = "sqlite://"


@singleton
class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


@scoped()
class Session:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


@transient
class Report:
    pass


async def open_session(engine: Engine) -> AsyncIterator[Session]:
    yield Session(engine)


container = InjectQ()
assert_type(container.bind(Settings), type[Settings])
assert_type(container.bind("url", "sqlite://"), str)
container.bind_factory(Session, open_session, scope=Scope.SCOPED)
container.bind_instance("debug", True)
container["retries"] = 3


@container.bind(scope="singleton")
class Cache:
    pass


assert_type(Cache, type[Cache])
assert_type(Engine, type[Engine])
assert_type(Session, type[Session])
assert_type(container.get(Engine), Engine)
assert_type(container.get("url"), Any)
assert_type(container.get(Annotated[Engine, "replica"]), Any)
assert_type(container.try_get(Report), Report | None)
assert_type(container.try_get(Report, Report()), Report)
assert_type(container[Engine], Any)
assert_type(Engine in container, bool)


@inject
def handler(engine: Engine, report: Report = Inject[Report], limit: int = 10) -> str:
    return f"{engine}{report}{limit}"


@inject(container=container)
async def async_handler(session: Session = Inject[Session]) -> Session:
    return session


# parameters keep their types; those with an Inject[...] default may be left out
assert_type(handler(Engine(Settings())), str)
assert_type(handler(Engine(Settings()), Report(), limit=5), str)


async def use_scopes() -> None:
    async with container.scope() as scope:
        assert_type(scope, ScopeHandle)
        assert_type(scope.get(Engine), Engine)
        assert_type(await scope.aget(Session), Session)
        assert_type(await container.aget(Session), Session)
        assert_type(await async_handler(), Session)

        async def task(n: int) -> None:
            pass

        scope.start_soon(task, 1)
    with container.scope() as sync_scope:
        assert_type(sync_scope.get(Report), Report)
    container.register_scope_manager("session", SessionScopeManager(timeout=60))
    async with container.scope("session", "user-1") as session_scope:
        assert_type(session_scope.scope_id, Hashable | None)
    await container.aclose()


def use_testing() -> None:
    with test_container() as fresh:
        assert_type(fresh, InjectQ)


def use_diagnostics() -> None:
    from injectq import Problem, ValidationReport, diagnostics

    report = container.validate(strict=False)
    assert_type(report, ValidationReport)
    assert_type(report.ok, bool)
    assert_type(report.problems, list[Problem])
    assert_type(diagnostics.mermaid(report), str)
    assert_type(diagnostics.dot(container), str)
    assert_type(diagnostics.source(container, Engine), str)
