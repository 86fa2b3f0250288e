"""The example program docs/examples/app.py runs, on asyncio and trio, and shows what it claims."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "docs" / "examples" / "app.py"


@pytest.fixture(scope="module")
def output() -> str:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(APP)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    return result.stdout


def test_the_app_runs_on_both_backends_with_the_same_trace(output: str) -> None:
    assert "asyncio: ok" in output
    assert "trio: ok, same trace as asyncio" in output


def test_the_singleton_store_is_opened_once_and_closed_at_the_end(output: str) -> None:
    assert output.count("store opened") == 1
    assert "app: store closed (5 messages)" in output.splitlines()[-3]


def test_every_request_scope_is_torn_down_once(output: str) -> None:
    assert output.count("context closed") == 5
    assert output.count("tx: closed") == 3


def test_tasks_of_a_scope_finish_before_its_teardown(output: str) -> None:
    assert "outbox: delivered to ben, cleo, dev" in output
    assert "outbox: delivered to ben\n" in output


def test_a_worker_thread_sees_the_request_context(output: str) -> None:
    assert "2 messages rendered for cleo in a worker thread" in output


def test_a_cancelled_request_still_tears_down(output: str) -> None:
    expected = [
        "typing indicator off",
        "tx: rolled back 1 pending message(s)",
        "context closed",
        "=> cancelled; its scope was torn down all the same",
    ]
    lines = [line.strip() for line in output.splitlines()]
    start = lines.index("r4 ben uploads cat.gif to #random")
    assert lines[start + 4 : start + 8] == expected
