"""Custom scopes: registering managers, binding to them, nesting them, injecting their ids.

These tests cover the container's side of custom scopes: what
``register_scope_manager`` accepts and refuses, the errors a user gets for a
wrong scope name or a service used outside its scope, the lifetime order
``parent=`` declares (session outlives tenant outlives request), the calls the
container makes on a manager, and the injection of the active scope's id.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Annotated, Any

import anyio
import pytest

from injectq import (
    InjectQ,
    Scope,
    ScopeError,
    ScopeId,
    ScopeManager,
    SessionScopeManager,
    TenantScopeManager,
)

# -- services ---------------------------------------------------------------------------


class Preferences:
    """Per session."""

    def __init__(self) -> None:
        self.theme = "light"
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class TenantDirectory:
    """Per tenant, and it reads the session's preferences."""

    def __init__(self, preferences: Preferences) -> None:
        self.preferences = preferences


class RequestHandler:
    """Per request, using both outer scopes."""

    def __init__(self, directory: TenantDirectory, preferences: Preferences) -> None:
        self.directory = directory
        self.preferences = preferences


class RequestLog:
    """Per request."""


class GreedyTenantService:
    """A tenant service that wrongly wants a request service."""

    def __init__(self, log: RequestLog) -> None:
        self.log = log


class TenantFlags:
    """Per tenant, with no dependencies."""


class GreedySessionService:
    """A session service that wrongly wants a tenant service."""

    def __init__(self, flags: TenantFlags) -> None:
        self.flags = flags


class TenantBilling:
    """Gets the active tenant's id through its parameter name."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id


class TenantMailer:
    """Gets the active tenant's id through an explicit marker, whatever the parameter is called."""

    def __init__(self, owner: Annotated[str, ScopeId("tenant")]) -> None:
        self.owner = owner


class Counter:
    """A plain custom-scoped service."""


class RecordingManager(ScopeManager):
    """The base manager, writing down every call the container makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    def enter_scope(self, *args: Hashable) -> None:
        self.calls.append(("enter_scope", *args))
        super().enter_scope(*args)

    def exit_scope(self) -> None:
        self.calls.append(("exit_scope",))
        super().exit_scope()

    def get_current_scope(self) -> Any:
        self.calls.append(("get_current_scope",))
        return super().get_current_scope()

    def cleanup_scope(self, scope_id: Hashable | None) -> None:
        self.calls.append(("cleanup_scope", scope_id))


class ForgetfulManager(ScopeManager):
    """Claims to enter, but never has a storage to give."""

    def get_current_scope(self) -> None:
        return None


def layered_container() -> InjectQ:
    """session ⊃ tenant ⊃ request, with a service at each level."""
    container = InjectQ()
    container.register_scope_manager("session", SessionScopeManager())
    container.register_scope_manager("tenant", TenantScopeManager(), parent="session")
    container.bind(Preferences, scope="session")
    container.bind(TenantDirectory, scope="tenant")
    container.bind(RequestHandler, scope=Scope.SCOPED)
    return container


# -- registering ------------------------------------------------------------------------


def test_registering_a_name_again_replaces_its_manager() -> None:
    """After a second registration under the same name, entries of that scope go to the new manager."""
    container = InjectQ()
    old, new = ScopeManager(), ScopeManager()
    container.register_scope_manager("batch", old)
    container.bind(Counter, scope="batch")
    with container.scope("batch", "b1") as scope:
        before = scope.get(Counter)
    container.register_scope_manager("batch", new)
    with container.scope("batch", "b1") as scope:
        after = scope.get(Counter)
    assert after is not before
    assert new._scopes["b1"] == {Counter: after}
    # the old manager's scope ended with its registration: what the container
    # put there was finalized and dropped, so the old manager hands out nothing stale
    assert old._scopes["b1"] == {}


def test_instances_of_a_replaced_manager_are_finalized_once_by_close() -> None:
    """Replacing a manager does not leak its instances: the container still finalizes them exactly once."""
    container = InjectQ()
    container.register_scope_manager("session", ScopeManager())
    container.bind(Preferences, scope="session")
    with container.scope("session", "s1") as scope:
        old_prefs = scope.get(Preferences)
    container.register_scope_manager("session", ScopeManager())
    with container.scope("session", "s1") as scope:
        new_prefs = scope.get(Preferences)
    container.close()
    assert (old_prefs.closed, new_prefs.closed) == (1, 1)


def test_registering_a_name_while_it_is_entered_is_a_scope_error() -> None:
    """A manager cannot be swapped under a scope that is in use; once left, it can."""
    container = InjectQ()
    container.register_scope_manager("batch", ScopeManager())
    with container.scope("batch", "b1"):
        with pytest.raises(ScopeError, match="'batch' is entered"):
            container.register_scope_manager("batch", ScopeManager())
    container.register_scope_manager("batch", ScopeManager())


@pytest.mark.anyio
async def test_registering_a_name_entered_by_another_task_is_a_scope_error() -> None:
    """The refusal holds when the entry belongs to a different task."""
    container = InjectQ()
    container.register_scope_manager("batch", ScopeManager())
    entered, release = anyio.Event(), anyio.Event()

    async def hold() -> None:
        async with container.scope("batch", "b1"):
            entered.set()
            await release.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(hold)
            await entered.wait()
            with pytest.raises(ScopeError, match="batch"):
                container.register_scope_manager("batch", ScopeManager())
            release.set()
    container.register_scope_manager("batch", ScopeManager())


@pytest.mark.parametrize("name", ["singleton", "transient", "scoped", Scope.SCOPED])
def test_a_reserved_name_cannot_be_registered(name: str) -> None:
    """The built-in lifetimes' names are reserved, whether given as strings or as Scope members."""
    container = InjectQ()
    with pytest.raises(ScopeError, match="built-in lifetime"):
        container.register_scope_manager(name, ScopeManager())


