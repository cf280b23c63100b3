"""``python -m metrosim.dashboard [--port N] [--host H]``."""

import sys

from metrosim.dashboard.server import main

sys.exit(main())
