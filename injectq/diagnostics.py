"""Diagnostics: the report of ``validate()``, its graph, and the code generated for a key.

``container.validate()`` is the entry point; this module holds the rest::

    report = container.validate(strict=False)
    print(diagnostics.mermaid(report))  # or diagnostics.dot(report)
    print(diagnostics.source(container, RequestHandler))

``python -m injectq check module:attr`` and ``python -m injectq graph
module:attr`` run the same from a shell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._core._errors import describe_key
from ._core._graph import to_dot, to_mermaid
from ._core._keys import normalize_key
from ._core._report import GraphEdge as GraphEdge
from ._core._report import GraphNode as GraphNode
from ._core._report import Problem as Problem
from ._core._report import ValidationError as ValidationError
from ._core._report import ValidationReport as ValidationReport

if TYPE_CHECKING:
    from collections.abc import Hashable

    from ._core._container import InjectQ

__all__ = [
    "GraphEdge",
    "GraphNode",
    "Problem",
    "ValidationError",
    "ValidationReport",
    "dot",
    "mermaid",
    "report",
    "source",
]


def report(container: InjectQ) -> ValidationReport:
    """``container.validate(strict=False)``: the report, whatever it holds."""
    return container.validate(strict=False)


def mermaid(target: InjectQ | ValidationReport) -> str:
    """The graph of a container (or of a report) as a Mermaid ``flowchart``."""
    return to_mermaid(_report(target))


def dot(target: InjectQ | ValidationReport) -> str:
    """The graph of a container (or of a report) as a Graphviz DOT ``digraph``."""
    return to_dot(_report(target))


def source(container: InjectQ, key: Hashable) -> str:
    """The Python source injectq generated to build ``key`` in ``container``.

    Plans ``key`` (as the first ``get`` would) without building anything.  A key
    whose graph needs an ``await`` has two builders, the sync one (``build_X``)
    and the one ``aget`` runs (``abuild_X``); both are shown.  A key bound to an
    instance has no builder.
    """
    node = container._plan(normalize_key(key))
    parts: list[str] = []
    for builder in (node.build, node.abuild):
        text = getattr(builder, "__injectq_source__", None)
        if text is not None:
            parts.append(text)
    if not parts:
        return f"# {describe_key(key)} is bound to an instance (or is an async factory's\n# sync refusal): no generated builder\n"
    return "\n".join(parts)


def _report(target: InjectQ | ValidationReport) -> ValidationReport:
    return target if isinstance(target, ValidationReport) else target.validate(strict=False)
