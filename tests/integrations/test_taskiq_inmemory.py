"""Taskiq, in one process: each task execution runs in a scope of its own.

These tests run real taskiq machinery (broker, receiver, middlewares, its
dependency resolution) on taskiq's ``InMemoryBroker``, which runs each sent
task at once in the sending process.  They run on asyncio only: taskiq's
receiver and the in-memory broker are asyncio code (``asyncio.create_task``,
``asyncio.Semaphore``, ``loop.run_in_executor``) and cannot run under trio.
The same integration against real worker processes on Redis is in
``test_taskiq_redis.py``.
"""

from __future__ import annotations

import collections
import importlib
import itertools
import logging
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
import anyio.abc
import pytest

pytest.importorskip("taskiq", reason='needs the taskiq extra: pip install "injectq[taskiq]"')

from taskiq import Context, InMemoryBroker, SimpleRetryMiddleware, TaskiqDepends

from injectq import (
    BindingError,
    FinalizationError,
    InjectionError,
    InjectQ,
    ScopeError,
    ScopeHandle,
    TenantScopeManager,
)
from injectq.integrations.taskiq import SCOPES_LABEL, InjectTask, InjectTaskiq, setup_taskiq

pytestmark = pytest.mark.anyio

WAIT = 10  # seconds: the bound on every wait below (each normally takes milliseconds)


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: taskiq's receiver and in-memory broker are asyncio code."""
    return "asyncio"


# -- services -----------------------------------------------------------------------


class Events:
    """What the services report: each scoped resource opened and closed, by serial."""

    def __init__(self) -> None:
        self.serials = itertools.count(1)
        self.opened: list[int] = []
        self.closed: list[int] = []
        self.seen_in_task: dict[Any, int] = {}


class Resource:
    """A request-scoped resource with teardown."""

    def __init__(self, serial: int) -> None:
        self.serial = serial


class Handler:
    """Request-scoped, built from the resource: shares the task's scope."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource


class TenantConfig:
    """One per tenant: built from the active tenant scope's id."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id


class Unbound:
    """Bound nowhere, and not buildable: the container cannot give a port number."""

    def __init__(self, port: int) -> None:
        self.port = port


class Pool:
    """A singleton with teardown."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def make_container(events: Events) -> InjectQ:
    container = InjectQ()

    async def resource() -> AsyncIterator[Resource]:
        serial = next(events.serials)
        events.opened.append(serial)
        try:
            yield Resource(serial)
        finally:
            events.closed.append(serial)

    container.bind_factory(Resource, resource, scope="scoped")
    container.bind(Handler, scope="scoped")
    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind(TenantConfig, scope="tenant")
    container.bind(Pool)
    return container


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def container(events: Events) -> InjectQ:
    return make_container(events)


@pytest.fixture
async def broker(container: InjectQ) -> AsyncIterator[InMemoryBroker]:
    broker = InMemoryBroker()
    setup_taskiq(container, broker, carry_scopes=["tenant"])
    await broker.startup()
    try:
        yield broker
    finally:
        with anyio.fail_after(WAIT):
            await broker.wait_all()
            await broker.shutdown()


async def result_of(task: Any) -> Any:
    with anyio.fail_after(WAIT):
        return await task.wait_result(timeout=WAIT, check_interval=0.005)


def each_once(serials: list[int]) -> bool:
    return all(n == 1 for n in collections.Counter(serials).values())


# -- one scope per execution --------------------------------------------------------------


async def test_hundred_concurrent_tasks_a_quarter_failing_each_get_a_scope_torn_down_once(
    broker: InMemoryBroker, events: Events
) -> None:
    """100 tasks alive at once each see their own scope, failing or not, and each scope is finalized exactly once."""
    started = 0
    all_started = anyio.Event()

    @broker.task
    async def job(n: int, resource: InjectTask[Resource], handler: InjectTask[Handler]) -> int:
        nonlocal started
        assert handler.resource is resource  # one scope for the whole execution
        events.seen_in_task[n] = resource.serial
        started += 1
        if started == 100:
            all_started.set()
        await all_started.wait()  # every task's scope is open at this point
        if n % 4 == 0:
            raise ValueError(f"job {n} failed")
        return resource.serial

    tasks = [await job.kiq(n) for n in range(100)]
    results = [await result_of(task) for task in tasks]

    assert [r.is_err for r in results] == [n % 4 == 0 for n in range(100)]
    assert sorted(events.seen_in_task) == list(range(100))
    assert len(set(events.seen_in_task.values())) == 100
    assert [r.return_value for n, r in enumerate(results) if n % 4] == [
        events.seen_in_task[n] for n in range(100) if n % 4
    ]
    assert sorted(events.closed) == sorted(events.opened) == sorted(events.seen_in_task.values())
    assert each_once(events.closed)


async def test_generator_teardown_runs_after_a_failed_task(
    broker: InMemoryBroker, events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    """A task that raises still finalizes its scope: the generator's teardown runs once, after the body, quietly."""
    order: list[str] = []

    @broker.task
    async def failing(resource: InjectTask[Resource]) -> None:
        order.append(f"body {resource.serial}")
        raise RuntimeError("boom")

    with caplog.at_level(logging.WARNING):
        result = await result_of(await failing.kiq())

    assert result.is_err
    assert isinstance(result.error, RuntimeError)
    assert order == ["body 1"]
    assert events.opened == events.closed == [1]
    # The task's error is reported once, by taskiq, as the task's failure: not again
    # as a failed teardown (by taskiq's dependency resolver or by injectq).
    assert [r.name for r in caplog.records] == ["taskiq.receiver.receiver"]


