"""The error tree and what its messages tell the user (behaviour.md §8, §1, §3)."""

import abc
import sys
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from injectq import (
    AlreadyRegisteredError,
    BindingError,
    CircularDependencyError,
    DependencyNotFoundError,
    FinalizationError,
    InjectionError,
    InjectQ,
    InjectQError,
    ScopeError,
)

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


# -- a chain ending in something nothing provides -------------------------------------------


class Session(abc.ABC):
    @abc.abstractmethod
    def execute(self, sql: str) -> None: ...


class Repo:
    def __init__(self, session: Session) -> None:
        self.session = session


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


class Handler:
    def __init__(self, service: Service) -> None:
        self.service = service


class SqlSession(Session):
    def execute(self, sql: str) -> None:
        pass


# -- a cycle ----------------------------------------------------------------------------


class Alpha:
    def __init__(self, beta: "Beta") -> None:
        self.beta = beta


class Beta:
    def __init__(self, gamma: "Gamma") -> None:
        self.gamma = gamma


class Gamma:
    def __init__(self, alpha: Alpha) -> None:
        self.alpha = alpha


class Narcissus:
    def __init__(self, me: "Narcissus") -> None:
        self.me = me


# -- the tree --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        DependencyNotFoundError,
        CircularDependencyError,
        ScopeError,
        BindingError,
        InjectionError,
        FinalizationError,
        AlreadyRegisteredError,
    ],
)
def test_every_injectq_error_derives_from_injectq_error(error: type[Exception]) -> None:
    assert issubclass(error, InjectQError)


def test_injectq_error_is_an_exception() -> None:
    assert issubclass(InjectQError, Exception)


def test_dependency_not_found_error_is_a_lookup_error() -> None:
    assert issubclass(DependencyNotFoundError, LookupError)


def test_finalization_error_is_an_exception_group() -> None:
    assert issubclass(FinalizationError, ExceptionGroup)


def test_a_missing_binding_can_be_caught_as_lookup_error_and_as_injectq_error() -> None:
    container = InjectQ()
    with pytest.raises(LookupError):
        container.get("missing")
    with pytest.raises(InjectQError):
        container.get("missing")


# -- DependencyNotFoundError -------------------------------------------------------------------


def test_a_missing_key_message_names_the_key_and_a_fix() -> None:
    with pytest.raises(DependencyNotFoundError) as info:
        InjectQ().get("payment_gateway")

    message = str(info.value)
    assert "'payment_gateway'" in message
    assert "fix" in message
    assert "bind" in message


def test_a_missing_dependency_message_shows_the_chain_that_led_to_it() -> None:
    with pytest.raises(DependencyNotFoundError) as info:
        InjectQ().get(Handler)

    message = str(info.value)
    assert "Handler -> Service -> Repo -> Session" in message
    assert "fix" in message
    assert "Session" in message.splitlines()[0]


@pytest.mark.anyio
async def test_aget_reports_the_same_chain_as_get() -> None:
    with pytest.raises(DependencyNotFoundError) as info:
        await InjectQ().aget(Handler)

    assert "Handler -> Service -> Repo -> Session" in str(info.value)


def test_validate_reports_a_missing_dependency_with_its_chain() -> None:
    container = InjectQ()
    container.bind(Handler)

    with pytest.raises(DependencyNotFoundError) as info:
        container.validate()

    assert "Handler -> Service -> Repo -> Session" in str(info.value)


def test_binding_the_missing_piece_makes_the_chain_resolve() -> None:
    container = InjectQ()
    with pytest.raises(DependencyNotFoundError):
        container.get(Handler)

    container.bind(Session, SqlSession)

    assert isinstance(container.get(Handler).service.repo.session, SqlSession)


def test_the_error_keeps_the_key_it_is_about() -> None:
    with pytest.raises(DependencyNotFoundError) as info:
        InjectQ().get(Handler)

    assert info.value.key is Session


# -- ScopeError -------------------------------------------------------------------------------


def test_a_scoped_service_outside_a_scope_names_the_service_and_the_scope_to_open() -> None:
    container = InjectQ()
    container.bind(Session, SqlSession, scope="scoped")

    with pytest.raises(ScopeError) as info:
        container.get(Session)

    message = str(info.value)
    assert "Session" in message
    assert "container.scope()" in message


def test_a_scoped_service_reached_through_a_chain_outside_a_scope_shows_the_whole_chain() -> None:
    container = InjectQ()
    container.bind(Session, SqlSession, scope="scoped")

    with pytest.raises(ScopeError) as info:
        container.get(Handler)

    assert "Handler -> Service -> Repo -> Session" in str(info.value)


def test_a_captive_dependency_error_names_both_services_and_a_fix() -> None:
    container = InjectQ()
    container.bind(Session, SqlSession, scope="scoped")
    container.bind(Repo, scope="singleton")

    with pytest.raises(ScopeError) as info:
        container.validate()

    message = str(info.value)
    assert "Repo" in message
    assert "Session" in message
    assert "fix" in message


# -- CircularDependencyError --------------------------------------------------------------------


def test_a_cycle_is_reported_whole() -> None:
    with pytest.raises(CircularDependencyError) as info:
        InjectQ().get(Alpha)

    assert "Alpha -> Beta -> Gamma -> Alpha" in str(info.value)


