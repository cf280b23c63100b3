"""The workshop dashboard: two governance regimes side by side on the map of Santiago.

Start it with ``python -m metrosim.dashboard [--port N] [--host H]``. The page itself is
:func:`metrosim.dashboard.app.Page` (Solara); its state, which needs no browser, is in
:mod:`metrosim.dashboard.state`. Solara and its offline front-end files come with the
``dashboard`` extra (``pip install 'metrosim[dashboard]'``).
"""

from __future__ import annotations

from metrosim.dashboard.server import main, serve

__all__ = ["main", "serve"]
