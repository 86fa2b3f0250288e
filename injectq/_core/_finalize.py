"""Finalizers: what is torn down, in which order, and the two drivers.

Scope exit and container close are written once, as *step generators*: plain
generators that ``yield`` an awaitable whenever a step must be awaited.  The
async driver awaits each one; the sync driver runs the same steps and refuses
(with an error naming the async call) if a step turns out to need awaiting.
An async exit awaits async generator factories' teardown itself, in the same
order (``finalize_async``): the usual record of a request scope, finished
without a step generator to drive.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ._advice import add_note
from ._errors import BindingError, FinalizationError, ScopeError, describe_key

if TYPE_CHECKING:
    from anyio import CancelScope

__all__ = [
    "AGEN",
    "GEN",
    "OBJ",
    "Record",
    "Steps",
    "attach",
    "drive_async",
    "drive_shielded",
    "drive_sync",
    "finalize",
    "finalize_async",
    "has_teardown",
    "only_async_teardown",
    "run_sync",
]

T = TypeVar("T")
Steps = Generator[Awaitable[Any], Any, T]

GEN = 0  # a sync generator factory, suspended at its ``yield``
AGEN = 1  # an async generator factory, suspended at its ``yield``
OBJ = 2  # an object with aclose() / close() / cleanup()

Record = tuple[int, Any, Hashable]
_METHODS = ("aclose", "close", "cleanup")


def has_teardown(cls: type) -> bool:
    """Whether instances of ``cls`` have a method the container calls on exit.

    Asked for every value a factory returns, so the answer is kept per class.
    """
    try:
        return _TEARDOWN[cls]
    except KeyError:
        if len(_TEARDOWN) > _TEARDOWN_LIMIT:  # classes made on the fly: do not grow forever
            _TEARDOWN.clear()
        found = _TEARDOWN[cls] = any(callable(getattr(cls, name, None)) for name in _METHODS)
        return found


_TEARDOWN: dict[type, bool] = {}
_TEARDOWN_LIMIT = 4096


def only_async_teardown(obj: object) -> bool:
    """True when finalizing ``obj`` needs an ``await``: only ``aclose()``, or an async ``close()``."""
    for name in _METHODS[1:]:
        method = getattr(obj, name, None)
        if callable(method):
            return inspect.iscoroutinefunction(method)
    return callable(getattr(obj, "aclose", None))


def record_needs_await(record: Record) -> bool:
    kind, obj, _ = record
    return kind == AGEN or (kind == OBJ and only_async_teardown(obj))


def _teardown_method(obj: object, key: Hashable, is_async: bool) -> Callable[[], Any]:
    for name in _METHODS if is_async else _METHODS[1:]:
        method = getattr(obj, name, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
    raise ScopeError(
        f"{describe_key(key)} can only be finalized by awaiting its aclose(), and this exit is sync",
        key=key,
        fix="leave the scope with `async with` / close the container with `await container.aclose()`",
    )


def finalize(
    records: list[Record], *, is_async: bool, errors: list[Exception] | None = None
) -> Steps[list[Exception]]:
    """Finalize ``records`` last-first, each exactly once; return the failures.

    The failures are also added to ``errors`` when given (see ``run_sync``).
    """
    if errors is None:
        errors = []
    while records:
        kind, obj, key = records.pop()
        try:
            if kind == GEN:
                for _ in obj:  # runs the teardown; ending it raises no StopIteration here
                    break
                else:
                    continue
                obj.close()
                raise _yielded_twice(key, "generator")
            if kind == AGEN:
                yield _finish_agen(obj, key)
                continue
            result = _teardown_method(obj, key, is_async)()
            if inspect.isawaitable(result):
                yield result
        except Exception as exc:
            add_note(exc, f"while finalizing {describe_key(key)}")
            errors.append(exc)
    return errors


def drive_sync(steps: Steps[T], refuse: Callable[[], BaseException]) -> T:
    """Run ``steps`` without an event loop; ``refuse()`` is raised if one must be awaited."""
    try:
        awaitable = steps.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise _refused(steps, awaitable, refuse)


def run_sync(steps: Steps[Any], refuse: Callable[[], BaseException]) -> None:
    """``drive_sync`` for steps that report through an argument: no return value to fetch.

    A ``for`` loop ends a generator without raising ``StopIteration``, which is
    what makes this cheaper on the path of every sync scope exit.
    """
    for awaitable in steps:
        raise _refused(steps, awaitable, refuse)


def _refused(
    steps: Steps[Any], awaitable: Awaitable[Any], refuse: Callable[[], BaseException]
) -> BaseException:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()  # an un-awaited coroutine would warn
    steps.close()
    return refuse()


async def drive_async(
    steps: Steps[T], *, shield: bool = False, within: CancelScope | None = None
) -> T:
    """Run ``steps``, awaiting every awaitable they hand over.

    With ``shield``, shielded from cancellation so teardown is never cut short:
    by ``within`` (a cancel scope the caller is inside, shielded for the time
    being) when given, else by a new shielded cancel scope.
    """
    if within is None:
        if shield:
            with anyio.CancelScope(shield=True):
                return await drive_async(steps)
    else:
        within.shield = True
    try:
        awaitable = steps.send(None)
        while True:
            try:
                result = await awaitable
            except BaseException as exc:
                awaitable = steps.throw(exc)
            else:
                awaitable = steps.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        if within is not None:
            within.shield = False


def drive_shielded(steps: Steps[T], within: CancelScope | None = None) -> Coroutine[Any, Any, T]:
    """``drive_async``, shielded (by ``within`` when given; a coroutine to await)."""
    return drive_async(steps, shield=True, within=within)


def _awaited_in_async_exit(record: Record) -> bool:
    kind, obj, _ = record
    if kind == GEN:
        return False
    if kind == AGEN:
        return True
    cls: type = type(obj)  # pyright: ignore[reportUnknownVariableType]
    try:
        return _AWAITED[cls]
    except KeyError:
        if len(_AWAITED) > _TEARDOWN_LIMIT:
            _AWAITED.clear()
        found = _AWAITED[cls] = callable(getattr(cls, "aclose", None)) or only_async_teardown(obj)
        return found


_AWAITED: dict[type, bool] = {}


def finalize_async(
    records: list[Record], within: CancelScope | None = None
) -> Coroutine[Any, Any, list[Exception]]:
    """Finalize for an async exit (a coroutine to await), shielded when something awaits.

    Teardown that never awaits cannot be interrupted by a cancellation, so it runs
    unshielded (a cancel scope is not cheap, on trio above all).  The shield is
    ``within`` (a cancel scope the caller is inside) when given, else a new one.
    """
    for record in records:  # a loop, not any(...): this runs at every async exit
        if record[0] == AGEN or _awaited_in_async_exit(record):
            if within is None:
                return _finalize_in_new_shield(records)
            return _finalize_awaiting(records, within)
    return drive_async(finalize(records, is_async=True))


async def _finalize_in_new_shield(records: list[Record]) -> list[Exception]:
    errors: list[Exception] = []
    with anyio.CancelScope(shield=True):
        errors = await _finalize_awaiting(records, None)
    return errors


async def _finalize_awaiting(records: list[Record], shield: CancelScope | None) -> list[Exception]:
    """``finalize`` for an async exit, with async generator factories finished directly.

    The same order and the same once-only as ``finalize``, which finalizes every
    other kind of record; an async generator's teardown (the usual record of a
    request scope) is awaited here, without a step generator to drive.  ``shield``,
    when given, is shielded for the time being (else the caller has shielded this).
    """
    if shield is not None:
        shield.shield = True
    try:
        errors: list[Exception] = []
        while records:
            if records[-1][0] != AGEN:
                await drive_async(finalize([records.pop()], is_async=True, errors=errors))
                continue
            _, agen, key = records.pop()
            try:
                await _finish_agen(agen, key)
            except Exception as exc:
                add_note(exc, f"while finalizing {describe_key(key)}")
                errors.append(exc)
        return errors
    finally:
        if shield is not None:
            shield.shield = False


async def _finish_agen(agen: AsyncGenerator[Any, None], key: Hashable) -> None:
    """Run an async generator factory's teardown: resume it once, and it must end."""
    try:
        await agen.__anext__()
    except StopAsyncIteration:
        return
    await agen.aclose()
    raise _yielded_twice(key, "async generator")


