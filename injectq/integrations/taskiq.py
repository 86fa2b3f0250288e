"""Taskiq: one injectq scope per task execution, the container per worker process.

``setup_taskiq(container, broker)`` connects a container to a taskiq broker;
task parameters written ``InjectTask[T]`` (or ``Annotated[T, InjectTask(T)]``,
``Annotated[T, InjectTaskiq(T)]``) are filled from the container.

How it hooks into taskiq: taskiq resolves a task's ``TaskiqDepends``
parameters right before the task body and closes them right after it, in the
same asyncio task, with the task's exception when it failed.  Each injected
parameter depends on one async context manager, ``_task_scope``, which taskiq
enters once per execution (its dependency cache lives as long as one
execution): its single ``async with`` enters the execution's scopes before the
body and leaves them after it -- on success, failure, timeout or cancellation.
A retry or a requeue is a new message and so a new execution with a fresh
scope.  Nothing about a scope is written into the message except, where the
user opts in, the names and ids of the custom scopes the task was sent from.

Why a context manager and not a bare async generator dependency: taskiq closes
a context manager by awaiting its ``__aexit__`` in the task (and so the
contextvars context) that ran the body, on every Python.  A failed task's
exception reaches a generator dependency through ``athrow(type, value, tb)``,
deprecated since Python 3.12: where warnings are errors that call raises before
the generator resumes, and the generator, left suspended, is closed later by
asyncio's async-generator finalizer in a task of its own -- another context,
where a scope cannot be left (a ``ScopeError``) and a context variable token
cannot be reset.  ``contextlib.asynccontextmanager`` throws in the way each
Python expects.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator  # noqa: TC003 - taskiq reads _task_scope's hints at run time
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

try:
    from taskiq import AsyncBroker, Context, TaskiqDepends, TaskiqEvents, TaskiqMiddleware
    from taskiq.labels import LabelType
    from taskiq_dependencies.dependency import Dependency
except ImportError as exc:  # pragma: no cover - exercised by a test that hides taskiq
    raise ImportError(
        'injectq.integrations.taskiq needs taskiq, which is not installed: pip install "injectq[taskiq]"',
        name=exc.name,
    ) from exc

from .._core._errors import BindingError, InjectionError, ScopeError, describe_key
from .._core._keys import RESERVED_SCOPES, normalize_key
from .._core._scope import ScopeHandle

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable, Mapping

    from taskiq import TaskiqMessage, TaskiqState

    from .._core._container import InjectQ

__all__ = ["SCOPES_LABEL", "InjectTask", "InjectTaskiq", "setup_taskiq"]

T = TypeVar("T")

#: The message label that carries the opted-in custom scopes, as JSON:
#: ``[["tenant", "acme"], ...]`` from the outermost scope in.
SCOPES_LABEL = "injectq_scopes"

_logger = logging.getLogger(__name__)
_CARRIED_ID_TYPES = (str, int, float, bool, type(None))


class _Setup:
    """What ``setup_taskiq`` attached to one broker."""

    __slots__ = ("carry", "container")

    def __init__(self, container: InjectQ, carry: frozenset[str]) -> None:
        self.container = container
        self.carry = carry

    @staticmethod
    def of(broker: AsyncBroker) -> _Setup:
        setup = broker.custom_dependency_context.get(_Setup)
        if not isinstance(setup, _Setup):
            raise InjectionError(
                f"a task of {type(broker).__name__} asks for an injected parameter, but no"
                " container is connected to that broker",
                fix="call setup_taskiq(container, broker) where the broker is defined",
            )
        return setup

    # -- sender side ----------------------------------------------------------------

    def active_carried(self) -> list[tuple[str, Any]]:
        """The opted-in custom scopes active here, outermost first, as (name, id)."""
        found: list[tuple[str, Any]] = []
        frame: Any = self.container._scope_var.get()
        while frame is not None:
            if frame.name in self.carry:
                scope_id = frame.scope_id
                if not isinstance(scope_id, _CARRIED_ID_TYPES):
                    raise ScopeError(
                        f"cannot carry the {frame.name!r} scope to a taskiq worker: its id"
                        f" {scope_id!r} is a {type(scope_id).__name__}, and only str, int,"
                        " float, bool or None ids travel in a message",
                        fix=f"enter the {frame.name!r} scope with a str id, or leave"
                        f" {frame.name!r} out of setup_taskiq(..., carry_scopes=...)",
                    )
                found.append((frame.name, scope_id))
            frame = frame.parent
        found.reverse()
        return found

    # -- worker side ----------------------------------------------------------------

    def carried(self, labels: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The (name, id) pairs of ``labels`` that this side opted in for."""
        raw = labels.get(SCOPES_LABEL)
        if raw is None or not self.carry:
            return []
        try:
            pairs: Any = json.loads(raw)
        except (TypeError, ValueError):
            pairs = None
        found: list[tuple[str, Any]] = []
        items: list[Any] = pairs if isinstance(pairs, list) else [None]  # pyright: ignore[reportUnknownVariableType]
        for pair in items:
            if not (
                isinstance(pair, list)
                and len(pair) == 2  # pyright: ignore[reportUnknownArgumentType]
                and isinstance(pair[0], str)
                and isinstance(pair[1], _CARRIED_ID_TYPES)
            ):
                raise ScopeError(
                    f"the task's {SCOPES_LABEL!r} label is not a JSON list of [scope name, id]"
                    f" pairs: {raw!r}",
                    fix="leave this label to setup_taskiq(..., carry_scopes=...); do not set it by hand",
                )
            name: str = pair[0]
            if name in self.carry:
                found.append((name, pair[1]))
        return found

    async def close(self, state: TaskiqState) -> None:
        await self.container.aclose()


