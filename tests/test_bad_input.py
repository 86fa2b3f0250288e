"""Wrong usages end in a clear InjectQError, at bind time where it can be known (behaviour.md §2, §8).

Also the defaults rule (§2): a parameter with a default, or an optional one, keeps
its fallback unless its type is bound or declared with a lifetime decorator.
"""

from __future__ import annotations

import abc
import datetime
import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Optional, Protocol

import anyio
import pytest

from injectq import (
    BindingError,
    DependencyNotFoundError,
    InjectionError,
    InjectQ,
    InjectQError,
    ScopeError,
    ScopeHandle,
    ScopeManager,
    SessionScopeManager,
    inject,
    scoped,
    singleton,
)
from injectq.testing import test_container

# -- the defaults rule ------------------------------------------------------------------


class Mailer:
    def __init__(self) -> None:
        self.name = "built"


PRESET = Mailer()
PRESET.name = "preset"


class WithDefault:
    def __init__(self, mailer: Mailer = PRESET) -> None:
        self.mailer = mailer


class WithOptional:
    def __init__(self, mailer: Mailer | None = None) -> None:
        self.mailer = mailer


class WithOldOptional:
    def __init__(self, mailer: Optional[Mailer] = None) -> None:  # noqa: UP045 - the old spelling
        self.mailer = mailer


@pytest.mark.parametrize("owner", [WithDefault, WithOptional, WithOldOptional])
def test_a_parameter_with_a_fallback_keeps_it_when_its_class_is_unbound(owner: type[Any]) -> None:
    built = InjectQ().get(owner)
    assert built.mailer is (PRESET if owner is WithDefault else None)


@pytest.mark.parametrize("owner", [WithDefault, WithOptional, WithOldOptional])
def test_a_parameter_with_a_fallback_is_injected_when_its_class_is_bound(owner: type[Any]) -> None:
    container = InjectQ()
    container.bind(Mailer)
    assert container.get(owner).mailer is container.get(Mailer)


with test_container():  # the decorators register on this container, not the default one

    @singleton
    class Clock:
        pass

    @scoped
    class Conversation:
        pass


class UsesClock:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock


class UsesConversation:
    def __init__(self, conversation: Conversation | None = None) -> None:
        self.conversation = conversation


def test_a_parameter_with_a_fallback_is_injected_when_its_class_declares_a_lifetime() -> None:
    container = InjectQ()  # a container that never saw the decorator still honours it
    assert container.get(UsesClock).clock is container.get(Clock)


def test_a_declared_class_that_cannot_be_built_is_an_error_not_a_silent_fallback() -> None:
    with pytest.raises(ScopeError, match="Conversation"):
        InjectQ().get(UsesConversation)  # no scope is open: the declared lifetime says so


def test_inject_keeps_a_default_for_an_unbound_class_and_injects_a_bound_one() -> None:
    container = InjectQ()

    @inject(container=container)
    def send(mailer: Mailer = PRESET, backup: Mailer | None = None) -> tuple[Mailer, Any]:
        return mailer, backup

    assert send() == (PRESET, None)
    container.bind(Mailer)
    assert send() == (container.get(Mailer), container.get(Mailer))


def test_an_inject_marker_still_builds_an_unbound_class() -> None:
    from injectq import Inject

    @inject(container=InjectQ())
    def send(mailer: Mailer = Inject[Mailer]) -> Mailer:
        return mailer

    assert send().name == "built"


# -- keys and parameters that are never built automatically ---------------------------------


class NeedsAny:
    def __init__(self, config: Any) -> None:
        self.config = config


class NeedsDatetime:
    def __init__(self, when: datetime.datetime) -> None:
        self.when = when


class Greeter(Protocol):
    def greet(self) -> str: ...


