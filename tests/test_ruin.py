"""Ruin is a result (issue 11, defect 4): the first close with equity <= 0 ends the run, and
every command says so instead of reporting numbers computed on meaningless returns.

The engines' side (backtrader, the fast engine and the reference stop at the ruin close and
agree) is in test_parity.py and test_fast_engine.py. Here: the backtest command (a one-bar
1e-300 price through the CLI), metrics.json, the run page and the tear sheet; the sweep's
ranking, table and heatmaps; the placebo; the walk-forward's choice and stitching.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import Browser, assert_page_ok
from clitools import run_cli

from backtests import cli
from backtests.config import load_config, with_cli_options
from backtests.grid import load_grid
from backtests.research import placebo
from backtests.research import walk_forward as wf
from backtests.sweep import load_sweep_data
from data.universe import load_universe
from reports.metrics import RANKABLE, metrics_document, performance
from reports.sweep_report import heatmap, heatmap_cells, rank

# -- the backtest command: a bar priced 1e-300 --------------------------------------------------

TINY_DAY = "2023-02-01"  # the decision close of the bundled calendar's first book


@pytest.fixture(scope="module")
def tiny_bar_data(tmp_path_factory, shared_market_data) -> Path:
    """The shared prices of the default universe, with AMAT's bar of 2023-02-01 at 1e-300 (open,
    high, low and close alike, so it passes validation): the first book sizes its AMAT short on
    that close, about 6e304 shares, and AMAT closes above its fill the next day."""
    folder = tmp_path_factory.mktemp("tiny")
    universe = load_universe()
    for ticker in (*universe.traded, universe.benchmark):
        shutil.copy(shared_market_data / f"{ticker}.csv", folder / f"{ticker}.csv")
    path = folder / "AMAT.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    hits = [k for k, line in enumerate(lines) if line.startswith(TINY_DAY + ",")]
    assert len(hits) == 1
    fields = lines[hits[0]].split(",")
    fields[1:5] = ["1e-300"] * 4
    fields[5] = ""  # no adjusted close: the bar is used as written
    lines[hits[0]] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny_run(tiny_bar_data, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("tiny-run") / "run"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(
            [
                "backtest",
                "--data-dir",
                str(tiny_bar_data),
                "--start",
                "2023-01-01",
                "--end",
                "2023-06-30",
                "--out",
                str(out),
            ]
        )
    assert code == 0
    return out, buffer.getvalue()


@pytest.mark.shared_data
def test_tiny_bar_backtest_exits_0_and_says_ruined(tiny_run):
    folder, stdout = tiny_run
    text = " ".join(stdout.split())
    equity = pd.read_csv(folder / "equity.csv", index_col="date")
    at_ruin = float(equity.loc["2023-02-02", "equity"])
    assert at_ruin < -1e304
    assert f"RUINED on 2023-02-02 (equity {at_ruin:.3g} at that close)" in text
    for metric in ("Sharpe", "Sortino", "CAGR", "Total return"):
        assert metric not in text


@pytest.mark.shared_data
def test_tiny_bar_run_folder(tiny_run):
    folder, _ = tiny_run
    equity = pd.read_csv(folder / "equity.csv", index_col="date")
    ruin = equity.index.get_loc("2023-02-02")
    assert (equity["equity"].iloc[:ruin] > 0).all()
    held = equity.iloc[ruin:]
    assert (held == held.iloc[0]).all().all(), "every row after the ruin close repeats it"

    metrics = json.loads((folder / "metrics.json").read_text())
    at_ruin = float(equity["equity"].iloc[ruin])
    assert metrics["ruin"] == {
        "ruined": True,
        "ruined_on": "2023-02-02",
        "equity_at_ruin": at_ruin,
        "min_equity": at_ruin,
    }
    assert set(metrics["strategy"].values()) == {None}
    assert set(metrics["versus_benchmark"].values()) == {None}
    assert metrics["benchmark"]["sharpe"] is not None
    facts = metrics["facts"]
    assert facts["ruined_on"] == "2023-02-02" and facts["final_equity"] == at_ruin
    assert facts["books_opened"] == 1 and facts["turnover"] is None

    trades = pd.read_csv(folder / "trades.csv")
    assert set(trades["date"]) == {"2023-02-02"}, "no fill after the ruin close"
    books = pd.read_csv(folder / "books.csv", keep_default_na=False)
    assert books[["entry", "exit", "status"]].values.tolist() == [["2023-02-02", "", "ruined"]]
    assert float(books["pnl"].iloc[0]) == pytest.approx(at_ruin - 1e6, rel=1e-12)
    events = pd.read_csv(folder / "events.csv", keep_default_na=False)
    later = events[events["entry_session"].between("2023-02-03", "2023-06-30")]
    assert len(later) > 0
    assert set(later["action"]) == {"ignored"}
    assert later["reason"].str.contains("after the ruin on 2023-02-02").all()

    page = (folder / "index.html").read_text(encoding="utf-8")
    assert 'class="ruin"' in page and "RUINED on 2023-02-02" in page
    sheet = (folder / "tearsheet.html").read_text(encoding="utf-8")
    assert "ruined on 2023-02-02" in sheet and "quantstats" in sheet
    assert "<script" not in sheet and 'href="index.html"' in sheet


@pytest.mark.shared_data
def test_ruined_pages_render_in_the_browser(tiny_run):
    folder, _ = tiny_run
    with Browser() as browser:
        assert_page_ok(folder / "index.html", browser)
        assert_page_ok(folder / "tearsheet.html", browser)


# -- metrics.json from returns and facts (no market data) ---------------------------------------


def _series(values, name):
    return pd.Series(values, index=pd.bdate_range("2025-01-06", periods=len(values)), name=name)


def test_metrics_document_of_a_ruined_run_is_undefined():
    returns = _series([0.0, 0.01, -1.5, 0.0, 0.0], "strategy")
    bench = _series([0.0, 0.01, -0.01, 0.002, 0.0], "SPY")
    facts = {"ruined_on": "2025-01-08", "equity_at_ruin": -5e5, "min_equity": -5e5}
    document = metrics_document(returns, bench, facts)
    assert document["ruin"] == {
        "ruined": True,
        "ruined_on": "2025-01-08",
        "equity_at_ruin": -5e5,
        "min_equity": -5e5,
    }
    assert set(document["strategy"]) >= {"total_return", "sharpe", "calmar", "kurtosis"}
    assert set(document["strategy"].values()) == {None}
    assert set(document["versus_benchmark"].values()) == {None}
    assert document["benchmark"]["total_return"] is not None
    healthy = metrics_document(bench.rename("strategy"), bench, {"min_equity": 1e6})
    assert healthy["ruin"] == {
        "ruined": False,
        "ruined_on": None,
        "equity_at_ruin": None,
        "min_equity": 1e6,
    }
    assert healthy["strategy"]["sharpe"] is not None


def test_performance_of_returns_that_compound_to_zero_or_below_is_undefined():
    """Any series (walk-forward OOS, a compared run) whose growth reaches <= 0 is ruined."""
    for bust in ([0.0, 0.1, -1.0, 0.0], [0.0, -2.0, 3.0]):
        assert set(performance(_series(bust, "x")).values()) == {None}
    assert performance(_series([0.0, 0.1, -0.99, 0.5], "x"))["total_return"] == pytest.approx(
        1.1 * 0.01 * 1.5 - 1
    )


# -- sweeps: ranking, the table, heatmaps --------------------------------------------------------


def _table() -> pd.DataFrame:
    """Six configs: 1 and 4 ruined (their costs are the lowest, their books the fewest)."""
    return pd.DataFrame(
        {
            "config": [0, 1, 2, 3, 4, 5],
            "strategy.hold_sessions": [3, 3, 3, 5, 5, 5],
            "strategy.gross": [1.0, 50.0, 2.0, 1.0, 50.0, 2.0],
            "sharpe": [0.1, np.nan, 0.3, -0.2, np.nan, 0.2],
            "costs": [20.0, 5.0, 30.0, 21.0, 4.0, 31.0],
            "books": [30, 2, 30, 28, 2, 28],
            "final_equity": [1.1e6, -4e5, 1.2e6, 0.9e6, -1e4, 1.3e6],
            "ruined_on": ["", "2023-04-20", "", "", "2023-12-11", ""],
        }
    )


@pytest.mark.parametrize("metric", ["sharpe", "costs", "books", "final_equity"])
def test_ruined_configs_rank_last_whatever_the_metric(metric):
    ranked = rank(_table(), metric)
    assert list(ranked["config"])[-2:] == [1, 4], "ruined last, in grid order"
    # Read back from CSV, "" becomes NaN: still recognised.
    assert list(rank(_table().replace("", np.nan), metric)["config"])[-2:] == [1, 4]


def test_rank_order_of_the_healthy_configs():
    assert list(rank(_table(), "sharpe")["config"]) == [2, 5, 0, 3, 1, 4]
    assert list(rank(_table(), "costs")["config"]) == [0, 3, 2, 5, 1, 4]


def test_heatmap_cells_flag_ruined_configs(tmp_path):
    values, labels = heatmap_cells(_table(), "costs", "strategy.hold_sessions", "strategy.gross")
    # rows: gross 1, 2, 50; columns: hold 3, 5. Ruined configs are left out of the mean.
    assert labels == [["20.00", "21.00"], ["30.00", "31.00"], ["ruined", "ruined"]]
    assert np.isnan(values[2]).all() and values[0].tolist() == [20.0, 21.0]
    mixed = _table().assign(**{"strategy.gross": [1.0, 1.0, 2.0, 1.0, 1.0, 2.0]})
    _, labels = heatmap_cells(mixed, "sharpe", "strategy.hold_sessions", "strategy.gross")
    assert labels[0] == ["0.10\n1/2 ruined", "-0.20\n1/2 ruined"]
    path = tmp_path / "h.png"
    heatmap(_table(), "costs", "strategy.hold_sessions", "strategy.gross", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


BIG_GROSS_GRID = """
[run]
start = 2015-01-01

