"""Hand-written scope managers in the shape our users bring from their old library.

Users coming to injectq already have managers of their own: classes that keep
their scopes in a dict and the *current* id on ``self`` (``_current_scope``,
``_current_session``, ``_current_tenant``), sometimes without calling
``super().__init__()``, sometimes keyed by thread, built on their own
``ContextVar``, or written with ``async def``.  The managers below follow those
shapes (with our own names) and the tests check that they work unchanged and
that one manager shared by many tasks or threads keeps every scope apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from injectq import InjectQ, ScopeError, ScopeManager

# -- the managers ---------------------------------------------------------------------


class RoomManager(ScopeManager):
    """Basic: rooms in ``self._scopes``, the current room on ``self``, a room forgotten on cleanup."""

    def __init__(self) -> None:
        super().__init__()
        self._scopes: dict[Hashable, dict[Hashable, Any]] = {}
        self._current_scope: Hashable | None = None

    def enter_scope(self, scope_id: Hashable) -> None:
        self._scopes.setdefault(scope_id, {})
        self._current_scope = scope_id

    def exit_scope(self) -> None:
        self._current_scope = None

    def get_current_scope(self) -> dict[Hashable, Any] | None:
        if self._current_scope is None:
            return None
        return self._scopes.get(self._current_scope)

    def cleanup_scope(self, scope_id: Hashable) -> None:
        self._scopes.pop(scope_id, None)


class VisitManager(ScopeManager):
    """Session-like, never calls ``super().__init__()``; visits stay until the container closes."""

    def __init__(self) -> None:
        self._visits: dict[Hashable, dict[Hashable, Any]] = {}

    def enter_scope(self, visit_id: Hashable) -> None:
        if visit_id not in self._visits:
            self._visits[visit_id] = {}
        self._current_session = visit_id

    def exit_scope(self) -> None:
        self._current_session = None

    def get_current_scope(self) -> dict[Hashable, Any] | None:
        if not hasattr(self, "_current_session"):
            return None
        return self._visits.get(self._current_session)


class ShopManager(ScopeManager):
    """Tenant-like: one storage per shop, the current shop in ``self._current_tenant``."""

    def __init__(self) -> None:
        self._shops: dict[Hashable, dict[Hashable, Any]] = {}
        self._current_tenant: Hashable | None = None

    def enter_scope(self, shop_id: Hashable) -> None:
        if shop_id not in self._shops:
            self._shops[shop_id] = {}
        self._current_tenant = shop_id

    def exit_scope(self) -> None:
        self._current_tenant = None

    def get_current_scope(self) -> dict[Hashable, Any] | None:
        if self._current_tenant is None:
            return None
        return self._shops.get(self._current_tenant)

    def shop_services(self, shop_id: Hashable) -> dict[Hashable, Any]:
        return self._shops.get(shop_id, {})


class PageManager(ScopeManager):
    """Takes no id: every entry gets a brand-new storage, dropped when it is left."""

    def __init__(self) -> None:
        self._current_page: dict[Hashable, Any] | None = None
        self.cleanup_calls: list[Hashable | None] = []

    def enter_scope(self) -> None:  # type: ignore[override]
        self._current_page = {}

    def exit_scope(self) -> None:
        self._current_page = None

    def get_current_scope(self) -> dict[Hashable, Any] | None:
        return self._current_page

    def cleanup_scope(self, scope_id: Hashable | None) -> None:
        self.cleanup_calls.append(scope_id)


class ShelfManager(ScopeManager):
    """Memory-aware: when full, entering drops the oldest tenth of its shelves (at least one)."""

    def __init__(self, max_shelves: int) -> None:
        self._scopes: dict[Hashable, dict[Hashable, Any]] = {}
        self._max = max_shelves
        self._current_scope: Hashable | None = None

    def enter_scope(self, shelf_id: Hashable) -> None:
        if shelf_id not in self._scopes and len(self._scopes) >= self._max:
            oldest = list(self._scopes)[: max(1, len(self._scopes) // 10)]
            for dropped in oldest:
                del self._scopes[dropped]
        self._scopes.setdefault(shelf_id, {})
        self._current_scope = shelf_id


class DeskManager(ScopeManager):
    """Thread-keyed: the current desk of each thread in a dict guarded by a lock."""

    def __init__(self) -> None:
        self._desks: dict[Hashable, dict[Hashable, Any]] = {}
        self._by_thread: dict[int, Hashable] = {}
        self._lock = threading.RLock()

    def enter_scope(self, desk_id: Hashable) -> None:
        with self._lock:
            self._desks.setdefault(desk_id, {})
            self._by_thread[threading.get_ident()] = desk_id

    def exit_scope(self) -> None:
        with self._lock:
            self._by_thread.pop(threading.get_ident(), None)

    def get_current_scope(self) -> dict[Hashable, Any] | None:
        with self._lock:
            desk_id = self._by_thread.get(threading.get_ident())
            return None if desk_id is None else self._desks.get(desk_id)


class LaneManager(ScopeManager):
    """Built on its own ``ContextVar``, kept (as users do) in ``self._current_scope``."""

    def __init__(self) -> None:
        self._lanes: dict[Hashable, dict[Hashable, Any]] = {}
        self._current_scope: ContextVar[Hashable | None] = ContextVar("lane", default=None)

    def enter_scope(self, lane_id: Hashable) -> None:
        self._lanes.setdefault(lane_id, {})
        self._current_scope.set(lane_id)

    def exit_scope(self) -> None:
        self._current_scope.set(None)

    def get_current_scope(self) -> dict[Hashable, Any] | None:
        lane_id = self._current_scope.get()
        return None if lane_id is None else self._lanes.get(lane_id)


class BoothManager(ScopeManager):
    """All ``async def``, yielding to other tasks inside every method; forgets a booth on cleanup."""

    def __init__(self) -> None:
        self._scopes: dict[Hashable, dict[Hashable, Any]] = {}
        self._current_scope: Hashable | None = None

    async def enter_scope(self, booth_id: Hashable) -> None:
        await anyio.lowlevel.checkpoint()
        self._scopes.setdefault(booth_id, {})
        self._current_scope = booth_id
        await anyio.lowlevel.checkpoint()

    async def exit_scope(self) -> None:
        await anyio.lowlevel.checkpoint()
        self._current_scope = None

    async def get_current_scope(self) -> dict[Hashable, Any] | None:
        await anyio.lowlevel.checkpoint()
        current = self._current_scope
        return None if current is None else self._scopes.get(current)

    async def cleanup_scope(self, booth_id: Hashable) -> None:
        await anyio.lowlevel.checkpoint()
        self._scopes.pop(booth_id, None)


class EntryOnlyAsyncManager(ScopeManager):
    """Only ``enter_scope`` is async; the rest are the base class's."""

    async def enter_scope(self, scope_id: Hashable = None) -> None:  # type: ignore[override]
        await anyio.lowlevel.checkpoint()
        self._scopes.setdefault(scope_id, {})
        self._current_scope = scope_id


