"""``validate()``: every wiring problem in one call, with its chain, and nothing built."""

import json
import sys
from typing import Annotated

import diag_samples as samples
import pytest

from injectq import (
    CircularDependencyError,
    DependencyNotFoundError,
    InjectionError,
    InjectQ,
    InjectQError,
    Scope,
    ScopeError,
    ScopeId,
    ScopeManager,
    SessionScopeManager,
    TenantScopeManager,
    ValidationError,
    ValidationReport,
    inject,
)


@pytest.fixture(autouse=True)
def _nothing_built() -> None:
    samples.BUILT.clear()


def chains(report: ValidationReport) -> list[str]:
    return [" -> ".join(k.__name__ for k in p.chain) for p in report.problems]


def test_one_call_reports_every_seeded_problem_with_its_chain_and_builds_nothing() -> None:
    report = samples.broken().validate(strict=False)

    assert [p.kind for p in report.problems] == ["missing", "cycle", "captive", "captive"]
    assert chains(report) == [
        "Handler -> Service -> Repo -> Session",
        "Alpha -> Beta -> Gamma -> Alpha",
        "Cache -> RequestData",
        "TenantReport -> RequestLog",
    ]
    assert [p.key for p in report.problems] == [
        samples.Session,
        samples.Alpha,
        samples.Cache,
        samples.TenantReport,
    ]
    assert all(p.fix for p in report.problems)
    assert not report.ok
    assert samples.BUILT == []


def test_each_problem_names_the_error_that_resolving_it_would_raise() -> None:
    report = samples.broken().validate(strict=False)

    assert [p.error for p in report.problems] == [
        DependencyNotFoundError,
        CircularDependencyError,
        ScopeError,
        ScopeError,
    ]


def test_strict_validate_raises_one_error_whose_message_lists_every_problem() -> None:
    with pytest.raises(ValidationError) as info:
        samples.broken().validate()

    message = str(info.value)
    assert message.startswith("4 problems found in 10 bindings:")
    for text in (
        "1. [missing] nothing is bound to Session",
        "chain: Handler -> Service -> Repo -> Session",
        "2. [cycle] circular dependency: Alpha -> Beta -> Gamma -> Alpha",
        "3. [captive] Cache ('singleton') depends on RequestData ('scoped')",
        "4. [captive] TenantReport ('tenant') depends on RequestLog ('scoped')",
    ):
        assert text in message
    assert len(info.value.problems) == 4
    assert info.value.report.problems == info.value.problems
    assert samples.BUILT == []


def test_the_strict_error_is_also_each_kind_of_error_it_holds() -> None:
    """``except ScopeError`` (or LookupError, ...) around validate() keeps catching what it did."""
    with pytest.raises(ValidationError) as info:
        samples.broken().validate()

    error = info.value
    for cls in (InjectQError, ScopeError, DependencyNotFoundError, CircularDependencyError):
        assert isinstance(error, cls)
    assert isinstance(error, LookupError)
    assert isinstance(error, RuntimeError)
    assert error.cycle == [samples.Alpha, samples.Beta, samples.Gamma, samples.Alpha]  # type: ignore[attr-defined]


def test_a_strict_error_with_only_lifetime_problems_is_not_a_lookup_error() -> None:
    container = InjectQ()
    container.bind(samples.RequestData, scope=Scope.SCOPED)
    container.bind(samples.Cache, scope=Scope.SINGLETON)

    with pytest.raises(ScopeError) as info:
        container.validate()

    assert not isinstance(info.value, LookupError)
    assert type(info.value).__module__ == "injectq"
    assert type(info.value).__name__ == "ValidationError"


def test_a_correct_graph_with_nested_custom_scopes_gives_no_false_alarm() -> None:
    report = samples.correct().validate()

    assert report.ok
    assert report.problems == []
    assert str(report).startswith("no problems found in 5 bindings")
    assert samples.BUILT == []


def test_the_report_says_which_bound_keys_only_aget_can_resolve() -> None:
    report = samples.correct().validate()

    assert [(p.kind, p.severity, p.key) for p in report.info] == [
        ("needs-aget", "info", samples.Connection),
        ("needs-aget", "info", samples.Endpoint),
    ]
    assert report.info[1].chain == (samples.Endpoint, samples.Connection)
    assert "information:" in str(report)
    assert "Endpoint can only be resolved with aget" in str(report)


def test_the_report_is_json_ready() -> None:
    data = json.loads(json.dumps(samples.broken().validate(strict=False).to_dict()))

    assert data["ok"] is False
    assert data["problems"][0] == {
        "kind": "missing",
        "severity": "error",
        "key": "Session",
        "chain": ["Handler", "Service", "Repo", "Session"],
        "message": "nothing is bound to Session (parameter 'session' of Repo); Session is"
        " abstract (missing: execute), so it is never built automatically",
        "fix": "container.bind(Session, Impl) or bind_instance / bind_factory",
        "error": "DependencyNotFoundError",
    }


