"""Draw the graph ``validate()`` walked, as Mermaid or Graphviz DOT.

Nodes are grouped by lifetime, longest first (singleton, each custom scope
with its parent before it, the request scope, transient); an edge goes from a
service to what it needs, labelled with the parameter; nodes and edges with a
problem are drawn in red, missing keys dashed, keys that need ``aget`` with a
note.  Both writers read only the report, so the drawing shows exactly what
``validate()`` saw.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from ._errors import describe_key

if TYPE_CHECKING:
    from collections.abc import Hashable

    from ._report import GraphNode, ValidationReport

__all__ = ["to_dot", "to_mermaid"]

_TITLES = {"singleton": "singleton", "scoped": "request scope", "transient": "transient"}


def _title(lifetime: str) -> str:
    return _TITLES.get(lifetime) or f"{lifetime} scope"


def _label(node: GraphNode) -> str:
    text = describe_key(node.key)
    extras: list[str] = []
    if node.provider in ("instance", "async factory", "scope id", "missing", "entry point"):
        extras.append(node.provider)
    elif node.needs_aget:
        extras.append("needs aget")
    if not node.bound and node.provider in ("class", "factory", "async factory"):
        extras.append("auto")
    return f"{text} ({', '.join(extras)})" if extras else text


def _groups(report: ValidationReport) -> list[tuple[str, list[GraphNode]]]:
    by_lifetime: dict[str, list[GraphNode]] = {name: [] for name in report.lifetimes}
    loose: list[GraphNode] = []
    for node in report.nodes.values():
        if node.lifetime in by_lifetime and node.provider != "entry point":
            by_lifetime[node.lifetime].append(node)
        else:
            loose.append(node)
    groups = [(name, nodes) for name, nodes in by_lifetime.items() if nodes]
    if loose:
        groups.append(("", loose))
    return groups


def _ids(report: ValidationReport) -> dict[Hashable, str]:
    return {key: f"n{number}" for number, key in enumerate(report.nodes)}


def _bad_edges(report: ValidationReport) -> set[tuple[Hashable, Hashable]]:
    """Edges on the chain of a captive, cycle or sync-only problem."""
    bad: set[tuple[Hashable, Hashable]] = set()
    for node in report.nodes.values():
        for problem in node.problems:
            if problem.kind in ("captive", "cycle", "sync-only"):
                chain = problem.chain
                bad.update(itertools.pairwise(chain))
    return bad


def to_mermaid(report: ValidationReport) -> str:
    """A Mermaid ``flowchart`` of ``report``'s graph."""
    ids = _ids(report)
    lines = ["flowchart LR"]
    for number, (lifetime, nodes) in enumerate(_groups(report)):
        indent = "    "
        if lifetime:
            lines.append(f'    subgraph g{number}["{_mermaid_text(_title(lifetime))}"]')
            indent = "        "
        for node in nodes:
            label = _mermaid_text(_label(node))
            lines.append(f'{indent}{ids[node.key]}["{label}"]')
        if lifetime:
            lines.append("    end")
    bad = _bad_edges(report)
    red: list[int] = []
    count = 0
    for node in report.nodes.values():
        for edge in node.edges:
            arrow = "-.->" if report.nodes[edge.target].provider == "missing" else "-->"
            lines.append(
                f"    {ids[edge.source]} {arrow}|{_mermaid_text(edge.param)}| {ids[edge.target]}"
            )
            if (edge.source, edge.target) in bad:
                red.append(count)
            count += 1
    problem_ids = [ids[n.key] for n in report.nodes.values() if n.problems]
    missing_ids = [ids[n.key] for n in report.nodes.values() if n.provider == "missing"]
    lines.append("    classDef problem stroke:#d32f2f,stroke-width:3px,color:#d32f2f")
    lines.append("    classDef missing stroke:#d32f2f,stroke-dasharray:5 5,color:#d32f2f")
    if problem_ids:
        lines.append(f"    class {','.join(problem_ids)} problem")
    if missing_ids:
        lines.append(f"    class {','.join(missing_ids)} missing")
    if red:
        lines.append(f"    linkStyle {','.join(map(str, red))} stroke:#d32f2f,stroke-width:3px")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Text inside ``["..."]`` or ``|...|``: Mermaid's entity codes for what would end it."""
    for char, code in (
        ("#", "#35;"),
        ('"', "#quot;"),
        ("|", "#124;"),
        ("<", "#lt;"),
        (">", "#gt;"),
    ):
        text = text.replace(char, code)
    return text


def to_dot(report: ValidationReport) -> str:
    """A Graphviz DOT ``digraph`` of ``report``'s graph (one cluster per lifetime)."""
    ids = _ids(report)
    lines = [
        "digraph injectq {",
        "    rankdir=LR;",
        '    node [shape=box, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for number, (lifetime, nodes) in enumerate(_groups(report)):
        indent = "    "
        if lifetime:
            lines.append(f"    subgraph cluster_{number} {{")
            lines.append(f"        label={_dot_text(_title(lifetime))};")
            lines.append("        style=rounded;")
            indent = "        "
        for node in nodes:
            attrs = [f"label={_dot_text(_label(node))}"]
            if node.provider == "missing":
                attrs += ["style=dashed", "color=red", "fontcolor=red"]
            elif node.problems:
                attrs += ["color=red", "fontcolor=red", "penwidth=2"]
            lines.append(f"{indent}{ids[node.key]} [{', '.join(attrs)}];")
        if lifetime:
            lines.append("    }")
    bad = _bad_edges(report)
    for node in report.nodes.values():
        for edge in node.edges:
            attrs = [f"label={_dot_text(edge.param)}"]
            if (edge.source, edge.target) in bad:
                attrs += ["color=red", "penwidth=2"]
            if report.nodes[edge.target].provider == "missing":
                attrs += ["style=dashed", "color=red"]
            lines.append(f"    {ids[edge.source]} -> {ids[edge.target]} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    """A DOT quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
