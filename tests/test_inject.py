"""``@inject`` and ``Inject[T]`` (behaviour.md §2)."""

from typing import Annotated

import anyio
import pytest

from injectq import Inject, InjectionError, InjectQ, InjectQError, inject
from injectq.testing import test_container


class Database:
    pass


class Repo:
    def __init__(self, db: Database) -> None:
        self.db = db


class Mailer:
    pass


class Unbuildable:
    def __init__(self, url: str) -> None:
        self.url = url


def test_inject_fills_annotated_parameters_of_a_sync_function_from_the_active_container() -> None:
    @inject
    def handler(repo: Repo, db: Database) -> tuple[Repo, Database]:
        return repo, db

    with test_container() as container:
        container.bind(Database)
        repo, db = handler()

    assert db is repo.db
    assert isinstance(db, Database)


@pytest.mark.anyio
async def test_inject_fills_parameters_of_an_async_function() -> None:
    @inject
    async def handler(repo: Repo) -> Repo:
        await anyio.lowlevel.checkpoint()
        return repo

    with test_container() as container:
        container.bind(Database)
        repo = await handler()

        assert repo.db is container.get(Database)


@pytest.mark.anyio
async def test_an_injected_async_function_awaits_async_factories() -> None:
    async def connect() -> Database:
        await anyio.lowlevel.checkpoint()
        return Database()

    @inject
    async def handler(repo: Repo) -> Repo:
        return repo

    with test_container() as container:
        container.bind_factory(Database, connect)
        repo = await handler()

    assert isinstance(repo.db, Database)


def test_an_injected_sync_function_needing_an_async_factory_is_an_error_naming_aget() -> None:
    async def connect() -> Database:
        return Database()

    @inject
    def handler(db: Database) -> Database:
        return db

    with test_container() as container:
        container.bind_factory(Database, connect)
        with pytest.raises(InjectQError) as info:
            handler()

    assert "Database" in str(info.value)
    assert "aget" in str(info.value)


def test_inject_works_on_methods_and_leaves_self_alone() -> None:
    class Controller:
        def __init__(self, name: str) -> None:
            self.name = name

        @inject
        def handle(self, request_id: int, repo: Repo) -> tuple[str, int, Repo]:
            return self.name, request_id, repo

    with test_container():
        name, request_id, repo = Controller("users").handle(5)

    assert name == "users"
    assert request_id == 5
    assert isinstance(repo, Repo)


@pytest.mark.anyio
async def test_inject_works_on_async_methods() -> None:
    class Controller:
        @inject
        async def handle(self, repo: Repo) -> Repo:
            await anyio.lowlevel.checkpoint()
            return repo

    with test_container():
        repo = await Controller().handle()

    assert isinstance(repo, Repo)


def test_an_inject_default_marks_a_parameter_without_annotation_for_injection() -> None:
    @inject
    def handler(repo=Inject[Repo]):  # type: ignore[no-untyped-def]
        return repo

    with test_container():
        assert isinstance(handler(), Repo)


def test_an_inject_default_with_a_string_key_is_filled_from_that_binding() -> None:
    @inject
    def handler(url: str = Inject["db_url"]) -> str:
        return url

    with test_container() as container:
        container["db_url"] = "postgres://"
        assert handler() == "postgres://"


def test_an_inject_default_with_an_annotated_key_is_filled_from_that_binding() -> None:
    @inject
    def handler(url: str = Inject[Annotated[str, "db_url"]]) -> str:
        return url

    with test_container() as container:
        container.bind_instance(Annotated[str, "db_url"], "postgres://")
        assert handler() == "postgres://"


def test_an_inject_default_that_nothing_provides_is_an_injection_error_naming_it() -> None:
    @inject
    def handler(url: str = Inject["db_url"]) -> str:
        return url

    with test_container():
        with pytest.raises(InjectionError) as info:
            handler()

    assert "db_url" in str(info.value)
    assert "url" in str(info.value)


