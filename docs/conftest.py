"""Run the Python code blocks of the docs pages as tests, with Sybil.

Every fenced ``python`` block of ``docs/**/*.md`` runs, in page order, in one
namespace per page. Attributes after the language word are allowed
(``python title="app.py"``, ``python hl_lines="2"``), so mkdocs-material
annotations don't hide a block from the tests. A block is skipped with
``<!-- skip: next -->`` on the line before it (see docs/contributing.md).

Each page runs as a real module (``docs_page_<path>``, in ``sys.modules`` from
collection until the page's teardown), so classes defined in a block get a proper ``__module__`` and
``typing.get_type_hints()`` resolves their string annotations as it would in
user code: a DI container reads those annotations.

This file lives in docs/ (not at the repo root) so that a run of tests/ alone
(the tests-3.10 session) does not import Sybil.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path
from typing import Any

from sybil import Document, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.abstract import AbstractCodeBlockParser
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, RawFencedCodeBlockLexer

_DOCS = Path(__file__).resolve().parent

# The info string of a fence: the word `python`, then optional attributes.
# Sybil's own lexer wants the language alone on the line, and would skip
# ```python title="app.py"``` blocks silently.
_PYTHON_INFO = re.compile(r"[ \t]*(?P<language>python)(?:[ \t]+[^\n]*)?$\n", re.MULTILINE)


class _CodeBlockParser(AbstractCodeBlockParser):
    def __init__(self, language: str, evaluator: PythonEvaluator) -> None:
        super().__init__(
            [
                RawFencedCodeBlockLexer(
                    info_pattern=_PYTHON_INFO,
                    mapping={"language": "arguments", "source": "source"},
                ),
                # <!-- invisible-code-block: python ... --> for hidden setup code.
                DirectiveInHTMLCommentLexer(
                    directive=r"(invisible-)?code(-block)?",
                    arguments=".+",
                ),
            ],
            language,
            evaluator,
        )


class _PythonCodeBlockParser(PythonCodeBlockParser):
    codeblock_parser_class = _CodeBlockParser


class _PageDocument(Document):
    """A docs page whose namespace is the ``__dict__`` of a module of its own."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text, path)
        page = Path(path).resolve().relative_to(_DOCS).with_suffix("").as_posix()
        module = types.ModuleType("docs_page_" + re.sub(r"\W", "_", page))
        module.__file__ = path
        self.namespace = module.__dict__
        sys.modules[module.__name__] = module


def _teardown(namespace: dict[str, Any]) -> None:
    sys.modules.pop(namespace["__name__"], None)


# Pages about an integration need its framework, which the tests install only
# where it supports the Python (FastAPI 0.163 needs 3.11+): elsewhere they skip.
_NEEDS = {"integrations-asgi.md": "fastapi", "integrations-taskiq.md": "taskiq"}
_MISSING = [page for page, module in _NEEDS.items() if importlib.util.find_spec(module) is None]

pytest_collect_file = Sybil(
    parsers=[_PythonCodeBlockParser(), SkipParser()],
    patterns=["*.md"],
    excludes=_MISSING,
    document_types={".md": _PageDocument},
    teardown=_teardown,
).pytest()