def test_a_parameter_typed_any_is_not_built_and_the_error_says_why() -> None:
    with pytest.raises(DependencyNotFoundError) as caught:
        InjectQ().get(NeedsAny)
    assert caught.value.chain == [NeedsAny, Any]
    assert "typing.Any names no type" in str(caught.value)
    assert "default" in str(caught.value.fix)


def test_any_as_a_key_is_not_built() -> None:
    with pytest.raises(DependencyNotFoundError):
        InjectQ().get(Any)


def test_a_parameter_typed_any_keeps_its_default() -> None:
    class Lenient:
        def __init__(self, config: Any = "fallback") -> None:
            self.config = config

    assert InjectQ().get(Lenient).config == "fallback"


def test_a_class_whose_constructor_cannot_be_read_is_not_built_and_the_chain_says_where() -> None:
    with pytest.raises(DependencyNotFoundError) as caught:
        InjectQ().get(NeedsDatetime)
    assert caught.value.chain == [NeedsDatetime, datetime.datetime]
    assert "no readable constructor signature" in str(caught.value)
    assert "bind_factory(datetime" in str(caught.value.fix)


def test_a_class_whose_constructor_cannot_be_read_comes_from_a_binding() -> None:
    container = InjectQ()
    moment = datetime.datetime(2026, 1, 1)
    container.bind_factory(datetime.datetime, lambda: moment)
    assert container.get(NeedsDatetime).when is moment


@pytest.mark.parametrize(
    ("impl", "words"),
    [
        (Greeter, "is a Protocol"),
        (datetime.datetime, "no readable constructor signature"),
        (Any, "typing.Any names no class"),
    ],
)
def test_binding_a_class_that_cannot_be_built_is_refused_at_bind_time(
    impl: Any, words: str
) -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match=words):
        container.bind(impl)
    with pytest.raises(BindingError, match=words):
        container["key"] = impl
    assert "key" not in container


@pytest.mark.parametrize("factory", [Greeter, Any])
def test_a_factory_that_is_a_class_that_cannot_be_instantiated_is_refused(factory: Any) -> None:
    with pytest.raises(BindingError, match="cannot be called"):
        InjectQ().bind_factory("greeter", factory)


class Transport(abc.ABC):
    @abc.abstractmethod
    def send(self) -> None: ...


@pytest.mark.parametrize("target", [Greeter, Any, Transport])
def test_invoking_a_class_that_cannot_be_instantiated_is_refused(target: Any) -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match="cannot invoke"):
        container.invoke(target)
    container.bind_instance("maker", target)  # a value that happens to be such a class
    with pytest.raises(BindingError, match="cannot invoke"):
        container.invoke("maker")


def test_invoking_what_has_no_readable_signature_needs_its_arguments() -> None:
    container = InjectQ()
    with pytest.raises(InjectionError, match="its signature cannot be read"):
        container.invoke(datetime.datetime)
    given = container.invoke(datetime.datetime, year=2026, month=11, day=29)
    assert given == datetime.datetime(2026, 11, 29)


def test_a_protocol_bound_to_an_implementation_works() -> None:
    class English:
        def greet(self) -> str:
            return "hello"

    container = InjectQ()
    container.bind(Greeter, English)
    assert container.get(Greeter).greet() == "hello"


# -- unhashable keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.bind([1], "x"),
        lambda c: c.bind_instance({"a": 1}, "x"),
        lambda c: c.bind_factory([1], lambda: 1),
        lambda c: c.try_get([1]),
        lambda c: c.invoke([1]),
        lambda c: c.get_factory([1]),
        lambda c: c.scope().__enter__().get([1]),
        lambda c: c.get([1]),
        lambda c: c[[1]],
        lambda c: c.get(([1], 2)),
    ],
    ids=[
        "bind",
        "bind_instance",
        "bind_factory",
        "try_get",
        "invoke",
        "get_factory",
        "scope.get",
        "get",
        "container[key]",
        "tuple holding a list",
    ],
)
def test_an_unhashable_key_is_a_binding_error_naming_it(call: Callable[[InjectQ], Any]) -> None:
    with pytest.raises(BindingError, match="cannot be a key: keys must be hashable") as caught:
        call(InjectQ())
    assert "Annotated[T, 'name']" in str(caught.value.fix)


