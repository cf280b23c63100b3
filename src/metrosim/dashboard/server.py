"""Starting the dashboard's web server (Solara on uvicorn), offline.

Solara's front-end files come from the ``solara-assets`` package (pinned with Solara in the
``dashboard`` extra), so the page needs no network. Solara's usage telemetry and its check for a
newer release on PyPI are switched off: the server talks to nobody but the browser.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from metrosim.scenario import ScenarioError

__all__ = ["main", "serve", "APP"]

#: The Solara app (module with a ``Page`` component).
APP = "metrosim.dashboard.app"


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    cell_size_m: float | None = None,
    scale: int | None = None,
) -> None:
    """Run the dashboard's server in this process until it is interrupted.

    ``cell_size_m`` and ``scale`` set the resolution of the dashboard's runs (defaults:
    :data:`metrosim.dashboard.state.DEFAULT_CELL_SIZE_M` and ``DEFAULT_SCALE``); finer runs
    look better and step more slowly.
    """
    from metrosim.scenario import Scenario

    checked = {}
    if cell_size_m is not None:
        checked["cell_size_m"] = float(cell_size_m)
    if scale is not None:
        checked["scale"] = scale
    Scenario().replace(_origin="dashboard", **checked)  # ScenarioError for a bad value, now
    check_address(host, port)  # ScenarioError for an address that cannot be used, now
    if cell_size_m is not None:
        os.environ["METROSIM_DASHBOARD_CELL_SIZE"] = repr(float(cell_size_m))
    if scale is not None:
        os.environ["METROSIM_DASHBOARD_SCALE"] = str(int(scale))
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    # a closed browser tab frees its two models after two minutes (Solara's default: a day)
    os.environ.setdefault("SOLARA_KERNEL_CULL_TIMEOUT", "120s")
    try:
        from solara.__main__ import cli
    except ImportError:
        raise SystemExit(
            "metrosim dashboard needs Solara: pip install 'metrosim[dashboard]'"
        ) from None
    from solara.server import settings

    from metrosim.dashboard import app
    from metrosim.dashboard.widget import PLOTLY_JS_DIR

    # plotly.js for the figures, served from the plotly package (see widget.py)
    settings.assets.extra_locations = [*settings.assets.extra_locations, str(PLOTLY_JS_DIR)]
    app.prepare()  # build the first session's models while the server starts
    args = [
        "run",
        APP,
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
    ]
    cli.main(args=args, prog_name="metrosim dashboard", standalone_mode=False)


def check_address(host: str, port: int) -> None:
    """Check that the server can listen on ``host:port`` (bind a socket there, then close it).

    Raises
    ------
    ScenarioError
        Naming ``--host`` and ``--port`` and the reason (an unknown host, a port in use, ...).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(address)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError(
            f"cannot listen on --host {host!r} --port {port} ({reason}); allowed: an address "
            "of this machine (127.0.0.1, 0.0.0.0 for all) and a free port (0 = any)"
        ) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535; 0 = any free port)")
    return value


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{value} must be positive")
        return value

    return parse


def build_parser(prog: str = "python -m metrosim.dashboard") -> argparse.ArgumentParser:
    """Arguments of the dashboard command."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Start the workshop dashboard (two regimes side by side) in the browser.",
    )
    p.add_argument("--port", type=_port, default=8765, help="port to listen on (default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--cell-size",
        type=_positive(float),
        help="cell size of the dashboard's runs in metres (default 1000; 500 is finer, slower)",
    )
    p.add_argument(
        "--scale",
        type=_positive(int),
        help="real households per simulated one in the dashboard's runs (default 20)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m metrosim.dashboard``; returns the exit status."""
    args = build_parser().parse_args(argv)
    print(f"metrosim dashboard: http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    try:
        serve(args.host, args.port, cell_size_m=args.cell_size, scale=args.scale)
    except ScenarioError as exc:
        print(f"metrosim dashboard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
