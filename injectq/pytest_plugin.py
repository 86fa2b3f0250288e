"""injectq's pytest plugin, registered through the ``pytest11`` entry point.

Fixtures:

* ``injectq_container`` -- the container of the test: active for the test
  (``InjectQ.get_instance()``, ``@inject``) and closed after it.
* ``injectq_scope`` -- a request scope of that container, entered around the
  test body and left after it (each instance it built finalized once).
* ``injectq_app_container`` -- where ``injectq_container`` comes from: a fresh
  ``InjectQ()`` unless a ``conftest.py`` overrides it (say, to return the
  application's own container, which is then closed after every test).

Async event-loop plugins run an async fixture's setup and teardown in
different tasks (pytest-asyncio does), and a scope entered with ``async with``
must be left in the task that entered it.  So the plugin opens nothing async
in a fixture: its fixtures are sync, and the async part -- entering the scope,
leaving it, ``await container.aclose()`` -- runs around the test body, in the
test's own task.  For a sync test the same is done with ``with`` and
``close()``.  That works the same under anyio's plugin (asyncio and trio) and
under pytest-asyncio (auto and strict modes).
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any

import pytest

from ._core._container import InjectQ
from ._core._scope import ScopeHandle

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

__all__ = ["injectq_app_container", "injectq_container", "injectq_scope"]


class _TestUse:
    """What the plugin does around one test body: activate, scope, close."""

    __slots__ = ("container", "scope")

    def __init__(self, container: InjectQ) -> None:
        self.container = container
        self.scope: ScopeHandle | None = None

    def wrap(self, test: Callable[..., Any]) -> Callable[..., Any]:
        container = self.container
        if inspect.iscoroutinefunction(test):

            @functools.wraps(test)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with container.context():
                    try:
                        if self.scope is None:
                            return await test(*args, **kwargs)
                        async with self.scope:
                            return await test(*args, **kwargs)
                    finally:
                        await container.aclose()

            return run_async

        @functools.wraps(test)
        def run_sync(*args: Any, **kwargs: Any) -> Any:
            with container.context():
                if self.scope is None:
                    return test(*args, **kwargs)
                with self.scope:
                    return test(*args, **kwargs)

        return run_sync


@pytest.fixture
def injectq_app_container() -> InjectQ:
    """The container ``injectq_container`` hands out: a fresh ``InjectQ()``.

    Override it in a ``conftest.py`` to test with the application's own
    container and bindings.
    """
    return InjectQ()


@pytest.fixture
def injectq_container(injectq_app_container: InjectQ) -> Iterator[InjectQ]:
    """The container of the test: the active one during the test, closed after it.

    An async test's container is closed with ``await aclose()`` in the test's own
    task, right after the body; a sync test's with ``close()`` after the test.
    Either way it is closed once more when the fixture ends, for anything the
    teardown of other fixtures built.
    """
    container = injectq_app_container
    with container.context():
        yield container
    container.close()


@pytest.fixture
def injectq_scope(injectq_container: InjectQ) -> ScopeHandle:
    """A request scope of ``injectq_container``, entered around the test body and left after it.

    Async tests get it entered with ``async with`` (``start_soon``, async
    teardown), sync tests with ``with``.  It is entered only while the test body
    runs: another fixture cannot use it in its own setup or teardown.
    """
    return injectq_container.scope()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Run a test that uses the fixtures inside its container's context and scope."""
    funcargs: dict[str, Any] | None = getattr(item, "funcargs", None)
    container = None if funcargs is None else funcargs.get("injectq_container")
    if not isinstance(container, InjectQ) or not isinstance(item, pytest.Function):
        return (yield)
    use = _TestUse(container)
    scope = funcargs.get("injectq_scope") if funcargs is not None else None
    if isinstance(scope, ScopeHandle):
        use.scope = scope
    original = item.obj
    item.obj = use.wrap(original)
    try:
        return (yield)
    finally:
        item.obj = original