# -- services -------------------------------------------------------------------------


class Notebook:
    """A scoped service that remembers every scope id it was used under, and its finalizations."""

    def __init__(self) -> None:
        self.used_under: set[Hashable] = set()
        self.finalized = 0

    def close(self) -> None:
        self.finalized += 1


class ShopConfig:
    """Reads the id of the active shop scope through its parameter name."""

    def __init__(self, shop_id: str) -> None:
        self.shop_id = shop_id
        self.currency = "EUR" if shop_id.startswith("eu-") else "USD"


def make_container(name: str, manager: ScopeManager) -> InjectQ:
    container = InjectQ()
    container.register_scope_manager(name, manager)
    container.bind(Notebook, scope=name)
    return container


# -- each manager as written ------------------------------------------------------------


def test_room_manager_gives_different_rooms_different_instances() -> None:
    """Two rooms of the basic manager never share an instance."""
    container = make_container("room", RoomManager())
    with container.scope("room", "kitchen") as scope:
        in_kitchen = scope.get(Notebook)
    with container.scope("room", "garage") as scope:
        in_garage = scope.get(Notebook)
    assert in_kitchen is not in_garage


def test_room_manager_shares_one_instance_inside_a_room() -> None:
    """Within one room, every resolution gives the same instance, through the handle or the container."""
    container = make_container("room", RoomManager())
    with container.scope("room", "kitchen") as scope:
        first = scope.get(Notebook)
        assert scope.get(Notebook) is first
        assert container.get(Notebook) is first


