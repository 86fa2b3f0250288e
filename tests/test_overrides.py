"""``override_dependency`` and ``container.override``: every clause of the contract's §6.

An override is seen by every resolution of its key in the overriding context
(and that context's child tasks and worker threads), never elsewhere; what it
builds belongs to it; the container is exactly as before once it ends.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
import pytest

from injectq import (
    BindingError,
    FinalizationError,
    Inject,
    InjectQ,
    ScopeError,
    inject,
)
from injectq.testing import override_dependency

TIMEOUT = 5.0


class Config:
    def __init__(self) -> None:
        self.url = "real"


class Engine:
    """A singleton that depends on Config."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class Repo:
    """A transient two levels above Config."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine


class Session:
    """A request-scoped service three levels above Config."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class Unrelated:
    """A singleton that does not depend on Config."""


class FakeConfig(Config):
    def __init__(self) -> None:
        self.url = "fake"
        self.closed = 0

    def close(self) -> None:  # never called: an override's value is the test's
        self.closed += 1


def make_container() -> InjectQ:
    container = InjectQ()
    container.bind(Config)
    container.bind(Engine)
    container.bind(Repo, scope="transient")
    container.bind(Session, scope="scoped")
    container.bind(Unrelated)
    return container


@pytest.fixture
def container() -> Iterator[InjectQ]:
    container = make_container()
    yield container
    container.close()


# -- every way of resolving sees the override ----------------------------------------


def test_get_item_and_try_get_see_the_value(container: InjectQ) -> None:
    """``get``, ``[]`` and ``try_get`` give the overriding value inside the block."""
    fake = FakeConfig()
    with override_dependency(Config, fake):
        assert container.get(Config) is fake
        assert container[Config] is fake
        assert container.try_get(Config) is fake
    assert container.get(Config) is not fake


@pytest.mark.anyio
async def test_aget_sees_the_value(container: InjectQ) -> None:
    """``aget`` (also with ``concurrent=True``) gives the value and builds dependents on it."""
    fake = FakeConfig()
    async with override_dependency(Config, fake):
        assert await container.aget(Config) is fake
        engine = await container.aget(Engine, concurrent=True)
        assert engine.config is fake


def test_a_dependency_any_number_of_levels_down(container: InjectQ) -> None:
    """A scoped service three levels above the key is built on the value."""
    fake = FakeConfig()
    with override_dependency(Config, fake), container.scope() as scope:
        assert scope.get(Session).repo.engine.config is fake
        assert container.get(Repo).engine.config is fake


def test_invoke_and_inject_functions_see_the_value(container: InjectQ) -> None:
    """``invoke`` and ``@inject`` functions (annotation or ``Inject[T]``) receive the value."""
    fake = FakeConfig()

    def handler(config: Config, engine: Engine) -> tuple[Config, Engine]:
        return config, engine

    @inject(container=container)
    def marked(config: Config = Inject[Config]) -> Config:
        return config

    with override_dependency(Config, fake), container.context():

        @inject
        def annotated(engine: Engine) -> Engine:
            return engine

        config, engine = container.invoke(handler)
        assert config is fake
        assert engine.config is fake
        assert marked() is fake
        assert annotated().config is fake
    assert marked() is not fake


@pytest.mark.anyio
async def test_async_inject_and_ainvoke_see_the_value(container: InjectQ) -> None:
    """Async ``@inject`` functions and ``ainvoke`` receive the value."""
    fake = FakeConfig()

    @inject(container=container)
    async def handler(engine: Engine) -> Engine:
        return engine

    async def plain(config: Config) -> Config:
        return config

    async with override_dependency(Config, fake):
        assert (await handler()).config is fake
        assert await container.ainvoke(plain) is fake


def test_a_factory_binding_is_never_called_during_the_block() -> None:
    """A key bound with ``bind_factory`` gives the value; its factory is not called."""
    calls: list[str] = []

    def make_config() -> Config:
        calls.append("called")
        return Config()

    container = InjectQ()
    container.bind_factory(Config, make_config)
    container.bind(Engine)
    fake = FakeConfig()
    with override_dependency(Config, fake):
        assert container.get(Config) is fake
        assert container.get(Engine).config is fake
    assert calls == []