def test_an_unhashable_key_is_not_in_a_container() -> None:
    assert [1] not in InjectQ()
    assert not InjectQ().can_provide([1])


@pytest.mark.anyio
async def test_aget_with_an_unhashable_key_is_a_binding_error() -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match="keys must be hashable"):
        await container.aget([1])
    async with container.scope() as scope:
        with pytest.raises(BindingError, match="keys must be hashable"):
            await scope.aget({"a": 1})


# -- async factories behind decorators ----------------------------------------------------


class Token:
    pass


async def fetch_token() -> Token:
    await anyio.lowlevel.checkpoint()
    return Token()


def retried(fn: Callable[[], Awaitable[Token]]) -> Callable[[], Awaitable[Token]]:
    @functools.wraps(fn)
    def again() -> Awaitable[Token]:  # a plain def that hands back the coroutine
        return fn()

    return again


class Tokens:
    @staticmethod
    async def make() -> Token:
        return Token()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "factory",
    [retried(fetch_token), Tokens.__dict__["make"]],
    ids=["functools.wraps", "staticmethod object"],
)
async def test_aget_awaits_an_async_factory_behind_a_decorator(factory: Any) -> None:
    container = InjectQ()
    container.bind_factory(Token, factory, scope="singleton")
    with anyio.fail_after(5):
        token = await container.aget(Token)
    assert isinstance(token, Token)
    assert await container.aget(Token) is token


def test_get_refuses_an_async_factory_behind_a_decorator_and_names_aget() -> None:
    container = InjectQ()
    container.bind_factory(Token, retried(fetch_token))
    with pytest.raises(InjectionError, match="aget"):
        container.get(Token)


@pytest.mark.anyio
async def test_a_decorated_async_factory_whose_wrapper_returns_a_value_is_handed_over() -> None:
    def run_now(fn: Callable[[], Awaitable[Token]]) -> Callable[[], Token]:
        @functools.wraps(fn)
        def done() -> Token:  # wraps an async def, but returns a plain value
            return Token()

        return done

    container = InjectQ()
    container.bind_factory(Token, run_now(fetch_token))
    assert isinstance(await container.aget(Token), Token)


@pytest.mark.anyio
async def test_a_sync_factory_that_returns_a_coroutine_is_an_injection_error_both_ways() -> None:
    """No coroutine is ever handed out unawaited: aget and get both say to make it async."""
    container = InjectQ()
    container.bind_factory(Token, lambda: fetch_token(), scope="singleton")
    with pytest.raises(InjectionError, match="returned a coroutine") as caught:
        await container.aget(Token)
    assert "async def" in str(caught.value.fix)
    with pytest.raises(InjectionError, match="returned a coroutine"):
        container.get(Token)

    class Client:
        def __init__(self, token: Token) -> None:
            self.token = token

    with pytest.raises(InjectionError, match="returned a coroutine") as caught:
        await container.aget(Client)
    assert caught.value.chain == [Client, Token]


# -- scope names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parent"), [(5, None), (None, None), (("a",), None), ("tenant", 7)]
)
def test_a_scope_name_that_is_not_a_string_is_refused(name: Any, parent: Any) -> None:
    container = InjectQ()
    with pytest.raises(ScopeError, match="scope names are strings"):
        container.register_scope_manager(name, ScopeManager(), parent=parent)
    # the registry is untouched: unknown-scope errors still list the names
    with pytest.raises(ScopeError, match="registered scopes: 'scoped', 'singleton', 'transient'"):
        container.bind(Mailer, scope="tenant")


