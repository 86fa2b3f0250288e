"""Binding forms, keys, lifetimes given with ``scope=`` and the class decorators (behaviour.md §2)."""

import abc
from typing import Annotated

import pytest

from injectq import (
    BindingError,
    DependencyNotFoundError,
    InjectQ,
    Scope,
    ScopeError,
    scoped,
    singleton,
    transient,
)
from injectq.testing import test_container


class Database:
    pass


class Repository:
    def __init__(self, db: Database) -> None:
        self.db = db


class Storage(abc.ABC):
    @abc.abstractmethod
    def save(self, data: bytes) -> None: ...


class DiskStorage(Storage):
    def save(self, data: bytes) -> None:
        pass


# -- bind(key, impl, scope, allow_none) --------------------------------------------


def test_bind_class_impl_is_built_from_its_hints() -> None:
    container = InjectQ()
    container.bind(Storage, DiskStorage)
    container.bind(Repository, Repository)

    assert isinstance(container.get(Storage), DiskStorage)
    assert isinstance(container.get(Repository).db, Database)


def test_bind_instance_impl_is_handed_out_as_is() -> None:
    container = InjectQ()
    disk = DiskStorage()
    container.bind(Storage, disk)

    assert container.get(Storage) is disk
    assert container.get(Storage) is disk


def test_bind_defaults_to_singleton() -> None:
    container = InjectQ()
    container.bind(Storage, DiskStorage)

    assert container.get(Storage) is container.get(Storage)


def test_bind_with_only_a_class_binds_it_to_itself() -> None:
    container = InjectQ()
    container.bind(Database)

    assert Database in container
    assert type(container.get(Database)) is Database
    assert container.get(Database) is container.get(Database)


def test_bind_with_only_a_string_key_is_a_binding_error() -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match="db_url"):
        container.bind("db_url")


def test_bind_none_with_allow_none_binds_the_value_none() -> None:
    container = InjectQ()
    container.bind(Database, None, allow_none=True)

    assert Database in container
    assert container.get(Database) is None
    # a dependent receives the bound None, the class is not built instead
    assert container.get(Repository).db is None


def test_bind_none_without_allow_none_is_a_binding_error_naming_the_key() -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match="Database") as info:
        container.bind(Database, None)

    assert "allow_none" in str(info.value)
    assert Database not in container


def test_binding_a_key_again_replaces_the_first_binding_and_its_cached_instance() -> None:
    container = InjectQ()
    container.bind(Storage, DiskStorage)
    first = container.get(Storage)

    replacement = DiskStorage()
    container.bind(Storage, replacement)

    assert first is not replacement
    assert container.get(Storage) is replacement


# -- bind_instance, bind_factory ---------------------------------------------------------


def test_bind_instance_hands_out_the_same_object() -> None:
    container = InjectQ()
    settings = {"debug": True}
    container.bind_instance("settings", settings)

    assert container.get("settings") is settings


def test_bind_factory_is_transient_by_default() -> None:
    container = InjectQ()
    calls = []

    def make_db() -> Database:
        calls.append(1)
        return Database()

    container.bind_factory(Database, make_db)

    first, second = container.get(Database), container.get(Database)
    assert first is not second
    assert len(calls) == 2


def test_bind_factory_accepts_a_lifetime() -> None:
    container = InjectQ()
    container.bind_factory(Database, Database, scope="singleton")

    assert container.get(Database) is container.get(Database)


def test_bind_factory_accepts_any_callable_and_injects_its_parameters() -> None:
    class Builder:
        def __call__(self, db: Database) -> Repository:
            return Repository(db)

    container = InjectQ()
    container.bind(Database)
    container.bind_factory(Repository, Builder())

    assert container.get(Repository).db is container.get(Database)


def test_bind_factory_with_something_not_callable_is_a_binding_error() -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match="Database"):
        container.bind_factory(Database, 42)  # type: ignore[arg-type]


# -- the mapping interface ---------------------------------------------------------------


def test_setitem_with_a_class_binds_it_as_a_singleton() -> None:
    container = InjectQ()
    container[Storage] = DiskStorage

    first = container.get(Storage)
    assert isinstance(first, DiskStorage)
    assert container.get(Storage) is first


def test_setitem_with_a_value_binds_that_instance() -> None:
    container = InjectQ()
    disk = DiskStorage()
    container[Storage] = disk
    container["retries"] = 5

    assert container.get(Storage) is disk
    assert container.get("retries") == 5


