"""Errors that explain themselves: each improvement shown with the real message."""

import abc
import linecache
import sys
import traceback

import anyio
import pytest

import injectq
from injectq import (
    BindingError,
    FinalizationError,
    InjectQ,
    ScopeError,
    diagnostics,
)


class Session:
    def __init__(self) -> None:
        raise ConnectionError("database is down")


class Repo:
    def __init__(self, session: Session) -> None:
        self.session = session


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


class Handler:
    def __init__(self, service: Service) -> None:
        self.service = service


def notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", []))


# -- public names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", injectq.__all__)
def test_public_classes_and_functions_print_under_injectq(name: str) -> None:
    obj = getattr(injectq, name)
    if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__code__")):
        assert obj.__module__ == "injectq"


def test_a_traceback_names_the_error_injectq_dot_its_name() -> None:
    try:
        InjectQ().get(int)
    except injectq.DependencyNotFoundError as exc:
        last = traceback.format_exception_only(type(exc), exc)[0]
    assert last.startswith("injectq.DependencyNotFoundError: nothing is bound to int")


# -- a user's factory exception keeps its type and gets the chain ------------------------------


class Pool:
    pass


async def open_pool() -> Pool:
    raise TimeoutError("no connection within 5s")


class Users:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool


class Api:
    def __init__(self, users: Users) -> None:
        self.users = users


def make_container(session_scope: str = "scoped") -> InjectQ:
    container = InjectQ()
    container.bind(Session, scope=session_scope)
    container.bind(Repo, scope="transient")
    container.bind(Service, scope="scoped")
    container.bind(Handler, scope="scoped")
    return container


@pytest.mark.parametrize("session_scope", ["scoped", "singleton", "transient"])
def test_a_factory_exception_keeps_its_type_and_notes_the_chain_being_built(
    session_scope: str,
) -> None:
    container = make_container(session_scope)

    with container.scope() as scope, pytest.raises(ConnectionError) as info:
        scope.get(Handler)

    assert type(info.value) is ConnectionError
    assert str(info.value) == "database is down"
    assert notes(info.value) == ["while building Handler -> Service -> Repo -> Session"]


@pytest.mark.anyio
async def test_an_async_factory_exception_notes_the_chain_being_built() -> None:
    container = InjectQ()
    container.bind_factory(Pool, open_pool, scope="singleton")
    container.bind(Users, scope="transient")
    container.bind(Api, scope="scoped")

    async with container.scope() as scope:
        with pytest.raises(TimeoutError) as info:
            await scope.aget(Api)

    assert notes(info.value) == ["while building Api -> Users -> Pool"]


def test_a_generator_factory_failing_before_its_yield_notes_the_chain() -> None:
    def session() -> object:
        raise PermissionError("no access")
        yield  # pragma: no cover

    container = make_container()
    container.bind_factory(Session, session, scope="scoped")

    with container.scope() as scope, pytest.raises(PermissionError) as info:
        scope.get(Handler)

    assert notes(info.value) == ["while building Handler -> Service -> Repo -> Session"]


def test_injectq_errors_keep_their_chain_and_get_no_note() -> None:
    container = InjectQ()
    container.bind(Handler, scope="scoped")
    container.bind(Service, scope="scoped")
    container.bind(Repo, scope="transient")
    container.bind(Session, scope="scoped")

    with pytest.raises(ScopeError) as info:
        container.get(Handler)

    assert notes(info.value) == []


def test_the_traceback_shows_the_generated_lines_of_the_builder() -> None:
    container = make_container()

    with container.scope() as scope, pytest.raises(ConnectionError) as info:
        scope.get(Handler)

    text = "".join(traceback.format_exception(info.value))
    assert "in build_Handler" in text
    assert "session_" in text  # a variable named after the key it holds
    assert "# [" in text  # the generated line itself, read back through linecache


def test_the_builder_source_is_registered_with_linecache() -> None:
    container = make_container()
    with container.scope() as scope, pytest.raises(ConnectionError) as info:
        scope.get(Handler)

    frames = list(traceback.walk_tb(info.value.__traceback__))
    builder = next(frame for frame, _ in frames if frame.f_code.co_name == "build_Handler")
    filename = builder.f_code.co_filename
    assert filename.startswith("<injectq build_Handler")
    assert linecache.getline(filename, 1) == "def build_Handler(start, created=None):\n"