def test_string_and_annotated_keys() -> None:
    """String keys and ``Annotated[T, "name"]`` keys are overridden, also as parameters."""

    class Client:
        def __init__(self, url: Annotated[str, "db_url"]) -> None:
            self.url = url

    container = InjectQ()
    container.bind_instance("app", "shop")
    container.bind_instance(Annotated[str, "db_url"], "postgres://real")
    container.bind(Client, scope="transient")
    container.bind_factory("greeting", lambda: f"hello from {container.get('app')}")
    with (
        override_dependency("app", "test-shop"),
        override_dependency(Annotated[str, "db_url"], "sqlite://"),
    ):
        assert container.get(Client).url == "sqlite://"
        assert container.get(Annotated[str, "db_url", "more metadata"]) == "sqlite://"
        assert container.get("app") == "test-shop"
        assert container.get("greeting") == "hello from test-shop"
    assert container.get(Client).url == "postgres://real"
    assert container.get("app") == "shop"


# -- scopes ------------------------------------------------------------------------------


def test_a_scoped_key_outside_any_scope(container: InjectQ) -> None:
    """A scoped key overridden resolves to the value with no scope active."""
    fake = Session(Repo(Engine(Config())))
    with pytest.raises(ScopeError):
        container.get(Session)
    with override_dependency(Session, fake):
        assert container.get(Session) is fake


@pytest.mark.anyio
async def test_async_scope_tasks_and_worker_threads_see_the_value(container: InjectQ) -> None:
    """Inside an async scope, its tasks and ``anyio.to_thread`` workers see the override."""
    fake = FakeConfig()
    seen: list[Config] = []

    async def task() -> None:
        seen.append((await container.aget(Session)).repo.engine.config)

    async with override_dependency(Config, fake), container.scope() as scope:
        scope.start_soon(task)
        seen.append(await anyio.to_thread.run_sync(lambda: scope.get(Session).repo.engine.config))
        seen.append(await anyio.to_thread.run_sync(container.get, Config))
    assert seen == [fake, fake, fake]


def test_scoped_dependents_are_one_per_scope_and_leave_the_real_scope_alone(
    container: InjectQ,
) -> None:
    """In a scope that outlives the block, the block's Session is its own, finalized at its end."""
    fake = FakeConfig()
    with container.scope() as scope:
        real = scope.get(Session)
        with override_dependency(Config, fake):
            inside = scope.get(Session)
            assert inside is not real
            assert inside is scope.get(Session)  # still one per scope
            assert inside.repo.engine.config is fake
        assert inside.closed == 1
        assert scope.get(Session) is real
        assert real.closed == 0
    assert real.closed == 1
    assert inside.closed == 1


def test_a_scope_left_inside_the_block_finalizes_what_the_block_built_in_it(
    container: InjectQ,
) -> None:
    """A scope entered and left within the block finalizes its override-built Session on exit."""
    fake = FakeConfig()
    with override_dependency(Config, fake):
        with container.scope() as first:
            one = first.get(Session)
        assert one.closed == 1
        with container.scope() as second:
            two = second.get(Session)
            assert two is not one
        assert two.closed == 1
    assert (one.closed, two.closed) == (1, 1)


# -- which containers ----------------------------------------------------------------------


def test_every_container_or_only_the_one_given() -> None:
    """Without ``container`` every container sees it (even one made in the block); with one, only it."""
    first, second = make_container(), make_container()
    fake = FakeConfig()
    with override_dependency(Config, fake):
        third = make_container()
        assert first.get(Config) is fake
        assert second.get(Config) is fake
        assert third.get(Config) is fake
    assert third.get(Config) is not fake
    with override_dependency(Config, fake, container=first):
        assert first.get(Config) is fake
        assert second.get(Config) is not fake
    with first.override(Config, fake):
        assert first.get(Engine).config is fake
        assert second.get(Engine).config is not fake


