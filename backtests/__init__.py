"""Config, runner and command line: wires data, strategies and reports together.

The Python API (README, "Python API") is re-exported here:

    from backtests import Backtest
    result = Backtest.from_config("my.toml", data_dir="../shared/market-data").run()
"""

from __future__ import annotations

from typing import Any

__all__ = ["Backtest", "Result"]


def __getattr__(name: str) -> Any:
    # Lazy: `import backtests` (the CLI's entry point) must not import pandas or backtrader.
    if name in __all__:
        from backtests import api

        return getattr(api, name)
    raise AttributeError(name)
