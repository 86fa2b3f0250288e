"""Graphs for the diagnostics tests and the ``python -m injectq`` subprocess tests.

Not a test module: ``tests/test_validate.py``, ``tests/test_graph.py`` and
``tests/test_cli.py`` import it, and the command line loads it as
``diag_samples:broken`` with ``tests/`` on the path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from injectq import Inject, InjectQ, Scope, SessionScopeManager, TenantScopeManager, inject

#: every constructor of this module appends its class name here
BUILT: list[str] = []


class Session(ABC):
    """Abstract and never bound: missing three levels below Handler."""

    @abstractmethod
    def execute(self) -> None: ...


class Repo:
    def __init__(self, session: Session) -> None:
        BUILT.append("Repo")


class Service:
    def __init__(self, repo: Repo) -> None:
        BUILT.append("Service")


class Handler:
    def __init__(self, service: Service) -> None:
        BUILT.append("Handler")


class Alpha:
    def __init__(self, beta: Beta) -> None:
        BUILT.append("Alpha")


class Beta:
    def __init__(self, gamma: Gamma) -> None:
        BUILT.append("Beta")


class Gamma:
    def __init__(self, alpha: Alpha) -> None:
        BUILT.append("Gamma")


class RequestData:
    def __init__(self) -> None:
        BUILT.append("RequestData")


class Cache:
    """A singleton that wrongly keeps a request's data."""

    def __init__(self, data: RequestData) -> None:
        BUILT.append("Cache")


class RequestLog:
    def __init__(self) -> None:
        BUILT.append("RequestLog")


class TenantReport:
    """A tenant service that wrongly keeps a request's log."""

    def __init__(self, log: RequestLog) -> None:
        BUILT.append("TenantReport")


class Preferences:
    def __init__(self) -> None:
        BUILT.append("Preferences")


class TenantDirectory:
    def __init__(self, preferences: Preferences, tenant_id: str) -> None:
        BUILT.append("TenantDirectory")


class Connection:
    pass


async def connect() -> Connection:
    BUILT.append("Connection")
    return Connection()


class Endpoint:
    def __init__(self, directory: TenantDirectory, data: RequestData, conn: Connection) -> None:
        BUILT.append("Endpoint")


def broken() -> InjectQ:
    """Four problems: a missing Session, a cycle, two captive dependencies."""
    container = InjectQ()
    container.register_scope_manager("session", SessionScopeManager())
    container.register_scope_manager("tenant", TenantScopeManager(), parent="session")
    container.bind(Handler, scope=Scope.SCOPED)
    container.bind(Service)
    container.bind(Repo, scope=Scope.TRANSIENT)
    container.bind(Alpha, scope=Scope.TRANSIENT)
    container.bind(Beta, scope=Scope.TRANSIENT)
    container.bind(Gamma, scope=Scope.TRANSIENT)
    container.bind(RequestData, scope=Scope.SCOPED)
    container.bind(Cache, scope=Scope.SINGLETON)
    container.bind(RequestLog, scope=Scope.SCOPED)
    container.bind(TenantReport, scope="tenant")
    return container


def correct() -> InjectQ:
    """Nested custom scopes used the right way round: session > tenant > request."""
    container = InjectQ()
    container.register_scope_manager("session", SessionScopeManager())
    container.register_scope_manager("tenant", TenantScopeManager(), parent="session")
    container.bind(Preferences, scope="session")
    container.bind(TenantDirectory, scope="tenant")
    container.bind(RequestData, scope=Scope.SCOPED)
    container.bind_factory(Connection, connect, scope=Scope.SINGLETON)
    container.bind(Endpoint, scope=Scope.SCOPED)
    return container


#: a container made at import time, for ``diag_samples:app``
app = correct()

#: not a container, for the error of ``diag_samples:not_a_container``
not_a_container = 42


def needs_arguments(name: str) -> InjectQ:
    """A function that cannot be called without arguments."""
    return InjectQ()


@inject
def sync_handler(endpoint: Endpoint = Inject[Endpoint]) -> None:
    """Sync, yet Endpoint needs an async factory: a sync-only problem."""


@inject
async def async_handler(endpoint: Endpoint = Inject[Endpoint]) -> None:
    """Async: fine."""
