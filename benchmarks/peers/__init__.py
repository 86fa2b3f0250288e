"""The peers, each wired the way its documentation shows, at the settings a user gets by default.

Each module imports its library only when asked for an operation, so a run
without the peers installed still measures injectq against the baselines and
shows "not installed" in the peers' cells.  The peers are pinned in
``requirements/bench.txt`` and installed only for the ``bench`` nox session.
"""

from __future__ import annotations

from ..contender import Contender
from ._dishka import Dishka
from ._svcs import Svcs
from ._that_depends import ThatDepends
from ._wireup import Wireup

__all__ = ["PEERS"]

PEERS: tuple[type[Contender], ...] = (Dishka, Wireup, ThatDepends, Svcs)