# -- context-local -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_concurrent_task_never_sees_it(container: InjectQ) -> None:
    """Two tasks on one loop: the one overriding sees the value, the other the real Config."""
    fake = FakeConfig()
    overriding = anyio.Event()
    checked = anyio.Event()
    seen: dict[str, Config] = {}

    async def with_override() -> None:
        async with override_dependency(Config, fake):
            overriding.set()
            seen["overriding"] = await container.aget(Engine)
            await checked.wait()
            seen["overriding again"] = await container.aget(Engine)

    async def without() -> None:
        await overriding.wait()
        seen["other"] = await container.aget(Engine)
        checked.set()

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(with_override)
            group.start_soon(without)
    assert seen["overriding"].config is fake
    assert seen["overriding again"] is seen["overriding"]
    assert seen["other"].config is not fake
    assert seen["other"] is container.get(Engine)


@pytest.mark.anyio
async def test_child_tasks_see_it(container: InjectQ) -> None:
    """Tasks the overriding code starts see the value."""
    fake = FakeConfig()
    seen: list[Config] = []

    async def child() -> None:
        seen.append(await container.aget(Config))

    async with override_dependency(Config, fake), anyio.create_task_group() as group:
        group.start_soon(child)
    assert seen == [fake]


def test_another_thread_never_sees_it(container: InjectQ) -> None:
    """A plain thread started during the block resolves the real Config."""
    fake = FakeConfig()
    seen: list[Config] = []
    with override_dependency(Config, fake):
        thread = threading.Thread(target=lambda: seen.append(container.get(Config)))
        thread.start()
        thread.join(TIMEOUT)
        assert container.get(Config) is fake
    assert not thread.is_alive()
    assert seen == [container.get(Config)]
    assert seen[0] is not fake


# -- what the block builds belongs to it ------------------------------------------------------------


def test_a_singleton_built_during_the_block_is_not_seen_after_it(container: InjectQ) -> None:
    """An Engine first built inside the block is finalized at its end and never handed out again."""
    fake = FakeConfig()
    with override_dependency(Config, fake):
        inside = container.get(Engine)
        assert container.get(Engine) is inside  # one instance within the block
    assert inside.closed == 1
    after = container.get(Engine)
    assert after is not inside
    assert after.config is not fake


def test_a_built_singleton_is_rebuilt_inside_and_comes_back_untouched(container: InjectQ) -> None:
    """The Engine built before the block is replaced inside it and back, unclosed, after."""
    original = container.get(Engine)
    fake = FakeConfig()
    with override_dependency(Config, fake):
        inside = container.get(Engine)
        assert inside is not original
        assert inside.config is fake
    assert container.get(Engine) is original
    assert original.closed == 0
    assert inside.closed == 1


def test_an_unrelated_singleton_built_in_the_block_stays_with_the_container(
    container: InjectQ,
) -> None:
    """What does not depend on the key is the container's as usual, inside and after."""
    with override_dependency(Config, FakeConfig()):
        unrelated = container.get(Unrelated)
    assert container.get(Unrelated) is unrelated


@pytest.mark.anyio
async def test_a_singleton_is_one_instance_for_many_tasks_and_threads_of_the_block(
    container: InjectQ,
) -> None:
    """Tasks and worker threads of the block asking at once share one Engine."""
    fake = FakeConfig()
    engines: list[Engine] = []

    async def ask() -> None:
        engines.append(await container.aget(Engine))
        engines.append(await anyio.to_thread.run_sync(container.get, Engine))

    with anyio.fail_after(TIMEOUT):
        async with override_dependency(Config, fake), anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(ask)
    assert len(engines) == 16
    assert len({id(e) for e in engines}) == 1


def test_the_value_is_never_finalized(container: InjectQ) -> None:
    """The overriding value is not closed at the end of the block, nor when the container closes."""
    fake = FakeConfig()
    with override_dependency(Config, fake):
        container.get(Engine)
    container.close()
    assert fake.closed == 0


