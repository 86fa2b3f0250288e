"""The public API: ``__all__`` matches what is exported, and the names users know exist."""

import importlib
import types

import pytest

import injectq

PUBLIC_MODULES = ["injectq", "injectq.testing", "injectq.scopes"]


def _public_names(module: types.ModuleType) -> set[str]:
    """Names a reader of ``dir(module)`` would take for its API (imported helpers excluded)."""
    names = set()
    for name in dir(module):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            continue
        if not getattr(obj, "__module__", "").startswith("injectq"):
            continue  # typing helpers, contextlib, ... imported for the module's own use
        names.add(name)
    return names


def test_the_facade_exports_exactly_the_names_in_all() -> None:
    assert _public_names(injectq) == set(injectq.__all__)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_name_in_all_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_has_no_duplicates(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert len(module.__all__) == len(set(module.__all__))


@pytest.mark.parametrize("module_name", ["injectq.testing", "injectq.scopes"])
def test_what_a_public_submodule_defines_is_in_its_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    defined = {
        name
        for name in dir(module)
        if not name.startswith("_")
        and getattr(getattr(module, name), "__module__", None) == module_name
    }
    assert defined <= set(module.__all__)


@pytest.mark.parametrize(
    "name",
    [
        "InjectQ",
        "inject",
        "Inject",
        "singleton",
        "transient",
        "scoped",
        "register_as",
        "Scope",
        "ScopeManager",
        "Module",
        "ProviderModule",
        "SimpleModule",
        "ConfigurationModule",
        "provider",
        "InjectQError",
        "DependencyNotFoundError",
        "CircularDependencyError",
        "BindingError",
        "InjectionError",
        "ScopeError",
        "AlreadyRegisteredError",
        "FinalizationError",
    ],
)
def test_a_name_users_of_injectq_know_is_exported_from_the_package(name: str) -> None:
    assert name in injectq.__all__
    assert hasattr(injectq, name)


@pytest.mark.parametrize("name", ["test_container"])  # override_dependency: §6, not built yet
def test_a_testing_helper_users_know_is_exported_from_injectq_testing(name: str) -> None:
    testing = importlib.import_module("injectq.testing")
    assert name in testing.__all__
    assert callable(getattr(testing, name))


@pytest.mark.parametrize(
    "name", ["ScopeManager", "SessionScopeManager", "TenantScopeManager", "WorkflowScopeManager"]
)
def test_the_ready_scope_managers_are_exported_from_injectq_scopes(name: str) -> None:
    scopes = importlib.import_module("injectq.scopes")
    assert name in scopes.__all__


@pytest.mark.parametrize(
    "method",
    [
        "bind",
        "bind_instance",
        "bind_factory",
        "get",
        "aget",
        "try_get",
        "has",
        "get_factory",
        "call_factory",
        "invoke",
        "ainvoke",
        "scope",
        "async_scope",
        "install_module",
        "validate",
        "get_dependency_graph",
        "clear",
        "context",
        "get_instance",
        "register_scope_manager",
        "close",
        "aclose",
    ],
)
def test_a_container_method_users_know_exists(method: str) -> None:
    assert callable(getattr(injectq.InjectQ(), method, None))


def test_the_container_has_a_factories_mapping() -> None:
    container = injectq.InjectQ()

    def make() -> int:
        return 1

    container.factories["one"] = make
    assert container.factories["one"] is make
    assert container.get("one") == 1
    assert "one" in container.factories


def test_the_package_has_a_version_string() -> None:
    assert isinstance(injectq.__version__, str)
    assert injectq.__version__
