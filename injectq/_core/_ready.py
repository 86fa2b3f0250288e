"""Ready-made scope managers: sessions, tenants, workflows.

All three keep the current scope id in a ``ContextVar`` (through the base
class), so one manager serves many tasks and threads at once; they count
entries so a scope is never ended while it is entered; they report every end
through ``end_scope`` so the container finalizes exactly what ended; and they
take a ``clock`` so tests can move time without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._errors import ScopeError
from ._managers import NO_ID, ScopeManager

__all__ = [
    "ScopeMetrics",
    "SessionScopeManager",
    "TenantScopeManager",
    "WorkflowRecord",
    "WorkflowScopeManager",
]

Clock = Callable[[], float]


@dataclass(frozen=True)
class ScopeMetrics:
    """Counts kept by the ready managers."""

    alive: int  #: scopes holding instances now
    created: int  #: scopes ever created
    cleaned_up: int  #: scopes ended (expired, evicted, finished, cleaned up)


class _ReadyManager(ScopeManager):
    """Bookkeeping shared by the ready managers: entries, ends, metrics."""

    _tracks_ends = True
    _id_name = "scope id"

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._lock = threading.RLock()
        self._order: OrderedDict[Hashable, float] = OrderedDict()  # id -> last use, oldest first
        self._entered: dict[Hashable, int] = {}
        self._doomed: set[Hashable] = set()  # ended while entered: dropped when released
        self._created = 0
        self._cleaned_up = 0

    # -- protocol ---------------------------------------------------------------------

    def enter_scope(self, scope_id: Hashable = NO_ID) -> None:
        if scope_id is NO_ID:
            raise ScopeError(
                f"{type(self).__name__} needs a {self._id_name}",
                fix=f"container.scope(name, {self._id_name.replace(' ', '_')})",
            )
        with self._lock:
            now = self._clock()
            self._before_enter(now)
            if scope_id not in self._scopes:
                self._scopes[scope_id] = {}
                self._created += 1
                self._created_hook(scope_id, now)
            self._entered[scope_id] = self._entered.get(scope_id, 0) + 1
            self._order[scope_id] = now
            self._order.move_to_end(scope_id)
            self._current_scope = scope_id

    def exit_scope(self) -> None:
        scope_id = self._current_scope
        self._current_scope = None
        if scope_id is None:
            return
        with self._lock:
            left = self._entered.get(scope_id, 0) - 1
            if left > 0:
                self._entered[scope_id] = left
            else:
                self._entered.pop(scope_id, None)
                if scope_id in self._doomed:
                    self._doomed.discard(scope_id)
                    self._finish(scope_id)
            if scope_id in self._order:
                self._order[scope_id] = self._clock()
                self._order.move_to_end(scope_id)
            self._after_exit(scope_id)

    def get_current_scope(self) -> MutableMapping[Hashable, Any] | None:
        current = self._current_scope
        return None if current is None else self._scopes.get(current)

    def end_scope(self, scope_id: Hashable) -> None:
        """End ``scope_id`` now, or as soon as its last entry is left."""
        with self._lock:
            if scope_id not in self._scopes:
                return
            if self._entered.get(scope_id):
                self._doomed.add(scope_id)
                return
            self._finish(scope_id)

    cleanup = end_scope

    def _container_closed(self, scope_ids: list[Hashable]) -> None:
        with self._lock:
            for scope_id in scope_ids:
                if scope_id in self._scopes:
                    self._entered.pop(scope_id, None)
                    self._doomed.discard(scope_id)
                    self._finish(scope_id)
            self._ended().clear()  # already finalized by the container

    def clear(self) -> None:
        """End every scope (entered ones when they are left)."""
        with self._lock:
            for scope_id in list(self._scopes):
                self.end_scope(scope_id)

    def _finish(self, scope_id: Hashable) -> None:
        storage = self._scopes.pop(scope_id, None)
        self._order.pop(scope_id, None)
        self._cleaned_up += 1
        self._ended().append((scope_id, storage))
        self._finished_hook(scope_id)

    # -- hooks --------------------------------------------------------------------------

    def _before_enter(self, now: float) -> None:
        return None

    def _after_exit(self, scope_id: Hashable) -> None:
        return None

    def _created_hook(self, scope_id: Hashable, now: float) -> None:
        return None

    def _finished_hook(self, scope_id: Hashable) -> None:
        return None

    # -- looking in ---------------------------------------------------------------------

    @property
    def metrics(self) -> ScopeMetrics:
        with self._lock:
            return ScopeMetrics(len(self._scopes), self._created, self._cleaned_up)

    def get_metrics(self) -> dict[str, int]:
        """The metrics as a dict: ``active_scopes``, ``total_scopes_created``, ``scopes_cleaned_up``."""
        m = self.metrics
        return {
            "active_scopes": m.alive,
            "total_scopes_created": m.created,
            "scopes_cleaned_up": m.cleaned_up,
        }

    def is_entered(self, scope_id: Hashable) -> bool:
        return bool(self._entered.get(scope_id))

    def __contains__(self, scope_id: object) -> bool:
        return scope_id in self._scopes

    def __len__(self) -> int:
        return len(self._scopes)


class SessionScopeManager(_ReadyManager):
    """Per-session instances kept across entries, expiring ``timeout`` s after last use.

    A session is never expired while it is entered.  Expired sessions are
    swept whenever a session is entered (and by :meth:`sweep`), and the
    container finalizes them by the end of that entry.
    """

    _id_name = "session id"

    def __init__(self, timeout: float = 1800.0, *, clock: Clock = time.monotonic) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        super().__init__(clock=clock)
        self.timeout = timeout

    def _before_enter(self, now: float) -> None:
        self.sweep(now)

    def sweep(self, now: float | None = None) -> int:
        """End every session idle for ``timeout`` seconds or more; return how many."""
        with self._lock:
            now = self._clock() if now is None else now
            expired: list[Hashable] = []
            for scope_id, last_used in self._order.items():
                if now - last_used < self.timeout:
                    break  # ordered by last use: the rest are younger
                if not self._entered.get(scope_id):
                    expired.append(scope_id)
            for scope_id in expired:
                self._finish(scope_id)
            return len(expired)


class TenantScopeManager(_ReadyManager):
    """Per-tenant instances; beyond ``max_tenants`` the least recently used tenant is evicted.

    Entering counts as a use.  A tenant that is entered is never evicted: the
    limit is exceeded until it is released.
    """

    _id_name = "tenant id"

    def __init__(self, max_tenants: int = 1000, *, clock: Clock = time.monotonic) -> None:
        if max_tenants < 1:
            raise ValueError("max_tenants must be at least 1")
        super().__init__(clock=clock)
        self.max_tenants = max_tenants

    def enter_scope(self, scope_id: Hashable = NO_ID) -> None:
        super().enter_scope(scope_id)
        self._evict()

    def _after_exit(self, scope_id: Hashable) -> None:
        self._evict()

    def _evict(self) -> None:
        with self._lock:
            excess = len(self._scopes) - self.max_tenants
            if excess <= 0:
                return
            victims = [sid for sid in self._order if not self._entered.get(sid)][:excess]
            for scope_id in victims:
                self._finish(scope_id)

    def get_tenant_services(self, tenant_id: Hashable) -> Mapping[Hashable, Any]:
        """A read-only copy of what one tenant's scope holds now."""
        return dict(self._scopes.get(tenant_id, {}))