def test_the_generated_source_of_a_key_can_be_printed() -> None:
    container = make_container()

    source = diagnostics.source(container, Handler)

    assert source.startswith("def build_Handler(start, created=None):\n")
    assert "service_" in source
    assert "repo_" in source
    assert "# [" in source
    compile(source, "<check>", "exec")


def test_an_instance_binding_has_no_generated_source() -> None:
    container = InjectQ()
    container.bind_instance(str, "x")

    assert "bound to an instance" in diagnostics.source(container, str)


# -- each failure in a FinalizationError names its binding ------------------------------------


class Socket:
    def close(self) -> None:
        raise OSError("connection reset")


def test_each_failure_in_a_finalization_error_names_the_binding_torn_down() -> None:
    def journal() -> object:
        yield "journal"
        raise ValueError("journal could not flush")

    container = InjectQ()
    container.bind(Socket, scope="scoped")
    container.bind_factory("journal", journal, scope="scoped")

    def use_both() -> None:
        with container.scope() as scope:
            scope.get(Socket)
            scope.get("journal")

    with pytest.raises(FinalizationError) as info:
        use_both()

    failures = info.value.exceptions
    assert [type(e) for e in failures] == [ValueError, OSError]
    assert [notes(e) for e in failures] == [
        ["while finalizing 'journal'"],
        ["while finalizing Socket"],
    ]


@pytest.mark.anyio
async def test_async_teardown_failures_name_their_binding_too() -> None:
    class Stream:
        async def aclose(self) -> None:
            await anyio.lowlevel.checkpoint()
            raise OSError("stream broken")

    container = InjectQ()
    container.bind(Stream, scope="scoped")

    with pytest.raises(FinalizationError) as info:
        async with container.scope() as scope:
            await scope.aget(Stream)

    [failure] = info.value.exceptions
    assert notes(failure) == [
        "while finalizing test_async_teardown_failures_name_their_binding_too.<locals>.Stream"
    ]


# -- bind-time messages ------------------------------------------------------------------------


class Repository(abc.ABC):
    @abc.abstractmethod
    def find(self) -> None: ...


class SqlRepository(Repository):
    def find(self) -> None:
        pass


def test_an_unknown_scope_name_suggests_the_close_match() -> None:
    with pytest.raises(ScopeError) as info:
        InjectQ().bind(Socket, scope="Scoped")

    assert str(info.value) == (
        "unknown scope 'Scoped' (did you mean 'scoped'?); registered scopes: 'scoped',"
        " 'singleton', 'transient'\n"
        "  fix: use 'scoped', or register a new scope first:"
        " container.register_scope_manager('Scoped', manager)"
    )


def test_a_misspelt_custom_scope_suggests_the_registered_one() -> None:
    container = InjectQ()
    container.register_scope_manager("tenant", injectq.TenantScopeManager())

    with pytest.raises(ScopeError, match=r"unknown scope 'tennant' \(did you mean 'tenant'\?\)"):
        container.scope("tennant")


def test_a_name_with_no_close_match_gets_no_suggestion() -> None:
    with pytest.raises(ScopeError) as info:
        InjectQ().bind(Socket, scope="request")

    assert "did you mean" not in str(info.value)


def test_swapped_bind_arguments_are_called_out() -> None:
    with pytest.raises(BindingError) as info:
        InjectQ().bind(SqlRepository, Repository)

    assert str(info.value) == (
        "Repository is abstract (missing: find) and cannot be built for SqlRepository;"
        " the arguments look swapped: SqlRepository implements Repository, and bind() takes"
        " the key first\n"
        "  fix: container.bind(Repository, SqlRepository)"
    )


def test_an_abstract_class_bound_to_itself_is_not_called_swapped() -> None:
    with pytest.raises(BindingError) as info:
        InjectQ().bind(Repository)

    assert "swapped" not in str(info.value)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="traceback prints notes from 3.11")
def test_the_note_is_printed_under_the_exception_in_a_traceback() -> None:
    container = make_container()
    with container.scope() as scope, pytest.raises(ConnectionError) as info:
        scope.get(Handler)

    text = "".join(traceback.format_exception(info.value))
    assert text.endswith(
        "ConnectionError: database is down\nwhile building Handler -> Service -> Repo -> Session\n"
    )
