"""The method of ``shared/design/benchmarks.md``: check, calibrate, then interleaved rounds.

Everything runs in one process.  Each *cell* is one contender on one
operation.  Before timing, every cell is built and its lifetimes checked; a
cell that cannot be built, fails, or fails on a backend keeps the reason for
its place in the table.  Then each cell's loop is calibrated to the target
duration (about 50 ms), and the rounds run: in each round every cell of an
operation is timed once, the starting contender rotating from round to round.
Async cells are timed inside a running loop of their backend (one
``anyio.run`` per backend per round, many iterations per timing).  The garbage
collector stays on; a collection runs between timings, never inside one.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from .asgi import request_through, started
from .checks import check_async_request, check_race, check_singleton, check_sync_request
from .contender import Backend, Contender, NotCompared, Unsupported
from .workload import RequestHandler

__all__ = ["OPERATIONS", "Cell", "Operation", "build_cells", "check", "measure"]

Status = Literal["ok", "unsupported", "failed"]
SyncTimer = Callable[[int], int]
AsyncTimer = Callable[[int], Awaitable[int]]


@dataclass(frozen=True)
class Operation:
    id: str
    backend: Backend | None = None

    @property
    def label(self) -> str:
        return self.id if self.backend is None else f"{self.id} ({self.backend})"


OPERATIONS: tuple[Operation, ...] = (
    Operation("singleton"),
    Operation("sync_request"),
    Operation("async_request", "asyncio"),
    Operation("async_request", "trio"),
    Operation("asgi", "asyncio"),
    Operation("asgi", "trio"),
)


@dataclass
class Cell:
    operation: Operation
    contender: Contender
    status: Status = "ok"
    reason: str = ""
    violations: list[str] = field(default_factory=list)
    #: problems found outside the timed workload (the race check); the number stands
    caveats: list[str] = field(default_factory=list)
    loops: int = 0
    #: ns per operation, one per round
    samples: list[float] = field(default_factory=list)
    sync_timer: SyncTimer | None = None
    async_timer: AsyncTimer | None = None
    sync_check: Callable[[], list[str]] | None = None
    async_check: Callable[[], Awaitable[list[str]]] | None = None

    @property
    def timed(self) -> bool:
        return self.status == "ok"

    def fail(self, exc: BaseException, while_: str) -> None:
        self.status = "failed"
        where = f" on {self.operation.backend}" if self.operation.backend else ""
        self.reason = f"fails{where} {while_}: {describe(exc)}"


def describe(exc: BaseException) -> str:
    """A short one-line reason: the first leaf of a group, its type and first line."""
    while inner := getattr(exc, "exceptions", None):  # an exception group: its first leaf
        exc = inner[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 90 else text[:87] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- timers: the loop calls the operation directly, nothing else ------------------


def _sync_call_timer(function: Callable[..., Any], args: tuple[Any, ...]) -> SyncTimer:
    if not args:

        def timer(n: int) -> int:
            loop = itertools.repeat(None, n)
            start = time.perf_counter_ns()
            for _ in loop:
                function()
            return time.perf_counter_ns() - start

        return timer
    if len(args) == 1:
        (arg,) = args

        def timer1(n: int) -> int:
            loop = itertools.repeat(None, n)
            start = time.perf_counter_ns()
            for _ in loop:
                function(arg)
            return time.perf_counter_ns() - start

        return timer1

    def timer_n(n: int) -> int:
        loop = itertools.repeat(None, n)
        start = time.perf_counter_ns()
        for _ in loop:
            function(*args)
        return time.perf_counter_ns() - start

    return timer_n


def _async_call_timer(request: Callable[[], Awaitable[Any]]) -> AsyncTimer:
    async def timer(n: int) -> int:
        loop = itertools.repeat(None, n)
        start = time.perf_counter_ns()
        for _ in loop:
            await request()
        return time.perf_counter_ns() - start

    return timer


# -- building and checking ----------------------------------------------------------


def _prepare(cell: Cell) -> None:
    op, contender = cell.operation, cell.contender
    if op.id == "singleton":
        call = contender.singleton()
        try:
            request: Callable[[], RequestHandler] | None = contender.sync_request()
        except NotCompared:
            request = None
        cell.sync_timer = _sync_call_timer(*call)
        cell.sync_check = lambda: check_singleton(call, request)
    elif op.id == "sync_request":
        sync_request = contender.sync_request()
        cell.sync_timer = _sync_call_timer(sync_request, ())
        cell.sync_check = lambda: check_sync_request(sync_request)
    else:
        assert op.backend is not None
        if op.id == "async_request":
            async_request = contender.async_request(op.backend)
        else:
            async_request = request_through(started(contender.asgi(op.backend), op.backend))
        cell.async_timer = _async_call_timer(async_request)
        cell.async_check = lambda: check_async_request(async_request)


def build_cells(operations: Sequence[Operation], contenders: Sequence[Contender]) -> list[Cell]:
    """One cell per operation and contender, each ready to check and time or marked why not."""
    cells: list[Cell] = []
    for op in operations:
        for contender in contenders:
            cell = Cell(op, contender)
            try:
                _prepare(cell)
            except NotCompared:
                continue  # e.g. same-shape has no sync operation, the peers no asgi app
            except Unsupported as exc:
                cell.status, cell.reason = "unsupported", str(exc)
            except Exception as exc:
                cell.fail(exc, "to build")
            cells.append(cell)
    return cells


def _backends(cells: Sequence[Cell]) -> list[Backend]:
    return list(dict.fromkeys(c.operation.backend for c in cells if c.operation.backend))


def check(cells: Sequence[Cell]) -> None:
    """Run each timed cell's lifetime checks; record violations and failures."""
    for cell in cells:
        if cell.timed and cell.sync_check is not None:
            try:
                cell.violations = cell.sync_check()
            except Exception as exc:
                cell.fail(exc, "in the lifetime check")

    async def run_checks(backend: Backend) -> None:
        for cell in cells:
            if cell.timed and cell.operation.backend == backend and cell.async_check:
                try:
                    cell.violations = await cell.async_check()
                except Exception as exc:
                    cell.fail(exc, "in the lifetime check")
        on_backend = [c for c in cells if c.operation.backend == backend and c.timed]
        for contender in dict.fromkeys(c.contender for c in on_backend):
            caveats = await _race(contender, backend)
            for cell in on_backend:
                if cell.contender is contender:
                    cell.caveats = caveats

    for backend in _backends(cells):
        anyio.run(run_checks, backend, backend=backend)