class Probe:
    """Request-scoped: built and finalized by a generator factory that notes its asyncio task."""


async def test_a_failed_task_leaves_its_scope_in_its_own_task_without_a_warning(
    broker: InMemoryBroker, container: InjectQ
) -> None:
    """A task that raises has its scope entered and left in the task that ran its body, before its result is stored, warning-free."""
    tasks: list[str] = []

    async def probe() -> AsyncIterator[Probe]:
        tasks.append(f"entered in {anyio.get_current_task().id}")
        yield Probe()
        tasks.append(f"left in {anyio.get_current_task().id}")

    container.bind_factory(Probe, probe, scope="scoped")

    @broker.task
    async def failing(probe: InjectTask[Probe]) -> None:
        tasks.append(f"body in {anyio.get_current_task().id}")
        raise RuntimeError("boom")

    # Recorded here rather than turned into errors by the test run's settings: a
    # warning on the way out (such as the deprecated three-argument athrow() on
    # Python 3.12+) must not be what decides where the scope is left.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = await result_of(await failing.kiq())

    assert isinstance(result.error, RuntimeError)
    task_id = tasks[0].rsplit(" ", 1)[1]
    assert tasks == [f"entered in {task_id}", f"body in {task_id}", f"left in {task_id}"]
    assert [str(w.message) for w in caught] == []


async def test_the_three_spellings_inject_from_the_same_scope(
    broker: InMemoryBroker, events: Events
) -> None:
    """InjectTask[T], Annotated[T, InjectTask(T)] and Annotated[T, InjectTaskiq(T)] fill parameters from one scope."""

    @broker.task
    async def job(
        a: InjectTask[Resource],
        b: Annotated[Resource, InjectTask(Resource)],
        c: Annotated[Resource, InjectTaskiq(Resource)],
    ) -> list[int]:
        return [a.serial, b.serial, c.serial]

    assert (await result_of(await job.kiq())).return_value == [1, 1, 1]
    assert events.closed == [1]


