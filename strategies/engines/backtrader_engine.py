"""The reference engine: backtrader executes a plan, calling the strategy's cost models.

:class:`PlanExecutor` (a backtrader Strategy) executes any :class:`~strategies.plan.Plan`: at the
close of each session it records the account, and for the plan's actions there it sizes the
orders on that close's equity (g x w x equity / close, rounded and capped as the cost models
say) and submits them; backtrader fills them at the next open. Each sub-book trades its own
orders. Settings that make backtrader follow the rules exactly (each was measured to matter):

- fractional sizes: plain ``buy/sell(size=float)``, never a sizer;
- fill prices: :class:`~strategies.engines.bt_parts.PolicyBroker` prices every market order at
  open x (1 +/- slip), the slippage the cost model gave for that order (no clamping to the bar);
- commission and borrow: :class:`~strategies.engines.bt_parts.PolicyCommission` calls the
  commission model on every fill and charges each sub-book's shorts at the borrow model's rate;
- late-listed names: ``prenext`` forwards to ``next``; a feed is only touched on its own bars;
- sells are submitted before buys, and a Margin/Rejected/Canceled/partial order fails the run;
- ruin: at the first close with equity <= 0 the run ends (no order after it; the equity is
  held at that close's value).
"""

from __future__ import annotations

import backtrader as bt
import numpy as np

from data.market import MarketData
from strategies.engines.bt_parts import ArrayFeed, PolicyBroker, PolicyCommission
from strategies.errors import ExecutionError
from strategies.plan import Action, Plan
from strategies.result import EngineResult, borrow_frame, equity_frame, fills_frame


class PlanExecutor(bt.Strategy):
    """Execute a plan: size at the decision close, fill at the next open.

    Needs: ``plan`` (Plan), ``market`` (MarketData), ``borrow`` (sessions x tickers annual
    rates from the borrow model). ``datas[0]`` is the benchmark, used as the session clock; the
    traded feeds follow, named by ticker.
    Sets: ``equity_rows`` (one per session), ``fill_rows`` (one per fill), ``ruined_on``.
    """

    params = (("plan", None), ("market", None), ("borrow", None))

    def __init__(self) -> None:
        self.plan: Plan = self.p.plan
        self.market: MarketData = self.p.market
        self.costs = self.plan.strategy.costs
        self.max_gross = self.plan.strategy.max_gross
        self.actions = self.plan.actions()
        self.books = {book.id: book for book in self.plan.books}
        self.feeds = {self.market.column(d._name): d for d in self.datas[1:]}
        self.sessions = [d.date() for d in self.market.sessions]
        self.session_index = {day: t for t, day in enumerate(self.sessions)}
        self.equity_rows: list[tuple[float, float, float, float]] = []
        self.fill_rows: list[tuple] = []
        self.pending: dict[int, tuple[int, int, str, float]] = {}  # ref -> book, col, side, open
        # shares[book][col]: the sub-book's signed shares (as planned at its opening).
        self.shares: dict[int, dict[int, float]] = {}
        self.slips: dict[int, dict[int, float]] = {}
        # held[col][book]: signed shares of each sub-book as FILLED (borrow is charged on what
        # was held at the previous close, before the open's fills).
        self.held: dict[int, dict[int, float]] = {}
        self.ruined_on: int | None = None
        self.rounding_cancels: set[int] = set()
        self.broker.getcommissioninfo(self.datas[0]).executor = self  # borrow per sub-book

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
        if self.ruined_on is not None:  # the run ended at the ruin close: hold its value
            self.equity_rows.append(self.equity_rows[-1])
            return
        cash = self.broker.getcash()
        long_value = short_value = 0.0
        # Only the columns a sub-book has filled can hold a position (a flat feed adds nothing),
        # so a session costs the book's size, not the universe's; ascending columns are the
        # feeds' order, so the sums run in the same order as over every feed.
        for col in sorted(self.held):
            data = self.feeds[col]
            size = self.getposition(data).size
            if size:
                value = size * data.close[0]
                if value > 0:
                    long_value += value
                else:
                    short_value += value
        equity = self.broker.getvalue()
        self.equity_rows.append((equity, cash, long_value, short_value))
        if not equity > 0:  # ruin: equity at or below zero (or not a number)
            self.ruined_on = t
            return
        actions = self.actions.get(t)
        if not actions:
            return
        if self.pending:
            raise ExecutionError(f"orders still pending at the close of {today}")
        sells: list[tuple] = []
        buys: list[tuple] = []
        for action in actions:
            self._plan_orders(action, t, today, equity, sells, buys)
        # Sells and short sales first: their proceeds fund the buys at the same open.
        for group in (sells, buys):
            group.sort(key=lambda o: (o[0], o[1]))
            for book, col, side, size, slip in group:
                data = self.feeds[col]
                # Keyword arguments of buy/sell land in order.info: the broker reads the
                # slippage the cost model gave this order there.
                if side in ("buy", "cover"):
                    order = self.buy(data=data, size=size, slip=slip)
                else:
                    order = self.sell(data=data, size=size, slip=slip)
                self.pending[order.ref] = (book, col, side)

    def _plan_orders(self, action: Action, t: int, today, equity: float, sells, buys) -> None:
        book = self.books[action.book]
        if action.kind == "close":
            for col in action.cols:
                # A sub-book trades its own shares back (with one book at a time they are the
                # whole position, so it ends exactly flat).
                q = self.shares[book.id].pop(col)
                slip = self.slips[book.id][col]
                if q > 0:
                    sells.append((book.id, col, "sell", q, slip))
                elif q < 0:
                    buys.append((book.id, col, "cover", -q, slip))
            return
        gross = float(book.gross)
        if gross > self.max_gross * (1 + 1e-12):
            raise ExecutionError(
                f"book of gross {gross:g} at {today} exceeds strategy.max_gross {self.max_gross:g}"
            )
        shares, slips = {}, {}
        for j, (col, weight) in enumerate(zip(book.cols, book.weights, strict=True)):
            col = int(col)
            data = self.feeds[col]
            if not self._has_bar_today(data, today):
                raise ExecutionError(f"{data._name} has no bar on {today} but was planned")
            q = gross * weight * equity / data.close[0]
            q = self._formed(q, book, j, data._name, today)
            slip = self._slip(q, book, j)
            shares[col], slips[col] = q, slip
            if q > 0:
                buys.append((book.id, col, "buy", q, slip))
            elif q < 0:
                sells.append((book.id, col, "short", -q, slip))
        self.shares[book.id], self.slips[book.id] = shares, slips

    def _formed(self, q: float, book, j: int, ticker: str, today) -> float:
        """Shares after the cost model's rounding and participation cap."""
        costs = self.costs
        if costs.rounding == "whole":
            q = float(np.trunc(q))
        cap = costs.max_participation
        if cap is not None:
            limit = cap * float(book.adv[j])
            if abs(q) > limit:
                if costs.on_cap == "fail":
                    raise ExecutionError(
                        f"participation cap: {abs(q):,.0f} {ticker} shares at the open after "
                        f"{today} exceed {cap:g} x ADV {book.adv[j]:,.0f}; lower the gross, raise "
                        "costs.max_participation, or set costs.on_cap = 'scale'"
                    )
                q = float(np.sign(q) * limit)
        return q

    def _slip(self, q: float, book, j: int) -> float:
        sigma = np.nan if book.sigma is None else book.sigma[j]
        adv = np.nan if book.adv is None else book.adv[j]
        rate = self.costs.slippage.rate(np.array([q]), np.array([sigma]), np.array([adv]))
        return float(np.asarray(rate).reshape(-1)[0])

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Submitted, order.Accepted):
            return
        name = order.data._name
        if order.status == order.Canceled and order.ref in self.rounding_cancels:
            return
        complete = order.status == order.Completed
        if order.status == order.Partial and self._float_remainder(order):
            # Sub-books' shares summed in floating point can leave the account's position a
            # few ulps off a sub-book's own shares, so an order that closes them can cross zero
            # by 1e-12 shares; backtrader then fills all but that. The fill is complete.
            self.rounding_cancels.add(order.ref)
            self.cancel(order)
            complete = True
        if complete:
            book, col, side = self.pending.pop(order.ref)
            size = order.executed.size
            if side in ("buy", "short"):
                self.held.setdefault(col, {})[book] = size
            else:
                self.held[col].pop(book, None)
            when = bt.num2date(order.executed.dt).date()
            t = self.session_index[when]
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
                    book,
                )
            )
            return
        status = order.getstatusname()
        raise ExecutionError(
            f"{'buy' if order.isbuy() else 'sell'} order for {abs(order.created.size):.6g} "
            f"{name} ended {status} at the broker on {self.data.datetime.date(0)}; the rules "
            "require every order to fill (lower strategy.gross?)"
        )

    @staticmethod
    def _float_remainder(order: bt.Order) -> bool:
        size = abs(order.created.size)
        return abs(order.executed.remsize) <= 1e-9 * max(size, 1.0)

    def short_shares(self, col: int) -> list[tuple[int, float]]:
        """(book, |shares|) of the sub-books short ``col`` now (for the borrow charge)."""
        held = self.held.get(col, {})
        return [(b, -q) for b, q in sorted(held.items()) if q < 0]

    def stop(self) -> None:
        if self.pending and self.ruined_on is None:
            raise ExecutionError(f"{len(self.pending)} order(s) never filled by the end of the run")


