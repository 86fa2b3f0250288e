"""Wrong usages a type checker reports, and good ones it accepts (mypy --strict, pyright strict).

Each ``# type: ignore[code]`` marks a line the checkers must reject: mypy's
``warn_unused_ignores`` (part of ``--strict``) fails the run if the line ever
stops being an error. The run-time checks behind these lines are in
tests/test_bad_input.py.

Not here, because neither checker can see it with a single generic call:
``bind(Repo, Mailer)`` and ``bind_instance(Repo, "text")``. A type variable
solved from ``type[T]`` is widened by the next argument (mypy joins
``Repo`` and ``str`` to ``object``, pyright to ``Repo | str``), so both
accept them; injectq refuses such an instance at bind time instead.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from injectq import InjectQ, ScopeManager


class Repo:
    pass


async def make_repo() -> Repo:
    return Repo()


class Factories:
    @staticmethod
    async def make() -> Repo:
        return Repo()


container = InjectQ()

# scope names are strings
container.register_scope_manager(5, ScopeManager())  # type: ignore[arg-type]
container.register_scope_manager("tenant", ScopeManager(), parent=7)  # type: ignore[arg-type]
container.register_scope_manager("session", ScopeManager())

# a factory must be callable
container.bind_factory(Repo, "not a function")  # type: ignore[arg-type]

# an async staticmethod object is a factory like any other
container.bind_factory(Repo, Factories.__dict__["make"])
container.bind_factory(Repo, staticmethod(make_repo))


async def resolve() -> None:
    assert_type(await container.aget(Repo), Repo)
    assert_type(container.try_get([1]), Any)