# -- captive dependencies across every pair of lifetimes -----------------------------------

LIFETIMES = ["singleton", "session", "tenant", "workflow", "scoped", "transient"]
# consumer -> the lifetimes it may NOT depend on.  session > tenant (parent=) > request;
# workflow is a custom scope with no parent: unrelated to session and tenant.
FORBIDDEN = {
    "singleton": {"session", "tenant", "workflow", "scoped"},
    "session": {"tenant", "workflow", "scoped"},
    "tenant": {"workflow", "scoped"},
    "workflow": {"session", "tenant", "scoped"},
    "scoped": set(),
    "transient": set(),
}


class Dependency:
    pass


class Consumer:
    def __init__(self, dependency: Dependency) -> None:
        self.dependency = dependency


class Data:
    pass


class Middle:
    def __init__(self, data: Data) -> None:
        self.data = data


class Outer:
    def __init__(self, middle: Middle) -> None:
        self.middle = middle


class Keeper:
    def __init__(self, outer: Outer) -> None:
        self.outer = outer


class Registry:
    def __init__(self, which: Annotated[str, ScopeId("tenant")]) -> None:
        self.which = which


class Other:
    def __init__(self, session: samples.Session) -> None:
        self.session = session


class Wants:
    def __init__(self, repo: samples.Repo | None = None) -> None:
        self.repo = repo


class Untyped:
    def __init__(self, thing) -> None:  # type: ignore[no-untyped-def]
        self.thing = thing


def pair_container(consumer: str, dependency: str) -> tuple[InjectQ, type, type]:
    container = InjectQ()
    container.register_scope_manager("session", SessionScopeManager())
    container.register_scope_manager("tenant", TenantScopeManager(), parent="session")
    container.register_scope_manager("workflow", ScopeManager())
    container.bind(Dependency, scope=dependency)
    container.bind(Consumer, scope=consumer)
    return container, Consumer, Dependency


@pytest.mark.parametrize("dependency", LIFETIMES)
@pytest.mark.parametrize("consumer", LIFETIMES)
def test_captive_dependencies_are_found_for_every_pair_of_lifetimes(
    consumer: str, dependency: str
) -> None:
    container, consumer_cls, dependency_cls = pair_container(consumer, dependency)

    report = container.validate(strict=False)

    if dependency in FORBIDDEN[consumer]:
        [problem] = report.problems
        assert problem.kind == "captive"
        assert problem.chain == (consumer_cls, dependency_cls)
        assert problem.message.startswith(
            f"Consumer ({consumer!r}) depends on Dependency ({dependency!r})"
        )
    else:
        assert report.problems == []


@pytest.mark.parametrize("dependency", LIFETIMES)
@pytest.mark.parametrize("consumer", LIFETIMES)
def test_validate_and_resolution_agree_on_every_pair_of_lifetimes(
    consumer: str, dependency: str
) -> None:
    container, consumer_cls, _ = pair_container(consumer, dependency)
    found = container.validate(strict=False).problems

    try:
        container._plan(consumer_cls)
    except ScopeError:
        refused = True
    else:
        refused = False

    assert refused == bool(found)


def test_a_captive_dependency_through_transients_shows_them_in_the_chain() -> None:

    container = InjectQ()
    container.bind(Data, scope="scoped")
    container.bind(Middle, scope="transient")
    container.bind(Outer, scope="transient")
    container.bind(Keeper, scope="singleton")

    [problem] = container.validate(strict=False).problems

    assert problem.chain == (Keeper, Outer, Middle, Data)
    assert problem.key is Keeper


def test_the_captive_fix_for_a_scope_id_says_where_the_id_can_be_used() -> None:

    container = InjectQ()
    container.register_scope_manager("tenant", TenantScopeManager())
    container.bind(Registry, scope=Scope.SINGLETON)

    [problem] = container.validate(strict=False).problems

    assert problem.kind == "captive"
    assert problem.message == (
        "Registry ('singleton') needs the id of the 'tenant' scope, which exists only while"
        " a 'tenant' scope is entered: Registry would outlive it"
    )
    assert problem.fix == (
        "give Registry the 'tenant' lifetime (scope='tenant') or a shorter one,"
        " or take the id as an argument of the method that needs it"
    )
    with pytest.raises(ScopeError) as info:
        container.get(Registry)
    assert info.value.fix == problem.fix


# -- missing dependencies ---------------------------------------------------------------------


def test_a_missing_key_needed_twice_is_one_problem_that_names_every_service_needing_it() -> None:

    container = InjectQ()
    container.bind(samples.Repo)
    container.bind(Other)

    [problem] = container.validate(strict=False).problems

    assert problem.chain == (samples.Repo, samples.Session)
    assert problem.message.endswith("; also needed by Other")


