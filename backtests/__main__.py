"""``python -m backtests`` is the ``capex-rotation`` command."""

import signal
import sys

from backtests.cli import INTERRUPTED_EXIT, main

try:
    code = main()
except KeyboardInterrupt:  # one that arrived after main() had returned
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = INTERRUPTED_EXIT
sys.exit(code)
