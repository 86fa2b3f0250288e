"""Generated builders that users can debug.

``_codegen`` writes each key's builders as Python source; this module turns
that source into functions a person can step through and read about:

* each builder is named after what it builds (``build_RequestHandler``), its
  variables after the keys (``session_7``), and its source is registered with
  ``linecache`` so tracebacks and ``pdb`` show the generated lines;
* each line that calls a user's provider (or another builder) is marked with
  the chain of keys it builds, so an exception a user's factory raises gets a
  PEP 678 note ``while building Handler -> Service -> Repo`` -- its type and
  traceback untouched -- assembled from the builder frames it passed through.
"""

from __future__ import annotations

import contextlib
import itertools
import linecache
import re
import weakref
from typing import TYPE_CHECKING, Any

from ._advice import add_note
from ._errors import InjectQError, describe_key

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from types import TracebackType

__all__ = ["compile_builder", "marker", "note_chain", "variable_name"]

#: the global of a generated builder that maps its line numbers to chains
CHAINS = "__injectq_chains__"
_NOTE = "__injectq_note__"
_MARK = re.compile(r"  # \[(\d+)\] ")
_counter = itertools.count(1)


def _identifier(key: Hashable) -> str:
    """``key`` as a Python identifier: the last part of its name (``Handler``, ``Annotated_Repo_x``)."""
    shown = describe_key(key)
    if isinstance(key, type):
        shown = shown.rsplit(".", 1)[-1]  # f.<locals>.Repo -> Repo
    name = re.sub(r"\W+", "_", shown.replace("'", "")).strip("_")
    return name[:60] or "key"


def variable_name(key: Hashable, number: int) -> str:
    """A variable for ``key``'s value: ``RequestHandler`` -> ``request_handler_3``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", _identifier(key)).lower()
    if snake[0].isdigit():
        snake = "key_" + snake
    return f"{snake}_{number}"


def marker(chains: list[tuple[Hashable, ...]], chain: tuple[Hashable, ...], key: Hashable) -> str:
    """The comment that ends a line building ``key`` at the end of ``chain``: ``  # [3] Repo``.

    ``chain`` stops before ``key`` when the line calls ``key``'s own builder, whose
    marked lines carry on from ``key``.
    """
    chains.append(chain)
    return f"  # [{len(chains) - 1}] {describe_key(key)}"


def compile_builder(
    lines: list[str],
    ns: dict[str, Any],
    key: Hashable,
    chains: list[tuple[Hashable, ...]],
    is_async: bool,
) -> Callable[..., Any]:
    """Compile a builder: ``lines[0]`` its ``def`` line, the rest its body.

    The body is wrapped in ``try`` / ``except Exception`` that notes the chain on
    a user's exception (free on the happy path: Python's try is zero-cost).
    """
    name = ("abuild_" if is_async else "build_") + _identifier(key)
    head = lines[0].replace(" build(", f" {name}(", 1)
    source_lines = [
        head,
        "    try:",
        *("    " + line for line in lines[1:]),
        "    except Exception as exc:",
        "        note_chain(exc)",
        "        raise",
    ]
    by_line: dict[int, tuple[Hashable, ...]] = {}
    for number, line in enumerate(source_lines, 1):
        found = _MARK.search(line)
        if found is not None:
            by_line[number] = chains[int(found.group(1))]
    source = "\n".join(source_lines) + "\n"
    filename = f"<injectq {name} #{next(_counter)}>"
    ns[CHAINS] = by_line
    ns["note_chain"] = note_chain
    exec(compile(source, filename, "exec"), ns)
    build: Callable[..., Any] = ns[name]
    build.__injectq_source__ = source  # type: ignore[attr-defined]
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    weakref.finalize(build, linecache.cache.pop, filename, None).atexit = False
    return build


def note_chain(exc: Exception) -> None:
    """Note on ``exc`` the chain being built where it was raised (not on injectq's own errors)."""
    if isinstance(exc, InjectQError):
        return  # they carry their chain themselves
    chain: list[Hashable] = []
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        by_line = tb.tb_frame.f_globals.get(CHAINS)
        if by_line is not None:
            part = by_line.get(tb.tb_lineno)
            if part:
                chain += part
        tb = tb.tb_next
    if not chain:
        return
    note = "while building " + " -> ".join(describe_key(k) for k in chain)
    old = getattr(exc, _NOTE, None)
    notes: list[str] | None = getattr(exc, "__notes__", None)
    if old is not None and isinstance(notes, list) and old in notes:
        notes[notes.index(old)] = note  # an outer builder knows more of the chain
    else:
        add_note(exc, note)
    with contextlib.suppress(AttributeError):  # an exception class with __slots__
        setattr(exc, _NOTE, note)
