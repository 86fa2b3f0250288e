"""The command line: ``python -m injectq check|graph module:attr``.

``check`` prints ``validate()``'s report and exits 1 when it holds a problem;
``graph`` prints the graph as Mermaid (default) or DOT.  The target is
``module:attr`` (``attr`` may be dotted): a container, or a function taking no
argument that returns one.  The current directory is importable, as with
``python -m``.

Exit status: 0 no problem, 1 problems found (``check``), 2 bad usage or a
target that cannot be loaded (a one-line message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ._core._container import InjectQ
from ._core._graph import to_dot, to_mermaid

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

OK, PROBLEMS, USAGE = 0, 1, 2


class _TargetError(Exception):
    """The target cannot be loaded; the message says why."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m injectq",
        description="Check a container's wiring, or draw its dependency graph, without building anything.",
        epilog="TARGET is module:attr -- a container, or a function taking no argument that"
        " returns one (e.g. myapp.wiring:container or myapp.wiring:make_container).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="report every wiring problem; exit status 1 when there is one",
        description="Run container.validate() and print every problem with its chain and fix."
        " Exit status: 0 no problem, 1 problems found, 2 the target cannot be loaded.",
    )
    check.add_argument("target", metavar="TARGET", help="module:attr of a container or factory")
    check.add_argument(
        "--json", action="store_true", help="print the report as JSON instead of text"
    )
    check.add_argument(
        "--entry-point",
        action="append",
        default=[],
        metavar="MODULE:ATTR",
        help="a function called through @inject to check too (repeatable):"
        " what it needs, and whether a sync one needs a key only aget can resolve",
    )
    graph = commands.add_parser(
        "graph",
        help="print the dependency graph as Mermaid or Graphviz DOT",
        description="Print the graph: nodes grouped by lifetime, edges from a service to what"
        " it needs, problems in red. Exit status 0, or 2 when the target cannot be loaded.",
    )
    graph.add_argument("target", metavar="TARGET", help="module:attr of a container or factory")
    graph.add_argument(
        "--format",
        choices=("mermaid", "dot"),
        default="mermaid",
        help="output format (default: mermaid)",
    )
    return parser


def _find(target: str) -> Any:
    """The object named by ``module:attr``."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise _TargetError(f"target {target!r} is not of the form module:attr")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise _TargetError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _TargetError(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


def load(target: str) -> InjectQ:
    """The container named by ``module:attr`` (calling ``attr`` when it is a function)."""
    obj = _find(target)
    if not isinstance(obj, InjectQ) and callable(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise _TargetError(
                f"calling {target} failed: {type(exc).__name__}: {exc}"
                " (a target function must take no argument and return a container)"
            ) from None
    if not isinstance(obj, InjectQ):
        raise _TargetError(
            f"{target} is of type {type(obj).__name__}, not an injectq container"
            " (name an InjectQ, or a function taking no argument that returns one)"
        )
    return obj


def _entry_point(target: str) -> Any:
    fn = _find(target)
    if not callable(fn):
        raise _TargetError(f"entry point {target} is of type {type(fn).__name__}, not a function")
    return fn


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        container = load(args.target)
        entry_points = [_entry_point(name) for name in getattr(args, "entry_point", [])]
    except _TargetError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return USAGE
    report = container.validate(strict=False, entry_points=entry_points)
    if args.command == "check":
        if args.json:
            print(json.dumps(report.to_dict(), indent=2))
        else:
            print(report)
        return OK if report.ok else PROBLEMS
    print(to_mermaid(report) if args.format == "mermaid" else to_dot(report), end="")
    return OK
