"""Type checkers see the testing helpers as users write them.

mypy --strict and pyright strict check this file; pytest does not collect it.
"""

from __future__ import annotations

from typing_extensions import assert_type

from injectq import InjectQ
from injectq.testing import Override, override_dependency


class Clock:
    pass


def overrides(container: InjectQ) -> None:
    assert_type(override_dependency(Clock, Clock()), Override)
    assert_type(override_dependency("name", 1, container=container), Override)
    with container.override(Clock, Clock()) as block:
        assert_type(block, Override)
        assert_type(container.get(Clock), Clock)


async def async_overrides(container: InjectQ) -> None:
    async with override_dependency(Clock, Clock()) as block:
        assert_type(block, Override)
