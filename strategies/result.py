"""What an engine hands back: plain pandas frames, no engine objects."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

FILL_COLUMNS = ("date", "ticker", "side", "shares", "price", "commission", "slippage", "book")
BORROW_COLUMNS = ("date", "ticker", "fee", "book")


@dataclass(frozen=True)
class EngineResult:
    """The run, session by session.

    - ``equity``: indexed by session; ``equity = cash + long_value + short_value`` at the close,
      ``gross_exposure = (long_value - short_value) / equity``.
    - ``fills``: one row per fill in execution order; ``side`` is buy (open long), sell (close
      long), short (open short) or cover (close short); ``shares`` is positive; ``price`` includes
      slippage; ``slippage`` is what slippage cost versus the open; ``book`` the sub-book.
    - ``borrow``: one row per short and charge: the fee debited at the open of ``date`` for the
      nights since the previous session.

    After a ruin (``ruined_on``) the equity rows repeat the ruin close's row, and there are no
    fills or borrow charges after it.
    """

    equity: pd.DataFrame
    fills: pd.DataFrame
    borrow: pd.DataFrame
    cash: float
    engine: str

    @property
    def ruined_on(self) -> pd.Timestamp | None:
        """The first session whose close equity is <= 0 (or not a number), else None.

        Both engines end the run there (README "The rules", ruin): no fill after that close,
        and every later row of ``equity`` repeats the ruin close's row.
        """
        return ruin_session(self.equity["equity"])

    @property
    def returns(self) -> pd.Series:
        """Daily returns r_t = equity_t / equity_{t-1} - 1; the first session against the cash."""
        return daily_returns(self.equity["equity"], self.cash)


def ruin_session(equity: pd.Series) -> pd.Timestamp | None:
    """The index of the first value of ``equity`` that is not > 0, or None."""
    bad = ~(equity.to_numpy(dtype=float) > 0)
    return pd.Timestamp(equity.index[int(bad.argmax())]) if bad.any() else None


def daily_returns(equity: pd.Series, cash: float) -> pd.Series:
    """r_t = equity_t / equity_{t-1} - 1, with equity_{-1} = the starting cash."""
    previous = equity.shift(1)
    previous.iloc[0] = cash
    return (equity / previous - 1.0).rename("returns")


def fills_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(FILL_COLUMNS))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.astype(
        {"shares": float, "price": float, "commission": float, "slippage": float, "book": int}
    )


def borrow_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(BORROW_COLUMNS))
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.astype({"fee": float, "book": int})


def equity_frame(
    sessions: pd.DatetimeIndex, rows: list[tuple[float, float, float, float]]
) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, index=sessions, columns=["equity", "cash", "long_value", "short_value"]
    )
    frame["gross_exposure"] = (frame["long_value"] - frame["short_value"]) / frame["equity"]
    frame.index.name = "date"
    return frame