def test_setitem_with_none_binds_the_value_none() -> None:
    container = InjectQ()
    container["optional"] = None

    assert "optional" in container
    assert container["optional"] is None


def test_getitem_resolves_like_get() -> None:
    container = InjectQ()
    container[Storage] = DiskStorage

    assert container[Storage] is container.get(Storage)


def test_getitem_of_an_unbound_key_is_a_lookup_error() -> None:
    container = InjectQ()
    with pytest.raises(LookupError, match="missing"):
        container["missing"]


def test_in_tells_whether_a_key_is_bound() -> None:
    container = InjectQ()
    container["url"] = "sqlite://"

    assert "url" in container
    assert "other" not in container
    assert Database not in container


def test_del_removes_a_binding() -> None:
    container = InjectQ()
    container["url"] = "sqlite://"
    del container["url"]

    assert "url" not in container
    with pytest.raises(DependencyNotFoundError):
        container.get("url")


def test_del_of_an_unbound_key_is_a_lookup_error() -> None:
    container = InjectQ()
    with pytest.raises(LookupError, match="nothing"):
        del container["nothing"]


# -- keys --------------------------------------------------------------------------------


def test_string_keys_and_type_keys_are_distinct_bindings() -> None:
    container = InjectQ()
    db = Database()
    container.bind_instance("Database", "a string")
    container.bind_instance(Database, db)

    assert container.get("Database") == "a string"
    assert container.get(Database) is db


def test_annotated_keys_with_two_names_are_two_bindings() -> None:
    container = InjectQ()
    primary, replica = Database(), Database()
    container.bind_instance(Annotated[Database, "primary"], primary)
    container.bind_instance(Annotated[Database, "replica"], replica)

    assert container.get(Annotated[Database, "primary"]) is primary
    assert container.get(Annotated[Database, "replica"]) is replica
    assert Annotated[Database, "primary"] in container
    assert Database not in container


def test_an_annotated_key_is_separate_from_its_plain_type() -> None:
    container = InjectQ()
    container.bind_instance(Annotated[str, "db_url"], "postgres://")
    container.bind_instance(str, "plain")

    assert container.get(Annotated[str, "db_url"]) == "postgres://"
    assert container.get(str) == "plain"


# -- scope= ------------------------------------------------------------------------------


@pytest.mark.parametrize("lifetime", [Scope.SINGLETON, "singleton"])
def test_singleton_lifetime_is_accepted_as_enum_or_string(lifetime: "Scope | str") -> None:
    container = InjectQ()
    container.bind(Database, scope=lifetime)

    assert container.get(Database) is container.get(Database)


@pytest.mark.parametrize("lifetime", [Scope.TRANSIENT, "transient"])
def test_transient_lifetime_is_accepted_as_enum_or_string(lifetime: "Scope | str") -> None:
    container = InjectQ()
    container.bind(Database, scope=lifetime)

    assert container.get(Database) is not container.get(Database)


@pytest.mark.parametrize("lifetime", [Scope.SCOPED, "scoped"])
def test_scoped_lifetime_is_accepted_as_enum_or_string(lifetime: "Scope | str") -> None:
    container = InjectQ()
    container.bind(Database, scope=lifetime)

    with container.scope() as scope:
        first = scope.get(Database)
        assert scope.get(Database) is first
    with container.scope() as scope:
        assert scope.get(Database) is not first


def test_scope_enum_members_compare_equal_to_their_names() -> None:
    assert Scope.SINGLETON == "singleton"
    assert Scope.TRANSIENT == "transient"
    assert Scope.SCOPED == "scoped"


def test_an_unknown_scope_name_is_a_scope_error_at_bind_time_listing_registered_scopes() -> None:
    container = InjectQ()
    with pytest.raises(ScopeError) as info:
        container.bind(Database, scope="sesion")

    message = str(info.value)
    assert "sesion" in message
    for name in ("singleton", "transient", "scoped"):
        assert name in message
    assert Database not in container


def test_an_unknown_scope_name_in_bind_factory_is_a_scope_error_at_bind_time() -> None:
    container = InjectQ()
    with pytest.raises(ScopeError, match="tenant"):
        container.bind_factory(Database, Database, scope="tenant")
    assert Database not in container


