"""Resolution: parameters from hints, factories, get/aget/try_get/invoke, lifetimes and
captive dependencies, the active container (behaviour.md §2 and §3)."""

import functools
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Optional

import anyio
import pytest

from injectq import DependencyNotFoundError, InjectQ, ScopeError, scoped
from injectq.testing import test_container

# -- module-level classes: some are referred to by forward references -------------------


class Later:
    """Refers to a class defined further down, by a string annotation."""

    def __init__(self, dep: "Defined") -> None:
        self.dep = dep


class Defined:
    pass


class Database:
    pass


class Client:
    def __init__(self, url: str) -> None:
        self.url = url


class Session:
    pass


class Repo:
    def __init__(self, session: Session) -> None:
        self.session = session


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


# -- parameters from hints ----------------------------------------------------------------


def test_forward_references_to_module_level_classes_are_resolved() -> None:
    container = InjectQ()

    assert isinstance(container.get(Later).dep, Defined)


def test_an_optional_parameter_gets_the_binding_when_there_is_one() -> None:
    class Uses:
        def __init__(self, a: Optional[Database], b: Database | None) -> None:  # noqa: UP045
            self.a, self.b = a, b

    container = InjectQ()
    db = Database()
    container.bind_instance(Database, db)

    built = container.get(Uses)
    assert built.a is db
    assert built.b is db


def test_an_optional_parameter_without_default_gets_none_when_nothing_provides_it() -> None:
    class Uses:
        def __init__(self, a: Optional[str], b: int | None) -> None:  # noqa: UP045
            self.a, self.b = a, b

    built = InjectQ().get(Uses)
    assert built.a is None
    assert built.b is None


def test_a_parameter_with_a_default_keeps_it_when_its_key_is_unbound() -> None:
    class Uses:
        def __init__(self, name: Annotated[str, "app_name"] = "demo") -> None:
            self.name = name

    assert InjectQ().get(Uses).name == "demo"


def test_a_parameter_with_a_default_keeps_it_when_its_class_cannot_be_built() -> None:
    """``Client`` needs an unbound ``str``: the parameter that has a default keeps it."""

    class Uses:
        def __init__(self, client: Client | None = None) -> None:
            self.client = client

    assert InjectQ().get(Uses).client is None


def test_a_parameter_with_a_default_uses_the_binding_when_there_is_one() -> None:
    class Uses:
        def __init__(self, retries: int = 3) -> None:
            self.retries = retries

    container = InjectQ()
    container.bind_instance(int, 7)

    assert container.get(Uses).retries == 7


def test_builtins_are_never_built_automatically_a_default_is_kept() -> None:
    class Uses:
        def __init__(self, retries: int = 3, name: str = "svc", tags: list = []) -> None:  # noqa: B006
            self.retries, self.name, self.tags = retries, name, tags

    built = InjectQ().get(Uses)
    assert built.retries == 3
    assert built.name == "svc"
    assert built.tags == []


def test_a_builtin_parameter_without_binding_or_default_is_not_found_with_a_fix() -> None:
    class Uses:
        def __init__(self, x: int) -> None:
            self.x = x

    with pytest.raises(DependencyNotFoundError) as info:
        InjectQ().get(Uses)

    message = str(info.value)
    assert "int" in message
    assert "Uses" in message
    assert "fix" in message
    assert "bind_instance" in message or "default" in message


def test_injection_is_by_type_never_by_parameter_name() -> None:
    class Uses:
        def __init__(self, retries: int = 3, db: Database | None = None) -> None:
            self.retries, self.db = retries, db

    container = InjectQ()
    container.bind_instance("retries", 10)
    container.bind_instance("db", "not a database")

    built = container.get(Uses)
    assert built.retries == 3
    assert built.db is None  # Database is not bound: the parameter keeps its fallback


def test_an_annotated_parameter_is_injected_from_the_named_binding() -> None:
    class Replicated:
        def __init__(
            self,
            primary: Annotated[Database, "primary"],
            replica: Annotated[Database, "replica"],
        ) -> None:
            self.primary, self.replica = primary, replica

    container = InjectQ()
    primary, replica = Database(), Database()
    container.bind_instance(Annotated[Database, "primary"], primary)
    container.bind_instance(Annotated[Database, "replica"], replica)

    built = container.get(Replicated)
    assert built.primary is primary
    assert built.replica is replica


