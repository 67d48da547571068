"""backtrader pieces the baseline rules need: a fast array feed and the cost model as CommInfo.

See notes on why each setting is what it is: backtrader's defaults round shares, skip slippage
at the open, clamp slipped prices to the bar, and charge borrow on the entry price. Each of
those would break exact agreement with the rules.
"""

from __future__ import annotations

import array
import datetime as dt
import inspect
import textwrap

import backtrader as bt
import numpy as np
import pandas as pd


class ArrayFeed(bt.feed.DataBase):
    """A daily feed whose lines are filled in one step from numpy arrays at preload.

    backtrader's PandasData reads one cell per field per bar; filling the line buffers directly
    gives the same lines several times faster. Only ``preload=True`` runs are supported.

    Needs: ``dates`` (DatetimeIndex, midnight), ``ohlcv`` (array of shape (n, 5)).
    """

    params = (("dates", None), ("ohlcv", None))

    def start(self) -> None:
        super().start()
        self._filled = False

    def _load(self) -> bool:
        return False  # everything arrives in preload()

    def preload(self) -> None:
        if self._filled:
            return
        dates: pd.DatetimeIndex = self.p.dates
        values = np.asarray(self.p.ohlcv, dtype=float)
        ordinals = np.fromiter((d.toordinal() for d in dates), dtype=float, count=len(dates))
        columns = {
            "datetime": ordinals,
            "open": values[:, 0],
            "high": values[:, 1],
            "low": values[:, 2],
            "close": values[:, 3],
            "volume": values[:, 4],
            "openinterest": np.zeros(len(dates)),
        }
        for name, column in columns.items():
            buffer = array.array("d")
            buffer.frombytes(np.ascontiguousarray(column, dtype=np.float64).tobytes())
            getattr(self.lines, name).array = buffer
        self.home()
        self._tick_nullify()  # tick_* stay None: the broker then reads the bar's own lines
        self._filled = True

    def advance(self, size: int = 1, datamaster=None, ticks: bool = True) -> None:
        # Daily bars are never updated within a bar, so the per-bar copy of every line into
        # tick_* attributes (a third of backtrader's run time here) is skipped.
        super().advance(size, datamaster, ticks=False)


def _execute_without_cash_floor():
    """backtrader's ``BackBroker._execute`` without its cash floor on openings.

    backtrader nullifies the opening part of a fill when the account's cash would end below
    zero (the order then ends "Partial"). The rules put no cash limit on a margin account —
    gross exposure is capped instead (strategy.max_gross) — and overlapping sub-books can
    legitimately run cash below zero, so this copy of the pinned method (backtrader
    1.9.78.123) differs from it in that one test only. Refuses to build if the method's source
    is not the expected one.
    """
    import backtrader.brokers.bbroker as bbroker

    source = textwrap.dedent(inspect.getsource(bbroker.BackBroker._execute))
    floor = "        if cash < 0.0:\n"
    if source.count(floor) != 1:
        raise ImportError("backtrader's BackBroker._execute is not the pinned version's")
    namespace: dict = {}
    exec(
        source.replace(floor, "        if False:  # no cash floor (see above)\n"),
        vars(bbroker),
        namespace,
    )
    return namespace["_execute"]


class PolicyBroker(bt.brokers.BackBroker):
    """backtrader's broker, pricing market orders with the cost model's slippage.

    Each order carries ``order.info.slip`` (set at submission from the slippage model, for its
    size): a buy fills at open x (1 + slip), a sell or short sale at open x (1 - slip), whatever
    the bar's high and low (backtrader's own slippage would clamp to the bar and cannot depend
    on the order's size). No cash floor: see :func:`_execute_without_cash_floor`.
    """

    _execute = _execute_without_cash_floor()

    def _try_exec_market(self, order, popen, phigh, plow):
        if not self.p.coo and order.data.datetime[0] <= order.created.dt:
            return  # only after the bar it was created on
        slip = float(order.info.get("slip", 0.0))
        price = popen * (1 + slip) if order.isbuy() else popen * (1 - slip)
        self._execute(order, ago=0, price=price)


class PolicyCommission(bt.CommInfoBase):
    """The cost models in backtrader's terms: the commission model on every fill, and the
    borrow model's rate x |shares| x previous close x calendar days / 365 on each sub-book's
    shorts.

    backtrader charges ``get_credit_interest`` at each bar before that bar's fills, for the days
    since the last charge (``pos.datetime``): exactly the rules' timing. Its own formula uses the
    position's entry price; ours uses the previous close (market value) and asks the executor
    which sub-books are short (``executor.short_shares(col)``). Fees are kept in ``charges``.
    """

    params = (
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_PERC),
        ("percabs", True),
        ("costs", None),
        ("rates", None),
        ("sessions", None),
    )

    def __init__(self) -> None:
        super().__init__()
        self.costs = self.p.costs
        self.rates: np.ndarray = self.p.rates
        self.index = {d.date(): t for t, d in enumerate(self.p.sessions)}
        self.executor = None
        self.charges: list[tuple[dt.date, str, float, int]] = []

    def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
        return float(self.costs.commission.fee(np.float64(size), np.float64(price)))

    def get_credit_interest(
        self, data: bt.feed.DataBase, pos: bt.Position, dt0: dt.datetime
    ) -> float:
        days = (dt0.date() - pos.datetime.date()).days
        if days <= 0 or self.executor is None or self.executor.ruined_on is not None:
            return 0.0  # after a ruin the run has ended: no fee either
        col = self.executor.market.column(data._name)
        t = self.index[data.datetime.date(-1)]  # the previous close's session
        rate = float(self.rates[t, col])
        total = 0.0
        for book, shares in self.executor.short_shares(col):
            fee = rate * shares * data.close[-1] * days / 365
            self.charges.append((dt0.date(), data._name, fee, book))
            total += fee
        return total
