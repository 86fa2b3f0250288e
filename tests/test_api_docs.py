"""The API reference page covers every public name."""

from pathlib import Path

import injectq
import injectq.diagnostics

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_every_public_name_has_an_entry_on_the_api_page() -> None:
    text = API_PAGE.read_text(encoding="utf-8")

    missing = [name for name in injectq.__all__ if f"::: injectq.{name}\n" not in text]

    assert missing == []


def test_the_public_diagnostics_functions_are_listed_on_the_api_page() -> None:
    text = API_PAGE.read_text(encoding="utf-8")
    listed = text.split("::: injectq.diagnostics", 1)[1].split("##", 1)[0]

    functions = [n for n in injectq.diagnostics.__all__ if n[0].islower()]
    assert [n for n in functions if f"- {n}\n" not in listed] == []