@pytest.mark.anyio
async def test_async_with_finalizes_async_teardown() -> None:
    """``async with`` finalizes an async generator built on the value, at the block's end."""
    events: list[str] = []

    async def open_engine(config: Config) -> AsyncIterator[Engine]:
        events.append(f"open {config.url}")
        yield Engine(config)
        await anyio.lowlevel.checkpoint()
        events.append(f"close {config.url}")

    container = InjectQ()
    container.bind(Config)
    container.bind_factory(Engine, open_engine, scope="singleton")
    async with override_dependency(Config, FakeConfig()):
        await container.aget(Engine)
        assert events == ["open fake"]
    assert events == ["open fake", "close fake"]
    await container.aclose()


@pytest.mark.anyio
async def test_with_refuses_what_needs_an_async_teardown() -> None:
    """Under a sync ``with``, building something with async teardown is a ScopeError naming the fix."""

    async def open_engine(config: Config) -> AsyncIterator[Engine]:
        yield Engine(config)

    container = InjectQ()
    container.bind(Config)
    container.bind_factory(Engine, open_engine, scope="singleton")
    with override_dependency(Config, FakeConfig()):
        with pytest.raises(ScopeError, match="async with override_dependency"):
            await container.aget(Engine)
    await container.aclose()


def test_generator_teardown_runs_at_the_end_of_a_sync_block() -> None:
    """A generator factory built on the value is torn down when the block ends."""
    events: list[str] = []

    def open_engine(config: Config) -> Iterator[Engine]:
        yield Engine(config)
        events.append(f"close {config.url}")

    container = InjectQ()
    container.bind(Config)
    container.bind_factory(Engine, open_engine, scope="singleton")
    with override_dependency(Config, FakeConfig()):
        container.get(Engine)
        assert events == []
    assert events == ["close fake"]
    container.close()
    assert events == ["close fake"]


# -- restoring the container ---------------------------------------------------------------------------


def _observe(container: InjectQ) -> tuple[object, ...]:
    """What a user can see of a container: its instances, bindings and answers."""
    return (
        container.get(Config),
        container.get(Engine),
        container.get(Unrelated),
        Config in container,
        "never-bound" in container,
        container.try_get("never-bound", "default"),
        container.get_dependency_graph(),
    )


def test_nesting_the_same_key_restores_the_outer_value(container: InjectQ) -> None:
    """An inner override of the same key wins inside, the outer comes back, then the real one."""
    before = _observe(container)
    outer, inner = FakeConfig(), FakeConfig()
    with override_dependency(Config, outer):
        outer_engine = container.get(Engine)
        with container.override(Config, inner):
            inner_engine = container.get(Engine)
            assert inner_engine.config is inner
        assert container.get(Engine) is outer_engine
        assert outer_engine.closed == 0
        assert inner_engine.closed == 1
    assert _observe(container) == before


def test_nesting_different_keys_keeps_the_outer_instances(container: InjectQ) -> None:
    """An inner override of another key leaves the outer block's Engine as it is."""
    with override_dependency(Config, FakeConfig()):
        engine = container.get(Engine)
        with override_dependency(Unrelated, Unrelated()):
            assert container.get(Engine) is engine
        assert engine.closed == 0
    assert engine.closed == 1


def test_an_exception_comes_out_as_itself_and_restores(container: InjectQ) -> None:
    """A KeyError leaving the block is the KeyError, and the container is as before."""
    before = _observe(container)

    def fail_inside() -> None:
        with override_dependency(Config, FakeConfig()):
            container.get(Engine)
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        fail_inside()
    assert _observe(container) == before


def test_a_never_bound_key_restores(container: InjectQ) -> None:
    """Overriding a key nobody bound works in the block and leaves it unbound after."""
    before = _observe(container)
    with override_dependency("never-bound", 42):
        assert container.get("never-bound") == 42
        assert container.try_get("never-bound") == 42
    assert _observe(container) == before
    assert container.try_get("never-bound") is None


def test_no_override_leaves_the_fast_path_in_place(container: InjectQ) -> None:
    """Once every override has ended, ``get`` is again the ready dict's own look-up."""
    fast = container.get
    with override_dependency(Config, FakeConfig()):
        assert container.get != fast
    assert container.get == fast


