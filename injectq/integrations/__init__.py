"""Framework integrations of injectq, each behind an optional extra.

- ``injectq.integrations.asgi``: the pure ASGI middleware (no framework needed);
- ``injectq.integrations.starlette``: ``pip install "injectq[starlette]"``;
- ``injectq.integrations.fastapi``: ``pip install "injectq[fastapi]"``;
- ``injectq.integrations.taskiq``: ``pip install "injectq[taskiq]"``.

Importing an integration whose framework is not installed raises
:class:`MissingExtraError` (an :class:`~injectq.InjectQError` and an
``ImportError``) whose message names the extra to install.
"""

from __future__ import annotations

from .._core._errors import InjectQError

__all__ = ["MissingExtraError", "require_extra"]


class MissingExtraError(InjectQError, ImportError):
    """An integration was imported without its framework; the message names the extra."""


def require_extra(module: str, extra: str, framework: str) -> None:
    """Import ``module`` (the framework), or raise :class:`MissingExtraError` naming ``extra``."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"injectq.integrations.{extra} needs {framework}, which is not installed"
            f" ({exc.name or module} could not be imported)",
            fix=f'pip install "injectq[{extra}]"',
        ) from exc