def test_a_cycle_entered_in_the_middle_is_reported_from_where_it_was_entered() -> None:
    with pytest.raises(CircularDependencyError) as info:
        InjectQ().get(Beta)

    assert "Beta -> Gamma -> Alpha -> Beta" in str(info.value)


def test_a_class_needing_itself_is_a_cycle() -> None:
    with pytest.raises(CircularDependencyError, match="Narcissus -> Narcissus"):
        InjectQ().get(Narcissus)


def test_validate_finds_a_cycle_without_building_anything() -> None:
    container = InjectQ()
    container.bind(Alpha, scope="transient")
    container.bind(Beta, scope="transient")
    container.bind(Gamma, scope="transient")

    with pytest.raises(CircularDependencyError, match="Alpha -> Beta -> Gamma -> Alpha"):
        container.validate()


@pytest.mark.anyio
async def test_aget_reports_a_cycle_too() -> None:
    with pytest.raises(CircularDependencyError, match="Alpha -> Beta -> Gamma -> Alpha"):
        await InjectQ().aget(Alpha)


def test_a_cycle_through_factories_is_reported() -> None:
    def make_a(b: Beta) -> Alpha:
        return Alpha(b)

    def make_b(a: Alpha) -> Beta:
        return Beta(a)  # type: ignore[arg-type]

    container = InjectQ()
    container.bind_factory(Alpha, make_a)
    container.bind_factory(Beta, make_b)

    with pytest.raises(CircularDependencyError, match="Alpha -> Beta -> Alpha"):
        container.get(Alpha)


# -- sync calls meeting async work ------------------------------------------------------------


async def open_session() -> Session:
    await anyio.lowlevel.checkpoint()
    return SqlSession()


def test_sync_get_of_an_async_factory_names_the_key_and_aget() -> None:
    container = InjectQ()
    container.bind_factory(Session, open_session)

    with pytest.raises(InjectQError) as info:
        container.get(Session)

    message = str(info.value)
    assert "Session" in message
    assert "aget" in message


def test_sync_get_needing_an_async_factory_deep_in_the_graph_names_that_binding() -> None:
    container = InjectQ()
    container.bind_factory(Session, open_session)

    with pytest.raises(InjectQError) as info:
        container.get(Handler)

    message = str(info.value)
    assert "Handler" in message
    assert "Session" in message
    assert "aget" in message


def test_sync_scope_get_of_an_async_factory_names_the_key_and_aget() -> None:
    container = InjectQ()
    container.bind_factory(Session, open_session, scope="scoped")

    with container.scope() as scope:
        with pytest.raises(InjectQError) as info:
            scope.get(Session)

    assert "Session" in str(info.value)
    assert "aget" in str(info.value)


@pytest.mark.anyio
async def test_sync_get_of_an_async_factory_inside_a_running_loop_is_the_same_clear_error() -> None:
    container = InjectQ()
    container.bind_factory(Session, open_session)

    with pytest.raises(InjectQError, match="aget"):
        container.get(Session)
    assert isinstance(await container.aget(Session), SqlSession)


# -- the user's own exceptions ------------------------------------------------------------------


def test_an_exception_raised_by_a_factory_comes_out_as_itself() -> None:
    def broken() -> Session:
        raise ValueError("no connection")

    container = InjectQ()
    container.bind_factory(Session, broken)

    with pytest.raises(ValueError, match="no connection"):
        container.get(Handler)


@pytest.mark.anyio
async def test_an_exception_raised_by_an_async_factory_comes_out_as_itself() -> None:
    async def broken() -> Session:
        await anyio.lowlevel.checkpoint()
        raise KeyError("tenant")

    container = InjectQ()
    container.bind_factory(Session, broken)

    with pytest.raises(KeyError, match="tenant"):
        await container.aget(Handler)


# -- BindingError --------------------------------------------------------------------------------


def test_binding_errors_name_the_key_and_a_fix() -> None:
    container = InjectQ()
    with pytest.raises(BindingError) as info:
        container.bind(Session)

    message = str(info.value)
    assert "Session" in message
    assert "fix" in message


# -- a generator factory that never yields ----------------------------------------------------


class _Pool:
    pass


def _empty_pool(ready: bool) -> Iterator[_Pool]:
    if ready:  # pragma: no cover - never ready here
        yield _Pool()


async def _empty_async_pool(ready: bool) -> AsyncIterator[_Pool]:
    if ready:  # pragma: no cover - never ready here
        yield _Pool()


def test_a_generator_factory_that_never_yields_is_an_injection_error() -> None:
    """A generator factory that returns before its ``yield`` names the key and the fix."""
    container = InjectQ()
    container.bind_instance(bool, False)
    container.bind_factory(_Pool, _empty_pool, scope="scoped")
    with container.scope() as scope, pytest.raises(InjectionError) as info:
        scope.get(_Pool)
    message = str(info.value)
    assert "generator factory of _Pool returned without yielding" in message
    assert "async generator" not in message
    assert "yield the value once" in message


@pytest.mark.anyio
async def test_an_async_generator_factory_that_never_yields_is_an_injection_error() -> None:
    """The same for an async generator factory, on each backend."""
    container = InjectQ()
    container.bind_instance(bool, False)
    container.bind_factory(_Pool, _empty_async_pool, scope="scoped")
    with anyio.fail_after(5):
        async with container.scope() as scope:
            with pytest.raises(InjectionError) as info:
                await scope.aget(_Pool)
    message = str(info.value)
    assert "async generator factory of _Pool returned without yielding" in message
    assert "yield the value once" in message
