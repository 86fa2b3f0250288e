"""``python -m injectq check|graph``, run as a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pydot

TESTS = Path(__file__).resolve().parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "injectq", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=TESTS,
        timeout=60,
        check=False,
    )


def test_check_prints_every_problem_and_exits_1() -> None:
    result = run("check", "diag_samples:broken")

    assert result.returncode == 1
    assert result.stderr == ""
    assert result.stdout.startswith("4 problems found in 10 bindings:\n")
    assert "chain: Handler -> Service -> Repo -> Session" in result.stdout
    assert "circular dependency: Alpha -> Beta -> Gamma -> Alpha" in result.stdout


def test_check_of_a_correct_container_exits_0_and_lists_what_needs_aget() -> None:
    result = run("check", "diag_samples:app")

    assert result.returncode == 0
    assert result.stdout.startswith("no problems found in 5 bindings\ninformation:\n")
    assert "Endpoint can only be resolved with aget" in result.stdout


def test_check_json_prints_the_report_as_json() -> None:
    result = run("check", "--json", "diag_samples:broken")

    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert [p["kind"] for p in data["problems"]] == ["missing", "cycle", "captive", "captive"]


def test_the_target_may_be_a_function_returning_a_container() -> None:
    assert run("check", "diag_samples:correct").returncode == 0


def test_graph_prints_mermaid_by_default() -> None:
    result = run("graph", "diag_samples:app")

    assert result.returncode == 0
    assert result.stdout.startswith("flowchart LR\n")


def test_graph_prints_dot_that_parses() -> None:
    result = run("graph", "diag_samples:broken", "--format", "dot")

    assert result.returncode == 0
    graphs = pydot.graph_from_dot_data(result.stdout)
    assert graphs is not None
    assert len(graphs[0].get_subgraphs()) == 4


def test_a_module_that_cannot_be_imported_is_a_one_line_error_with_exit_2() -> None:
    result = run("check", "no_such_module_here:app")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "python -m injectq: error: cannot import module 'no_such_module_here':"
        " ModuleNotFoundError: No module named 'no_such_module_here'\n"
    )


def test_a_missing_attribute_is_a_clear_error() -> None:
    result = run("graph", "diag_samples:nothing_here")

    assert result.returncode == 2
    assert result.stderr == (
        "python -m injectq: error: 'diag_samples' has no attribute 'nothing_here'\n"
    )


def test_a_target_that_is_not_a_container_is_a_clear_error() -> None:
    result = run("check", "diag_samples:not_a_container")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "diag_samples:not_a_container is of type int, not an injectq container" in result.stderr


def test_a_function_that_needs_arguments_is_a_clear_error() -> None:
    result = run("check", "diag_samples:needs_arguments")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "a target function must take no argument and return a container" in result.stderr


def test_a_target_without_a_colon_is_a_clear_error() -> None:
    result = run("check", "diag_samples")

    assert result.returncode == 2
    assert "target 'diag_samples' is not of the form module:attr" in result.stderr


def test_help_describes_both_commands() -> None:
    result = run("--help")

    assert result.returncode == 0
    assert "check" in result.stdout
    assert "graph" in result.stdout
    assert "module:attr" in result.stdout


def test_an_unknown_format_is_a_usage_error() -> None:
    result = run("graph", "diag_samples:app", "--format", "png")

    assert result.returncode == 2
    assert "invalid choice: 'png'" in result.stderr


def test_check_with_entry_points_finds_a_sync_function_that_needs_aget() -> None:
    result = run(
        "check",
        "diag_samples:app",
        "--entry-point",
        "diag_samples:sync_handler",
        "--entry-point",
        "diag_samples:async_handler",
    )

    assert result.returncode == 1
    assert result.stdout.startswith(
        "1 problem found in 5 bindings and 2 entry points:\n  1. [sync-only] sync_handler is sync"
    )


def test_an_entry_point_that_is_not_a_function_is_a_clear_error() -> None:
    result = run("check", "diag_samples:app", "--entry-point", "diag_samples:not_a_container")

    assert result.returncode == 2
    assert result.stderr == (
        "python -m injectq: error: entry point diag_samples:not_a_container is of type int,"
        " not a function\n"
    )