def _yielded_twice(key: Hashable, what: str) -> BindingError:
    return BindingError(
        f"the {what} factory of {describe_key(key)} yielded more than once",
        key=key,
        fix="a factory generator yields its value exactly once; teardown follows it",
    )


def conclude(errors: list[Exception], block_exc: BaseException | None, what: str) -> None:
    """Raise what leaving ``what`` must raise, given finalizer ``errors``.

    Finalizer failures become one ``FinalizationError`` holding all of them,
    with the block's own exception first when it raised one.  A
    ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
    ``SystemExit``, the backend's cancellation) is never converted: it cannot
    sit in an ``ExceptionGroup``, and an ``except Exception:`` must not swallow
    it.  It stays what leaves the block -- this returns without raising, so
    the caller re-raises it -- with the failures attached: a note per failure,
    and the whole ``FinalizationError`` as its ``__injectq_finalization__``.
    """
    if not errors:
        return
    count = f"{len(errors)} finalizer{'s' if len(errors) > 1 else ''}"
    if isinstance(block_exc, Exception):
        group = FinalizationError(
            f"{count} failed leaving {what}, after the block raised", [block_exc, *errors]
        )
        raise group from None
    group = FinalizationError(f"{count} failed leaving {what}", errors)
    if block_exc is not None:
        attach(block_exc, group)
        return
    raise group


def attach(exc: BaseException, group: FinalizationError) -> None:
    """Attach finalizer failures to ``exc`` without changing what it is (PEP 678 notes)."""
    notes: list[str] = list(getattr(exc, "__notes__", ()))
    notes.append(f"injectq: {group.message} while {type(exc).__name__} was raised:")
    notes.extend(f"  {type(error).__name__}: {error}" for error in group.exceptions)
    try:
        setattr(exc, "__notes__", notes)  # noqa: B010 - BaseException.__notes__ is 3.11+ only
        setattr(exc, "__injectq_finalization__", group)  # noqa: B010
    except AttributeError:  # pragma: no cover - an exception type with __slots__
        pass