# -- unknown names ------------------------------------------------------------------------


def two_scope_container() -> InjectQ:
    container = InjectQ()
    container.register_scope_manager("session", ScopeManager())
    container.register_scope_manager("tenant", ScopeManager())
    return container


def test_opening_an_unknown_scope_lists_the_registered_ones() -> None:
    """container.scope() with an unregistered name fails and tells which names exist."""
    with pytest.raises(ScopeError, match="'nope'") as info:
        two_scope_container().scope("nope", "x")
    assert "'session'" in str(info.value)
    assert "'tenant'" in str(info.value)


@pytest.mark.parametrize("how", ["bind", "bind_factory", "decorator"])
def test_binding_to_an_unknown_scope_lists_the_registered_ones(how: str) -> None:
    """Binding to an unregistered scope name fails at bind time, listing the registered names."""
    container = two_scope_container()
    attempts = {
        "bind": lambda: container.bind(Counter, scope="nope"),
        "bind_factory": lambda: container.bind_factory(Counter, Counter, scope="nope"),
        "decorator": lambda: container.bind(scope="nope")(Counter),
    }
    with pytest.raises(ScopeError, match="'nope'") as info:
        attempts[how]()
    assert "'session'" in str(info.value)
    assert "'tenant'" in str(info.value)
    assert Counter not in container


def test_custom_scoped_service_outside_its_scope_is_a_scope_error_naming_it() -> None:
    """Resolving a tenant service with no tenant scope active says which scope to open."""
    container = two_scope_container()
    container.bind(Counter, scope="tenant")
    with pytest.raises(ScopeError, match="'tenant'") as info:
        container.get(Counter)
    assert "Counter" in str(info.value)


def test_custom_scoped_service_inside_another_custom_scope_is_a_scope_error() -> None:
    """Being inside a session does not make a tenant service available."""
    container = two_scope_container()
    container.bind(Counter, scope="tenant")
    with container.scope("session", "s1"):
        with pytest.raises(ScopeError, match="'tenant'"):
            container.get(Counter)