def test_a_finalizer_failure_is_a_finalization_error(container: InjectQ) -> None:
    """A teardown that fails at the block's end comes out in a FinalizationError."""

    class Broken:
        def __init__(self, config: Config) -> None:
            self.config = config

        def close(self) -> None:
            raise RuntimeError("teardown failed")

    container.bind(Broken)
    with pytest.raises(FinalizationError) as caught, override_dependency(Config, FakeConfig()):
        container.get(Broken)
    assert [type(e) for e in caught.value.exceptions] == [RuntimeError]


def test_bindings_changed_inside_the_block_are_seen(container: InjectQ) -> None:
    """A binding added in the block is planned again with the override in place."""

    class Report:
        def __init__(self, config: Config) -> None:
            self.config = config

    fake = FakeConfig()
    with override_dependency(Config, fake):
        container.get(Engine)
        container.bind(Report)
        assert container.get(Report).config is fake
    assert container.get(Report).config is not fake


# -- misuse --------------------------------------------------------------------------------------------


def test_entering_twice_is_a_scope_error(container: InjectQ) -> None:
    """An override object is entered once."""
    block = override_dependency(Config, FakeConfig())
    with block, pytest.raises(ScopeError, match="entered once"), block:
        pass
    with pytest.raises(ScopeError, match="entered once"), block:
        pass


def test_leaving_out_of_order_is_a_scope_error(container: InjectQ) -> None:
    """Leaving an outer override while an inner one is active is a ScopeError."""
    outer = override_dependency(Config, FakeConfig())
    inner = override_dependency(Unrelated, Unrelated())
    outer.__enter__()
    inner.__enter__()
    with pytest.raises(ScopeError, match="innermost"):
        outer.__exit__(None, None, None)
    inner.__exit__(None, None, None)
    outer.__exit__(None, None, None)
    assert container.get(Config).url == "real"


def test_an_unhashable_key_is_a_binding_error() -> None:
    """A key that cannot be a key is refused when the override is made."""
    with pytest.raises(BindingError, match="cannot be overridden"):
        override_dependency(["not", "hashable"], 1)


# -- more shapes of graphs ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_async_singleton_factory_is_rebuilt_once_for_concurrent_asks() -> None:
    """An async factory singleton on the overridden key: built once in the block for many tasks."""
    calls: list[str] = []
    release = anyio.Event()

    async def make_engine(config: Config) -> Engine:
        calls.append(config.url)
        await release.wait()
        return Engine(config)

    container = InjectQ()
    container.bind(Config)
    container.bind_factory(Engine, make_engine, scope="singleton")
    release.set()
    original = await container.aget(Engine)
    release = anyio.Event()
    engines: list[Engine] = []

    async def ask() -> None:
        engines.append(await container.aget(Engine))

    with anyio.fail_after(TIMEOUT):
        async with override_dependency(Config, FakeConfig()):
            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(ask)
                await anyio.wait_all_tasks_blocked()
                release.set()
            assert container.get(Engine) is engines[0]
    assert calls == ["real", "fake"]
    assert {id(e) for e in engines} == {id(engines[0])}
    assert engines[0].config.url == "fake"
    assert await container.aget(Engine) is original
    await container.aclose()


def test_a_transient_with_teardown_goes_with_its_scope_or_the_block(container: InjectQ) -> None:
    """A transient built on the value is finalized when its scope is left, or at the block's end."""

    class Report:
        def __init__(self, config: Config) -> None:
            self.config = config
            self.closed = 0

        def close(self) -> None:
            self.closed += 1

    container.bind(Report, scope="transient")
    with override_dependency(Config, FakeConfig()):
        with container.scope():
            in_scope = container.get(Report)
        assert in_scope.closed == 1
        outside = container.get(Report)
        assert outside.closed == 0
    assert outside.closed == 1
    assert in_scope.closed == 1