[strategy]
max_gross = 2000.0

[grid]
"strategy.hold_sessions" = [3, 5]
"strategy.gross" = [1.0, 50.0, 200.0, 1000.0]
"""


@pytest.mark.shared_data
@pytest.mark.parametrize("metric", ["sharpe", "costs"])
def test_sweep_at_gross_50_200_1000_ranks_the_ruined_last(
    capsys, shared_market_data, tmp_path, metric
):
    """The issue's sweep: gross 50/200/1000 configs are all ruined; they come last, flagged."""
    grid = tmp_path / "grid.toml"
    grid.write_text(BIG_GROSS_GRID)
    out = tmp_path / "sweep"
    code, stdout, err = run_cli(
        capsys,
        "sweep",
        str(grid),
        "--data-dir",
        str(shared_market_data),
        "--out",
        str(out),
        "--metric",
        metric,
    )
    assert code == 0, err
    table = pd.read_parquet(out / "sweep.parquet")
    assert list(table["ruined_on"]) == [
        "",
        "2023-12-11",
        "2023-04-20",
        "2023-04-20",
        "",
        "2023-12-11",
        "2023-04-20",
        "2023-04-20",
    ]
    ruined = table["ruined_on"] != ""
    assert table.loc[ruined, ["sharpe", "total_return", "cagr", "max_drawdown"]].isna().all().all()
    assert (table.loc[ruined, "min_equity"] <= 0).all()
    assert (table.loc[ruined, "final_equity"] == table.loc[ruined, "min_equity"]).all()
    csv = pd.read_csv(out / "sweep.csv", keep_default_na=False)
    assert list(csv["ruined_on"]) == list(table["ruined_on"])
    lines = [
        line for line in stdout.splitlines() if line.strip()[:1].isdigit() and "configs" not in line
    ]
    ids = [int(line.split()[0]) for line in lines]
    assert ids == ([4, 0] if metric == "sharpe" else [0, 4]) + [1, 2, 3, 5, 6, 7]
    assert all("RUINED" in line for line in lines[2:]) and not any("RUINED" in x for x in lines[:2])
    assert "6 of the configs shown were ruined" in " ".join(stdout.split())