class _CarryScopes(TaskiqMiddleware):
    """Writes the opted-in custom scopes active at ``kiq()`` into the message."""

    def __init__(self, setup: _Setup) -> None:
        super().__init__()
        self._setup = setup

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        carried = self._setup.active_carried()
        # Sent from outside every carried scope (a retry sent by a middleware after the
        # attempt's scopes were left, a scheduler): the message keeps what it had.
        if carried:
            message.labels[SCOPES_LABEL] = json.dumps(carried)
            if message.labels_types is not None:
                message.labels_types[SCOPES_LABEL] = LabelType.STR.value
        return message


@contextlib.asynccontextmanager
async def _task_scope(
    context: Annotated[Context, TaskiqDepends()],
) -> AsyncGenerator[ScopeHandle, None]:
    """The scopes of one task execution: carried custom scopes, then a request scope.

    taskiq enters this once per execution, before the task body, and awaits its
    ``__aexit__`` after the body, in the same task and context -- with the
    task's exception when it failed.  Nothing but an interruption of the
    teardown itself (a cancellation, KeyboardInterrupt) leaves ``__aexit__``:
    taskiq would not catch it.
    """
    setup = _Setup.of(context.broker)
    container = setup.container
    # A task starts with no scope, even where taskiq runs it in a copy of the
    # sender's context (the in-memory broker starts each task from kiq()).
    reset = container._scope_var.set(container._root)
    entered = False
    thrown: BaseException | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            # (each scope block makes the container the active one: no context() needed)
            for name, scope_id in setup.carried(context.message.labels):
                await stack.enter_async_context(container.scope(name, scope_id))
            scope = await stack.enter_async_context(container.scope())
            entered = True
            try:
                yield scope
            except BaseException as exc:
                thrown = exc
                # taskiq has the body's failure and reports it.  With no task started
                # on the scope there is nothing to cancel, so the scopes are left as
                # after a normal end (the same teardown, in the same order).  Leaving
                # them with the error would cancel each scope's task group, and anyio's
                # cancel() formats the current task's repr, which for a taskiq worker
                # callback holds every active task: on Python 3.10 that took seconds
                # per failed task.  Cancellations always travel through the scopes.
                if scope._spawned or not isinstance(exc, Exception):
                    raise
    except BaseException as exc:
        # Before the body ran, the error is the execution's own: taskiq reports it as
        # the task's failure.  The body's exception coming back out is taskiq's to
        # report, not a teardown problem.  A teardown failure cannot change the result
        # any more (taskiq ignores it): it is logged here, loudly, and not re-raised.
        if not entered or (exc is not thrown and not isinstance(exc, Exception)):
            raise
        if exc is not thrown:
            _logger.error(
                "finalizing the scopes of task %s (id %s) failed",
                context.message.task_name,
                context.message.task_id,
                exc_info=exc,
            )
    finally:
        container._scope_var.reset(reset)