@pytest.mark.anyio
async def test_custom_scopes_keep_one_instance_per_scope_id(container: InjectQ) -> None:
    """A tenant service on the value: one per tenant in the block, its id injected, none after."""
    from injectq import TenantScopeManager

    class TenantDb:
        def __init__(self, tenant_id: str, config: Config) -> None:
            self.tenant_id = tenant_id
            self.config = config

    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind(TenantDb, scope="tenant")
    fake = FakeConfig()
    async with override_dependency(Config, fake):
        async with container.scope("tenant", "acme") as scope:
            acme = await scope.aget(TenantDb)
        async with container.scope("tenant", "acme") as scope:
            assert await scope.aget(TenantDb) is acme
        async with container.scope("tenant", "globex") as scope:
            globex = await scope.aget(TenantDb)
    assert (acme.tenant_id, globex.tenant_id) == ("acme", "globex")
    assert acme.config is fake
    async with container.scope("tenant", "acme") as scope:
        after = await scope.aget(TenantDb)
    assert after is not acme
    assert after.config is not fake


def test_a_failing_factory_keeps_its_error_in_the_block(container: InjectQ) -> None:
    """A factory that raises inside the block raises its own error, and the block still ends cleanly."""

    def broken(config: Config) -> Engine:
        raise ValueError(f"cannot connect to {config.url}")

    container.bind_factory(Engine, broken, scope="singleton")
    with override_dependency(Config, FakeConfig()), pytest.raises(ValueError, match="fake"):
        container.get(Engine)
    with pytest.raises(ValueError, match="real"):
        container.get(Engine)


@pytest.mark.anyio
async def test_async_teardown_from_a_sync_scope_waits_for_the_async_block() -> None:
    """Under ``async with``, an async-teardown service built in a ``with`` scope is finalized at the block's end."""
    events: list[str] = []

    async def open_session(config: Config) -> AsyncIterator[Session]:
        yield Session(Repo(Engine(config)))
        await anyio.lowlevel.checkpoint()
        events.append("closed")

    container = InjectQ()
    container.bind(Config)
    container.bind_factory(Session, open_session, scope="scoped")
    async with override_dependency(Config, FakeConfig()):
        with container.scope() as scope:
            session = await container.aget(Session)
            assert scope.get(Session) is session
        assert events == []  # the sync exit cannot await it: it waits for the block
    assert events == ["closed"]
    await container.aclose()


@pytest.mark.anyio
async def test_work_that_outlives_its_scope_gets_a_scope_error(container: InjectQ) -> None:
    """A copied context whose scope has been left cannot resolve the block's scoped services."""
    import contextvars

    async with override_dependency(Config, FakeConfig()):
        async with container.scope():
            copied = contextvars.copy_context()
        with pytest.raises(ScopeError, match="has ended"):
            copied.run(container.get, Session)


class Audit:
    """A request-scoped service that does not depend on Config."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class Checkout:
    """Scoped, on the overridden Config and on services that do not depend on it."""

    def __init__(self, config: Config, unrelated: Unrelated, audit: Audit) -> None:
        self.config = config
        self.unrelated = unrelated
        self.audit = audit


def test_unrelated_dependencies_of_a_rebuilt_service_are_the_containers(
    container: InjectQ,
) -> None:
    """Checkout is rebuilt on the value; its Unrelated singleton and Audit are the container's own."""
    container.bind(Audit, scope="scoped")
    container.bind(Checkout, scope="scoped")
    fake = FakeConfig()
    unrelated = container.get(Unrelated)
    with container.scope() as scope:
        audit = scope.get(Audit)
        with override_dependency(Config, fake):
            checkout = scope.get(Checkout)
            assert checkout.config is fake
            assert checkout.unrelated is unrelated
            assert checkout.audit is audit
        assert audit.closed == 0
    assert audit.closed == 1