def run_backtrader(market: MarketData, plan: Plan, cash: float) -> EngineResult:
    """Execute ``plan`` in backtrader and return the session-by-session result."""
    strategy = plan.strategy
    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True, optdatas=False, maxcpus=1)
    cerebro.broker = PolicyBroker()
    cerebro.broker.setcash(cash)
    # By default backtrader adds the borrow accrued on a position to the commission of the order
    # that closes it; we report borrow separately, so keep commissions as commissions.
    cerebro.broker.set_int2pnl(False)
    # The rules put no cash limit on closing a position (gross is capped instead). backtrader's
    # submit-time check would refuse a cover costing more than the cash left (a short side that
    # ends mid-book at gross >= 2); openings are still cash-checked when they execute.
    cerebro.broker.set_checksubmit(False)
    rates = strategy.costs.borrow.rates(market.tickers, market.sessions)
    commission = PolicyCommission(costs=strategy.costs, rates=rates, sessions=market.sessions)
    cerebro.broker.addcommissioninfo(commission)

    sessions = market.sessions
    bench = np.column_stack([market.benchmark_close] * 4 + [np.zeros(len(sessions))])
    cerebro.adddata(ArrayFeed(dates=sessions, ohlcv=bench, name=f"^clock:{market.benchmark}"))
    traded = sorted({int(c) for book in plan.books for c in book.cols})
    has_bar = market.has_bar
    for col in traded:
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

    cerebro.addstrategy(PlanExecutor, plan=plan, market=market, borrow=rates)
    executor = cerebro.run()[0]
    if len(executor.equity_rows) != len(sessions):
        raise ExecutionError(
            f"internal error: {len(executor.equity_rows)} closes recorded for "
            f"{len(sessions)} sessions"
        )
    return EngineResult(
        equity=equity_frame(sessions, executor.equity_rows),
        fills=fills_frame(executor.fill_rows),
        borrow=borrow_frame(commission.charges),
        cash=cash,
        engine="backtrader",
    )
