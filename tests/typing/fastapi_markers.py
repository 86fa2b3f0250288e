"""Type checkers see ``InjectAPI[T]`` as ``T``; the ``Annotated`` forms keep ``T``.

``Annotated[T, InjectAPI(T)]`` works at run time and under mypy; pyright
reports calling the ``InjectAPI`` alias (``reportCallIssue``), so under
pyright the ``Annotated`` form is written with ``InjectFastAPI(T)``.
"""

from __future__ import annotations

from typing import Annotated

from typing_extensions import assert_type

from injectq.integrations.fastapi import InjectAPI, InjectFastAPI


class Service:
    def ping(self) -> str:
        return "pong"


async def endpoint(
    a: InjectAPI[Service],
    b: Annotated[Service, InjectAPI(Service)],  # pyright: ignore[reportCallIssue]
    c: Annotated[Service, InjectFastAPI(Service)],
) -> str:
    assert_type(a, Service)
    assert_type(b, Service)
    assert_type(c, Service)
    return a.ping() + b.ping() + c.ping()