def test_rankable_metrics_exclude_the_ruin_date():
    assert "ruined_on" not in RANKABLE and "min_equity" in RANKABLE


# -- placebo -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gross_50_setup(shared_market_data):
    overrides = ["run.start=2023-01-01", "strategy.gross=50", "strategy.max_gross=100"]
    config = with_cli_options(load_config(None, overrides), shared_market_data)
    return placebo.prepare_placebo(config)


@pytest.mark.shared_data
def test_placebo_ruined_real_calendar_has_undefined_metrics(gross_50_setup):
    real = placebo.plan_metrics(gross_50_setup, placebo.real_plan(gross_50_setup))
    assert real["ruined_on"] == "2023-12-11"
    assert real["min_equity"] <= 0 and real["final_equity"] == real["min_equity"]
    for name in ("sharpe", "total_return", "hit_rate", "cagr", "max_drawdown", "volatility"):
        assert np.isnan(real[name]), name


@pytest.mark.shared_data
def test_placebo_ruined_draws_are_left_out_of_the_distribution(gross_50_setup):
    setup = gross_50_setup
    calendars = placebo.draw_event_sessions(setup, "iid", 20, seed=3)
    draws = placebo.run_draws(setup, calendars)
    ruined = draws["min_equity"] <= 0
    assert ruined.any()
    assert draws.loc[ruined, ["sharpe", "total_return", "hit_rate"]].isna().all().all()
    summary = placebo.summary_table(
        placebo.plan_metrics(setup, placebo.real_plan(setup)),
        placebo.always_on_metrics(setup),
        draws,
    )
    real = summary[summary["baseline"] == "real"].set_index("metric")
    for name in placebo.REPORTED:
        defined = int(np.isfinite(draws[name].to_numpy(dtype=float)).sum())
        assert real.loc[name, "placebo_defined"] == defined <= int((~ruined).sum())
    assert real.loc["total_return", "placebo_defined"] == int((~ruined).sum())


