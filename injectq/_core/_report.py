"""The report of ``validate()``: its problems, its graph, and the strict mode's error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._errors import InjectQError, describe_key

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

__all__ = ["GraphEdge", "GraphNode", "Problem", "ValidationError", "ValidationReport"]

Kind = Literal["missing", "cycle", "captive", "sync-only", "binding", "needs-aget"]
Severity = Literal["error", "info"]


@dataclass(frozen=True)
class Problem:
    """One finding of ``validate()``: what, where (``key`` and ``chain``), and the fix."""

    kind: Kind
    """``"missing"``, ``"cycle"``, ``"captive"``, ``"sync-only"``, ``"binding"``, or ``"needs-aget"`` (information)."""
    key: Hashable
    """The key the problem is about: the service that cannot be built, or that needs ``aget``."""
    chain: tuple[Hashable, ...]
    """The keys from a bound key (or entry point) down to the problem."""
    message: str
    """What is wrong, in one sentence."""
    fix: str | None
    """What to change."""
    error: type[InjectQError]
    """The exception resolving ``key`` would raise (``DependencyNotFoundError``, ...)."""
    severity: Severity = "error"
    """``"error"`` for a problem, ``"info"`` for information (``needs-aget``)."""

    def __str__(self) -> str:
        lines = [f"[{self.kind}] {self.message}"]
        if len(self.chain) > 1:
            lines.append("chain: " + " -> ".join(describe_key(k) for k in self.chain))
        if self.fix:
            lines.append("fix: " + self.fix)
        return "\n    ".join(lines)


@dataclass(frozen=True)
class GraphEdge:
    """A service needs ``target`` for its parameter ``param``."""

    source: Hashable
    target: Hashable
    param: str


@dataclass
class GraphNode:
    """One key of the graph ``validate()`` walked."""

    key: Hashable
    lifetime: str
    """``"singleton"``, a custom scope's name, ``"scoped"``, ``"transient"``; ``""`` when missing."""
    provider: str
    """``"instance"``, ``"class"``, ``"factory"``, ``"async factory"``, ``"scope id"``, ``"missing"``, ``"entry point"``."""
    bound: bool
    needs_aget: bool = False
    edges: list[GraphEdge] = field(default_factory=lambda: [])  # noqa: PIE807 - typed
    problems: list[Problem] = field(default_factory=lambda: [])  # noqa: PIE807


class ValidationReport:
    """Everything ``validate()`` found: the problems, the information, and the graph.

    ``bool(report)`` is true when there is no problem (information does not
    count); ``str(report)`` is the text ``python -m injectq check`` prints.
    """

    def __init__(
        self,
        problems: list[Problem],
        info: list[Problem],
        nodes: dict[Hashable, GraphNode],
        lifetimes: list[str],
        checked: int,
        entry_points: int = 0,
    ) -> None:
        self.problems = problems
        """Every problem found, in the order of the bindings that reach them."""
        self.info = info
        """Information: the bound keys that only ``aget`` can resolve."""
        self.nodes = nodes
        """The graph: every key reached, with its edges (used by the graph export)."""
        self.lifetimes = lifetimes
        """The lifetimes, longest first: singleton, custom scopes (parents first), scoped, transient."""
        self.checked = checked
        """How many bound keys were walked."""
        self.entry_points = entry_points
        """How many entry points were walked."""

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (keys and chains as readable names)."""

        def one(problem: Problem) -> dict[str, Any]:
            return {
                "kind": problem.kind,
                "severity": problem.severity,
                "key": describe_key(problem.key),
                "chain": [describe_key(k) for k in problem.chain],
                "message": problem.message,
                "fix": problem.fix,
                "error": problem.error.__name__,
            }

        return {
            "ok": self.ok,
            "checked": self.checked,
            "entry_points": self.entry_points,
            "problems": [one(p) for p in self.problems],
            "info": [one(p) for p in self.info],
        }

    def __str__(self) -> str:
        checked = f"{self.checked} binding{'s' if self.checked != 1 else ''}"
        if self.entry_points:
            count = self.entry_points
            checked += f" and {count} entry point{'s' if count != 1 else ''}"
        if self.ok:
            head = f"no problems found in {checked}"
        else:
            count = len(self.problems)
            head = f"{count} problem{'s' if count > 1 else ''} found in {checked}:"
        lines = [head]
        for number, problem in enumerate(self.problems, 1):
            lines.append(f"  {number}. {problem}")
        if self.info:
            lines.append("information:")
            lines.extend(f"  - {problem}" for problem in self.info)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ValidationReport: {len(self.problems)} problems, {len(self.info)} notes>"

    def raise_for_problems(self) -> None:
        """Raise one :class:`ValidationError` listing every problem, if there is any."""
        if self.problems:
            raise ValidationError.of(self)


class ValidationError(InjectQError):
    """``validate()`` found problems; ``report`` has them all, and the message lists each.

    The error raised is also an instance of the error class of each kind of
    problem it holds (``ScopeError`` for a captive dependency,
    ``DependencyNotFoundError`` for a missing one, ...), so ``except ScopeError``
    around ``validate()`` keeps catching a lifetime problem.
    """

    report: ValidationReport
    problems: list[Problem]

    @classmethod
    def of(cls, report: ValidationReport) -> ValidationError:
        """The error for ``report``: its class mixes in each kind of problem's error class."""
        bases: list[type[InjectQError]] = []
        for problem in report.problems:
            if problem.error not in bases and problem.error is not InjectQError:
                bases.append(problem.error)
        error_cls = _mixed(tuple(bases))
        first = report.problems[0]
        error: ValidationError = Exception.__new__(error_cls)
        InjectQError.__init__(error, str(report), key=first.key, chain=first.chain, fix=first.fix)
        error.report = report
        error.problems = report.problems
        cycle = next((p.chain for p in report.problems if p.kind == "cycle"), None)
        if cycle is not None:
            error.cycle = list(_cycle_of(cycle))  # type: ignore[attr-defined]
        return error

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (to another process) as a plain ValidationError with the same message
        return (ValidationError, (self.message,))


_MIXED: dict[tuple[type[InjectQError], ...], type[ValidationError]] = {}


def _mixed(bases: tuple[type[InjectQError], ...]) -> type[ValidationError]:
    error_cls = _MIXED.get(bases)
    if error_cls is None:
        if not bases:
            return ValidationError
        error_cls = _MIXED[bases] = type(
            "ValidationError",
            (ValidationError, *bases),
            {
                "__module__": ValidationError.__module__,
                "__str__": ValidationError.__str__,
                # plain attributes here, set per error (CircularDependencyError
                # computes both from its chain, which a report does not carry)
                "message": "",
                "cycle": (),
            },
        )
    return error_cls


def _cycle_of(chain: Sequence[Hashable]) -> Sequence[Hashable]:
    """The cycle at the end of a chain that closes one (its last key appears earlier)."""
    last = chain[-1]
    return chain[list(chain).index(last) :]