@pytest.mark.anyio
async def test_custom_scoped_service_outside_its_scope_is_a_scope_error_when_awaited() -> None:
    """The async path refuses a custom-scoped service outside its scope the same way."""
    container = two_scope_container()
    container.bind(Counter, scope="session")
    with pytest.raises(ScopeError, match="'session'"):
        await container.aget(Counter)


def test_decorator_binds_a_class_to_a_custom_scope() -> None:
    """@container.bind(scope="session") returns the class and makes it one instance per session."""
    container = two_scope_container()

    @container.bind(scope="session")
    class Cart:
        pass

    assert Cart in container
    with container.scope("session", "s1") as scope:
        cart = scope.get(Cart)
        assert scope.get(Cart) is cart
    with container.scope("session", "s2") as scope:
        assert scope.get(Cart) is not cart
    with container.scope("session", "s1") as scope:
        assert scope.get(Cart) is cart


# -- what the container calls -------------------------------------------------------------


def test_container_enters_reads_exits_then_cleans_up_with_the_id() -> None:
    """Entering calls enter_scope(id) then get_current_scope(); leaving calls exit_scope() then cleanup_scope(id)."""
    manager = RecordingManager()
    container = InjectQ()
    container.register_scope_manager("job", manager)
    container.bind(Counter, scope="job")
    with container.scope("job", "j1") as scope:
        scope.get(Counter)
        entered = list(manager.calls)
    assert entered == [("enter_scope", "j1"), ("get_current_scope",)]
    assert manager.calls[len(entered) :] == [("exit_scope",), ("cleanup_scope", "j1")]


def test_container_calls_enter_scope_without_an_id_and_cleans_up_with_none() -> None:
    """A scope opened with no id calls enter_scope() with no argument and cleanup_scope(None)."""
    manager = RecordingManager()
    container = InjectQ()
    container.register_scope_manager("job", manager)
    with container.scope("job"):
        pass
    assert manager.calls == [
        ("enter_scope",),
        ("get_current_scope",),
        ("exit_scope",),
        ("cleanup_scope", None),
    ]


def test_the_base_manager_keeps_a_scopes_instances_across_entries() -> None:
    """With the base class's do-nothing cleanup_scope, entering an id again gives its earlier instances."""
    manager = ScopeManager()
    container = InjectQ()
    container.register_scope_manager("job", manager)
    container.bind(Preferences, scope="job")
    with container.scope("job", "j1") as scope:
        first = scope.get(Preferences)
    with container.scope("job", "j1") as scope:
        assert scope.get(Preferences) is first
    assert manager.get_current_scope() is None
    assert first.closed == 0


def test_end_scope_on_the_base_manager_finalizes_that_scope_once() -> None:
    """A hand-written manager ends a scope with end_scope(); finalize_ended() then finalizes it exactly once."""
    manager = ScopeManager()
    container = InjectQ()
    container.register_scope_manager("job", manager)
    container.bind(Preferences, scope="job")
    with container.scope("job", "j1") as scope:
        prefs = scope.get(Preferences)
    manager.end_scope("j1")
    container.finalize_ended()
    assert prefs.closed == 1
    with container.scope("job", "j1") as scope:
        assert scope.get(Preferences) is not prefs
    container.close()
    assert prefs.closed == 1


def test_a_manager_with_no_storage_after_entering_is_a_scope_error() -> None:
    """If get_current_scope() answers None right after enter_scope(), entering fails with a ScopeError."""
    container = InjectQ()
    container.register_scope_manager("void", ForgetfulManager())
    with pytest.raises(ScopeError, match="get_current_scope"):
        with container.scope("void", "v1"):
            pytest.fail("the block must not run")  # pragma: no cover


def test_an_exception_from_a_custom_scope_block_comes_out_as_itself() -> None:
    """A user's except clause around a custom scope block still catches the block's own exception."""
    container = two_scope_container()
    with pytest.raises(KeyError, match="missing"):
        with container.scope("session", "s1"):
            raise KeyError("missing")
    with container.scope("session", "s1"):
        pass