@pytest.mark.anyio
async def test_unrelated_async_dependencies_are_awaited_where_they_live() -> None:
    """An async singleton that does not depend on the key is built once, in the container."""
    calls: list[str] = []

    async def make_unrelated() -> Unrelated:
        calls.append("built")
        return Unrelated()

    container = make_container()
    container.bind_factory(Unrelated, make_unrelated, scope="singleton")
    container.bind(Audit, scope="scoped")
    container.bind(Checkout, scope="scoped")
    fake = FakeConfig()
    async with override_dependency(Config, fake), container.scope() as scope:
        checkout = await scope.aget(Checkout)
        assert checkout.config is fake
    assert await container.aget(Unrelated) is checkout.unrelated
    assert calls == ["built"]
    await container.aclose()


def test_an_override_for_one_container_inside_one_for_all(container: InjectQ) -> None:
    """Inside a global override, another container's own override is seen there and nowhere else."""
    other = make_container()
    outer, inner = FakeConfig(), FakeConfig()
    with override_dependency(Config, outer), other.override(Config, inner):
        assert container.get(Engine).config is outer
        assert other.get(Engine).config is inner
        assert other.get(Unrelated) is other.get(Unrelated)
    assert container.get(Config) is not outer
    assert other.get(Config) is not inner


class Probe:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_inject_of_an_unrelated_transient_leaves_it_to_the_container(container: InjectQ) -> None:
    """A transient that does not depend on the key, filled by @inject in the block, is the container's."""
    container.bind(Probe, scope="transient")

    @inject(container=container)
    def use(probe: Probe, config: Config) -> Probe:
        return probe

    with override_dependency(Config, FakeConfig()):
        probe = use()
    assert probe.closed == 0  # not the block's: finalized with the container
    container.close()
    assert probe.closed == 1


def test_a_missing_dependency_in_the_block_is_the_usual_error(container: InjectQ) -> None:
    """What nothing provides is a DependencyNotFoundError inside the block too."""
    from injectq import DependencyNotFoundError

    class NeedsSecret:
        def __init__(self, config: Config, secret: Annotated[str, "secret"]) -> None:
            self.secret = secret

    with (
        override_dependency(Config, FakeConfig()),
        pytest.raises(DependencyNotFoundError, match="secret"),
    ):
        container.get(NeedsSecret)


def test_the_container_argument_must_be_a_container() -> None:
    """``container=`` takes an InjectQ; anything else is a BindingError when the override is made."""
    with pytest.raises(BindingError, match="takes an InjectQ container"):
        override_dependency(Config, FakeConfig(), container="app")  # type: ignore[arg-type]


def test_a_long_block_does_not_keep_the_scopes_it_served(container: InjectQ) -> None:
    """Scoped instances built in a block are released when their scope ends, not kept until the block ends."""
    import gc
    import weakref

    refs: list[weakref.ref[Session]] = []
    with override_dependency(Config, FakeConfig()):
        for _ in range(50):
            with container.scope() as scope:
                refs.append(weakref.ref(scope.get(Session)))
        gc.collect()
        assert [ref() for ref in refs] == [None] * 50


# -- the same clauses from async code, on asyncio and trio ----------------------------------------


async def _aobserve(container: InjectQ) -> tuple[object, ...]:
    return (
        await container.aget(Config),
        await container.aget(Engine),
        await container.aget(Unrelated),
        Config in container,
        container.try_get("never-bound", "default"),
    )


@pytest.mark.anyio
async def test_async_a_singleton_built_in_the_block_is_not_seen_after_it(
    container: InjectQ,
) -> None:
    """``async with``: an Engine first built in the block is finalized at its end, never seen again."""
    fake = FakeConfig()
    async with override_dependency(Config, fake):
        inside = await container.aget(Engine)
        assert await container.aget(Engine) is inside
    assert inside.closed == 1
    after = await container.aget(Engine)
    assert after is not inside
    assert after.config is not fake


@pytest.mark.anyio
async def test_async_a_built_singleton_is_rebuilt_inside_and_comes_back(container: InjectQ) -> None:
    """``async with``: the Engine built before is replaced inside and back, unclosed, after."""
    original = await container.aget(Engine)
    async with container.override(Config, FakeConfig()):
        inside = await container.aget(Engine)
        assert inside is not original
    assert await container.aget(Engine) is original
    assert (original.closed, inside.closed) == (0, 1)


