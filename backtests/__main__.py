"""``python -m backtests`` is the ``capex-rotation`` command."""

from backtests.cli import entry

entry()