@pytest.mark.anyio
@pytest.mark.parametrize("scope_id", [[1], {"user": 42}])
async def test_an_unhashable_scope_id_is_a_scope_error(scope_id: Any) -> None:
    container = InjectQ()
    container.register_scope_manager("session", SessionScopeManager(timeout=60))
    with pytest.raises(ScopeError, match="a scope id must be hashable"):
        async with container.scope("session", scope_id):
            pass
    with pytest.raises(ScopeError, match="a scope id must be hashable"):
        container.scope(None, scope_id)


# -- positional-only parameters -------------------------------------------------------------


def greet_with(mailer: Mailer, /, greeting: str = "hi") -> tuple[Mailer, str]:
    return mailer, greeting


def test_invoke_fills_a_positional_only_parameter() -> None:
    container = InjectQ()
    container.bind(Mailer)
    assert container.invoke(greet_with) == (container.get(Mailer), "hi")
    assert container.invoke(greet_with, greeting="yo") == (container.get(Mailer), "yo")


@pytest.mark.anyio
async def test_ainvoke_and_inject_fill_positional_only_parameters() -> None:
    container = InjectQ()
    container.bind(Mailer)
    mailer = container.get(Mailer)
    assert await container.ainvoke(greet_with) == (mailer, "hi")

    @inject(container=container)
    def sync_job(first: Mailer, retries: int = 3, /, second: Mailer | None = None) -> Any:
        return first, retries, second

    @inject(container=container)
    async def async_job(first: Mailer, /) -> Mailer:
        return first

    assert sync_job() == (mailer, 3, mailer)
    other = Mailer()
    assert sync_job(other) == (other, 3, mailer)
    assert sync_job(other, 5) == (other, 5, mailer)
    assert await async_job() is mailer


def test_a_positional_only_default_before_an_injected_one_is_passed_as_is() -> None:
    container = InjectQ()
    container.bind(Mailer)

    def job(retries: int = 3, mailer: Mailer | None = None, /) -> tuple[int, Any]:
        return retries, mailer

    assert container.invoke(job) == (3, container.get(Mailer))


def test_a_parameter_without_a_hint_that_was_not_passed_is_an_injection_error() -> None:
    container = InjectQ()
    container.bind(Mailer)

    def job(label, mailer: Mailer, /) -> Any:  # type: ignore[no-untyped-def]
        return label, mailer

    with pytest.raises(InjectionError, match=r"'label' of .*job: it has no type hint") as caught:
        container.invoke(job)
    assert isinstance(caught.value, TypeError)  # what calling it without the argument raised
    decorated = inject(container=container)(job)
    assert decorated("x") == ("x", container.get(Mailer))
    with pytest.raises(InjectionError, match="no type hint"):
        decorated()


@pytest.mark.anyio
async def test_call_factory_with_the_wrong_arguments_is_an_injection_error_naming_invoke() -> None:
    container = InjectQ()
    container.bind_factory("greeting", greet_with)
    with pytest.raises(InjectionError, match=r"call_factory\('greeting'\)") as caught:
        container.call_factory("greeting")
    assert "container.invoke('greeting')" in str(caught.value.fix)
    with pytest.raises(InjectionError, match="unexpected keyword"):
        await container.acall_factory("greeting", Mailer(), colour="red")
    mailer = Mailer()
    assert container.call_factory("greeting", mailer, greeting="yo") == (mailer, "yo")


# -- return annotations ---------------------------------------------------------------------


def test_a_factory_whose_return_annotation_cannot_be_resolved_is_accepted() -> None:
    def make() -> DefinedOnlyLocally:  # type: ignore[name-defined]  # noqa: F821
        return "made"

    container = InjectQ()
    container.bind_factory("made", make)
    assert container.get("made") == "made"


def test_a_class_whose_init_return_annotation_is_odd_still_builds() -> None:
    class Odd:
        def __init__(self, mailer: Mailer) -> Nowhere:  # type: ignore[name-defined]  # noqa: F821
            self.mailer = mailer

    container = InjectQ()
    container.bind(Mailer)
    assert container.get(Odd).mailer is container.get(Mailer)