def test_a_custom_scope_handle_used_after_leaving_is_a_scope_error() -> None:
    """A handle kept past its block refuses to resolve, saying it has been left."""
    container = two_scope_container()
    container.bind(Counter, scope="session")
    with container.scope("session", "s1") as scope:
        pass
    with pytest.raises(ScopeError, match="after it has been left"):
        scope.get(Counter)


@pytest.mark.anyio
async def test_tasks_started_in_a_custom_scope_see_its_instances() -> None:
    """A task started with scope.start_soon resolves the same tenant instance as the block."""
    container = two_scope_container()
    container.bind(Counter, scope="tenant")
    seen: list[Counter] = []

    async def task() -> None:
        seen.append(await container.aget(Counter))

    with anyio.fail_after(5):
        async with container.scope("tenant", "acme") as scope:
            mine = await scope.aget(Counter)
            scope.start_soon(task)
    assert seen == [mine]


# -- lifetime order -----------------------------------------------------------------------


def test_session_tenant_request_nest_and_inner_services_use_outer_ones() -> None:
    """A request inside a tenant inside a session gets that tenant's and that session's instances."""
    container = layered_container()
    with container.scope("session", "alice"):
        with container.scope("tenant", "acme"), container.scope():
            first = container.get(RequestHandler)
        with container.scope("tenant", "acme"), container.scope():
            second = container.get(RequestHandler)
        with container.scope("tenant", "globex"), container.scope():
            other_tenant = container.get(RequestHandler)
    assert second is not first
    assert second.directory is first.directory
    assert other_tenant.directory is not first.directory
    assert first.preferences is first.directory.preferences
    assert other_tenant.preferences is first.preferences


@pytest.mark.anyio
async def test_session_tenant_request_nest_under_async_with() -> None:
    """The same nesting works with async with, the tenant service reading its session's preferences."""
    container = layered_container()
    async with container.scope("session", "alice"):
        prefs = await container.aget(Preferences)
        async with container.scope("tenant", "acme"), container.scope() as request:
            handler = await request.aget(RequestHandler)
    async with container.scope("session", "bob"), container.scope("tenant", "acme"):
        other = await container.aget(TenantDirectory)
    assert handler.preferences is prefs
    assert handler.directory.preferences is prefs
    assert other is handler.directory  # one tenant directory, built first in alice's session


def test_tenant_service_needing_a_request_service_is_refused_naming_both() -> None:
    """A tenant-lived service may not capture a request-lived one: resolution fails naming both."""
    container = layered_container()
    container.bind(RequestLog, scope=Scope.SCOPED)
    container.bind(GreedyTenantService, scope="tenant")
    with container.scope("session", "s"), container.scope("tenant", "t"), container.scope():
        with pytest.raises(ScopeError, match="GreedyTenantService") as info:
            container.get(GreedyTenantService)
    assert "RequestLog" in str(info.value)


def test_validate_finds_a_tenant_service_needing_a_request_service() -> None:
    """validate() reports the captive request service without building anything."""
    built: list[str] = []
    container = layered_container()
    container.bind_factory(
        RequestLog, lambda: built.append("log") or RequestLog(), scope=Scope.SCOPED
    )
    container.bind(GreedyTenantService, scope="tenant")
    with pytest.raises(ScopeError, match="GreedyTenantService") as info:
        container.validate()
    assert "RequestLog" in str(info.value)
    assert built == []


def test_session_service_needing_a_tenant_service_is_refused_without_a_parent_relation() -> None:
    """With no parent= tying them, a session service cannot depend on a tenant one: both are named."""
    container = InjectQ()
    container.register_scope_manager("session", SessionScopeManager())
    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind(TenantFlags, scope="tenant")
    container.bind(GreedySessionService, scope="session")
    with pytest.raises(ScopeError, match="GreedySessionService") as info:
        container.validate()
    assert "TenantFlags" in str(info.value)
    with container.scope("session", "s"), container.scope("tenant", "t"):
        with pytest.raises(ScopeError, match="GreedySessionService") as info:
            container.get(GreedySessionService)
    assert "TenantFlags" in str(info.value)