def test_an_unbound_class_that_cannot_be_built_leaves_a_defaulted_parameter_its_default() -> None:

    container = InjectQ()
    container.bind(Wants)

    assert container.validate().ok
    assert container.get(Wants).repo is None


def test_a_parameter_without_a_type_hint_or_default_is_reported() -> None:

    container = InjectQ()
    container.bind(Untyped)

    [problem] = container.validate(strict=False).problems
    assert problem.kind == "missing"
    assert problem.message == "parameter 'thing' of Untyped has no type hint"
    with pytest.raises(DependencyNotFoundError, match="has no type hint"):
        container.get(Untyped)


def test_a_provider_whose_hints_cannot_be_read_is_a_binding_problem() -> None:
    class Broken:
        def __init__(self, thing: "NotDefinedAnywhere") -> None:  # type: ignore[name-defined]  # noqa: F821
            self.thing = thing

    container = InjectQ()
    container.bind(Broken)

    [problem] = container.validate(strict=False).problems
    assert problem.kind == "binding"
    assert "cannot read the type hints of" in problem.message


def test_validate_finds_problems_in_several_independent_graphs_in_binding_order() -> None:
    container = InjectQ()
    container.bind(samples.Alpha)
    container.bind(samples.Handler)

    report = container.validate(strict=False)

    assert [p.kind for p in report.problems] == ["cycle", "missing"]


# -- entry points: sync code that needs aget ---------------------------------------------------


def test_a_sync_entry_point_needing_a_key_only_aget_can_resolve_is_a_problem() -> None:
    container = samples.correct()

    @inject(container=container)
    def handle(endpoint: samples.Endpoint) -> None:
        pass

    @inject(container=container)
    async def ahandle(endpoint: samples.Endpoint) -> None:
        pass

    report = container.validate(strict=False, entry_points=[handle, ahandle])

    [problem] = report.problems
    assert problem.kind == "sync-only"
    assert problem.error is InjectionError
    assert problem.chain == (handle, samples.Endpoint, samples.Connection)
    assert "handle is sync" in problem.message
    assert problem.fix is not None
    assert "handle an async function (then @inject awaits its parameters)" in problem.fix


def test_an_entry_point_with_an_inject_marker_nothing_provides_is_a_problem() -> None:
    from injectq import Inject

    def handle(repo: samples.Session = Inject[samples.Session]) -> None:
        pass

    report = InjectQ().validate(strict=False, entry_points=[handle])

    [problem] = report.problems
    assert problem.kind == "missing"
    assert problem.chain == (handle, samples.Session)


def test_an_entry_point_parameter_nothing_provides_is_left_to_the_caller() -> None:
    def handle(request: samples.Session, name: str) -> None:
        pass

    assert InjectQ().validate(entry_points=[handle]).ok


class WeirdAnnotation:
    def __init__(self, thing: "list[int](3)") -> None:  # type: ignore[valid-type]
        self.thing = thing


def test_an_annotation_typing_cannot_evaluate_is_a_binding_problem_not_a_crash() -> None:
    container = InjectQ()
    container.bind(WeirdAnnotation)

    [problem] = container.validate(strict=False).problems

    assert problem.kind == "binding"
    assert problem.message.startswith("cannot read the signature of WeirdAnnotation: TypeError:")


def test_a_class_declared_with_a_lifetime_decorator_is_checked_by_its_container() -> None:
    from injectq import scoped, singleton
    from injectq.testing import test_container

    with test_container() as container:

        @scoped
        class Visit:
            pass

        @singleton
        class Counter:
            def __init__(self, visit: Visit) -> None:
                self.visit = visit

        [problem] = container.validate(strict=False).problems

    assert problem.kind == "captive"
    assert problem.chain == (Counter, Visit)


def test_the_strict_error_pickles_as_a_validation_error_with_its_message() -> None:
    import pickle

    with pytest.raises(ValidationError) as info:
        samples.broken().validate()

    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is ValidationError
    assert str(copy) == str(info.value)


class ListAnnotated:
    def __init__(self, thing: [1, 2]) -> None:  # type: ignore[valid-type]
        self.thing = thing


def test_an_annotation_that_is_not_a_key_is_a_binding_problem_not_a_crash() -> None:
    container = InjectQ()
    container.bind(ListAnnotated)

    [problem] = container.validate(strict=False).problems

    assert problem.kind == "binding"
    assert problem.message == "list [1, 2] cannot be a key: keys must be hashable"
    assert problem.chain == (ListAnnotated,)


def test_the_example_app_validates_without_a_false_alarm() -> None:
    """docs/examples/app.py: session, tenant and workflow scopes, async factories, scope ids."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "docs" / "examples" / "app.py"
    spec = importlib.util.spec_from_file_location("example_app_for_validate", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        report = module.build_container(module.Trace()).validate()
    finally:
        del sys.modules[spec.name]

    assert report.ok
    assert report.checked == 11
    assert {p.key.__name__ for p in report.info} == {"MessageStore", "Transaction", "ExportFile"}
