"""``CapexRotation``: the baseline rules as a backtrader Strategy, and the function that runs it.

The strategy executes a :class:`~strategies.plan.BookPlan`: at the close of each session it
records the book's value and, if the plan has a decision for that close, sizes the orders on the
equity and closes of that session; backtrader fills them at the next open. Settings that make
backtrader follow the rules exactly (each was measured to matter):

- fractional sizes: plain ``buy/sell(size=float)``, never a sizer (sizers round to shares);
- slippage exactly open * (1 +/- s): ``slip_open`` on, ``slip_out`` on (no clamping to high/low);
- commission and borrow fee: :class:`~strategies.engines.bt_parts.RotationCommission`;
- late-listed names: ``prenext`` forwards to ``next``; a feed is only touched on its own bars;
- names whose data ends: the plan closes them at the open of their last bar;
- sells are submitted before buys, and a Margin/Rejected/Canceled/partial order fails the run.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np

from data.errors import CapexRotationError
from data.market import MarketData
from strategies.engines.bt_parts import ArrayFeed, RotationBroker, RotationCommission
from strategies.plan import BookPlan
from strategies.result import EngineResult, borrow_frame, equity_frame, fills_frame
from strategies.rules import CostModel, RotationRules


class ExecutionError(CapexRotationError):
    """An order was not filled as the rules require, or the book could not be sized."""


class CapexRotation(bt.Strategy):
    """Short the capex-sensitive basket and buy the spenders on news, per a BookPlan.

    Needs: ``plan`` (BookPlan), ``market`` (MarketData), ``costs`` (CostModel). ``datas[0]`` is
    the benchmark, used as the session clock (it has a bar on every session of the run); the
    traded feeds follow, named by ticker.
    Sets: ``equity_rows`` (one per session), ``fill_rows`` (one per fill).
    """

    params = (("plan", None), ("market", None), ("costs", None), ("max_gross", float("inf")))

    def __init__(self) -> None:
        self.plan: BookPlan = self.p.plan
        self.market: MarketData = self.p.market
        self.costs: CostModel = self.p.costs
        self.feeds = {self.market.column(d._name): d for d in self.datas[1:]}
        self.column_of = {d._name: col for col, d in self.feeds.items()}
        # Feeds holding a position, by column: the close's valuation reads these only (a flat
        # feed adds nothing), so a session costs the book's size, not the universe's.
        self.held: dict[int, bt.feed.DataBase] = {}
        self.sessions = [d.date() for d in self.market.sessions]
        self.session_index = {day: t for t, day in enumerate(self.sessions)}
        self.equity_rows: list[tuple[float, float, float, float]] = []
        self.fill_rows: list[tuple] = []
        self.pending: set[int] = set()

    def start(self) -> None:
        # The broker values positions in the order they were first asked for: ask for every
        # feed's now, in feed order, so the equity sums run in the same order whatever trades.
        for data in self.feeds.values():
            self.getposition(data)

    def prenext(self) -> None:
        # Feeds that list late (SNDK) would hold the strategy here until they have a bar.
        self.next()

    def _has_bar_today(self, data: bt.feed.DataBase, today) -> bool:
        # For a feed with no bar yet, data.close[0] reads the series' LAST bar: check the date.
        return len(data) > 0 and data.datetime.date(0) == today

    def next(self) -> None:
        t = len(self.datas[0]) - 1
        today = self.sessions[t]
        if self.datas[0].datetime.date(0) != today:
            raise ExecutionError(
                f"internal error: clock at {self.datas[0].datetime.date(0)}, expected {today}"
            )
        cash = self.broker.getcash()
        long_value = short_value = 0.0
        for col in sorted(self.held):  # the order of self.feeds: the same sums
            data = self.held[col]
            size = self.getposition(data).size
            if size:
                value = size * data.close[0]
                if value > 0:
                    long_value += value
                else:
                    short_value += value
        equity = self.broker.getvalue()
        self.equity_rows.append((equity, cash, long_value, short_value))

        decision = self.plan.decisions.get(t)
        if decision is None:
            return
        if self.pending:
            raise ExecutionError(f"orders still pending at the close of {today}")
        sells, buys = [], []
        if decision.open_weights:
            if not equity > 0:
                raise ExecutionError(
                    f"equity is {equity:.2f} at the close of {today}: a book cannot be sized"
                )
            gross = sum(abs(w) for _, w in decision.open_weights)
            if gross > self.p.max_gross * (1 + 1e-12):
                raise ExecutionError(
                    f"book of gross {gross:g} at {today} exceeds strategy.max_gross "
                    f"{self.p.max_gross:g}"
                )
            for col, weight in decision.open_weights:
                data = self.feeds[col]
                if not self._has_bar_today(data, today):
                    raise ExecutionError(f"{data._name} has no bar on {today} but was planned")
                shares = weight * equity / data.close[0]
                (sells if shares < 0 else buys).append((data, abs(shares)))
        for col in decision.close:
            data = self.feeds[col]
            size = self.getposition(data).size
            if size:
                (sells if size > 0 else buys).append((data, None))
        # Sells and short sales first: their proceeds fund the buys at the same open, so the
        # broker's cash check never rejects a buy that the rules allow.
        for data, shares in sells:
            order = self.close(data=data) if shares is None else self.sell(data=data, size=shares)
            self.pending.add(order.ref)
        for data, shares in buys:
            order = self.close(data=data) if shares is None else self.buy(data=data, size=shares)
            self.pending.add(order.ref)

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Submitted, order.Accepted):
            return
        name = order.data._name
        if order.status == order.Completed:
            self.pending.discard(order.ref)
            size = order.executed.size
            before = self.getposition(order.data).size - size  # one order per name and open
            if size > 0:
                side = "cover" if before < 0 else "buy"
            else:
                side = "sell" if before > 0 else "short"
            when = bt.num2date(order.executed.dt).date()
            t = self.session_index[when]
            col = self.column_of[name]
            if self.getposition(order.data).size:
                self.held[col] = order.data
            else:
                self.held.pop(col, None)
            open_price = self.market.open[t, col]
            price = order.executed.price
            self.fill_rows.append(
                (
                    when,
                    name,
                    side,
                    abs(size),
                    price,
                    order.executed.comm,
                    abs(size * (price - open_price)),
                )
            )
            return
        status = order.getstatusname()
        raise ExecutionError(
            f"{'buy' if order.isbuy() else 'sell'} order for {abs(order.created.size):.6g} "
            f"{name} ended {status} at the broker on {self.data.datetime.date(0)}; the rules "
            "require every order to fill (lower strategy.gross?)"
        )

    def stop(self) -> None:
        if self.pending:
            raise ExecutionError(f"{len(self.pending)} order(s) never filled by the end of the run")


def run_backtrader(
    market: MarketData,
    plan: BookPlan,
    rules: RotationRules,
    costs: CostModel,
    cash: float,
) -> EngineResult:
    """Execute ``plan`` in backtrader and return the session-by-session result."""
    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True, optdatas=False, maxcpus=1)
    cerebro.setbroker(RotationBroker())
    cerebro.broker.setcash(cash)
    # By default backtrader adds the borrow accrued on a position to the commission of the order
    # that closes it; we report borrow separately, so keep commissions as commissions.
    cerebro.broker.set_int2pnl(False)
    # The rules put no cash limit on closing a position (gross is capped instead). backtrader's
    # submit-time check would refuse a cover costing more than the cash left (a short side that
    # ends mid-book at gross >= 2); openings are still cash-checked when they execute.
    cerebro.broker.set_checksubmit(False)
    cerebro.broker.set_slippage_perc(
        costs.slippage, slip_open=True, slip_limit=True, slip_match=True, slip_out=True
    )
    commission = RotationCommission(costs=costs)
    cerebro.broker.addcommissioninfo(commission)

    sessions = market.sessions
    bench = np.column_stack([market.benchmark_close] * 4 + [np.zeros(len(sessions))])
    cerebro.adddata(ArrayFeed(dates=sessions, ohlcv=bench, name=f"^clock:{market.benchmark}"))
    traded = {c for d in plan.decisions.values() for c, _ in d.open_weights}
    has_bar = market.has_bar
    for col in sorted(traded):
        rows = np.flatnonzero(has_bar[:, col])
        ohlcv = np.column_stack(
            [
                market.open[rows, col],
                market.high[rows, col],
                market.low[rows, col],
                market.close[rows, col],
                market.volume[rows, col],
            ]
        )
        cerebro.adddata(ArrayFeed(dates=sessions[rows], ohlcv=ohlcv, name=market.tickers[col]))

    cerebro.addstrategy(
        CapexRotation, plan=plan, market=market, costs=costs, max_gross=rules.max_gross
    )
    strategy = cerebro.run()[0]
    if len(strategy.equity_rows) != len(sessions):
        raise ExecutionError(
            f"internal error: {len(strategy.equity_rows)} closes recorded for "
            f"{len(sessions)} sessions"
        )
    return EngineResult(
        equity=equity_frame(sessions, strategy.equity_rows),
        fills=fills_frame(strategy.fill_rows),
        borrow=borrow_frame(commission.charges),
        cash=cash,
        engine="backtrader",
    )
