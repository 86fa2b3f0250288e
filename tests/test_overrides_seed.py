"""Seed 002's testing examples ("Testing Scoped Services", "Mocking Scoped Dependencies"), as written.

The stand-ins the examples assume (``RequestCache``, ``MockRequestCache``,
``MyService`` and a module-level ``container``) are defined here; the test
bodies are the seed's.  Each runs plainly and again from inside a running
event loop (asyncio and trio), as the contract asks of sync examples.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest

from injectq import InjectQ, scoped
from injectq.testing import override_dependency, test_container

container = InjectQ()


@scoped
class RequestCache:
    def __init__(self) -> None:
        self.cache: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.cache.get(key)

    def set(self, key: str, value: Any) -> Any:
        self.cache[key] = value
        return value


class MockRequestCache(RequestCache):
    """A hand-made test double."""


@scoped
class MyService:
    def __init__(self, cache: RequestCache) -> None:
        self.cache = cache


# -- the seed's examples, as written ------------------------------------------------------


def test_scope_isolation():
    with test_container() as container:
        container.bind(RequestCache, RequestCache, scope="scoped")

        # Different scopes get different instances
        with container.scope() as scope1:
            cache1 = scope1.get(RequestCache)
            cache1.set("key", "value1")

        with container.scope() as scope2:
            cache2 = scope2.get(RequestCache)
            cache2.set("key", "value2")

        # Values should be isolated
        with container.scope() as scope1_again:
            cache1_again = scope1_again.get(RequestCache)
            assert cache1_again.get("key") is None  # New scope


def test_same_scope_sharing():
    with test_container() as container:
        container.bind(RequestCache, RequestCache, scope="scoped")

        with container.scope() as scope:
            cache1 = scope.get(RequestCache)
            cache2 = scope.get(RequestCache)

            # Same instance within scope
            assert cache1 is cache2

            cache1.set("shared", "value")
            assert cache2.get("shared") == "value"


def test_with_mocked_scoped_service():
    mock_cache = MockRequestCache()

    with override_dependency(RequestCache, mock_cache):
        with container.scope() as scope:
            # All scoped services get the mock
            service1 = scope.get(MyService)
            service2 = scope.get(MyService)

            # Both use same mock instance
            assert service1.cache is mock_cache
            assert service2.cache is mock_cache


def test_scope_lifecycle():
    events = []

    @scoped
    class LifecycleService:
        def __init__(self):
            events.append("created")

        def __del__(self):
            events.append("destroyed")

    with test_container() as container:
        container.bind(LifecycleService, LifecycleService, scope="scoped")

        with container.scope() as scope:
            service = scope.get(LifecycleService)  # noqa: F841  (as the seed writes it)
            assert events == ["created"]

        # Scope exited, service should be cleaned up
        # Note: __del__ may not be called immediately due to GC
        assert len(events) >= 1


def test_scoped_service_isolation():
    """Ensure scoped services are properly isolated."""
    with test_container() as container:
        container.bind(RequestCache, RequestCache, scope="scoped")

        # Test multiple concurrent scopes
        results = []

        def test_scope():
            with container.scope() as scope:
                cache = scope.get(RequestCache)
                cache.set("key", f"value_{id(scope)}")
                results.append(cache.get("key"))

        threads = [threading.Thread(target=test_scope) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        # All values should be different (different scopes)
        assert len(set(results)) == 10


# -- the same, from inside a running event loop ----------------------------------------

SEED_TESTS: list[Callable[[], None]] = [
    test_scope_isolation,
    test_same_scope_sharing,
    test_with_mocked_scoped_service,
    test_scope_lifecycle,
    test_scoped_service_isolation,
]


@pytest.mark.anyio
@pytest.mark.parametrize("example", SEED_TESTS, ids=lambda f: f.__name__)
async def test_seed_example_runs_inside_a_running_loop(example: Callable[[], None]) -> None:
    """Each seed example passes when called from async code on asyncio and trio."""
    example()


def test_the_mock_is_gone_after_the_block() -> None:
    """After the seed's override block, the real cache is built again and the mock never finalized."""
    mock_cache = MockRequestCache()
    with override_dependency(RequestCache, mock_cache), container.scope() as scope:
        assert scope.get(MyService).cache is mock_cache
    with container.scope() as scope:
        cache = scope.get(MyService).cache
        assert type(cache) is RequestCache