def test_room_manager_forgets_a_room_after_its_block_and_finalizes_it_once() -> None:
    """The basic manager's own cleanup_scope drops the room, so its instance is finalized exactly once at exit."""
    manager = RoomManager()
    container = make_container("room", manager)
    with container.scope("room", "kitchen") as scope:
        notebook = scope.get(Notebook)
        assert "kitchen" in manager._scopes
        assert notebook.finalized == 0
    assert "kitchen" not in manager._scopes
    assert manager.get_current_scope() is None
    assert notebook.finalized == 1
    container.close()
    assert notebook.finalized == 1


def test_room_manager_storage_holds_the_instances_by_binding_key() -> None:
    """The mapping a manager hands out is where the container keeps the scope's instances, keyed by binding."""
    manager = RoomManager()
    container = make_container("room", manager)
    with container.scope("room", "kitchen") as scope:
        notebook = scope.get(Notebook)
        assert manager._scopes["kitchen"] == {Notebook: notebook}


def test_visit_manager_without_super_init_keeps_instances_across_entries() -> None:
    """A session-like manager that skips super().__init__() hands the same instance to every entry of a visit."""
    manager = VisitManager()
    container = make_container("visit", manager)
    with container.scope("visit", "alice") as scope:
        first = scope.get(Notebook)
        first.used_under.add("theme=dark")
    with container.scope("visit", "alice") as scope:
        again = scope.get(Notebook)
    assert again is first
    assert again.used_under == {"theme=dark"}
    assert first.finalized == 0


def test_visit_manager_instances_are_finalized_once_when_the_container_closes() -> None:
    """Instances a manager keeps across entries are finalized exactly once, by container close."""
    container = make_container("visit", VisitManager())
    notebooks = []
    for visitor in ("alice", "bob", "alice"):
        with container.scope("visit", visitor) as scope:
            notebooks.append(scope.get(Notebook))
    assert [n.finalized for n in notebooks] == [0, 0, 0]
    container.close()
    assert notebooks[0] is notebooks[2]
    assert [n.finalized for n in notebooks] == [1, 1, 1]


def test_visit_manager_reports_no_current_scope_before_any_entry() -> None:
    """A manager that never set its current id answers None, and a visit-scoped service outside is a ScopeError."""
    manager = VisitManager()
    container = make_container("visit", manager)
    assert manager.get_current_scope() is None
    with pytest.raises(ScopeError, match="visit"):
        container.get(Notebook)


def test_shop_manager_injects_the_shop_id_and_exposes_its_services() -> None:
    """A tenant-like manager hands each shop a config built from its own id, visible in the manager's storage."""
    manager = ShopManager()
    container = InjectQ()
    container.register_scope_manager("shop", manager)
    container.bind(ShopConfig, scope="shop")
    with container.scope("shop", "eu-paris") as scope:
        paris = scope.get(ShopConfig)
    with container.scope("shop", "us-boston") as scope:
        boston = scope.get(ShopConfig)
    assert (paris.shop_id, paris.currency) == ("eu-paris", "EUR")
    assert (boston.shop_id, boston.currency) == ("us-boston", "USD")
    assert manager.shop_services("eu-paris") == {ShopConfig: paris}
    assert manager.shop_services("nowhere") == {}


def test_page_manager_without_an_id_gives_each_entry_a_fresh_instance_finalized_at_exit() -> None:
    """A manager whose enter_scope takes no id gets one storage per entry; it is finalized when the entry ends."""
    manager = PageManager()
    container = make_container("page", manager)
    with container.scope("page") as scope:
        first = scope.get(Notebook)
        assert scope.get(Notebook) is first
    assert first.finalized == 1
    with container.scope("page") as scope:
        second = scope.get(Notebook)
    assert second is not first
    assert (first.finalized, second.finalized) == (1, 1)
    assert manager.cleanup_calls == [None, None]


