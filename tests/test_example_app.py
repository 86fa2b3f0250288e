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


def section(output: str, title: str) -> list[str]:
    """The indented lines under one owner line of the custom-scopes part of the trace."""
    lines = output.splitlines()
    start = lines.index(title) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("    "))
    return [line.strip() for line in lines[start:end]]


def test_a_session_keeps_a_users_preferences_across_requests_until_it_expires(output: str) -> None:
    ana = section(output, "session ana")
    assert ana[:2] == [
        "'/theme dark': theme set to dark",
        "'/history': history in the dark theme, request 2 of this session",
    ]
    # back after 35 idle minutes: a new session, and the old one finalized by the end of that request
    assert ana[3:] == [
        "'/history': history in the light theme, request 1 of this session",
        "preferences finalized: the session expired (theme dark, 2 request(s))",
        "preferences finalized: the container closed (theme light, 1 request(s))",
    ]
    ben = section(output, "session ben")
    assert ben[-2:] == [
        "'/history': history in the light theme, request 2 of this session",
        "preferences finalized: the container closed (theme light, 2 request(s))",
    ]


def test_tenants_get_their_own_config_and_the_least_recently_used_is_evicted(output: str) -> None:
    acme, globex = section(output, "tenant acme"), section(output, "tenant globex")
    assert acme[0].startswith("3 concurrent requests, one config of its own: business plan")
    assert globex[0].startswith("3 concurrent requests, one config of its own: free plan")
    assert globex[1] == "config finalized: evicted, least recently used (3 message(s) counted)"
    assert acme[1] == "config finalized: the container closed (4 message(s) counted)"
    assert section(output, "tenant initech")[0] == "joined: free plan, 1 message(s)"


def test_a_workflow_keeps_its_context_across_steps_and_ends_when_completed(output: str) -> None:
    assert section(output, "workflow export-general") == [
        "export-general.zip opened",
        "step 1 collected 2 message(s)",
        "step 2 compressed them in a worker thread (32 chars)",
        "step 3 uploaded export-general.zip and completed the job",
        "export-general.zip removed (32 bytes)",
        "status completed after 3 steps (collect, compress, upload)",
    ]


def test_every_session_and_tenant_instance_is_finalized_exactly_once(output: str) -> None:
    assert output.count("preferences finalized") == 3  # ana's two sessions and ben's
    assert output.count("config finalized") == 3  # acme, globex, initech
