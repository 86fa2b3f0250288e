"""The graph export: Mermaid and Graphviz DOT, parsed back and checked."""

import re
from dataclasses import dataclass, field

import diag_samples as samples
import pydot
import pytest

from injectq import diagnostics

# -- a small Mermaid flowchart reader: every line must be one the format allows ------------

_SUBGRAPH = re.compile(r'^subgraph (\w+)\["([^"]*)"\]$')
_NODE = re.compile(r'^(\w+)\["([^"]*)"\]$')
_EDGE = re.compile(r"^(\w+) (-->|-\.->)\|([^|]*)\| (\w+)$")
_CLASSDEF = re.compile(r"^classDef (\w+) [\w#:,.\- ]+$")
_CLASS = re.compile(r"^class ([\w,]+) (\w+)$")
_LINKSTYLE = re.compile(r"^linkStyle ([\d,]+) [\w#:,.\- ]+$")


@dataclass
class Flowchart:
    groups: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str, bool]] = field(default_factory=list)
    classes: dict[str, set[str]] = field(default_factory=dict)
    red_edges: set[int] = field(default_factory=set)


def read_mermaid(text: str) -> Flowchart:
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "flowchart LR"
    chart = Flowchart()
    group: str | None = None
    defined_classes: set[str] = set()
    for line in lines[1:]:
        if found := _SUBGRAPH.match(line):
            assert group is None, "nested subgraph"
            group = found.group(2)
            chart.groups[group] = []
        elif line == "end":
            assert group is not None
            group = None
        elif found := _NODE.match(line):
            chart.labels[found.group(1)] = found.group(2)
            chart.groups.setdefault(group or "", []).append(found.group(2))
        elif found := _EDGE.match(line):
            source, arrow, param, target = found.groups()
            assert source in chart.labels, line
            assert target in chart.labels, line
            chart.edges.append((chart.labels[source], chart.labels[target], param, arrow != "-->"))
        elif found := _CLASSDEF.match(line):
            defined_classes.add(found.group(1))
        elif found := _CLASS.match(line):
            assert found.group(2) in defined_classes, line
            ids = found.group(1).split(",")
            assert all(i in chart.labels for i in ids), line
            chart.classes[found.group(2)] = {chart.labels[i] for i in ids}
        elif found := _LINKSTYLE.match(line):
            chart.red_edges = {int(i) for i in found.group(1).split(",")}
            assert max(chart.red_edges) < len(chart.edges)
        else:
            pytest.fail(f"not a line of a Mermaid flowchart: {line!r}")
    assert group is None, "unclosed subgraph"
    return chart


def test_mermaid_groups_nodes_by_lifetime_longest_first_with_custom_scopes_in_parent_order() -> (
    None
):
    chart = read_mermaid(diagnostics.mermaid(samples.correct()))

    assert chart.groups == {
        "singleton": ["Connection (async factory)"],
        "session scope": ["Preferences"],
        "tenant scope": ["TenantDirectory", "'tenant_id' (scope id)"],
        "request scope": ["RequestData", "Endpoint (needs aget)"],
    }


def test_mermaid_edges_go_from_a_service_to_what_it_needs() -> None:
    chart = read_mermaid(diagnostics.mermaid(samples.correct()))

    assert chart.edges == [
        ("TenantDirectory", "Preferences", "preferences", False),
        ("TenantDirectory", "'tenant_id' (scope id)", "tenant_id", False),
        ("Endpoint (needs aget)", "TenantDirectory", "directory", False),
        ("Endpoint (needs aget)", "RequestData", "data", False),
        ("Endpoint (needs aget)", "Connection (async factory)", "conn", False),
    ]
    assert chart.classes == {}
    assert chart.red_edges == set()


