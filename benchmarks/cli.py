"""``python -m benchmarks``: the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .baselines import Floor, Plain, SameShape
from .concurrent import measure_concurrent, render_concurrent
from .contender import Contender
from .harness import OPERATIONS, Operation, build_cells, check, measure
from .overrides import InjectQAfterOverride
from .peers import PEERS
from .report import render_checks, render_table, render_targets, targets, to_json, write_json
from .subject import InjectQContender

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
FULL_ROUNDS, QUICK_ROUNDS = 15, 3
FULL_TARGET_MS, QUICK_TARGET_MS = 50.0, 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="injectq against hand-written code and its peers, on the workload of"
        " shared/design/benchmarks.md. Prints a table; writes JSON.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_ROUNDS} rounds of ~{QUICK_TARGET_MS:.0f} ms timings",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only run the lifetime checks (no timing, no JSON); exits 1 if injectq or a"
        " baseline fails them",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="restrict to a contender (injectq, injectq-ov, dishka, wireup, that-depends, svcs) or an"
        " operation (singleton, sync_request, async_request, asgi, asyncio, trio, concurrent);"
        " repeatable;"
        " the baselines always run",
    )
    parser.add_argument("--rounds", type=int, help=f"rounds (default {FULL_ROUNDS})")
    parser.add_argument(
        "--target-ms", type=float, help=f"duration of one timing (default {FULL_TARGET_MS:.0f})"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the JSON (default: results/latest.json for a full run,"
        " results/partial.json otherwise)",
    )
    return parser


def _select(
    only: Sequence[str], parser: argparse.ArgumentParser
) -> tuple[list[Contender], list[Operation]]:
    contender_types: list[type[Contender]] = [
        Plain,
        Floor,
        SameShape,
        InjectQContender,
        InjectQAfterOverride,
        *PEERS,
    ]
    names = {cls.name for cls in contender_types if cls.role != "baseline"}
    op_names = {op.id for op in OPERATIONS} | {"asyncio", "trio", "concurrent"}
    unknown = [name for name in only if name not in names | op_names]
    if unknown:
        parser.error(
            f"unknown --only {', '.join(unknown)}; choose from {', '.join(sorted(names | op_names))}"
        )
    wanted_contenders = {name for name in only if name in names}
    wanted_ops = {name for name in only if name in op_names}
    contenders = [
        cls()
        for cls in contender_types
        if cls.role == "baseline" or not wanted_contenders or cls.name in wanted_contenders
    ]
    operations = [
        op
        for op in OPERATIONS
        if not wanted_ops
        or op.id in wanted_ops
        or (op.backend is not None and op.backend in wanted_ops)
    ]
    return contenders, operations


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    contenders, operations = _select(args.only, parser)
    cells = build_cells(operations, contenders)
    check(cells)
    if args.check:
        print(render_checks(cells))
        ours = [c for c in cells if c.contender.role != "peer"]
        return 1 if any(c.status == "failed" or c.violations for c in ours) else 0

    rounds = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    target_ms = args.target_ms or (QUICK_TARGET_MS if args.quick else FULL_TARGET_MS)
    measure(cells, rounds, target_ms)
    print(render_table(cells))
    print(render_targets(targets(cells)))
    concurrent = None
    if not args.only or "concurrent" in args.only:
        concurrent = measure_concurrent()
        print(render_concurrent(concurrent))
    for contender in dict.fromkeys(c.contender for c in cells):
        for note in contender.notes:
            print(f"note, {contender.name}: {note}")

    full = not (args.quick or args.only or args.rounds or args.target_ms)
    output = args.output or RESULTS / ("latest.json" if full else "partial.json")
    data = to_json(cells, contenders, rounds=rounds, target_ms=target_ms, argv=argv)
    if concurrent is not None:
        data["concurrent_resolution"] = concurrent
    write_json(data, output)
    print(f"\nwrote {output}")
    return 0