def test_annotated_metadata_that_is_not_a_name_leaves_the_plain_type() -> None:
    class Uses:
        def __init__(self, db: Annotated[Database, 42]) -> None:
            self.db = db

    container = InjectQ()
    db = Database()
    container.bind_instance(Database, db)

    assert container.get(Uses).db is db


def test_keyword_only_parameters_are_injected() -> None:
    class Uses:
        def __init__(self, *, db: Database) -> None:
            self.db = db

    assert isinstance(InjectQ().get(Uses).db, Database)


# -- factories of all four kinds ------------------------------------------------------


def test_a_sync_factory_gets_its_parameters_injected() -> None:
    def make_client(url: Annotated[str, "url"]) -> Client:
        return Client(url)

    container = InjectQ()
    container.bind_instance(Annotated[str, "url"], "sqlite://")
    container.bind_factory(Client, make_client)

    assert container.get(Client).url == "sqlite://"


def test_a_functools_partial_works_as_a_factory() -> None:
    def make_client(url: str, db: Database) -> Client:
        client = Client(url)
        client.db = db  # type: ignore[attr-defined]
        return client

    container = InjectQ()
    container.bind_factory(Client, functools.partial(make_client, "sqlite://"))

    built = container.get(Client)
    assert built.url == "sqlite://"
    assert isinstance(built.db, Database)  # type: ignore[attr-defined]


def test_a_sync_generator_factory_yields_the_value_and_tears_down_after_the_scope() -> None:
    events: list[str] = []

    def open_session() -> Iterator[Session]:
        events.append("open")
        yield Session()
        events.append("close")

    container = InjectQ()
    container.bind_factory(Session, open_session, scope="scoped")

    with container.scope() as scope:
        assert isinstance(scope.get(Session), Session)
        assert events == ["open"]
    assert events == ["open", "close"]


@pytest.mark.anyio
async def test_an_async_factory_is_awaited_by_aget() -> None:
    async def make_client(db: Database) -> Client:
        await anyio.lowlevel.checkpoint()
        client = Client("async://")
        client.db = db  # type: ignore[attr-defined]
        return client

    container = InjectQ()
    container.bind_factory(Client, make_client)

    built = await container.aget(Client)
    assert isinstance(built, Client)
    assert isinstance(built.db, Database)  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_an_async_generator_factory_yields_the_value_and_tears_down_after_the_scope() -> None:
    events: list[str] = []

    async def open_session() -> AsyncIterator[Session]:
        events.append("open")
        yield Session()
        await anyio.lowlevel.checkpoint()
        events.append("close")

    container = InjectQ()
    container.bind_factory(Session, open_session, scope="scoped")

    with anyio.fail_after(5):
        async with container.scope() as scope:
            assert isinstance(await scope.aget(Session), Session)
            assert events == ["open"]
    assert events == ["open", "close"]


@pytest.mark.anyio
async def test_an_async_bound_method_works_as_a_factory() -> None:
    class Pool:
        async def connect(self) -> Session:
            await anyio.lowlevel.checkpoint()
            return Session()

    container = InjectQ()
    container.bind_factory(Session, Pool().connect)

    built = await container.aget(Session)
    if inspect.iscoroutine(built):
        built.close()  # handed out un-awaited: close it so it cannot warn in a later test
    assert isinstance(built, Session)


@pytest.mark.anyio
async def test_a_service_depending_on_an_async_factory_is_built_by_aget() -> None:
    async def make_session() -> Session:
        await anyio.lowlevel.checkpoint()
        return Session()

    container = InjectQ()
    container.bind_factory(Session, make_session)

    service = await container.aget(Service)
    assert isinstance(service.repo.session, Session)


@pytest.mark.anyio
async def test_aget_also_resolves_plain_sync_bindings() -> None:
    container = InjectQ()
    container.bind(Database)

    assert await container.aget(Database) is container.get(Database)


# -- try_get, invoke, ainvoke -------------------------------------------------------------


def test_try_get_returns_the_default_when_nothing_provides_the_key() -> None:
    container = InjectQ()

    assert container.try_get("missing") is None
    assert container.try_get("missing", "fallback") == "fallback"
    assert container.try_get(int, 0) == 0


def test_try_get_returns_the_binding_when_there_is_one() -> None:
    container = InjectQ()
    container["url"] = "sqlite://"
    container.bind(Database, None, allow_none=True)

    assert container.try_get("url", "fallback") == "sqlite://"
    assert container.try_get(Database, "fallback") is None