async def _race(contender: Contender, backend: Backend) -> list[str]:
    try:
        get_pool = contender.race(backend)
        if get_pool is None:
            return []
        with anyio.fail_after(5):
            return await check_race(get_pool)
    except Exception as exc:
        return [f"fails: {describe(exc)}"]


# -- calibration and rounds ---------------------------------------------------------


def _next_n(n: int, elapsed: int, target_ns: int) -> int | None:
    """``None`` when ``n`` loops take long enough to scale from, else a larger ``n`` to try."""
    if elapsed >= target_ns // 5:
        return None
    return n * min(10, max(2, target_ns // 5 // max(elapsed, 1) + 1))


# The last size is timed three times and the fastest kept: a pause in one timing
# would otherwise shrink every later timing of that cell.


def _calibrate_sync(timer: SyncTimer, target_ns: int) -> int:
    n = 1
    while (bigger := _next_n(n, elapsed := timer(n), target_ns)) is not None:
        n = bigger
    elapsed = min(elapsed, timer(n), timer(n))
    return max(1, round(n * target_ns / elapsed))


async def _calibrate_async(timer: AsyncTimer, target_ns: int) -> int:
    n = 1
    while (bigger := _next_n(n, elapsed := await timer(n), target_ns)) is not None:
        n = bigger
    elapsed = min(elapsed, await timer(n), await timer(n))
    return max(1, round(n * target_ns / elapsed))


def _rows(cells: Sequence[Cell]) -> dict[Operation, list[Cell]]:
    rows: dict[Operation, list[Cell]] = {}
    for cell in cells:
        rows.setdefault(cell.operation, []).append(cell)
    return rows


def _rotated(cells: list[Cell], start: int) -> list[Cell]:
    live = [c for c in cells if c.timed]
    if not live:
        return []
    start %= len(live)
    return live[start:] + live[:start]


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure(cells: Sequence[Cell], rounds: int, target_ms: float) -> None:
    """Calibrate every timed cell, then run ``rounds`` interleaved rounds of timings."""
    target_ns = int(target_ms * 1e6)
    rows = _rows(cells)
    sync_rows = [row for op, row in rows.items() if op.backend is None]

    for row in sync_rows:
        for cell in row:
            if cell.timed and cell.sync_timer is not None:
                try:
                    cell.loops = _calibrate_sync(cell.sync_timer, target_ns)
                except Exception as exc:
                    cell.fail(exc, "while calibrating")

    async def calibrate(backend: Backend) -> None:
        for cell in cells:
            if cell.timed and cell.operation.backend == backend and cell.async_timer:
                try:
                    cell.loops = await _calibrate_async(cell.async_timer, target_ns)
                except Exception as exc:
                    cell.fail(exc, "while calibrating")

    backends = _backends(cells)
    for backend in backends:
        anyio.run(calibrate, backend, backend=backend)

    async def async_round(backend: Backend, number: int) -> None:
        for op, row in rows.items():
            if op.backend != backend:
                continue
            for cell in _rotated(row, number):
                assert cell.async_timer is not None
                gc.collect()
                try:
                    elapsed = await cell.async_timer(cell.loops)
                except Exception as exc:
                    cell.fail(exc, "while timed")
                    continue
                cell.samples.append(elapsed / cell.loops)

    for number in range(rounds):
        _progress(f"round {number + 1}/{rounds}")
        for row in sync_rows:
            for cell in _rotated(row, number):
                assert cell.sync_timer is not None
                gc.collect()
                try:
                    elapsed = cell.sync_timer(cell.loops)
                except Exception as exc:
                    cell.fail(exc, "while timed")
                    continue
                cell.samples.append(elapsed / cell.loops)
        start = number % max(len(backends), 1)
        for backend in backends[start:] + backends[:start]:
            anyio.run(async_round, backend, number, backend=backend)


# -- statistics -----------------------------------------------------------------------


def median_ns(cell: Cell) -> float | None:
    return statistics.median(cell.samples) if cell.timed and cell.samples else None


def median_ratio(cell: Cell, baseline: Cell | None) -> float | None:
    """The median of the per-round ratios of ``cell`` to ``baseline``."""
    if baseline is None or not (cell.timed and baseline.timed):
        return None
    pairs = list(zip(cell.samples, baseline.samples, strict=False))
    if not pairs or len(cell.samples) != len(baseline.samples):
        return None
    return statistics.median(a / b for a, b in pairs)


def median_overhead(cell: Cell, baseline: Cell | None) -> float | None:
    """The median of the per-round differences (ns) of ``cell`` over ``baseline``."""
    if baseline is None or not (cell.timed and baseline.timed):
        return None
    if not cell.samples or len(cell.samples) != len(baseline.samples):
        return None
    return statistics.median(a - b for a, b in zip(cell.samples, baseline.samples, strict=True))
