"""``python -m backtests`` is the ``capex-rotation`` command."""

import sys

from backtests.cli import main

sys.exit(main())