def test_arguments_passed_by_the_caller_win_over_injection() -> None:
    @inject
    def handler(repo: Repo, db: Database = Inject[Database]) -> tuple[Repo, Database]:
        return repo, db

    mine_repo, mine_db = Repo(Database()), Database()
    with test_container() as container:
        container.bind(Database)
        assert handler(mine_repo) == (mine_repo, container.get(Database))
        assert handler(repo=mine_repo, db=mine_db) == (mine_repo, mine_db)
        assert handler(mine_repo, mine_db) == (mine_repo, mine_db)


def test_inject_uses_the_container_active_at_call_time() -> None:
    @inject
    def which(db: Database) -> Database:
        return db

    first_db, second_db = Database(), Database()
    with test_container() as first:
        first.bind_instance(Database, first_db)
        assert which() is first_db
    with test_container() as second:
        second.bind_instance(Database, second_db)
        assert which() is second_db


def test_inject_with_an_explicit_container_uses_that_container() -> None:
    own = InjectQ()
    own_db = Database()
    own.bind_instance(Database, own_db)

    @inject(container=own)
    def handler(db: Database) -> Database:
        return db

    with test_container() as active:
        active.bind_instance(Database, Database())
        assert handler() is own_db


def test_inject_leaves_a_default_when_nothing_can_provide_the_parameter() -> None:
    @inject
    def handler(retries: int = 3, name: str | None = None, label: str = "x") -> tuple:
        return retries, name, label

    with test_container():
        assert handler() == (3, None, "x")


def test_inject_leaves_a_default_when_its_class_cannot_be_built() -> None:
    @inject
    def handler(client: Unbuildable | None = None) -> Unbuildable | None:
        return client

    with test_container():
        assert handler() is None


def test_inject_fills_a_parameter_with_a_default_when_a_binding_provides_it() -> None:
    @inject
    def handler(retries: int = 3) -> int:
        return retries

    with test_container() as container:
        container.bind_instance(int, 9)
        assert handler() == 9


def test_inject_never_injects_by_parameter_name() -> None:
    @inject
    def handler(retries: int = 3) -> int:
        return retries

    with test_container() as container:
        container["retries"] = 10
        assert handler() == 3


def test_a_required_parameter_nothing_provides_is_an_injection_error_with_a_fix() -> None:
    @inject
    def send_report(recipient: str, mailer: Mailer) -> None:
        pass

    with test_container():
        with pytest.raises(InjectionError) as info:
            send_report()

    message = str(info.value)
    assert "recipient" in message
    assert "str" in message
    assert "send_report" in message
    assert "fix" in message


def test_a_parameter_without_annotation_or_marker_is_left_to_the_caller() -> None:
    @inject
    def handler(value, repo: Repo) -> tuple[object, Repo]:  # type: ignore[no-untyped-def]
        return value, repo

    with test_container():
        value, repo = handler("given")
        assert value == "given"
        assert isinstance(repo, Repo)
        with pytest.raises(TypeError):
            handler()


def test_an_injected_function_sees_the_scope_it_is_called_in() -> None:
    class RequestState:
        pass

    @inject
    def handler(state: RequestState) -> RequestState:
        return state

    with test_container() as container:
        container.bind(RequestState, scope="scoped")
        with container.scope() as scope:
            assert handler() is scope.get(RequestState)
            assert handler() is handler()
        with container.scope() as scope:
            assert handler() is scope.get(RequestState)


def test_inject_keeps_the_name_and_docstring_of_the_function() -> None:
    @inject
    def handler(repo: Repo) -> Repo:
        """Handle it."""
        return repo

    assert handler.__name__ == "handler"
    assert handler.__doc__ == "Handle it."


def test_passing_every_injectable_argument_builds_nothing() -> None:
    """Arguments given for every injectable parameter are used as they are, nothing is built."""
    calls: list[int] = []

    class Tracked:
        def __init__(self) -> None:
            calls.append(1)

    @inject
    def handler(tracked: Tracked) -> Tracked:
        return tracked

    mine = object.__new__(Tracked)
    with test_container():
        assert handler(mine) is mine
        assert handler(tracked=mine) is mine
    assert calls == []