def test_session_service_needing_a_tenant_service_is_refused_when_tenant_nests_in_session() -> None:
    """parent="session" makes the session outlive the tenant, so the session still cannot capture a tenant service."""
    container = layered_container()
    container.bind(TenantFlags, scope="tenant")
    container.bind(GreedySessionService, scope="session")
    with pytest.raises(ScopeError, match="GreedySessionService") as info:
        container.validate()
    assert "TenantFlags" in str(info.value)


def test_tenant_service_needing_a_session_service_needs_the_parent_relation() -> None:
    """A tenant service may use a session service only when tenant was registered with parent="session"."""
    unrelated = InjectQ()
    unrelated.register_scope_manager("session", SessionScopeManager())
    unrelated.register_scope_manager("tenant", TenantScopeManager())
    unrelated.bind(Preferences, scope="session")
    unrelated.bind(TenantDirectory, scope="tenant")
    with pytest.raises(ScopeError, match="TenantDirectory"):
        unrelated.validate()
    layered_container().validate()


# -- scope ids ------------------------------------------------------------------------------


def tenant_container() -> InjectQ:
    container = InjectQ()
    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind(TenantBilling, scope="tenant")
    container.bind(TenantMailer, scope="tenant")
    return container


def test_a_tenant_id_parameter_receives_the_active_tenants_id() -> None:
    """A parameter named tenant_id is given the id the tenant scope was opened with."""
    container = tenant_container()
    with container.scope("tenant", "acme") as scope:
        assert scope.get(TenantBilling).tenant_id == "acme"
    with container.scope("tenant", "globex") as scope:
        assert scope.get(TenantBilling).tenant_id == "globex"


def test_a_scope_id_marker_receives_the_active_tenants_id() -> None:
    """Annotated[str, ScopeId("tenant")] injects the tenant id whatever the parameter is called."""
    container = tenant_container()
    with container.scope("tenant", "acme") as scope:
        assert scope.get(TenantMailer).owner == "acme"


def test_a_request_service_inside_a_tenant_gets_the_tenant_id() -> None:
    """The tenant id reaches services of scopes nested inside the tenant."""
    container = tenant_container()

    class AuditEntry:
        def __init__(self, tenant_id: str) -> None:
            self.tenant_id = tenant_id

    container.bind(AuditEntry, scope=Scope.SCOPED)
    with container.scope("tenant", "acme"), container.scope() as request:
        assert request.get(AuditEntry).tenant_id == "acme"


def test_a_tenant_id_asked_for_outside_a_tenant_scope_is_a_scope_error() -> None:
    """A transient that needs the tenant id, resolved with no tenant active, fails naming the tenant scope."""
    container = tenant_container()

    class Probe:
        def __init__(self, tenant_id: str) -> None:
            self.tenant_id = tenant_id

    container.bind(Probe, scope=Scope.TRANSIENT)
    with pytest.raises(ScopeError, match="'tenant'"):
        container.get(Probe)


@pytest.mark.parametrize("marker", ["name", "annotated"])
def test_a_singleton_asking_for_a_scope_id_is_a_lifetime_error(marker: str) -> None:
    """A singleton outlives every tenant, so asking for the tenant id is refused, by validate() too."""
    container = tenant_container()
    if marker == "name":

        class Registry:
            def __init__(self, tenant_id: str) -> None:
                self.tenant_id = tenant_id

    else:

        class Registry:  # type: ignore[no-redef]
            def __init__(self, which: Annotated[str, ScopeId("tenant")]) -> None:
                self.which = which

    container.bind(Registry, scope=Scope.SINGLETON)
    with pytest.raises(ScopeError, match="Registry") as info:
        container.validate()
    assert "tenant" in str(info.value)
    with container.scope("tenant", "acme"):
        with pytest.raises(ScopeError, match="Registry"):
            container.get(Registry)