async def test_the_marker_as_a_default_injects_too(broker: InMemoryBroker, events: Events) -> None:
    """`param: T = InjectTaskiq(T)` is filled like the Annotated forms, and kiq() does not need it."""

    @broker.task
    async def job(n: int, resource: Resource = InjectTaskiq(Resource)) -> list[int]:
        return [n, resource.serial]

    assert (await result_of(await job.kiq(7))).return_value == [7, 1]
    assert events.closed == [1]


async def test_a_task_can_ask_for_its_scope_handle(broker: InMemoryBroker, events: Events) -> None:
    """InjectTask[ScopeHandle] is the execution's scope: tasks started on it finish before its teardown."""
    order: list[str] = []

    @broker.task
    async def job(scope: InjectTask[ScopeHandle], resource: InjectTask[Resource]) -> None:
        assert await scope.aget(Resource) is resource

        async def side_work() -> None:
            await anyio.lowlevel.checkpoint()
            order.append(f"side work with {resource.serial}, closed so far: {events.closed}")

        scope.start_soon(side_work)

    await result_of(await job.kiq())
    assert order == ["side work with 1, closed so far: []"]
    assert events.closed == [1]


async def test_a_failed_task_cancels_the_work_it_started_on_its_scope(
    broker: InMemoryBroker, events: Events
) -> None:
    """When the body raises, tasks it started on its scope are cancelled before the teardown."""
    order: list[str] = []
    never = anyio.Event()

    @broker.task
    async def job(scope: InjectTask[ScopeHandle], resource: InjectTask[Resource]) -> None:
        async def side_work(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            try:
                task_status.started()
                await never.wait()
            finally:
                order.append(f"side work cancelled, closed so far: {events.closed}")

        await scope.start(side_work)
        raise LookupError("no such ticket")

    result = await result_of(await job.kiq())

    assert isinstance(result.error, LookupError)
    assert order == ["side work cancelled, closed so far: []"]
    assert events.closed == [1]


async def test_sync_task_runs_in_its_own_scope_in_a_worker_thread(
    broker: InMemoryBroker, container: InjectQ, events: Events
) -> None:
    """A sync task gets its parameters from its scope, and sees that scope from its worker thread."""

    @broker.task
    def sync_job(n: int, resource: InjectTask[Resource]) -> list[Any]:
        return [n, resource.serial, container.get(Resource) is resource]

    tasks = [await sync_job.kiq(n) for n in range(8)]
    values = [(await result_of(task)).return_value for task in tasks]

    assert [v[0] for v in values] == list(range(8))
    assert all(v[2] for v in values)
    assert len({v[1] for v in values}) == 8
    assert sorted(events.closed) == sorted(events.opened) == list(range(1, 9))


async def test_a_task_cancelled_by_its_timeout_finalizes_its_scope(
    broker: InMemoryBroker, events: Events
) -> None:
    """A task cut short by taskiq's timeout label leaves its scope, finalized once."""
    never = anyio.Event()

    @broker.task(timeout=0.01)
    async def stuck(resource: InjectTask[Resource]) -> None:
        await never.wait()

    result = await result_of(await stuck.kiq())

    assert result.is_err
    assert isinstance(result.error, TimeoutError)
    assert events.opened == events.closed == [1]


async def test_a_retried_task_gets_a_fresh_scope_for_each_attempt_in_the_same_tenant(
    container: InjectQ, events: Events
) -> None:
    """With taskiq's retry middleware each attempt runs in a new scope, inside the carried tenant, and each is finalized."""
    broker = InMemoryBroker().with_middlewares(SimpleRetryMiddleware(default_retry_count=3))
    setup_taskiq(container, broker, carry_scopes=["tenant"])
    attempts: list[tuple[int, str]] = []

    @broker.task(retry_on_error=True)
    async def flaky(resource: InjectTask[Resource], config: InjectTask[TenantConfig]) -> int:
        attempts.append((resource.serial, config.tenant_id))
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return resource.serial

    await broker.startup()
    try:
        async with container.scope("tenant", "acme"):
            task = await flaky.kiq()
        result = await result_of(task)
    finally:
        with anyio.fail_after(WAIT):
            await broker.wait_all()
            await broker.shutdown()

    assert not result.is_err
    assert attempts == [(1, "acme"), (2, "acme"), (3, "acme")]
    assert result.return_value == 3
    assert events.opened == events.closed == [1, 2, 3]


async def test_a_requeued_task_gets_a_fresh_scope_in_the_same_tenant(
    broker: InMemoryBroker, container: InjectQ, events: Events
) -> None:
    """Context.requeue() sends the message again: a new request scope, the same carried tenant."""
    seen: list[tuple[int, str]] = []
    done = anyio.Event()

    @broker.task
    async def job(
        resource: InjectTask[Resource],
        config: InjectTask[TenantConfig],
        context: Annotated[Context, TaskiqDepends()],
    ) -> None:
        seen.append((resource.serial, config.tenant_id))
        if len(seen) == 1:
            await context.requeue()
        done.set()

    async with container.scope("tenant", "acme"):
        await job.kiq()
    with anyio.fail_after(WAIT):
        await done.wait()
        await broker.wait_all()

    assert seen == [(1, "acme"), (2, "acme")]
    assert events.opened == events.closed == [1, 2]


# -- carrying named scopes ------------------------------------------------------------------


async def test_a_task_sent_inside_a_tenant_scope_runs_inside_that_tenant(
    broker: InMemoryBroker, container: InjectQ
) -> None:
    """Sent from inside scope("tenant", id), a task runs inside the tenant scope of that id, one instance per tenant."""

    @broker.task
    async def whoami(config: InjectTask[TenantConfig]) -> list[Any]:
        return [config.tenant_id, id(config)]

    async with container.scope("tenant", "acme"):
        first = await whoami.kiq()
        second = await whoami.kiq()
    async with container.scope("tenant", "globex"):
        third = await whoami.kiq()

    values = [(await result_of(t)).return_value for t in (first, second, third)]
    assert [v[0] for v in values] == ["acme", "acme", "globex"]
    assert values[0][1] == values[1][1] != values[2][1]


async def test_a_task_sent_from_a_task_carries_the_tenant_on(
    broker: InMemoryBroker, container: InjectQ
) -> None:
    """A task that sends another from inside its carried tenant passes the tenant along."""
    tenants: list[str] = []
    done = anyio.Event()

    @broker.task
    async def child(config: InjectTask[TenantConfig]) -> None:
        tenants.append(config.tenant_id)
        done.set()

    @broker.task
    async def parent(config: InjectTask[TenantConfig]) -> None:
        tenants.append(config.tenant_id)
        await child.kiq()

    async with container.scope("tenant", "acme"):
        await parent.kiq()
    with anyio.fail_after(WAIT):
        await done.wait()

    assert tenants == ["acme", "acme"]


async def test_a_carried_scope_the_worker_has_not_registered_fails_the_task(
    container: InjectQ,
) -> None:
    """A carried scope name the worker's container does not know fails the task with a ScopeError listing the known ones."""
    broker = InMemoryBroker()
    setup_taskiq(container, broker, carry_scopes=["region"])

    @broker.task
    async def job(resource: InjectTask[Resource]) -> None: ...

    await broker.startup()
    try:
        task = await job.kicker().with_labels(**{SCOPES_LABEL: '[["region", "eu"]]'}).kiq()
        result = await result_of(task)
    finally:
        with anyio.fail_after(WAIT):
            await broker.wait_all()
            await broker.shutdown()

    assert isinstance(result.error, ScopeError)
    assert "region" in str(result.error)
    assert "tenant" in str(result.error)


async def test_a_named_key_is_injected(broker: InMemoryBroker, container: InjectQ) -> None:
    """InjectTask[Annotated[T, "name"]] resolves the named binding."""
    container.bind_instance(Annotated[str, "greeting"], "hello")

    @broker.task
    async def job(greeting: InjectTask[Annotated[str, "greeting"]]) -> str:
        return greeting

    assert (await result_of(await job.kiq())).return_value == "hello"


async def test_a_task_sent_outside_any_tenant_has_no_tenant_scope(
    broker: InMemoryBroker, container: InjectQ
) -> None:
    """A task sent outside the tenant scope asks for a tenant service and gets the scope error."""

    @broker.task
    async def whoami(config: InjectTask[TenantConfig]) -> str:
        return config.tenant_id

    result = await result_of(await whoami.kiq())

    assert result.is_err
    assert isinstance(result.error, ScopeError)
    assert "tenant" in str(result.error)


async def test_a_scope_not_opted_in_is_not_carried(events: Events) -> None:
    """Without carry_scopes, the sender's tenant stays with the sender: the task runs outside it."""
    container = make_container(events)
    broker = InMemoryBroker()
    setup_taskiq(container, broker)

    @broker.task
    async def whoami(config: InjectTask[TenantConfig]) -> str:
        return config.tenant_id

    await broker.startup()
    try:
        async with container.scope("tenant", "acme"):
            task = await whoami.kiq()
        result = await result_of(task)
    finally:
        with anyio.fail_after(WAIT):
            await broker.wait_all()
            await broker.shutdown()

    assert isinstance(result.error, ScopeError)


async def test_a_task_runs_in_a_scope_of_its_own_not_the_senders(
    broker: InMemoryBroker, container: InjectQ, events: Events
) -> None:
    """A task sent from inside a request scope does not share the sender's request-scoped instances."""

    @broker.task
    async def job(resource: InjectTask[Resource]) -> int:
        return resource.serial

    async with container.scope() as scope:
        mine = await scope.aget(Resource)
        task = await job.kiq()
        theirs = (await result_of(task)).return_value

    assert theirs != mine.serial
    assert sorted(events.closed) == [1, 2]


async def test_the_carried_label_holds_names_and_ids_only(
    broker: InMemoryBroker, container: InjectQ
) -> None:
    """What travels is a JSON list of [name, id] pairs, outermost first."""
    labels: dict[str, Any] = {}

    @broker.task
    async def job(context: Annotated[Context, TaskiqDepends()]) -> None:
        labels.update(context.message.labels)

    async with container.scope("tenant", "acme"):
        await result_of(await job.kiq())

    assert labels[SCOPES_LABEL] == '[["tenant", "acme"]]'


async def test_a_scope_id_that_cannot_travel_is_refused_at_send(
    broker: InMemoryBroker, container: InjectQ
) -> None:
    """kiq() inside a carried scope whose id is not a JSON scalar raises a ScopeError naming the scope."""

    @broker.task
    async def job() -> None: ...

    async with container.scope("tenant", ("not", "a", "scalar")):
        with pytest.raises(ScopeError, match=r"'tenant' scope.*tuple"):
            await job.kiq()


async def test_a_malformed_scopes_label_fails_the_task_with_a_scope_error(
    broker: InMemoryBroker,
) -> None:
    """A hand-written injectq_scopes label that is not [name, id] pairs fails the task clearly."""

    @broker.task
    async def job(resource: InjectTask[Resource]) -> None: ...

    task = await job.kicker().with_labels(**{SCOPES_LABEL: "acme"}).kiq()
    result = await result_of(task)

    assert isinstance(result.error, ScopeError)
    assert SCOPES_LABEL in str(result.error)


# -- lifetime and setup ----------------------------------------------------------------------


async def test_broker_shutdown_closes_the_container(container: InjectQ) -> None:
    """Shutting the broker down finalizes the singletons its tasks built, once."""
    broker = InMemoryBroker()
    setup_taskiq(container, broker)

    @broker.task
    async def job(pool: InjectTask[Pool]) -> None: ...

    await broker.startup()
    try:
        await result_of(await job.kiq())
        await result_of(await job.kiq())
        pool = container.get(Pool)
        assert pool.closed == 0
    finally:
        with anyio.fail_after(WAIT):
            await broker.wait_all()
            await broker.shutdown()  # CLIENT_SHUTDOWN and WORKER_SHUTDOWN: two closes

    assert pool.closed == 1
    assert container.get(Pool) is not pool  # a closed container works as a fresh one


async def test_a_teardown_failure_is_logged_with_the_task_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A finalizer that raises after a task is logged as an error naming the task (the result stays the task's)."""
    container = InjectQ()

    def fragile() -> Iterator[Resource]:
        yield Resource(0)
        raise OSError("cannot close")

    container.bind_factory(Resource, fragile, scope="scoped")
    broker = InMemoryBroker()
    setup_taskiq(container, broker)

    @broker.task
    async def job(resource: InjectTask[Resource]) -> str:
        return "done"

    await broker.startup()
    try:
        with caplog.at_level(logging.ERROR, logger="injectq.integrations.taskiq"):
            result = await result_of(await job.kiq())
    finally:
        with anyio.fail_after(WAIT):
            await broker.wait_all()
            await broker.shutdown()

    assert result.return_value == "done"
    [record] = [r for r in caplog.records if r.name == "injectq.integrations.taskiq"]
    assert "job" in record.getMessage()
    assert record.exc_info is not None
    error = record.exc_info[1]
    assert isinstance(error, FinalizationError)
    assert [str(e) for e in error.exceptions] == ["cannot close"]


async def test_a_missing_binding_fails_the_task_with_injectq_error(broker: InMemoryBroker) -> None:
    """A parameter whose type the container cannot provide fails the task with an error naming it."""

    @broker.task
    async def job(thing: InjectTask[Unbound]) -> None: ...

    result = await result_of(await job.kiq())

    assert result.is_err
    assert "Unbound" in str(result.error)


async def test_a_broker_without_setup_fails_the_task_saying_how_to_connect() -> None:
    """A task with an injected parameter on a broker never given to setup_taskiq fails with the fix."""
    broker = InMemoryBroker()

    @broker.task
    async def job(resource: InjectTask[Resource]) -> None: ...

    await broker.startup()
    try:
        result = await result_of(await job.kiq())
    finally:
        await broker.shutdown()

    assert isinstance(result.error, InjectionError)
    assert "setup_taskiq(container, broker)" in str(result.error)


def test_setup_twice_on_one_broker_is_refused() -> None:
    """A broker is connected to one container, once."""
    broker = InMemoryBroker()
    setup_taskiq(InjectQ(), broker)
    with pytest.raises(BindingError, match="already"):
        setup_taskiq(InjectQ(), broker)


@pytest.mark.parametrize(
    ("carry", "message"),
    [
        ("tenant", "not the string 'tenant'"),
        (["scoped"], "request scope of its own"),
        (["singleton"], "lifetime"),
        ([42], "str name"),
    ],
)
def test_carry_scopes_takes_custom_scope_names(carry: Any, message: str) -> None:
    """carry_scopes refuses a bare string, built-in lifetimes and non-str names, saying why."""
    with pytest.raises(ScopeError, match=message):
        setup_taskiq(InjectQ(), InMemoryBroker(), carry_scopes=carry)


def test_importing_without_taskiq_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without taskiq installed, importing the integration says which extra to install."""
    monkeypatch.setitem(sys.modules, "taskiq", None)
    monkeypatch.delitem(sys.modules, "injectq.integrations.taskiq")
    with pytest.raises(ImportError, match=r'pip install "injectq\[taskiq\]"'):
        importlib.import_module("injectq.integrations.taskiq")


def test_the_marker_reads_as_written() -> None:
    """A marker shows the key it injects, as InjectTask[T] (what error messages and debuggers print)."""
    assert repr(InjectTask(Resource)) == "InjectTask[Resource]"
    assert (
        repr(InjectTaskiq(Annotated[str, "greeting"])) == "InjectTask[Annotated[str, 'greeting']]"
    )
