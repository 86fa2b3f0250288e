"""The table on stdout and the JSON under ``benchmarks/results/``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .contender import BACKENDS, Backend, Contender
from .harness import Cell, Operation, median_ns, median_overhead, median_ratio

__all__ = ["render_checks", "render_table", "targets", "to_json", "write_json"]

ROOT = Path(__file__).resolve().parent.parent
PLAIN, SAME_SHAPE = "plain", "same-shape"
DISTRIBUTIONS = (
    "injectq",
    "anyio",
    "trio",
    "starlette",
    "fastapi",
    "dishka",
    "wireup",
    "that-depends",
    "svcs",
)


def _rows(cells: Sequence[Cell]) -> dict[Operation, list[Cell]]:
    rows: dict[Operation, list[Cell]] = {}
    for cell in cells:
        rows.setdefault(cell.operation, []).append(cell)
    return rows


def _baseline(row: Sequence[Cell], name: str) -> Cell | None:
    return next((c for c in row if c.contender.name == name), None)


def _has_shape(op: Operation) -> bool:
    return op.backend is not None


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_table(cells: Sequence[Cell]) -> str:
    """One block per operation: ns/op and the ratios to the baselines, or why there is no number."""
    lines: list[str] = []
    flagged: list[Cell] = []
    caveats: dict[tuple[str, str], list[str]] = {}
    for op, row in _rows(cells).items():
        plain, shape = _baseline(row, PLAIN), _baseline(row, SAME_SHAPE)
        head = f"{op.label:<34}{'ns/op':>10}{'x plain':>10}"
        lines.append(head + (f"{'x same-shape':>14}" if _has_shape(op) else ""))
        for cell in row:
            name = cell.contender.name
            if not cell.timed or not cell.samples:
                lines.append(f"  {name:<32}{cell.reason or cell.status}")
                continue
            ns = median_ns(cell)
            line = f"  {name:<32}{ns:>10,.0f}{_fmt_ratio(median_ratio(cell, plain)):>10}"
            if _has_shape(op):
                line += f"{_fmt_ratio(median_ratio(cell, shape)):>14}"
            if cell.violations:
                line += "   ! lifetimes"
                flagged.append(cell)
            if cell.caveats:
                line += "   * race"
                caveats[cell.contender.name, cell.operation.backend or ""] = cell.caveats
            lines.append(line)
        lines.append("")
    if flagged:
        lines.append("Lifetime violations (those numbers are not comparable):")
        for cell in flagged:
            lines.append(f"  {cell.contender.name}, {cell.operation.label}:")
            lines.extend(f"    - {problem}" for problem in cell.violations)
        lines.append("")
    if caveats:
        lines.append(
            "* Race check (outside the timed workload, whose singletons are sync): two tasks"
            " ask at once for an async singleton whose factory suspends."
        )
        for (name, backend), problems in caveats.items():
            lines.extend(f"  {name} on {backend}: {problem}" for problem in problems)
        lines.append("")
    return "\n".join(lines)


def render_checks(cells: Sequence[Cell]) -> str:
    """The ``--check`` report: one line per cell."""
    lines = []
    for cell in cells:
        if cell.status != "ok":
            verdict = cell.reason or cell.status
        elif cell.violations:
            verdict = "VIOLATES: " + "; ".join(cell.violations)
        else:
            verdict = "lifetimes honoured"
        if cell.caveats:
            verdict += "; race check (two tasks, one async singleton): " + "; ".join(cell.caveats)
        lines.append(f"{cell.operation.label:<26}{cell.contender.name:<14}{verdict}")
    return "\n".join(lines)


def _find(cells: Sequence[Cell], op: Operation, name: str) -> Cell | None:
    return next((c for c in cells if c.operation == op and c.contender.name == name), None)


def targets(cells: Sequence[Cell]) -> list[dict[str, Any]]:
    """injectq against the targets of the speed issue (median of per-round ratios)."""
    results: list[dict[str, Any]] = []

    def ratio(op: Operation, base: str) -> float | None:
        cell = _find(cells, op, "injectq")
        return None if cell is None else median_ratio(cell, _find(cells, op, base))

    def add(goal: str, value: float | None, limit: float, unit: str = "x") -> None:
        met = None if value is None else value <= limit
        results.append({"target": goal, "value": value, "limit": limit, "unit": unit, "met": met})

    add("singleton <= 2.0x plain", ratio(Operation("singleton"), PLAIN), 2.0)
    add("sync_request <= 2.5x plain", ratio(Operation("sync_request"), PLAIN), 2.5)
    by_backend: dict[Backend, float | None] = {}
    for backend in BACKENDS:
        op = Operation("async_request", backend)
        by_backend[backend] = ratio(op, SAME_SHAPE)
        add(f"async_request ({backend}) <= 1.5x same-shape", by_backend[backend], 1.5)
    a, t = by_backend["asyncio"], by_backend["trio"]
    spread = None if a is None or t is None else abs(a - t) / min(a, t)
    add("asyncio and trio ratios to same-shape within 15%", spread, 0.15, "fraction")
    for backend in BACKENDS:
        op = Operation("async_request", backend)
        ours_cell = _find(cells, op, "injectq")
        ours = median_overhead(ours_cell, _find(cells, op, SAME_SHAPE)) if ours_cell else None
        for peer in ("wireup", "dishka"):
            peer_cell = _find(cells, op, peer)
            theirs = median_overhead(peer_cell, _find(cells, op, PLAIN)) if peer_cell else None
            results.append(
                {
                    "target": f"async_request ({backend}): injectq beyond same-shape"
                    f" < {peer} beyond plain",
                    "value": ours,
                    "limit": theirs,
                    "unit": "ns",
                    "met": None if ours is None or theirs is None else ours < theirs,
                }
            )
    for backend in BACKENDS:  # issue 12: throughput, so a time ratio of at most 1.0
        op = Operation("asgi", backend)
        add(f"asgi ({backend}) <= 1.0x same-shape (>= its throughput)", ratio(op, SAME_SHAPE), 1.0)
        add(f"asgi ({backend}) <= 1.0x dishka (>= its throughput)", ratio(op, "dishka"), 1.0)
    return results


def render_targets(results: Sequence[dict[str, Any]]) -> str:
    """The measured targets, one line each (those whose operations did not run are left out)."""
    measured = [
        item
        for item in results
        if item["value"] is not None and (item["unit"] != "ns" or item["limit"] is not None)
    ]
    if not measured:
        return ""
    width = max(len(item["target"]) for item in measured) + 2
    lines = [
        "injectq against the targets of issues 4 and 12 (median of per-round ratios/differences):"
    ]
    for item in measured:
        value, limit, unit = item["value"], item["limit"], item["unit"]
        if unit == "ns":
            shown = "-" if value is None else f"{value:,.0f} ns"
            bound = "-" if limit is None else f"{limit:,.0f} ns"
        elif unit == "fraction":
            shown, bound = ("-" if value is None else f"{value:.0%}"), f"{limit:.0%}"
        else:
            shown, bound = ("-" if value is None else f"{value:.2f}x"), f"{limit:.2f}x"
        verdict = {True: "met", False: "MISSED", None: "n/a"}[item["met"]]
        lines.append(f"  {item['target']:<{width}}{shown:>10}  (limit {bound})  {verdict}")
    return "\n".join(lines)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    status = run("status", "--porcelain", "--", "injectq")
    return {
        "commit": run("rev-parse", "HEAD"),
        "injectq_dirty": None if status is None else bool(status),
    }


def _cell_json(cell: Cell, row: Sequence[Cell]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "contender": cell.contender.name,
        "role": cell.contender.role,
        "status": cell.status if cell.samples or cell.status != "ok" else "not timed",
    }
    if cell.reason:
        item["reason"] = cell.reason
    if cell.timed and cell.samples:
        item["ns_per_op"] = round(median_ns(cell) or 0.0, 1)
        item["ratio_to_plain"] = _round(median_ratio(cell, _baseline(row, PLAIN)))
        if _has_shape(cell.operation):
            item["ratio_to_same_shape"] = _round(median_ratio(cell, _baseline(row, SAME_SHAPE)))
        item["loops_per_timing"] = cell.loops
        item["ns_per_op_by_round"] = [round(s, 1) for s in cell.samples]
    item["lifetime_violations"] = cell.violations
    if cell.operation.backend is not None:
        item["race_check_problems"] = cell.caveats
    return item


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def to_json(
    cells: Sequence[Cell],
    contenders: Sequence[Contender],
    *,
    rounds: int,
    target_ms: float,
    argv: Sequence[str],
) -> dict[str, Any]:
    return {
        "schema": 1,
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *argv]),
        "environment": {
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "versions": {name: _version(name) for name in DISTRIBUTIONS},
            "git": _git(),
        },
        "method": {
            "rounds": rounds,
            "target_ms_per_timing": target_ms,
            "interleaving": "every cell of an operation once per round, the start rotating",
            "gc": "enabled; a collection runs between timings, never inside one",
            "statistic": "median ns/op over rounds; ratios are medians of per-round ratios",
            "workload": "shared/design/benchmarks.md",
        },
        "notes": {c.name: list(c.notes) for c in contenders if c.notes},
        "operations": [
            {
                "id": op.id,
                "backend": op.backend,
                "results": [_cell_json(cell, row) for cell in row],
            }
            for op, row in _rows(cells).items()
        ],
        "targets": targets(cells),
    }


def write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)