def test_a_parameter_named_like_an_unregistered_scope_id_is_not_injected_by_name() -> None:
    """Only registered scope names turn <name>_id into a scope id; otherwise the parameter keeps its default."""
    container = tenant_container()

    class Report:
        def __init__(self, region_id: str = "unset") -> None:
            self.region_id = region_id

    container.bind(Report, scope=Scope.TRANSIENT)
    with container.scope("tenant", "acme"):
        assert container.get(Report).region_id == "unset"


# -- regressions found while writing the custom-scope docs ------------------------------


class _Slot:
    def __init__(self) -> None:
        self.storage: dict[object, object] = {}


class _SlotManager(ScopeManager):
    """Keeps each scope's storage inside a record object, one level below a dict."""

    def __init__(self) -> None:
        super().__init__()
        self._slots: dict[str, _Slot] = {}

    def enter_scope(self, scope_id: str = "") -> None:
        self._slots.setdefault(scope_id, _Slot())
        self._current_scope = scope_id

    def get_current_scope(self) -> dict[object, object]:
        return self._slots[self._current_scope].storage

    def drop(self, scope_id: str) -> None:
        del self._slots[scope_id]


class _Counted:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_a_storage_kept_deeper_in_the_manager_is_not_finalized_while_it_is_held() -> None:
    """A storage the manager keeps inside a record object stays alive until the manager drops it."""
    manager = _SlotManager()
    container = InjectQ()
    container.register_scope_manager("slot", manager)
    container.bind(_Counted, scope="slot")
    with container.scope("slot", "a") as scope:
        first = scope.get(_Counted)
    assert first.closed == 0
    with container.scope("slot", "a") as scope:
        assert scope.get(_Counted) is first
    manager.drop("a")
    with container.scope("slot", "b"):
        pass
    assert first.closed == 1


class _Preferences:
    pass


class _Billing:
    def __init__(self, preferences: _Preferences) -> None:
        self.preferences = preferences


def test_the_parent_hint_of_a_lifetime_error_names_the_inner_scope() -> None:
    """A tenant service needing a session service is told to register tenant with parent='session'."""
    container = InjectQ()
    container.register_scope_manager("session", SessionScopeManager())
    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind(_Preferences, scope="session")
    container.bind(_Billing, scope="tenant")
    with pytest.raises(ScopeError) as info:
        container.validate()
    assert "register_scope_manager('tenant', ..., parent='session')" in str(info.value)


class _AsyncOnly:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.closed = True


@pytest.mark.anyio
async def test_a_sync_exit_leaves_ended_async_teardown_to_the_next_async_one() -> None:
    """An expired session holding an aclose()-only service does not fail a later plain `with`."""
    now = [0.0]
    manager = SessionScopeManager(timeout=10, clock=lambda: now[0])
    container = InjectQ()
    container.register_scope_manager("session", manager)
    container.bind(_AsyncOnly, scope="session")
    async with container.scope("session", "old") as scope:
        conn = scope.get(_AsyncOnly)
    now[0] = 20.0
    with container.scope("session", "new"):
        pass  # notices the expiry, but cannot await the teardown
    assert not conn.closed
    await container.afinalize_ended()
    assert conn.closed


def test_a_closed_container_leaves_the_ready_manager_with_no_scope_alive() -> None:
    """After the container closes, the manager's metrics count its scopes as cleaned up."""
    manager = SessionScopeManager(timeout=60)
    container = InjectQ()
    container.register_scope_manager("session", manager)
    container.bind(_Counted, scope="session")
    for session in ("a", "b"):
        with container.scope("session", session) as scope:
            scope.get(_Counted)
    container.close()
    assert manager.metrics.alive == 0
    assert manager.metrics.cleaned_up == 2
