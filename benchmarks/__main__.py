"""``python -m benchmarks``: see ``benchmarks/cli.py`` for the options."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
