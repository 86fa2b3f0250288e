"""Modules: groups of bindings installed together (behaviour.md §2, injectq-api.md "Modules")."""

import inspect
from collections.abc import Iterator
from typing import Annotated

import anyio
import pytest

from injectq import (
    BindingError,
    ConfigurationModule,
    InjectQ,
    Module,
    ProviderModule,
    SimpleModule,
    provider,
)


class Settings:
    def __init__(self, url: Annotated[str, "db_url"]) -> None:
        self.url = url


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


class Cache:
    pass


class Notifier:
    pass


class EmailNotifier(Notifier):
    pass


class StorageModule(Module):
    def configure(self, binder: InjectQ) -> None:
        binder.bind_instance(Annotated[str, "db_url"], "sqlite://")
        binder.bind(Settings)
        binder.bind_factory(Cache, Cache)


def test_a_module_adds_its_bindings_when_given_to_the_container() -> None:
    container = InjectQ(modules=[StorageModule()])

    assert Settings in container
    assert container.get(Database).settings.url == "sqlite://"
    assert container.get(Settings) is container.get(Settings)
    assert container.get(Cache) is not container.get(Cache)


def test_install_module_adds_the_bindings_to_an_existing_container() -> None:
    container = InjectQ()
    container.install_module(StorageModule())

    assert container.get(Settings).url == "sqlite://"


def test_modules_are_installed_in_order_and_later_bindings_replace_earlier_ones() -> None:
    container = InjectQ(
        modules=[ConfigurationModule({"env": "dev"}), ConfigurationModule({"env": "prod"})]
    )

    assert container.get("env") == "prod"


# -- ProviderModule ------------------------------------------------------------------------


class AppProviders(ProviderModule):
    def __init__(self, url: str) -> None:
        self.url = url

    @provider
    def settings(self) -> Settings:
        return Settings(self.url)

    @provider(scope="singleton")
    def notifier(self, settings: Settings) -> Notifier:
        notifier = EmailNotifier()
        notifier.settings = settings  # type: ignore[attr-defined]
        return notifier


def test_provider_methods_are_factories_keyed_by_their_return_annotation() -> None:
    container = InjectQ(modules=[AppProviders("postgres://")])

    assert container.get(Settings).url == "postgres://"
    assert isinstance(container.get(Notifier), EmailNotifier)


def test_provider_parameters_are_injected() -> None:
    container = InjectQ(modules=[AppProviders("postgres://")])

    assert container.get(Notifier).settings.url == "postgres://"  # type: ignore[attr-defined]


def test_a_provider_is_transient_unless_given_a_scope() -> None:
    container = InjectQ(modules=[AppProviders("postgres://")])

    assert container.get(Settings) is not container.get(Settings)
    assert container.get(Notifier) is container.get(Notifier)


def test_a_provider_without_return_annotation_is_a_binding_error_at_install() -> None:
    class Broken(ProviderModule):
        @provider
        def cache(self):  # type: ignore[no-untyped-def]
            return Cache()

    with pytest.raises(BindingError, match="cache"):
        InjectQ(modules=[Broken()])


class AsyncProviders(ProviderModule):
    @provider(scope="singleton")
    async def cache(self) -> Cache:
        await anyio.lowlevel.checkpoint()
        return Cache()


@pytest.mark.anyio
async def test_an_async_provider_is_awaited_by_aget() -> None:
    container = InjectQ(modules=[AsyncProviders()])

    value = await container.aget(Cache)
    if inspect.iscoroutine(value):
        value.close()  # handed out un-awaited: close it so it cannot warn in a later test
    assert isinstance(value, Cache)
    assert await container.aget(Cache) is value


class GeneratorProviders(ProviderModule):
    def __init__(self) -> None:
        self.events: list[str] = []

    @provider(scope="scoped")
    def cache(self) -> Iterator[Cache]:
        self.events.append("open")
        yield Cache()
        self.events.append("close")


def test_a_generator_provider_yields_its_value_and_tears_down_with_the_scope() -> None:
    """A provider annotated ``-> Iterator[Cache]`` provides ``Cache``: what it yields."""
    module = GeneratorProviders()
    container = InjectQ(modules=[module])

    with container.scope() as scope:
        value = scope.get(Cache)
        assert isinstance(value, Cache)
        assert module.events == ["open"]
    assert module.events == ["open", "close"]


# -- SimpleModule --------------------------------------------------------------------------


def test_simple_module_collects_bindings_fluently() -> None:
    module = (
        SimpleModule()
        .bind(Notifier, EmailNotifier)
        .bind(Settings)
        .bind_instance(Annotated[str, "db_url"], "sqlite://")
        .bind_factory(Cache, Cache)
    )
    container = InjectQ(modules=[module])

    assert isinstance(container.get(Notifier), EmailNotifier)
    assert container.get(Notifier) is container.get(Notifier)
    assert container.get(Settings).url == "sqlite://"
    assert container.get(Cache) is not container.get(Cache)


def test_simple_module_bind_accepts_a_lifetime() -> None:
    container = InjectQ(modules=[SimpleModule().bind(Cache, Cache, scope="scoped")])

    with container.scope() as scope:
        first = scope.get(Cache)
        assert scope.get(Cache) is first
    with container.scope() as scope:
        assert scope.get(Cache) is not first


def test_simple_module_bindings_are_made_only_when_installed() -> None:
    module = SimpleModule().bind_instance("name", "demo")
    first, second = InjectQ(), InjectQ()
    first.install_module(module)

    assert "name" in first
    assert "name" not in second


# -- ConfigurationModule -------------------------------------------------------------------


def test_configuration_module_binds_each_key_to_its_value() -> None:
    marker = Cache()
    values = {"db_url": "sqlite://", "debug": True, "timeout": None, Cache: marker}
    container = InjectQ(modules=[ConfigurationModule(values)])

    assert container.get("db_url") == "sqlite://"
    assert container.get("debug") is True
    assert container.get("timeout") is None
    assert container.get(Cache) is marker


def test_configuration_module_values_are_injected_into_services() -> None:
    class Client:
        def __init__(self, url: Annotated[str, "db_url"]) -> None:
            self.url = url

    container = InjectQ(modules=[ConfigurationModule({Annotated[str, "db_url"]: "pg://"})])

    assert container.get(Client).url == "pg://"