def test_an_unresolvable_parameter_annotation_is_still_a_binding_error() -> None:
    def make(x: Missing) -> str:  # type: ignore[name-defined]  # noqa: F821
        return "x"

    container = InjectQ()
    container.bind_factory("made", make)
    with pytest.raises(BindingError, match="cannot read the type hints"):
        container.get("made")


# -- values that are not what their key says ------------------------------------------------


class Repo:
    pass


class SqlRepo(Repo):
    pass


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.bind_instance(Repo, "text"),
        lambda c: c.bind(Repo, Mailer()),
        lambda c: c.__setitem__(Repo, 42),
        lambda c: c.bind_instance(Annotated[Repo, "primary"], "text"),
        lambda c: c.bind_instance(int, "3"),
    ],
    ids=["bind_instance", "bind", "setitem", "annotated", "builtin"],
)
def test_an_instance_of_the_wrong_class_is_refused_at_bind_time(
    call: Callable[[InjectQ], Any],
) -> None:
    container = InjectQ()
    with pytest.raises(BindingError, match="which is not an instance of") as caught:
        call(container)
    assert "bind_factory" in str(caught.value.fix)
    assert len(container._bindings) == 0


def test_a_coroutine_is_refused_as_a_value_it_would_be_handed_out_unawaited() -> None:
    coroutine = fetch_token()
    try:
        with pytest.raises(BindingError, match="is a coroutine") as caught:
            InjectQ().bind_instance("token", coroutine)
        assert "await" in str(caught.value.fix)
        with pytest.raises(BindingError, match="is a coroutine"):
            InjectQ()["token"] = coroutine
    finally:
        coroutine.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (Repo, SqlRepo()),
        (float, 3),
        (complex, 1.5),
        (Greeter, "duck-typed"),  # a Protocol: isinstance cannot tell
        (list[int], (1, 2)),  # a generic alias: isinstance cannot tell
        ("name", object()),
        (Any, 1),
        (Repo, None),
    ],
)
def test_values_whose_type_isinstance_cannot_fault_are_accepted(key: Any, value: Any) -> None:
    container = InjectQ()
    container.bind_instance(key, value, allow_none=True)
    assert container.get(key) is value


# -- every one of these is an InjectQError --------------------------------------------------


def test_the_reproducer_of_issue_8_ends_in_injectq_errors_or_works() -> None:
    """Each wrong usage of the report either works or raises an InjectQError."""
    container = InjectQ()

    async def make_value() -> str:
        return "value"

    @functools.wraps(make_value)
    def decorated(*a: Any, **k: Any) -> Any:
        return make_value(*a, **k)

    def job(g: Greeter, /) -> Greeter:
        return g

    outcomes: list[object] = []
    for attempt in (
        lambda: container.get(NeedsAny),
        lambda: container.get(NeedsDatetime),
        lambda: container.try_get([1]),
        lambda: container.bind(Greeter),
        lambda: container.bind_factory("v", decorated),
        lambda: anyio.run(container.aget, "v"),
        lambda: container.register_scope_manager(5, ScopeManager()),  # type: ignore[arg-type]
        lambda: container.bind(Mailer, scope="tenant"),
        lambda: container.bind_instance(Greeter, "g"),
        lambda: container.invoke(job),
    ):
        try:
            outcomes.append(attempt())
        except InjectQError as exc:
            outcomes.append(type(exc))
    assert outcomes == [
        DependencyNotFoundError,
        DependencyNotFoundError,
        BindingError,
        BindingError,
        None,
        "value",
        ScopeError,
        ScopeError,
        None,
        "g",
    ]


def test_a_scope_handle_made_directly_is_refused_with_the_way_to_get_one() -> None:
    with pytest.raises(ScopeError, match="not made directly") as caught:
        ScopeHandle(InjectQ(), "scoped", None)
    assert "container.scope(" in str(caught.value.fix)