def test_mermaid_highlights_problems() -> None:
    chart = read_mermaid(diagnostics.mermaid(samples.broken()))

    assert chart.classes["missing"] == {"Session (missing)"}
    assert chart.classes["problem"] == {
        "Repo",
        "Alpha",
        "Cache",
        "RequestData",
        "TenantReport",
        "RequestLog",
    }
    red = {chart.edges[i][:2] for i in chart.red_edges}
    assert red == {
        ("Alpha", "Beta"),
        ("Beta", "Gamma"),
        ("Gamma", "Alpha"),
        ("Cache", "RequestData"),
        ("TenantReport", "RequestLog"),
    }
    assert ("Repo", "Session (missing)", "session", True) in chart.edges


def test_mermaid_escapes_what_would_end_a_label() -> None:
    from typing import Annotated

    from injectq import InjectQ

    container = InjectQ()
    container.bind_instance(Annotated[str, 'a "quoted" | name'], "value")

    chart = read_mermaid(diagnostics.mermaid(container))

    assert chart.groups["singleton"] == [
        "Annotated[str, 'a #quot;quoted#quot; #124; name'] (instance)"
    ]


# -- DOT, parsed by pydot ---------------------------------------------------------------------


def parse_dot(text: str) -> pydot.Dot:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None
    [graph] = graphs
    return graph


def unquote(value: str | None) -> str:
    assert value is not None
    return value.strip('"')


def test_dot_has_one_cluster_per_lifetime_longest_first() -> None:
    graph = parse_dot(diagnostics.dot(samples.correct()))

    clusters = [
        (unquote(sub.get_label()), [unquote(node.get_label()) for node in sub.get_nodes()])
        for sub in graph.get_subgraphs()
    ]
    assert clusters == [
        ("singleton", ["Connection (async factory)"]),
        ("session scope", ["Preferences"]),
        ("tenant scope", ["TenantDirectory", "'tenant_id' (scope id)"]),
        ("request scope", ["RequestData", "Endpoint (needs aget)"]),
    ]


def labels_of(graph: pydot.Dot) -> dict[str, str]:
    nodes = [*graph.get_nodes()]
    for sub in graph.get_subgraphs():
        nodes += sub.get_nodes()
    return {n.get_name(): unquote(n.get_label()) for n in nodes if n.get_label()}


def test_dot_edges_go_from_a_service_to_what_it_needs() -> None:
    graph = parse_dot(diagnostics.dot(samples.correct()))
    labels = labels_of(graph)

    edges = [
        (labels[e.get_source()], labels[e.get_destination()], unquote(e.get("label")))
        for e in graph.get_edges()
    ]
    assert edges == [
        ("TenantDirectory", "Preferences", "preferences"),
        ("TenantDirectory", "'tenant_id' (scope id)", "tenant_id"),
        ("Endpoint (needs aget)", "TenantDirectory", "directory"),
        ("Endpoint (needs aget)", "RequestData", "data"),
        ("Endpoint (needs aget)", "Connection (async factory)", "conn"),
    ]


def test_dot_draws_problems_in_red_and_missing_keys_dashed() -> None:
    graph = parse_dot(diagnostics.dot(samples.broken()))
    labels = labels_of(graph)
    nodes = {n.get_name(): n for n in graph.get_nodes()}
    for sub in graph.get_subgraphs():
        nodes.update({n.get_name(): n for n in sub.get_nodes()})

    red = {labels[name] for name, node in nodes.items() if node.get("color") == "red"}
    assert red == {
        "Session (missing)",
        "Repo",
        "Alpha",
        "Cache",
        "RequestData",
        "TenantReport",
        "RequestLog",
    }
    [missing] = [n for n in nodes.values() if n.get("style") == "dashed"]
    assert unquote(missing.get_label()) == "Session (missing)"
    red_edges = {
        (labels[e.get_source()], labels[e.get_destination()])
        for e in graph.get_edges()
        if e.get("color") == "red"
    }
    assert ("Gamma", "Alpha") in red_edges
    assert ("Repo", "Session (missing)") in red_edges
    assert ("Handler", "Service") not in red_edges