@pytest.mark.shared_data
def test_placebo_always_on_at_gross_50_is_ruined(gross_50_setup):
    values = placebo.always_on_metrics(gross_50_setup)
    r = placebo.always_on_returns(gross_50_setup).to_numpy()
    first = int(np.argmax(r <= -1))
    assert r[first] <= -1
    assert values["ruined_on"] == gross_50_setup.market.sessions[first].date().isoformat()
    assert np.isnan(values["sharpe"]) and np.isnan(values["total_return"])
    assert values["min_equity"] <= 0


# -- walk-forward ---------------------------------------------------------------------------------


def test_walk_forward_never_chooses_a_ruined_config():
    table = _table()
    for metric in ("sharpe", "costs", "books", "final_equity"):
        assert wf.choose(table, metric) not in (1, 4), metric
    assert wf.choose(table, "costs") == 0
    assert wf.choose(table, "books") == 3
    only_ruined = table[table["ruined_on"] != ""]
    assert wf.choose(only_ruined, "costs") is None


WF_GRID = """
[run]
start = 2022-01-01
end = 2023-12-29

[strategy]
max_gross = 500.0

[grid]
"strategy.gross" = [200.0]
"""


@pytest.mark.shared_data
def test_walk_forward_stitching_ends_at_an_out_of_sample_ruin(shared_market_data, tmp_path):
    """Chosen on 2022 (no book: final equity = cash, defined), gross 200 is ruined on 2023-04-20
    out of sample; the stitched equity is held from there and no later window trades."""
    path = tmp_path / "grid.toml"
    path.write_text(WF_GRID)
    grid = load_grid(path, [], {"data.source": "csv", "data.dir": str(shared_market_data)})
    data = load_sweep_data(grid)
    six = wf.parse_period("6m", "--test")
    result = wf.run_walk_forward(
        grid, data, wf.parse_period("1y", "--train"), six, six, metric="final_equity"
    )
    windows = result.windows
    assert list(windows["status"]) == ["chosen", "ruined"]
    assert "ruined on 2023-04-20" in windows["reason"].iloc[0]
    assert "ruined on 2023-04-20" in windows["reason"].iloc[1]
    assert np.isnan(windows["oos_sharpe"].iloc[0]) and np.isnan(windows["oos_total_return"]).all()
    oos = result.oos
    ruin = oos.index.get_loc(pd.Timestamp("2023-04-20"))
    assert (oos["equity"].iloc[:ruin] > 0).all() and oos["equity"].iloc[ruin] <= 0
    assert (oos["equity"].iloc[ruin:] == oos["equity"].iloc[ruin]).all()
    assert (oos["return"].iloc[ruin + 1 :] == 0).all()
    assert set(performance(oos["return"]).values()) == {None}


@pytest.mark.shared_data
def test_the_ruin_date_is_not_a_metric(capsys, shared_market_data, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(WF_GRID)
    for command in ("sweep", "walk-forward"):
        code, _, err = run_cli(
            capsys,
            command,
            str(grid),
            "--data-dir",
            str(shared_market_data),
            "--metric",
            "ruined_on",
            "--out",
            str(tmp_path / command),
        )
        assert code == 2 and "--metric 'ruined_on'" in err, err