def test_try_get_builds_an_unbound_concrete_class() -> None:
    assert isinstance(InjectQ().try_get(Database), Database)


def test_invoke_passes_given_arguments_as_is_and_injects_the_rest() -> None:
    def handler(user_id: int, db: Database, repo: Repo) -> tuple[int, Database, Repo]:
        return user_id, db, repo

    container = InjectQ()
    container.bind(Database)

    user_id, db, repo = container.invoke(handler, user_id=7)
    assert user_id == 7
    assert db is container.get(Database)
    assert isinstance(repo, Repo)


def test_invoke_given_arguments_win_over_bindings() -> None:
    def handler(db: Database) -> Database:
        return db

    container = InjectQ()
    container.bind(Database)
    mine = Database()

    assert container.invoke(handler, db=mine) is mine


def test_invoke_with_a_key_calls_the_factory_bound_to_it() -> None:
    def make_client(url: str, db: Database) -> Client:
        client = Client(url)
        client.db = db  # type: ignore[attr-defined]
        return client

    container = InjectQ()
    container.bind_factory("client", make_client)

    built = container.invoke("client", url="given://")
    assert built.url == "given://"
    assert isinstance(built.db, Database)


@pytest.mark.anyio
async def test_ainvoke_awaits_async_dependencies_and_the_result() -> None:
    async def make_session() -> Session:
        await anyio.lowlevel.checkpoint()
        return Session()

    async def handler(name: str, session: Session) -> tuple[str, Session]:
        await anyio.lowlevel.checkpoint()
        return name, session

    container = InjectQ()
    container.bind_factory(Session, make_session, scope="singleton")

    name, session = await container.ainvoke(handler, name="ann")
    assert name == "ann"
    assert session is await container.aget(Session)


# -- lifetimes ---------------------------------------------------------------------------


def test_transient_gives_a_new_instance_at_every_resolution_also_inside_a_scope() -> None:
    container = InjectQ()
    container.bind(Database, scope="transient")

    assert container.get(Database) is not container.get(Database)
    with container.scope() as scope:
        assert scope.get(Database) is not scope.get(Database)


def test_a_transient_dependency_is_new_for_each_dependent() -> None:
    class Pair:
        def __init__(self, a: Database, b: Database) -> None:
            self.a, self.b = a, b

    container = InjectQ()
    container.bind(Database, scope="transient")

    pair = container.get(Pair)
    assert pair.a is not pair.b


def test_a_singleton_is_one_instance_per_container() -> None:
    first, second = InjectQ(), InjectQ()
    for container in (first, second):
        container.bind(Database, scope="singleton")

    assert first.get(Database) is first.get(Database)
    assert first.get(Database) is not second.get(Database)


def test_a_singleton_is_shared_by_every_scope_and_by_dependents() -> None:
    container = InjectQ()
    container.bind(Session, scope="singleton")

    outside = container.get(Session)
    with container.scope() as scope:
        assert scope.get(Session) is outside
        assert scope.get(Repo).session is outside


@pytest.mark.anyio
async def test_a_singleton_with_an_async_factory_is_built_once_for_concurrent_tasks() -> None:
    calls: list[int] = []
    release = anyio.Event()

    async def make_session() -> Session:
        calls.append(1)
        await release.wait()
        return Session()

    container = InjectQ()
    container.bind_factory(Session, make_session, scope="singleton")
    results: list[Session] = []

    async def ask() -> None:
        results.append(await container.aget(Session))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            release.set()

    assert len(calls) == 1
    assert len(results) == 5
    assert all(r is results[0] for r in results)


def test_a_scoped_service_needs_an_active_scope() -> None:
    container = InjectQ()
    container.bind(Session, scope="scoped")

    with pytest.raises(ScopeError, match="Session"):
        container.get(Session)


def test_inside_a_scope_block_container_get_sees_the_scope() -> None:
    container = InjectQ()
    container.bind(Session, scope="scoped")

    with container.scope() as scope:
        assert container.get(Session) is scope.get(Session)


# -- captive dependencies ----------------------------------------------------------------


class Counted:
    """Base of classes that count how often they were built."""

    built = 0

    def __init__(self) -> None:
        type(self).built += 1


class RequestData(Counted):
    pass


class DirectCache(Counted):
    def __init__(self, data: RequestData) -> None:
        super().__init__()
        self.data = data


class Middle(Counted):
    def __init__(self, data: RequestData) -> None:
        super().__init__()
        self.data = data


