"""How long ``container.validate()`` takes on a correct 200-service graph.

Not part of ``python -m benchmarks`` (which compares resolution with peers):
run it alone with ``python -m benchmarks.validate``.  It prints the median
and the spread of several runs of

* ``first``: ``validate()`` on a fresh container -- the walk that looks for
  problems, then (the graph being correct) the planning of every binding,
  which compiles each key's builders as the first ``get`` would;
* ``again``: ``validate()`` once more on the same container -- the walk
  alone, the plans being ready;
* ``report``: ``validate(strict=False)`` plus the Mermaid and DOT drawings.

The graph: 200 classes in layers -- 20 singletons, 30 session-scoped, 30
tenant-scoped (``parent="session"``), 60 request-scoped and 60 transient --
each needing up to three services of the same or a longer lifetime, with a
scope id here and there and a few async factories; nothing is built.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from injectq import InjectQ, SessionScopeManager, TenantScopeManager, diagnostics

LAYERS = [("singleton", 20), ("session", 30), ("tenant", 30), ("scoped", 60), ("transient", 60)]


def make_graph(seed: int = 7) -> InjectQ:
    """A fresh container holding the correct 200-service graph."""
    rng = random.Random(seed)
    container = InjectQ()
    container.register_scope_manager("session", SessionScopeManager())
    container.register_scope_manager("tenant", TenantScopeManager(), parent="session")
    longer: list[type] = []  # classes a later layer may depend on
    number = 0
    for lifetime, count in LAYERS:
        layer: list[type] = []
        for _ in range(count):
            number += 1
            pool = [*longer, *layer] if lifetime != "transient" else [*longer[:-60], *layer]
            # transients may not be needed by singletons, so only transients need transients
            deps = rng.sample(pool, k=min(len(pool), rng.randint(0, 3)))
            cls = _service(
                f"Service{number}", deps, with_tenant_id=lifetime == "tenant" and number % 5 == 0
            )
            if lifetime == "singleton" and number % 7 == 0:
                container.bind_factory(cls, _async_factory(cls), scope=lifetime)
            else:
                container.bind(cls, scope=lifetime)
            layer.append(cls)
        if lifetime != "transient":
            longer += layer
    return container


def _service(name: str, deps: list[type], with_tenant_id: bool) -> type:
    params = [f"d{i}: {dep.__name__}" for i, dep in enumerate(deps)]
    if with_tenant_id:
        params.append("tenant_id: str")
    namespace: dict[str, Any] = {dep.__name__: dep for dep in deps}
    source = f"class {name}:\n    def __init__(self, {', '.join(params)}) -> None:\n        pass\n"
    if not params:
        source = f"class {name}:\n    pass\n"
    exec(source, namespace)
    return namespace[name]  # type: ignore[no-any-return]


def _async_factory(cls: type) -> Any:
    async def make() -> Any:
        return cls()

    make.__annotations__ = {"return": cls}
    return make


def _time(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.validate", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="runs of each measure (default 15)")
    args = parser.parse_args()
    probe = make_graph()
    report = probe.validate()
    assert report.ok, report
    assert len(probe._bindings) == sum(count for _, count in LAYERS)
    first, again, drawn = [], [], []
    for _ in range(args.runs):
        container = make_graph()
        first.append(_time(container.validate))
        again.append(_time(container.validate))
        drawn.append(
            _time(
                lambda c=container: (
                    diagnostics.mermaid(c.validate(strict=False)),
                    diagnostics.dot(c),
                )
            )
        )
    print(f"validate() on a correct graph of {len(probe._bindings)} services, {args.runs} runs")
    print(f"{'measure':<8} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, values in (("first", first), ("again", again), ("report", drawn)):
        ms = [v * 1000 for v in values]
        print(f"{name:<8} {statistics.median(ms):>10.2f} {min(ms):>8.2f} {max(ms):>8.2f}")


if __name__ == "__main__":
    main()
