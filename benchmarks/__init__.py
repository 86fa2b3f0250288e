"""injectq's benchmarks: ``python -m benchmarks`` (or ``python -m nox -s bench``).

Method and workload: ``shared/design/benchmarks.md``.  Speed is measured
here and never in ``tests/``.  Layout, along a run:

- ``workload``: the ten classes of one web request and the session factories;
- ``contender``: what a contender answers for each operation;
- ``baselines`` (hand-written ``plain`` and ``same-shape``), ``subject``
  (injectq), ``peers/`` (dishka, wireup, that-depends, svcs), ``asgi``
  (the Starlette apps of the ``asgi`` operation);
- ``checks``: the lifetime checks every contender passes before timing;
- ``harness``: build, check, calibrate, interleaved rounds;
- ``report``: the table and the JSON in ``results/``; ``cli``: the options.
"""
