"""docs/examples/fastapi_app.py runs on asyncio and trio and shows the lifetimes it claims."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

APP = Path(__file__).resolve().parents[2] / "docs" / "examples" / "fastapi_app.py"


def test_the_fastapi_example_runs_on_both_backends() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(APP)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "hello ada (via /hello/ada)",
        "asyncio: ok",
        "hello ada (via /hello/ada)",
        "trio: ok",
    ]
