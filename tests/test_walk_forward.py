"""Walk-forward (backtests/research/walk_forward.py, ``capex-rotation walk-forward``): window
arithmetic, no look-ahead, stitching, the choice against independent sweeps, the CLI."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests import cli, sweep
from backtests.grid import load_grid
from backtests.research import walk_forward as wf
from backtests.runner import run_backtest
from data.calendar import sessions_between
from reports import sweep_report

GRID = """
[run]
start = 2022-01-01
end = 2026-08-14

[grid]
"strategy.hold_sessions" = [1, 5, 10]
"strategy.gross" = [0.5, 1.0]
"costs.slippage_bps" = [2, 20]
"""
TRAIN, TEST, STEP = "1y", "6m", "6m"


def periods():
    return wf.parse_period(TRAIN, "--train"), wf.parse_period(TEST, "--test")


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("wf") / "grid.toml"
    path.write_text(GRID)
    return path


@pytest.fixture(scope="module")
def small(grid_file, shared_market_data):
    settings = {"data.source": "csv", "data.dir": str(shared_market_data)}
    grid = load_grid(grid_file, [], settings)
    data = sweep.load_sweep_data(grid)
    result = wf.run_walk_forward(grid, data, *periods(), wf.parse_period(STEP, "--step"))
    return grid, data, result, settings


# -- periods and windows ------------------------------------------------------------------------


def test_parse_period():
    assert wf.parse_period("3y", "--train") == pd.DateOffset(years=3)
    assert wf.parse_period("6M", "--test") == pd.DateOffset(months=6)
    assert wf.parse_period(" 2w ", "--step") == pd.DateOffset(weeks=2)
    assert wf.parse_period("90d", "--step") == pd.DateOffset(days=90)
    for bad in ("3", "y", "0m", "1.5y", "3x", "-1y", ""):
        with pytest.raises(wf.WalkForwardError, match="--train") as info:
            wf.parse_period(bad, "--train")
        assert "\n" not in str(info.value)


def test_window_arithmetic():
    sessions = sessions_between(pd.Timestamp("2015-01-01"), pd.Timestamp("2019-03-15"))
    y3, m6 = pd.DateOffset(years=3), pd.DateOffset(months=6)
    windows = wf.make_windows(sessions, y3, m6, m6)

    def day(k):
        return sessions[k].date().isoformat()

    spans = [
        (day(w.train_first), day(w.train_last), day(w.test_first), day(w.test_last))
        for w in windows
    ]
    assert spans == [
        ("2015-01-02", "2017-12-29", "2018-01-02", "2018-06-29"),
        ("2015-07-02", "2018-06-29", "2018-07-02", "2018-12-31"),
        ("2016-01-04", "2018-12-31", "2019-01-02", "2019-03-15"),  # last test cut at the data
    ]
    for k, w in enumerate(windows):
        anchor = sessions[0] + m6 * k
        inside = sessions[(sessions >= anchor) & (sessions < anchor + y3)]
        assert (sessions[w.train_first], sessions[w.train_last]) == (inside[0], inside[-1])
        assert w.test_first == w.train_last + 1  # the test follows the train, no gap
        assert w.index == k
    # step = test: the test windows tile the out-of-sample period.
    assert all(b.test_first == a.test_last + 1 for a, b in itertools.pairwise(windows))
    # step > test: gaps between test windows; step < test: refused.
    gapped = wf.make_windows(sessions, y3, pd.DateOffset(months=3), m6)
    assert all(b.test_first > a.test_last + 1 for a, b in itertools.pairwise(gapped))
    with pytest.raises(wf.WalkForwardError, match="overlap"):
        wf.make_windows(sessions, y3, m6, pd.DateOffset(months=3))
    with pytest.raises(wf.WalkForwardError, match="too short"):
        wf.make_windows(sessions, pd.DateOffset(years=5), m6, m6)
    with pytest.raises(wf.WalkForwardError, match="fewer than 2 sessions"):
        wf.make_windows(sessions, pd.DateOffset(days=1), m6, m6)


def test_ranking_direction_matches_the_sweep():
    assert frozenset(sweep_report.HIGHER_IS_BETTER) == wf.HIGHER_IS_BETTER
    table = pd.DataFrame(
        {"config": [0, 1, 2, 3], "sharpe": [np.nan, 1.0, 2.0, 2.0], "costs": [5.0, 1.0, 1.0, 3.0]}
    )
    assert wf.choose(table, "sharpe") == 2  # ties: lowest index
    assert wf.choose(table, "costs") == 1  # lower is better
    assert wf.choose(table.assign(sharpe=np.nan), "sharpe") is None


# -- the real data: choice, look-ahead, stitching -------------------------------------------------


def test_choices_equal_independent_sweeps_of_each_train_window(small, grid_file, tmp_path):
    grid, _, result, settings = small
    windows = result.windows
    assert len(windows) == 8
    assert (windows["status"] == "flat").any() and (windows["status"] == "chosen").any()
    for row in windows.to_dict("records"):
        cut = load_grid(
            grid_file, [f"run.start={row['train_start']}", f"run.end={row['train_end']}"], settings
        )
        full = sweep.run_sweep(cut, sweep.load_sweep_data(cut), tmp_path / f"w{row['window']}")
        ranked = sweep_report.rank(sweep.results_table(cut, full.table), "sharpe")
        best = ranked.iloc[0]
        assert int(best["sessions"]) == row["train_sessions"]
        if np.isnan(best["sharpe"]):
            assert row["status"] == "flat" and pd.isna(row["config"])
            assert "no config has a defined sharpe" in row["reason"]
            assert (result.oos.loc[result.oos["window"] == row["window"], "return"] == 0).all()
        else:
            assert row["config"] == int(best["config"])
            assert row["is_sharpe"] == pytest.approx(best["sharpe"], rel=1e-12)
            params = grid.params(int(best["config"]))
            assert row["strategy.hold_sessions"] == params["strategy.hold_sessions"]


def test_choice_ignores_prices_after_the_train_window(small):
    grid, data, result, _ = small
    chosen = result.windows[result.windows["status"] == "chosen"]
    row = chosen.iloc[len(chosen) // 2].to_dict()
    cutoff = pd.Timestamp(row["train_end"])
    rng = np.random.default_rng(0)
    perturbed = {}
    for ticker, history in data.histories.items():
        bars = history.bars.copy()
        after = bars.index > cutoff
        factor = rng.uniform(0.5, 1.5, size=int(after.sum()))
        for column in ("open", "high", "low", "close"):
            bars.loc[after, column] = bars.loc[after, column].to_numpy() * factor
        perturbed[ticker] = dataclasses.replace(history, bars=bars)
    other = sweep.SweepData(perturbed, data.calendars)
    sessions = wf.run_sessions(grid, data)
    window = wf.make_windows(sessions, *periods(), wf.parse_period(STEP, "x"))[row["window"]]
    again = wf.run_walk_forward(
        grid, other, *periods(), wf.parse_period(STEP, "x"), windows=[window]
    )
    new = again.windows.iloc[0]
    assert new["config"] == row["config"]
    assert new["is_sharpe"] == row["is_sharpe"]  # bit for bit: nothing after the cutoff is read
    # ... while the test window did see the perturbation (the check is live).
    assert new["oos_total_return"] != pytest.approx(row["oos_total_return"], abs=1e-6)


def test_stitching_compounds_the_window_returns(small):
    _, _, result, _ = small
    oos, windows = result.oos, result.windows
    assert oos.index.is_monotonic_increasing and oos.index.is_unique
    assert len(oos) == windows["test_sessions"].sum()
    growth = np.prod(1 + windows["oos_total_return"].to_numpy())
    assert oos["equity"].iloc[-1] / result.cash == pytest.approx(growth, rel=1e-12)
    equity = result.cash * np.cumprod(1 + oos["return"].to_numpy())
    np.testing.assert_allclose(oos["equity"].to_numpy(), equity, rtol=1e-12)
    for row in windows.to_dict("records"):
        part = oos[oos["window"] == row["window"]]
        assert str(part.index[0].date()) == row["test_start"]
        assert str(part.index[-1].date()) == row["test_end"]
        assert np.prod(1 + part["return"]) - 1 == pytest.approx(row["oos_total_return"], abs=1e-12)
    bench = pd.read_csv(
        Path(result.grid.base.data.dir) / f"{result.benchmark}.csv", index_col=0, parse_dates=True
    )["close"]
    expected = bench.pct_change().reindex(oos.index)
    np.testing.assert_allclose(oos["benchmark_return"], expected, rtol=1e-9)


def test_a_test_window_equals_a_fresh_backtrader_run(small):
    grid, _, result, _ = small
    row = result.windows[result.windows["status"] == "chosen"].iloc[0].to_dict()
    table = grid.config(int(row["config"])).resolved()
    table["run"].update(start=row["train_end"], end=row["test_end"])
    from backtests.config import validate

    run = run_backtest(validate(table, "test"))
    returns = run.returns.iloc[1:]  # the first session is the decision close of the train end
    part = result.oos[result.oos["window"] == row["window"]]
    assert list(returns.index) == list(part.index)
    np.testing.assert_allclose(part["return"].to_numpy(), returns.to_numpy(), atol=1e-10)
    assert row["oos_books"] == len(run.books)


# -- command line -------------------------------------------------------------------------------


def test_cli_writes_the_folder(capsys, grid_file, shared_market_data, small, tmp_path):
    out = tmp_path / "wf"
    code = cli.main(
        [
            "walk-forward",
            str(grid_file),
            "--data-dir",
            str(shared_market_data),
            "--out",
            str(out),
            "--train",
            TRAIN,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Walk-forward windows" in captured.out
    windows = pd.read_csv(out / "windows.csv")
    expected = small[2].windows
    assert list(windows["config"].fillna(-1).astype(int)) == list(expected["config"].fillna(-1))
    for column in ("train_start", "train_end", "test_start", "test_end", "is_sharpe", "oos_sharpe"):
        assert column in windows.columns
    oos = pd.read_csv(out / "oos_returns.csv", index_col=0)
    assert list(oos.columns) == ["window", "return", "equity", "benchmark_return"]
    np.testing.assert_allclose(oos["return"], small[2].oos["return"], rtol=1e-15)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"] == len(windows)
    assert summary["oos"]["total_return"] == pytest.approx(oos["equity"].iloc[-1] / 1e6 - 1)
    tearsheet = (out / "tearsheet.html").read_text()
    assert "SPY" in tearsheet
    html = (out / "index.html").read_text()
    for png in ("is_vs_oos_sharpe.png", "oos_equity.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{png}"' in html
    assert 'href="tearsheet.html"' in html


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--train", "3x"], "--train"),
        (["--test", "6m", "--step", "3m"], "overlap"),
        (["--metric", "sharp"], "--metric"),
        (["--train", "10y"], "too short"),
        (["--set", "strategy.hold=3"], "strategy.hold_sessions"),
    ],
)
def test_cli_bad_input_is_one_line(
    capsys, grid_file, shared_market_data, tmp_path, extra, fragment
):
    code = cli.main(
        [
            "walk-forward",
            str(grid_file),
            "--data-dir",
            str(shared_market_data),
            "--out",
            str(tmp_path / "o"),
            "--no-tearsheet",
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert fragment in err
    assert not (tmp_path / "o").exists()


def test_cli_refuses_a_grid_that_varies_the_run_dates(capsys, shared_market_data, tmp_path):
    grid = tmp_path / "dates.toml"
    grid.write_text('[grid]\n"run.start" = [2022-01-01, 2023-01-01]\n')
    code = cli.main(["walk-forward", str(grid), "--data-dir", str(shared_market_data)])
    err = capsys.readouterr().err
    assert code == 2
    assert "run.start" in err and len(err.strip().splitlines()) == 1


def test_each_fold_reports_trials_and_the_in_sample_dsr(small):
    """trials = every config of the grid; IS PSR vs 0 and DSR of the chosen config recomputed
    here from its train-window equity and the train table's Sharpes (annualised / sqrt(252))."""
    from scipy import stats

    grid, data, result, _ = small
    chosen = result.windows[result.windows["status"] == "chosen"]
    assert len(chosen) and (result.windows["trials"] == len(grid)).all()
    for rec, table in zip(result.windows.to_dict("records"), result.train_tables, strict=True):
        if rec["status"] != "chosen":
            assert np.isnan(rec["is_dsr"])
            continue
        first, last = pd.Timestamp(rec["train_start"]), pd.Timestamp(rec["train_end"])
        r = wf.train_returns(grid, data, int(rec["config"]), first, last)
        n, sr = r.size, r.mean() / r.std(ddof=1)
        g3, g4 = stats.skew(r, bias=False), stats.kurtosis(r, fisher=False, bias=False)

        def psr(benchmark, sr=sr, n=n, g3=g3, g4=g4):
            z = (sr - benchmark) * np.sqrt(n - 1) / np.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
            return stats.norm.cdf(z)

        trial = table["sharpe"].to_numpy(float) / np.sqrt(252)
        v = np.var(trial[np.isfinite(trial)], ddof=1)
        g, big_n = np.euler_gamma, len(grid)
        sr0 = np.sqrt(v) * (
            (1 - g) * stats.norm.ppf(1 - 1 / big_n) + g * stats.norm.ppf(1 - 1 / (big_n * np.e))
        )
        assert sr * np.sqrt(252) == pytest.approx(rec["is_sharpe"], rel=1e-9)
        assert rec["is_psr"] == pytest.approx(psr(0.0), rel=1e-9, abs=1e-12)
        assert rec["is_dsr"] == pytest.approx(psr(sr0), rel=1e-9, abs=1e-12)