WorkflowStatus = Literal["running", "completed", "failed"]


@dataclass
class WorkflowRecord:
    """What a ``WorkflowScopeManager`` knows of one workflow."""

    workflow_id: Hashable
    started: float
    status: WorkflowStatus = "running"
    ended: float | None = None
    error: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=lambda: list[dict[str, Any]]())


class WorkflowScopeManager(_ReadyManager):
    """One workflow's context persists across entries; each entry is a step.

    ``complete(id)`` / ``fail(id, error)`` set the status and end the workflow:
    its instances are finalized (once its last entry is left).  Records of
    ended workflows are kept (``workflow(id)``) until ``forget(id)``.
    """

    _id_name = "workflow id"

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        super().__init__(clock=clock)
        self._records: dict[Hashable, WorkflowRecord] = {}

    def _created_hook(self, scope_id: Hashable, now: float) -> None:
        self._records[scope_id] = WorkflowRecord(scope_id, started=now)

    def enter_scope(self, scope_id: Hashable = NO_ID) -> None:
        super().enter_scope(scope_id)
        record = self._records[scope_id]
        record.steps.append(
            {"step": len(record.steps) + 1, "started": self._clock(), "finished": None}
        )

    def exit_scope(self) -> None:
        scope_id = self._current_scope
        record = None if scope_id is None else self._records.get(scope_id)
        if record is not None:
            for step in reversed(record.steps):
                if "step" in step and step["finished"] is None:
                    step["finished"] = self._clock()
                    break
        super().exit_scope()

    def record_step(self, name: str, result: Any = None) -> None:
        """Note a named step result in the current workflow."""
        scope_id = self._current_scope
        if scope_id is None:
            raise ScopeError(
                "record_step() outside a workflow scope", fix="call it inside the scope"
            )
        self._records[scope_id].steps.append({"name": name, "result": result, "at": self._clock()})

    def workflow(self, workflow_id: Hashable) -> WorkflowRecord:
        """The record of a workflow (running or ended)."""
        try:
            return self._records[workflow_id]
        except KeyError:
            raise ScopeError(f"no workflow {workflow_id!r} is known") from None

    def status(self, workflow_id: Hashable) -> WorkflowStatus:
        return self.workflow(workflow_id).status

    def complete(self, workflow_id: Hashable) -> None:
        """Mark the workflow completed and end it."""
        self._conclude(workflow_id, "completed", None)

    def fail(self, workflow_id: Hashable, error: BaseException | str | None = None) -> None:
        """Mark the workflow failed and end it."""
        self._conclude(workflow_id, "failed", None if error is None else str(error))

    def _conclude(self, workflow_id: Hashable, status: WorkflowStatus, error: str | None) -> None:
        record = self.workflow(workflow_id)
        record.status = status
        record.error = error
        record.ended = self._clock()
        self.end_scope(workflow_id)

    def forget(self, workflow_id: Hashable) -> None:
        """Drop the record of an ended workflow."""
        record = self._records.get(workflow_id)
        if record is not None and record.status != "running":
            del self._records[workflow_id]