@pytest.mark.anyio
async def test_async_nesting_restores_exactly(container: InjectQ) -> None:
    """``async with``: inner override wins, outer comes back, then the container as before."""
    before = await _aobserve(container)
    outer, inner = FakeConfig(), FakeConfig()
    async with override_dependency(Config, outer):
        outer_engine = await container.aget(Engine)
        async with container.override(Config, inner):
            assert (await container.aget(Engine)).config is inner
        assert await container.aget(Engine) is outer_engine
    assert await _aobserve(container) == before


@pytest.mark.anyio
async def test_async_an_exception_comes_out_as_itself_and_restores(container: InjectQ) -> None:
    """``async with``: a KeyError leaving the block is the KeyError; the container is as before."""
    before = await _aobserve(container)

    async def fail_inside() -> None:
        async with override_dependency(Config, FakeConfig()), container.scope() as scope:
            await scope.aget(Session)
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await fail_inside()
    assert await _aobserve(container) == before


@pytest.mark.anyio
async def test_async_a_cancelled_block_restores(container: InjectQ) -> None:
    """A block left by cancellation finalizes what it built and restores the container."""
    before = await _aobserve(container)
    started = anyio.Event()
    built: list[Engine] = []

    async def overriding() -> None:
        async with override_dependency(Config, FakeConfig()):
            built.append(await container.aget(Engine))
            started.set()
            await anyio.sleep_forever()

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(overriding)
            await started.wait()
            group.cancel_scope.cancel()
    assert built[0].closed == 1
    assert await _aobserve(container) == before


@pytest.mark.anyio
async def test_async_factory_string_and_scoped_keys(container: InjectQ) -> None:
    """From async code: a factory key (factory not called), a string key, a scoped key outside scopes."""
    calls: list[str] = []

    async def make_report() -> str:
        calls.append("called")
        return "real report"

    container.bind_factory("report", make_report)
    fake_session = Session(Repo(Engine(Config())))
    async with (
        override_dependency("report", "fake report"),
        override_dependency(Session, fake_session),
    ):
        assert await container.aget("report") == "fake report"
        assert await container.aget(Session) is fake_session
    assert calls == []
    assert await container.aget("report") == "real report"


@pytest.mark.anyio
async def test_async_every_container_or_the_one_given(container: InjectQ) -> None:
    """From async code: without a container every one sees it; with one, only that one."""
    other = make_container()
    fake = FakeConfig()
    async with override_dependency(Config, fake):
        assert (await other.aget(Engine)).config is fake
        assert (await container.aget(Engine)).config is fake
    async with other.override(Config, fake):
        assert (await other.aget(Engine)).config is fake
        assert (await container.aget(Engine)).config is not fake
    assert fake.closed == 0
    await other.aclose()


@pytest.mark.anyio
async def test_many_concurrent_overrides_of_one_key_stay_apart(container: InjectQ) -> None:
    """Twenty tasks override Config at once, each in its own scope and worker threads: each sees its own."""
    count = 20
    all_inside = anyio.Event()
    inside = 0
    results: dict[int, set[str]] = {}
    closed: list[Engine] = []

    async def one_test(number: int) -> None:
        nonlocal inside
        fake = FakeConfig()
        fake.url = f"fake-{number}"
        async with override_dependency(Config, fake):
            async with container.scope() as scope:
                inside += 1
                if inside == count:
                    all_inside.set()
                await all_inside.wait()  # every override is active now
                session = await scope.aget(Session)
                in_thread = await anyio.to_thread.run_sync(lambda: scope.get(Session))
                engine = await container.aget(Engine)
                results[number] = {
                    session.repo.engine.config.url,
                    in_thread.repo.engine.config.url,
                    engine.config.url,
                }
                assert in_thread is session
            closed.append(engine)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            for number in range(count):
                group.start_soon(one_test, number)
    assert results == {number: {f"fake-{number}"} for number in range(count)}
    assert all(engine.closed == 1 for engine in closed)
    assert (await container.aget(Engine)).config.url == "real"