class _Provide:
    """The taskiq dependency behind one injected parameter: resolve ``key`` in the scope."""

    __slots__ = ("key",)

    def __init__(self, key: Hashable) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"InjectTask[{describe_key(self.key)}]"

    async def __call__(self, scope: Annotated[ScopeHandle, TaskiqDepends(_task_scope)]) -> Any:
        if self.key is ScopeHandle:  # the execution's own scope handle
            return scope
        return await scope.aget(self.key)


if TYPE_CHECKING:
    # To a type checker ``InjectTask[T]`` is ``T``.  ``InjectTaskiq(T)`` is the
    # spelling of the marker that checks cleanly in ``Annotated[T, ...]`` under pyright
    # too (pyright does not let a type alias be called).
    InjectTask = Annotated[T, "injectq.taskiq"]

    def InjectTaskiq(key: Any, /) -> Any: ...

else:

    class InjectTask(Dependency):
        """A task parameter filled from the container: ``svc: InjectTask[Service]``.

        ``InjectTask[T]`` is ``Annotated[T, InjectTask(T)]``; ``InjectTaskiq`` is
        the same marker under the name InjectQ users know.  ``InjectTask[ScopeHandle]``
        is the execution's request scope itself.
        """

        def __init__(self, key: Hashable) -> None:
            super().__init__(_Provide(normalize_key(key)))

        def __class_getitem__(cls, key: Any) -> Any:
            return Annotated[key, cls(key)]

        def __repr__(self) -> str:
            return repr(self.dependency)

    InjectTaskiq = InjectTask


def _carry_names(carry_scopes: Iterable[str]) -> frozenset[str]:
    if isinstance(carry_scopes, str):
        raise ScopeError(
            f"carry_scopes takes a collection of scope names, not the string {carry_scopes!r}",
            fix=f"write carry_scopes=({carry_scopes!r},)",
        )
    names = frozenset(carry_scopes)
    for name in names:
        if not isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ScopeError(
                f"carry_scopes names custom scopes by their str name, not {name!r}",
                fix="pass the names given to register_scope_manager()",
            )
        if name in RESERVED_SCOPES:
            raise ScopeError(
                f"{name!r} cannot be carried to a worker: "
                + (
                    "every task execution gets a request scope of its own"
                    if name == "scoped"
                    else f"{name!r} is a lifetime, not a scope"
                ),
                fix="carry only custom scopes registered with register_scope_manager()",
            )
    return names


def setup_taskiq(
    container: InjectQ, broker: AsyncBroker, *, carry_scopes: Iterable[str] = ()
) -> None:
    """Connect ``container`` to ``broker``: injected task parameters, scopes, lifetime.

    - Each execution of a task with an injected parameter runs in a request
      scope of its own, left (and its instances finalized) when the execution
      ends, however it ends; each retry or requeue is a fresh execution.
    - ``carry_scopes`` names custom scopes to carry from the sender to the
      worker: a task sent inside ``async with container.scope("tenant", "acme")``
      runs inside ``container.scope("tenant", "acme")`` on the worker (the
      names and ids travel in the message label ``injectq_scopes``; instances
      never do).  Both sides opt in: the worker enters only the names it was
      set up to carry.
    - The container is closed (its singletons finalized) at the broker's
      shutdown: ``WORKER_SHUTDOWN`` in each worker process, ``CLIENT_SHUTDOWN``
      where tasks are sent from.  A closed container is used again as a fresh one.
    """
    names = _carry_names(carry_scopes)
    if _Setup in broker.custom_dependency_context:
        raise BindingError(
            f"setup_taskiq() was already called for this {type(broker).__name__}",
            fix="connect one container to a broker, once",
        )
    setup = _Setup(container, names)
    broker.add_dependency_context({_Setup: setup})
    if names:
        broker.add_middlewares(_CarryScopes(setup))
    for event in (TaskiqEvents.WORKER_SHUTDOWN, TaskiqEvents.CLIENT_SHUTDOWN):
        broker.add_event_handler(event, setup.close)
