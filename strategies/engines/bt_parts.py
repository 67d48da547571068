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

    _buffers = None  # the feed's LineBuffers once preloaded

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
        # date.toordinal() of each (midnight) date: days since 1970-01-01 + 719163, exactly.
        days = np.asarray(dates.values.astype("datetime64[D]").astype(np.int64))
        ordinals = (days + dt.date(1970, 1, 1).toordinal()).astype(float)
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
        buffers = list(self.lines.lines)  # the LineBuffers, close first, datetime last
        # The fast paths below hold for unbounded buffers only (no qbuffer/exactbars).
        if all(line.mode == line.UnBounded for line in buffers):
            self._buffers = buffers
            self._clock = self.lines.datetime.array
        self._filled = True

    # cerebro calls advance_peek and advance on every feed at every session, and the strategy
    # len() on every feed: backtrader's versions go through three or four Python layers each
    # (Lines -> LineBuffer), which made them most of a run's time with many names. These do
    # exactly what those layers do for a preloaded feed that is never extended or resampled.

    def advance(self, size: int = 1, datamaster=None, ticks: bool = True) -> None:
        # Daily bars are never updated within a bar, so the per-bar copy of every line into
        # tick_* attributes is skipped (ticks=False), as before.
        if datamaster is not None or self._buffers is None:
            super().advance(size, datamaster, ticks=False)
            return
        for line in self._buffers:  # LineBuffer.advance: idx (its unbounded setter), lencount
            line._idx += size
            line.lencount += size

    def advance_peek(self) -> float:
        if self._buffers is None:
            return super().advance_peek()
        clock = self._buffers[-1]  # the datetime line: len(self) < buflen() -> datetime[1]
        if clock.lencount < len(self._clock) - clock.extension:
            return self._clock[clock._idx + 1]
        return float("inf")

    def __len__(self) -> int:
        if self._buffers is None:  # before preload
            return super().__len__()
        return self._buffers[0].lencount


class SparseValueBroker(bt.brokers.BackBroker):
    """backtrader's BackBroker, whose portfolio valuation at every bar skips flat positions.

    BackBroker values every position it has ever seen at every bar; with hundreds of names and
    a book that holds them a few sessions at a time, that loop was a third of a run. A flat
    position adds exactly +/-0.0 to each sum, so leaving it out changes no bit of any value.
    The method is backtrader 1.9.78.123's ``_get_value`` with that one test added.
    """

    def _get_value(self, datas=None, lever=False):
        if datas:
            return super()._get_value(datas=datas, lever=lever)
        pos_value = 0.0
        pos_value_unlever = 0.0
        unrealized = 0.0

        while self._cash_addition:
            c = self._cash_addition.popleft()
            self._fundshares += c / self._fundval
            self.cash += c

        for data, position in self.positions.items():
            if not position.size:
                continue  # adds +/-0.0 to every sum below
            comminfo = self.getcommissioninfo(data)
            # use valuesize:  returns raw value, rather than negative adj val
            if not self.p.shortcash:
                dvalue = comminfo.getvalue(position, data.close[0])
            else:
                dvalue = comminfo.getvaluesize(position.size, data.close[0])

            dunrealized = comminfo.profitandloss(position.size, position.price, data.close[0])
            if not self.p.shortcash:
                dvalue = abs(dvalue)  # short selling adds value in this case

            pos_value += dvalue
            unrealized += dunrealized

            if dvalue > 0:  # long position - unlever
                dvalue -= dunrealized
                pos_value_unlever += dvalue / comminfo.get_leverage()
                pos_value_unlever += dunrealized
            else:
                pos_value_unlever += dvalue

        if not self._fundhist:
            self._value = self.cash + pos_value_unlever
            self._fundval = self._value / self._fundshares  # update fundvalue
        else:
            # Try to fetch a value
            fval, fvalue = self._process_fund_history()

            self._value = fvalue
            self.cash = fvalue - pos_value_unlever
            self._fundval = fval
            self._fundshares = fvalue / fval
            lev = pos_value / (pos_value_unlever or 1.0)

            # update the calculated values above to the historical values
            pos_value_unlever = fvalue
            pos_value = fvalue * lev

        self._valuemkt = pos_value_unlever

        self._valuelever = self.cash + pos_value
        self._valuemktlever = pos_value

        self._leverage = pos_value / (pos_value_unlever or 1.0)
        self._unrealized = unrealized

        return self._value if not lever else self._valuelever


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


class PolicyBroker(SparseValueBroker):
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