class IndirectCache(Counted):
    def __init__(self, middle: Middle) -> None:
        super().__init__()
        self.middle = middle


@pytest.fixture
def counters() -> None:
    for cls in (RequestData, DirectCache, Middle, IndirectCache):
        cls.built = 0


@pytest.mark.usefixtures("counters")
def test_validate_finds_a_singleton_needing_a_scoped_service_without_building_anything() -> None:
    container = InjectQ()
    container.bind(RequestData, scope="scoped")
    container.bind(DirectCache, scope="singleton")

    with pytest.raises(ScopeError) as info:
        container.validate()

    message = str(info.value)
    assert "DirectCache" in message
    assert "RequestData" in message
    assert RequestData.built == 0
    assert DirectCache.built == 0


@pytest.mark.usefixtures("counters")
def test_validate_finds_a_singleton_reaching_a_scoped_service_through_a_transient() -> None:
    container = InjectQ()
    container.bind(RequestData, scope="scoped")
    container.bind(Middle, scope="transient")
    container.bind(IndirectCache, scope="singleton")

    with pytest.raises(ScopeError) as info:
        container.validate()

    message = str(info.value)
    assert "IndirectCache" in message
    assert "RequestData" in message
    assert RequestData.built == Middle.built == IndirectCache.built == 0


@pytest.mark.usefixtures("counters")
def test_the_captive_error_through_a_transient_shows_the_transient_in_the_chain() -> None:
    container = InjectQ()
    container.bind(RequestData, scope="scoped")
    container.bind(Middle, scope="transient")
    container.bind(IndirectCache, scope="singleton")

    with pytest.raises(ScopeError) as info:
        container.validate()

    assert "IndirectCache -> Middle -> RequestData" in str(info.value)


@pytest.mark.usefixtures("counters")
def test_validate_finds_a_singleton_needing_an_unbound_scoped_decorated_class() -> None:
    with test_container():

        @scoped
        class Tracker:
            pass

    class Holder:
        def __init__(self, tracker: Tracker) -> None:
            self.tracker = tracker

    container = InjectQ()
    container.bind(Holder, scope="singleton")

    with pytest.raises(ScopeError, match="Tracker"):
        container.validate()


@pytest.mark.usefixtures("counters")
def test_validate_finds_a_singleton_factory_needing_a_scoped_service() -> None:
    def make_cache(data: RequestData) -> DirectCache:
        return DirectCache(data)

    container = InjectQ()
    container.bind(RequestData, scope="scoped")
    container.bind_factory(DirectCache, make_cache, scope="singleton")

    with pytest.raises(ScopeError, match="RequestData"):
        container.validate()
    assert RequestData.built == 0


@pytest.mark.usefixtures("counters")
def test_resolving_a_captive_singleton_in_a_scope_fails_before_anything_is_built() -> None:
    container = InjectQ()
    container.bind(RequestData, scope="scoped")
    container.bind(Middle, scope="transient")
    container.bind(IndirectCache, scope="singleton")
    container.bind(DirectCache, scope="singleton")

    with container.scope() as scope:
        with pytest.raises(ScopeError, match="RequestData"):
            scope.get(DirectCache)
        with pytest.raises(ScopeError, match="RequestData"):
            scope.get(IndirectCache)
    assert RequestData.built == Middle.built == IndirectCache.built == DirectCache.built == 0


@pytest.mark.anyio
@pytest.mark.usefixtures("counters")
async def test_resolving_a_captive_singleton_with_aget_is_an_error_naming_both() -> None:
    container = InjectQ()
    container.bind(RequestData, scope="scoped")
    container.bind(DirectCache, scope="singleton")

    async with container.scope() as scope:
        with pytest.raises(ScopeError) as info:
            await scope.aget(DirectCache)
    assert "DirectCache" in str(info.value)
    assert "RequestData" in str(info.value)
    assert RequestData.built == 0


@pytest.mark.usefixtures("counters")
def test_longer_lived_dependencies_are_allowed() -> None:
    container = InjectQ()
    container.bind(Database, scope="singleton")
    container.bind(RequestData, scope="scoped")
    container.bind(Middle, scope="transient")

    class PerRequest:
        def __init__(self, db: Database, middle: Middle) -> None:
            self.db, self.middle = db, middle

    container.bind(PerRequest, scope="scoped")
    container.validate()

    with container.scope() as scope:
        built = scope.get(PerRequest)
        assert built.db is container.get(Database)
        assert built.middle.data is scope.get(RequestData)


