"""The placebo test (backtests/research/placebo.py, ``capex-rotation placebo``): the formulas, the
draws' rules, the real calendar against backtrader, determinism, the CLI and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests import cli
from backtests.config import load_config, with_cli_options
from backtests.research import placebo
from backtests.runner import run_backtest

START = "2023-01-01"  # the bundled events start in 2023: a short run keeps the tests quick


@pytest.fixture(scope="module")
def config(shared_market_data):
    return with_cli_options(load_config(None, [f"run.start={START}"]), shared_market_data)


@pytest.fixture(scope="module")
def setup(config):
    return placebo.prepare_placebo(config)


# -- formulas -----------------------------------------------------------------------------------


def test_percentile_and_p_value_on_a_hand_made_distribution():
    dist = np.array([0.1, 0.2, 0.2, 0.3, 0.5, np.nan])  # NaN: an undefined draw, left out
    # 0.2: 1 below, 2 equal -> (1 + 0.5 x 2) / 5; at least as high: 4 -> (1 + 4) / (1 + 5).
    assert placebo.percentile(0.2, dist) == pytest.approx(40.0)
    assert placebo.p_value(0.2, dist) == pytest.approx(5 / 6)
    assert placebo.percentile(0.6, dist) == 100.0
    assert placebo.p_value(0.6, dist) == pytest.approx(1 / 6)  # never 0
    assert placebo.percentile(0.0, dist) == 0.0
    assert placebo.p_value(0.0, dist) == 1.0
    assert placebo.p_value(0.5, dist) == pytest.approx(2 / 6)
    assert np.isnan(placebo.percentile(np.nan, dist))
    assert np.isnan(placebo.p_value(0.1, np.array([np.nan])))


def test_summary_rows_use_the_formulas():
    draws = pd.DataFrame(
        {"sharpe": [0.0, 1.0, 2.0, 3.0], "total_return": [0.1] * 4, "hit_rate": [0.5] * 4}
    )
    real = {"sharpe": 2.0, "total_return": 0.1, "hit_rate": 0.75}
    always = {"sharpe": np.nan, "total_return": -0.2, "hit_rate": 0.0}
    table = placebo.summary_table(real, always, draws).set_index(["baseline", "metric"])
    row = table.loc[("real", "sharpe")]
    assert (row["percentile"], row["p_value"]) == (62.5, 3 / 5)
    assert table.loc[("real", "total_return"), "percentile"] == 50.0
    assert table.loc[("real", "total_return"), "p_value"] == 1.0
    assert table.loc[("real", "hit_rate"), "p_value"] == 1 / 5
    assert np.isnan(table.loc[("always_on", "sharpe"), "p_value"])
    assert table.loc[("always_on", "sharpe"), "placebo_median"] == 1.5


# -- draws --------------------------------------------------------------------------------------


def test_iid_draws_are_seeded_sorted_and_never_on_the_first_session(setup):
    n, k = len(setup.market.sessions), len(setup.events)
    a = placebo.draw_event_sessions(setup, "iid", 2000, seed=7)
    assert a.shape == (2000, k)
    assert np.array_equal(a, placebo.draw_event_sessions(setup, "iid", 2000, seed=7))
    assert not np.array_equal(a, placebo.draw_event_sessions(setup, "iid", 2000, seed=8))
    assert (np.diff(a, axis=1) >= 0).all()  # the k-th earliest draw goes to the k-th event
    assert a.min() >= 1 and a.max() <= n - 1
    # The numbers of the placebo before issue 9: default_rng(seed).integers(1, n), sorted.
    expected = np.sort(np.random.default_rng(7).integers(1, n, size=(2000, k)), axis=1)
    assert np.array_equal(a, expected)


def test_circular_draws_shift_every_event_by_one_offset(setup):
    n = len(setup.market.sessions)
    a = placebo.draw_event_sessions(setup, "circular", 300, seed=4)
    offsets = np.random.default_rng(4).integers(0, n - 1, size=300)
    expected = (setup.entry_index[None, :] - 1 + offsets[:, None]) % (n - 1) + 1
    assert np.array_equal(a, expected)


def test_an_unknown_scheme_is_a_placebo_error(setup):
    with pytest.raises(placebo.PlaceboError, match="expected one of circular, block, iid"):
        placebo.draw_event_sessions(setup, "uniform", 10, seed=1)


def test_a_placebo_plan_keeps_the_direction_sequence(setup):
    sessions = setup.market.sessions
    assert len(setup.events) == len(setup.entries) > 0
    assert all(sessions[0] < e <= sessions[-1] for e in setup.entries)
    known = [e.known_at for e in setup.events]
    assert known == sorted(known)  # chronological
    real_sequence = [e.direction for e in setup.events]
    calendars = placebo.draw_event_sessions(setup, "iid", 20, seed=3)
    for row in calendars:
        plan = placebo.placebo_plan(setup, row)
        entries = [o.entry_session for o in plan.outcomes]
        assert entries == [sessions[k] for k in row]
        assert entries == sorted(entries)
        assert [o.event.direction for o in plan.outcomes] == real_sequence
    for row in placebo.draw_event_sessions(setup, "circular", 20, seed=3):
        plan = placebo.placebo_plan(setup, row)  # each event moved with its own direction
        assert [o.entry_session for o in plan.outcomes] == [sessions[k] for k in row]
        assert [o.event.direction for o in plan.outcomes] == real_sequence
        assert all(o.reason == "" or "first session" not in o.reason for o in plan.outcomes)
        for book in plan.books:  # a book opens the session after a +1 event's decision close
            assert book.entry >= 1


def test_always_on_is_the_daily_rebalanced_rotation(setup):
    returns = placebo.always_on_returns(setup)
    market = setup.market
    gross, borrow = float(setup.batch.gross[0]), float(setup.batch.borrow[0])
    # An independent day: session 100, by hand from the closes.
    t = 100
    day = (market.sessions[t] - market.sessions[t - 1]).days
    expected = 0.0
    for side, sign in ((setup.long, 1), (setup.short, -1)):
        moves = [
            market.close[t, market.column(x)] / market.close[t - 1, market.column(x)] - 1
            for x in side
            if np.isfinite(market.close[t, market.column(x)])
            and np.isfinite(market.close[t - 1, market.column(x)])
        ]
        expected += sign * gross / 2 * sum(moves) / len(moves)
    expected -= borrow * gross / 2 * day / 365
    assert returns.iloc[t] == pytest.approx(expected, rel=1e-12)
    assert returns.iloc[0] == 0
    values = placebo.always_on_metrics(setup)
    assert values["total_return"] == pytest.approx(np.prod(1 + returns.to_numpy()) - 1, rel=1e-12)
    assert np.isnan(values["hit_rate"]) and values["books"] == 0


# -- the real calendar against a direct backtrader run --------------------------------------------


def test_real_calendar_metrics_equal_a_backtrader_run(config, setup):
    from reports.metrics import performance

    run = run_backtest(config)
    real = placebo.plan_metrics(setup, placebo.real_plan(setup))
    expected = performance(run.returns)
    assert real["books"] == len(run.books) > 0
    assert real["sharpe"] == pytest.approx(expected["sharpe"], rel=1e-9, abs=1e-12)
    assert real["total_return"] == pytest.approx(expected["total_return"], rel=1e-9, abs=1e-12)
    assert real["hit_rate"] == pytest.approx((run.books["pnl"] > 0).mean(), abs=1e-12)
    assert real["final_equity"] == pytest.approx(run.facts["final_equity"], rel=1e-9)
    assert real["ruined_on"] == ""


def test_draw_rows_equal_single_plan_evaluations(setup):
    calendars = placebo.draw_event_sessions(setup, "iid", 6, seed=1)
    table = placebo.run_draws(setup, calendars)
    assert list(table["draw"]) == list(range(6))
    for k in (0, 5):
        single = placebo.plan_metrics(setup, placebo.placebo_plan(setup, calendars[k]))
        for name in placebo.DRAW_COLUMNS:
            assert table.loc[k, name] == pytest.approx(single[name], nan_ok=True)
    pooled = placebo.run_draws(setup, calendars, workers=2)
    pd.testing.assert_frame_equal(pooled, table)


# -- command line -------------------------------------------------------------------------------


def _run(data_dir: Path, out: Path, *extra: str) -> int:
    return cli.main(
        [
            "placebo",
            "--data-dir",
            str(data_dir),
            "--draws",
            "50",
            "--seed",
            "7",
            "--set",
            f"run.start={START}",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_cli_writes_a_deterministic_folder(capsys, shared_market_data, tmp_path):
    assert _run(shared_market_data, tmp_path / "a") == 0
    captured = capsys.readouterr()
    assert "placebo calendars" in captured.out and "in-sample" in captured.out
    assert _run(shared_market_data, tmp_path / "b", "--workers", "2") == 0
    capsys.readouterr()
    a, b = tmp_path / "a", tmp_path / "b"
    # Workers are recorded in the manifest's command line only: every other file is the same.
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name != "manifest.json":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    draws = pd.read_csv(a / "placebo.csv")
    assert list(draws.columns[:5]) == ["draw", "sharpe", "total_return", "hit_rate", "books"]
    assert len(draws) == 50
    summary = json.loads((a / "summary.json").read_text())
    real = summary["results"]["real"]["sharpe"]
    assert real["percentile"] == pytest.approx(
        placebo.percentile(real["value"], draws["sharpe"].to_numpy())
    )
    assert real["p_value"] == pytest.approx(
        placebo.p_value(real["value"], draws["sharpe"].to_numpy())
    )
    assert summary["events"]["inside_run"] == len(summary["events"]["directions"])
    assert summary["scheme"] == "circular" == summary["default_scheme"]
    boot = summary["bootstrap"]
    assert boot["seed"] == 7 and boot["reps"] == 2000 and boot["block_length"] >= 1
    assert boot["sharpe_ci_low"] < boot["sharpe_ci_high"]
    table = pd.read_csv(a / "summary.csv")
    assert (table["scheme"] == "circular").all()
    table = table.set_index(["baseline", "metric"])
    assert table.loc[("real", "sharpe"), "ci_low"] == pytest.approx(boot["sharpe_ci_low"])
    assert np.isnan(table.loc[("always_on", "sharpe"), "ci_low"])
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["scheme"] == "circular" and manifest["bootstrap"]["seed"] == 7
    assert "circular" in captured.out and "stationary-bootstrap" in captured.out
    html = (a / "index.html").read_text()
    assert "<strong>circular</strong>" in html and "bootstrap CI" in html
    for metric in placebo.REPORTED:
        png = a / f"hist_{metric}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="hist_{metric}.png"' in html
    # A rerun into the same folder replaces it (it is a previous placebo folder).
    assert _run(shared_market_data, a) == 0
    assert (a / "placebo.csv").read_bytes() == (b / "placebo.csv").read_bytes()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--draws", "0"], "--draws"),
        (["--scheme", "uniform"], "--scheme uniform: expected one of circular, block, iid"),
        (["--workers", "0"], "--workers"),
        (["--set", "strategy.hold=3"], "strategy.hold_sessions"),
        (["--set", "run.end=2023-01-31"], "no event"),
    ],
)
def test_cli_bad_input_is_one_line(capsys, shared_market_data, tmp_path, extra, fragment):
    code = _run(shared_market_data, tmp_path / "o", *extra)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert fragment in err
    assert not (tmp_path / "o").exists()


def test_cli_iid_scheme_is_the_old_placebo(capsys, shared_market_data, tmp_path):
    assert _run(shared_market_data, tmp_path / "iid", "--scheme", "iid") == 0
    assert "iid placebo calendars" in capsys.readouterr().out
    summary = json.loads((tmp_path / "iid" / "summary.json").read_text())
    assert summary["scheme"] == "iid"
    calendars = pd.read_csv(tmp_path / "iid" / "calendars.csv")
    directions = summary["events"]["directions"]
    assert (calendars["directions"] == directions).all()  # iid keeps the real order


def test_cli_refuses_a_foreign_folder(capsys, shared_market_data, tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    assert _run(shared_market_data, tmp_path / "o") == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "o" / "keep.txt").exists()