def test_desk_manager_keeps_threads_apart() -> None:
    """The thread-keyed manager gives each of several simultaneous threads its own desk's instance."""
    manager = DeskManager()
    container = make_container("desk", manager)
    inside = threading.Barrier(6, timeout=10)
    seen: dict[str, Notebook] = {}
    failures: list[BaseException] = []

    def worker(desk: str) -> None:
        try:
            with container.scope("desk", desk) as scope:
                notebook = scope.get(Notebook)
                notebook.used_under.add(desk)
                inside.wait()  # every thread is inside its own desk now
                assert container.get(Notebook) is notebook
                seen[desk] = notebook
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(f"desk-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert len({id(n) for n in seen.values()}) == 6
    assert all(n.used_under == {desk} for desk, n in seen.items())


def test_lane_manager_on_its_own_context_var_works_as_written() -> None:
    """A manager keeping a ContextVar in self._current_scope shares within a lane and separates lanes."""
    manager = LaneManager()
    container = make_container("lane", manager)
    with container.scope("lane", "fast") as scope:
        fast = scope.get(Notebook)
        assert container.get(Notebook) is fast
    with container.scope("lane", "slow") as scope:
        slow = scope.get(Notebook)
    with container.scope("lane", "fast") as scope:
        assert scope.get(Notebook) is fast
    assert slow is not fast
    assert manager.get_current_scope() is None


def test_shelf_manager_dropping_old_shelves_gets_them_finalized_once() -> None:
    """A memory-aware manager that deletes its oldest storage on entry gets that storage's instances finalized, once."""
    manager = ShelfManager(max_shelves=3)
    container = make_container("shelf", manager)
    notebooks = {}
    for shelf in ("s1", "s2", "s3"):
        with container.scope("shelf", shelf) as scope:
            notebooks[shelf] = scope.get(Notebook)
    assert [n.finalized for n in notebooks.values()] == [0, 0, 0]
    with container.scope("shelf", "s4") as scope:
        notebooks["s4"] = scope.get(Notebook)
    assert list(manager._scopes) == ["s2", "s3", "s4"]
    assert [n.finalized for n in notebooks.values()] == [1, 0, 0, 0]
    with container.scope("shelf", "s2") as scope:
        assert scope.get(Notebook) is notebooks["s2"]
    container.close()
    assert [n.finalized for n in notebooks.values()] == [1, 1, 1, 1]


@pytest.mark.anyio
async def test_page_manager_gives_concurrent_entries_their_own_instances() -> None:
    """Simultaneous entries of a no-id manager never share an instance, and each is finalized when its entry ends."""
    container = make_container("page", PageManager())
    all_inside = anyio.Event()
    inside = 0
    seen: list[Notebook] = []

    async def worker(number: int) -> None:
        nonlocal inside
        async with container.scope("page") as scope:
            notebook = await scope.aget(Notebook)
            notebook.used_under.add(number)
            seen.append(notebook)
            inside += 1
            if inside == 20:
                all_inside.set()
            await all_inside.wait()
            assert await container.aget(Notebook) is notebook
            assert notebook.finalized == 0

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for number in range(20):
                tg.start_soon(worker, number)
    assert len({id(n) for n in seen}) == 20
    assert all(len(n.used_under) == 1 for n in seen)
    assert [n.finalized for n in seen] == [1] * 20


@pytest.mark.anyio
async def test_sync_code_using_a_hand_written_manager_works_inside_a_running_loop() -> None:
    """A plain function using `with container.scope(...)` behaves the same when called from async code."""
    container = make_container("visit", VisitManager())

    def handle_request(visitor: str) -> Notebook:
        with container.scope("visit", visitor) as scope:
            return scope.get(Notebook)

    first = handle_request("alice")
    await anyio.lowlevel.checkpoint()
    assert handle_request("alice") is first
    assert handle_request("bob") is not first


@pytest.mark.anyio
async def test_booth_manager_with_async_methods_works_under_async_with() -> None:
    """An all-async manager shares within a booth, separates booths and forgets a booth after its block."""
    manager = BoothManager()
    container = make_container("booth", manager)
    async with container.scope("booth", "b1") as scope:
        first = await scope.aget(Notebook)
        assert await scope.aget(Notebook) is first
    async with container.scope("booth", "b2") as scope:
        second = await scope.aget(Notebook)
    assert second is not first
    assert manager._scopes == {}
    assert (first.finalized, second.finalized) == (1, 1)


@pytest.mark.parametrize("manager_type", [BoothManager, EntryOnlyAsyncManager])
def test_sync_with_on_an_async_manager_is_a_scope_error_naming_async_with(
    manager_type: Callable[[], ScopeManager],
) -> None:
    """Entering a scope whose manager must be awaited with plain `with` fails up front and points to `async with`."""
    manager = manager_type()
    container = make_container("booth", manager)
    with pytest.raises(ScopeError, match="async with"):
        with container.scope("booth", "b1"):
            pytest.fail("the block must not run")  # pragma: no cover
    assert manager._scopes == {}
    with pytest.raises(ScopeError, match="booth"):
        container.get(Notebook)


# -- one manager, many tasks or threads ----------------------------------------------------

MANAGERS: dict[str, Callable[[], ScopeManager]] = {
    "room": RoomManager,
    "visit": VisitManager,
    "shop": ShopManager,
    "desk": DeskManager,
    "lane": LaneManager,
    "booth": BoothManager,
}
#: managers that drop a scope when its last entry leaves (the others keep it until close)
FORGETFUL = {"room", "booth"}
WORKERS = 48
IDS = 8  # six workers share each scope id


def check_isolation(name: str, seen: list[tuple[str, Notebook]]) -> None:
    assert len(seen) == WORKERS
    by_id: dict[str, set[int]] = {}
    for scope_id, notebook in seen:
        assert notebook.used_under == {scope_id}, f"{name}: an instance leaked across scopes"
        by_id.setdefault(scope_id, set()).add(id(notebook))
    # every worker of an id was inside at the same moment, so they all shared one instance
    assert all(len(ids) == 1 for ids in by_id.values())
    assert len(by_id) == IDS


def check_finalized(name: str, container: InjectQ, seen: list[tuple[str, Notebook]]) -> None:
    notebooks = {id(n): n for _, n in seen}.values()
    expected_now = 1 if name in FORGETFUL else 0
    assert [n.finalized for n in notebooks] == [expected_now] * IDS
    container.close()
    assert [n.finalized for n in notebooks] == [1] * IDS


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(MANAGERS))
async def test_one_hand_written_manager_keeps_concurrent_tasks_apart(name: str) -> None:
    """Many tasks entering one hand-written manager at once each see only their own scope's instance."""
    container = make_container(name, MANAGERS[name]())
    seen: list[tuple[str, Notebook]] = []
    all_inside = anyio.Event()
    inside = 0

    async def worker(number: int) -> None:
        nonlocal inside
        scope_id = f"{name}-{number % IDS}"
        async with container.scope(name, scope_id) as scope:
            notebook = await scope.aget(Notebook)
            notebook.used_under.add(scope_id)
            inside += 1
            if inside == WORKERS:
                all_inside.set()
            await all_inside.wait()
            await anyio.lowlevel.checkpoint()
            assert await container.aget(Notebook) is notebook
            assert notebook.finalized == 0
            seen.append((scope_id, notebook))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for number in range(WORKERS):
                tg.start_soon(worker, number)
    check_isolation(name, seen)
    check_finalized(name, container, seen)