def test_a_registered_custom_scope_name_is_accepted_and_listed_by_the_unknown_name_error() -> None:
    from injectq import ScopeManager  # type: ignore[attr-defined]  # §5, being implemented

    container = InjectQ()
    container.register_scope_manager("session", ScopeManager())  # type: ignore[attr-defined]
    container.bind(Database, scope="session")
    assert Database in container

    with pytest.raises(ScopeError) as info:
        container.bind(Repository, scope="sesion")
    assert "'session'" in str(info.value)


# -- abstract implementations ------------------------------------------------------------


def test_binding_an_abstract_class_to_itself_is_a_binding_error_at_bind_time() -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match="Storage") as info:
        container.bind(Storage)

    assert "abstract" in str(info.value)
    assert Storage not in container


def test_binding_a_key_to_an_abstract_class_is_a_binding_error_at_bind_time() -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match="Storage"):
        container.bind("storage", Storage)
    assert "storage" not in container


# -- @container.bind(...) -----------------------------------------------------------------


def test_container_bind_decorator_binds_the_class_to_itself_with_the_scope() -> None:
    container = InjectQ()

    @container.bind(scope="scoped")
    class RequestContext:
        pass

    assert RequestContext in container
    with container.scope() as scope:
        first = scope.get(RequestContext)
        assert scope.get(RequestContext) is first
    with container.scope() as scope:
        assert scope.get(RequestContext) is not first


def test_container_bind_decorator_returns_the_class_unchanged() -> None:
    container = InjectQ()

    class Plain:
        pass

    assert container.bind(scope="transient")(Plain) is Plain
    assert container.get(Plain) is not container.get(Plain)


# -- @singleton / @transient / @scoped -----------------------------------------------------


def test_singleton_decorator_bare_and_called_registers_on_the_active_container() -> None:
    with test_container() as container:

        @singleton
        class Bare:
            pass

        @singleton()
        class Called:
            pass

        assert Bare in container
        assert Called in container
        assert container.get(Bare) is container.get(Bare)
        assert container.get(Called) is container.get(Called)


def test_transient_decorator_bare_and_called_gives_a_new_instance_each_time() -> None:
    with test_container() as container:

        @transient
        class Bare:
            pass

        @transient()
        class Called:
            pass

        assert Bare in container
        assert Called in container
        assert container.get(Bare) is not container.get(Bare)
        assert container.get(Called) is not container.get(Called)


def test_scoped_decorator_bare_and_called_gives_one_instance_per_scope() -> None:
    with test_container() as container:

        @scoped
        class Bare:
            pass

        @scoped()
        class Called:
            pass

        assert Bare in container
        assert Called in container
        for cls in (Bare, Called):
            with container.scope() as scope:
                first = scope.get(cls)
                assert scope.get(cls) is first
            with container.scope() as scope:
                assert scope.get(cls) is not first


def test_lifetime_decorators_return_the_class_itself() -> None:
    with test_container():

        class Plain:
            pass

        assert singleton(Plain) is Plain
        assert transient()(Plain) is Plain


def test_a_scoped_class_is_scoped_in_a_container_it_was_never_registered_on() -> None:
    with test_container():

        @scoped
        class RequestContext:
            pass

    container = InjectQ()
    assert RequestContext not in container
    with container.scope() as scope:
        first = scope.get(RequestContext)
        assert scope.get(RequestContext) is first
    with container.scope() as scope:
        assert scope.get(RequestContext) is not first
    with pytest.raises(ScopeError, match="RequestContext"):
        container.get(RequestContext)


def test_a_singleton_class_is_one_instance_in_a_container_it_was_never_registered_on() -> None:
    with test_container():

        @singleton
        class Pool:
            pass

    container = InjectQ()
    assert container.get(Pool) is container.get(Pool)
    assert InjectQ().get(Pool) is not container.get(Pool)


def test_a_transient_class_is_new_each_time_in_a_container_it_was_never_registered_on() -> None:
    with test_container():

        @transient
        class Message:
            pass

    container = InjectQ()
    assert container.get(Message) is not container.get(Message)


def test_an_explicit_binding_overrides_a_declared_lifetime() -> None:
    with test_container():

        @scoped
        class Cache:
            pass

    container = InjectQ()
    container.bind(Cache, scope="singleton")

    assert container.get(Cache) is container.get(Cache)


def test_an_undecorated_unbound_concrete_class_is_built_as_transient() -> None:
    container = InjectQ()

    assert isinstance(container.get(Database), Database)
    assert container.get(Database) is not container.get(Database)