def test_validate_passes_on_a_consistent_container_without_building_anything() -> None:
    built: list[str] = []

    def make_db() -> Database:
        built.append("db")
        return Database()

    container = InjectQ()
    container.bind_factory(Database, make_db, scope="singleton")
    container.bind(Session, scope="scoped")
    container.bind(Repo, scope="scoped")

    container.validate()
    assert built == []


# -- the active container ------------------------------------------------------------------


def test_get_instance_without_an_active_container_is_one_process_wide_default() -> None:
    default = InjectQ.get_instance()

    assert isinstance(default, InjectQ)
    assert InjectQ.get_instance() is default


def test_get_instance_inside_test_container_is_that_container_and_restored_after() -> None:
    before = InjectQ.get_instance()
    with test_container() as container:
        assert InjectQ.get_instance() is container
    assert InjectQ.get_instance() is before


def test_context_blocks_nest_and_the_innermost_is_active() -> None:
    outer, inner = InjectQ(), InjectQ()
    with outer.context():
        assert InjectQ.get_instance() is outer
        with inner.context():
            assert InjectQ.get_instance() is inner
        assert InjectQ.get_instance() is outer


def test_context_gives_the_container_as_its_target() -> None:
    container = InjectQ()
    with container.context() as active:
        assert active is container


@pytest.mark.anyio
async def test_context_works_with_async_with() -> None:
    container = InjectQ()
    async with container.context() as active:
        assert active is container
        assert InjectQ.get_instance() is container
    assert InjectQ.get_instance() is not container


@pytest.mark.anyio
async def test_the_active_container_is_local_to_the_task_that_set_it() -> None:
    mine = InjectQ()
    entered, done = anyio.Event(), anyio.Event()
    seen: list[InjectQ] = []

    async def activate() -> None:
        with mine.context():
            entered.set()
            await done.wait()

    async def look() -> None:
        await entered.wait()
        seen.append(InjectQ.get_instance())
        done.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(activate)
            tg.start_soon(look)

    assert seen
    assert seen[0] is not mine


def test_a_subclass_that_overrides_get_is_called() -> None:
    """A container subclass's own ``get`` is used, not bypassed by the built-singleton fast path."""
    calls: list[object] = []

    class Audited(InjectQ):
        def get(self, key: Any) -> Any:
            calls.append(key)
            return super().get(key)

    container = Audited()
    container.bind_instance("greeting", "hello")
    assert container.get("greeting") == "hello"
    assert calls == ["greeting"]


class _AsyncClosing:
    closed = False

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()
        type(self).closed = True


@pytest.mark.anyio
async def test_async_with_test_container_awaits_async_teardown_at_the_end() -> None:
    """``async with test_container()`` is active inside and closes with aclose() at the end."""
    _AsyncClosing.closed = False
    async with test_container() as container:
        assert InjectQ.get_instance() is container
        container.bind(_AsyncClosing)
        await container.aget(_AsyncClosing)
    assert _AsyncClosing.closed
    assert InjectQ.get_instance() is not container


class _Conn:
    pass


class _Repo:
    def __init__(self, conn: _Conn) -> None:
        self.conn = conn


class _Service:
    def __init__(self, repo: _Repo, conn: _Conn) -> None:
        self.repo, self.conn = repo, conn


class _Unrelated:
    pass


def _service_container() -> InjectQ:
    container = InjectQ()
    for cls in (_Conn, _Repo, _Service, _Unrelated):
        container.bind(cls, scope="scoped")
    return container


def test_a_graph_reuses_what_the_scope_already_holds_of_it() -> None:
    """Parts of a graph resolved earlier in the scope are used, not built again."""
    container = _service_container()
    with container.scope() as scope:
        repo = scope.get(_Repo)
        service = scope.get(_Service)
        assert service.repo is repo
        assert service.conn is repo.conn
        assert scope.get(_Conn) is repo.conn


def test_a_graph_is_built_whole_in_a_scope_holding_only_unrelated_instances() -> None:
    """Unrelated instances in the scope do not stop one graph from sharing its parts."""
    container = _service_container()
    with container.scope() as scope:
        unrelated = scope.get(_Unrelated)
        service = scope.get(_Service)
        assert service.conn is service.repo.conn
        assert scope.get(_Repo) is service.repo
        assert scope.get(_Unrelated) is unrelated