# the all-async booth manager is left out: plain `with` in a thread refuses it (tested above)
@pytest.mark.parametrize("name", [n for n in MANAGERS if n != "booth"])
def test_one_hand_written_manager_keeps_concurrent_threads_apart(name: str) -> None:
    """Many threads entering one hand-written manager at once each see only their own scope's instance."""
    container = make_container(name, MANAGERS[name]())
    seen: list[tuple[str, Notebook]] = []
    failures: list[BaseException] = []
    inside = threading.Barrier(WORKERS, timeout=10)

    def worker(number: int) -> None:
        scope_id = f"{name}-{number % IDS}"
        try:
            with container.scope(name, scope_id) as scope:
                notebook = scope.get(Notebook)
                notebook.used_under.add(scope_id)
                inside.wait()
                assert container.get(Notebook) is notebook
                assert notebook.finalized == 0
                seen.append((scope_id, notebook))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    check_isolation(name, seen)
    check_finalized(name, container, seen)


@pytest.mark.anyio
async def test_room_is_finalized_only_after_the_last_of_overlapping_entries_leaves() -> None:
    """When the basic manager drops a room that another task still uses, its instance waits for that task."""
    manager = RoomManager()
    container = make_container("room", manager)
    second_inside = anyio.Event()
    first_left = anyio.Event()
    observed: list[int] = []

    async def first() -> None:
        async with container.scope("room", "hall") as scope:
            await scope.aget(Notebook)
            await second_inside.wait()
        first_left.set()

    async def second() -> None:
        async with container.scope("room", "hall") as scope:
            notebook = await scope.aget(Notebook)
            second_inside.set()
            await first_left.wait()
            observed.append(notebook.finalized)
            assert await scope.aget(Notebook) is notebook
        observed.append(notebook.finalized)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            tg.start_soon(first)
    assert observed == [0, 1]
    assert "hall" not in manager._scopes
