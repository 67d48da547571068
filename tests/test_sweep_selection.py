"""The selection statistics wired into sweeps (backtests/research/sweep_selection.py and the
``sweep`` command): trials recorded everywhere, PSR/DSR/SPA/RC/PBO recomputed independently in
the test, ruined configs, determinism across workers and resumes, the verdict rows."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from arch.bootstrap import SPA
from scipy import stats

from backtests import cli
from backtests.api import Backtest
from backtests.grid import load_grid
from backtests.research import sweep_selection as ss
from backtests.research.selection_stream import SelectionStatistics
from backtests.research.selection_verdicts import selection_verdicts
from backtests.research.spa import default_block
from backtests.sweep import (
    batch_of,
    evaluate_task,
    load_sweep_data,
    prepare_config,
    results_table,
    tasks,
)
from reports.sweep_report import rank
from strategies.engines.fast import borrow_rates, evaluate
from strategies.engines.plan_arrays import plan_arrays

SMALL_GRID = """
[run]
start = 2025-01-01
end = 2026-08-14

[grid]
"strategy.hold_sessions" = [1, 5, 10]
"strategy.gross" = [0.5, 1.0]
"costs.slippage_bps" = [0, 5]
"""
# Gross 50, 200 and 1000 are ruined (tests/test_ruin.py): 6 of the 8 configs.
RUIN_GRID = """
[run]
start = 2015-01-01

[strategy]
max_gross = 2000.0

[grid]
"strategy.hold_sessions" = [3, 5]
"strategy.gross" = [1.0, 50.0, 200.0, 1000.0]
"""
REPS = 200


def _grid(tmp_path: Path, text: str, data_dir: Path):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return load_grid(path, [], {"data.source": "csv", "data.dir": str(data_dir)})


def _by_hand(grid, data):
    """Every config's daily returns, one config at a time, with the convention written out:
    r_t = e_t / e_(t-1) - 1 (e_(-1) = cash), -100% at the ruin close, 0 after it."""
    rows, ruined = [], []
    for k in range(len(grid)):
        prepared = prepare_config(data, grid.config(k))
        market, strategy = prepared.market, prepared.strategy
        arrays = plan_arrays(market, prepared.plan, borrow_rates(strategy, market))
        e = evaluate(arrays, batch_of(grid, [k]), strategy).equity[0]
        cash = float(grid.config(k).run.cash)
        previous = np.concatenate([[cash], e[:-1]])
        r = np.zeros(len(e))
        bust = np.flatnonzero(~(e > 0))
        end = int(bust[0]) if bust.size else len(e)
        r[:end] = e[:end] / previous[:end] - 1
        if bust.size:
            r[end] = max(e[end] / previous[end] - 1, -1.0)
        rows.append(r)
        ruined.append(bool(bust.size))
    bench = market.benchmark_returns().to_numpy()
    return np.array(rows), np.array(ruined), bench


def _psr(r: np.ndarray, benchmark: float) -> float:
    n, sr = r.size, r.mean() / r.std(ddof=1)
    g3 = stats.skew(r, bias=False)
    g4 = stats.kurtosis(r, fisher=False, bias=False)
    z = (sr - benchmark) * np.sqrt(n - 1) / np.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return float(stats.norm.cdf(z))


def _pbo(returns: np.ndarray, blocks: int) -> float:
    """CSCV by brute force over every split (mid-ranks, ties to the lowest index)."""
    t = returns.shape[1]
    edges = (np.arange(blocks + 1) * t) // blocks
    parts = [np.arange(edges[j], edges[j + 1]) for j in range(blocks)]

    def sharpe(x):
        s = x.std(axis=1, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s > 1e-12 * np.sqrt((x * x).mean(axis=1)), x.mean(axis=1) / s, 0.0)

    logits = []
    for chosen in combinations(range(blocks), blocks // 2):
        is_cols = np.concatenate([parts[j] for j in chosen])
        oos_cols = np.concatenate([parts[j] for j in range(blocks) if j not in chosen])
        best = int(np.argmax(sharpe(returns[:, is_cols])))
        oos = sharpe(returns[:, oos_cols])
        rank_ = (oos < oos[best]).sum() + ((oos == oos[best]).sum() + 1) / 2
        w = rank_ / (len(oos) + 1)
        logits.append(np.log(w / (1 - w)))
    return float((np.array(logits) <= 0).mean())


@pytest.fixture(scope="module")
def ruin_setup(tmp_path_factory, shared_market_data):
    grid = _grid(tmp_path_factory.mktemp("ruin"), RUIN_GRID, shared_market_data)
    data = load_sweep_data(grid)
    result = ss.run_selection(grid, data, named=[0, 1], reps=REPS, seed=3, blocks=4)
    return grid, data, result


@pytest.mark.shared_data
def test_selection_equals_independent_computation(ruin_setup):
    grid, data, result = ruin_setup
    returns, ruined, bench = _by_hand(grid, data)
    assert ruined.tolist() == [False, True, True, True, False, True, True, True]
    assert result.n_trials == 8 and result.ruined == 6
    parts = [evaluate_task(data, grid, t) for t in tasks(grid, set())]
    table = results_table(grid, pd.concat(parts).sort_values("config", ignore_index=True))
    assert result.best == int(rank(table, "sharpe")["config"].iloc[0]) == 4
    # DSR: N = 8 trials, V from the 2 healthy configs' Sharpes only.
    sharpes = returns.mean(axis=1) / returns.std(axis=1, ddof=1)
    v = np.var(sharpes[~ruined], ddof=1)
    g = 0.5772156649015329
    sr0 = np.sqrt(v) * (
        (1 - g) * stats.norm.ppf(1 - 1 / 8) + g * stats.norm.ppf(1 - 1 / (8 * np.e))
    )
    bench_sharpe = bench.mean() / bench.std(ddof=1)
    for k in (4, 0, 1):
        report = result.report(k)
        assert report["n"] == returns.shape[1]
        assert report["sharpe"] == pytest.approx(sharpes[k], rel=1e-9)
        assert report["psr_vs_flat"] == pytest.approx(_psr(returns[k], 0.0), rel=1e-9)
        assert report["psr_vs_buy_and_hold"] == pytest.approx(
            _psr(returns[k], bench_sharpe), rel=1e-9, abs=1e-12
        )
        assert report["trial_sharpe_variance"] == pytest.approx(v, rel=1e-9)
        assert report["expected_max_sharpe"] == pytest.approx(sr0, rel=1e-9)
        assert report["dsr"] == pytest.approx(_psr(returns[k], sr0), rel=1e-9, abs=1e-12)
    # White's reality check: arch's p-values on the same losses, seed, block and reps.
    for name, series in (("flat", np.zeros_like(bench)), ("buy_and_hold", bench)):
        arch_spa = SPA(-series, -returns.T, block_size=default_block(len(bench)), reps=REPS, seed=3)
        arch_spa.compute()
        block = result.statistics["spa"][name]
        assert block["rc_upper"] == arch_spa.pvalues["upper"]
        assert block["rc_consistent"] == arch_spa.pvalues["consistent"]
        assert block["rc_statistic"] == pytest.approx((returns - series).mean(axis=1).max())
    assert result.statistics["pbo"]["blocks"] == 4
    assert result.statistics["pbo"]["pbo"] == _pbo(returns, 4)


@pytest.mark.shared_data
def test_configs_outside_their_run_are_flat(tmp_path, shared_market_data):
    text = SMALL_GRID.replace(
        '"costs.slippage_bps" = [0, 5]', '"run.start" = [2025-01-01, 2026-01-01]'
    )
    grid = _grid(tmp_path, text, shared_market_data)
    data = load_sweep_data(grid)
    sessions = ss.grid_sessions(grid, data)
    late = next(k for k in range(len(grid)) if str(grid.params(k)["run.start"]) == "2026-01-01")
    part = ss.returns_task(data, grid, [late], sessions, "sharpe")
    before = sessions < pd.Timestamp("2026-01-01")
    assert before.any() and (part.returns[0, before] == 0).all()
    result = ss.run_selection(grid, data, reps=50, blocks=4)
    assert result.sessions[2] == len(sessions)


@pytest.mark.shared_data
def test_best_by_metric_in_the_stream_is_the_sweeps_rank(ruin_setup):
    grid, data, _ = ruin_setup
    parts = [evaluate_task(data, grid, t) for t in tasks(grid, set())]
    table = results_table(grid, pd.concat(parts).sort_values("config", ignore_index=True))
    for metric in ("sharpe", "costs", "total_return"):
        found = ss.run_selection(grid, data, metric=metric, reps=20, blocks=4)
        assert found.best == int(rank(table, metric)["config"].iloc[0]), metric


def test_ranking_direction_is_the_sweeps():
    from reports.sweep_report import HIGHER_IS_BETTER

    assert frozenset(HIGHER_IS_BETTER) == ss.HIGHER_IS_BETTER


def test_chunks_in_any_order_give_the_same_statistics():
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0002, 0.01, (37, 120))
    returns[7] = 0.0  # never moves: undefined Sharpe
    with np.errstate(invalid="ignore"):
        best = int(np.nanargmax(returns.mean(axis=1) / returns.std(axis=1, ddof=1)))
    assert best > 2
    returns[2] = returns[best]  # a tie for the best, in a chunk fed after the best's below
    bench = {"flat": np.zeros(120), "b": rng.normal(0.0003, 0.01, 120)}

    def run(order):
        s = SelectionStatistics(120, bench, keep=(3, 9), reps=64, seed=2, blocks=4)
        for start in order:
            idx = np.arange(start, min(start + 8, 37))
            s.add(returns[idx], idx, exclude=idx == 11)
        return s.finish()

    a, b = run([0, 8, 16, 24, 32]), run([32, 8, 24, 0, 16])
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    assert a["best"]["config"] == 2  # the tie goes to the lowest index
    assert np.isfinite(a["kept"][3]["dsr"])
    in_order = SelectionStatistics(120, bench, keep=(3, 9), reps=64, seed=2, blocks=4)
    in_order.add(returns, exclude=np.arange(37) == 11)
    c = in_order.finish()
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(c, sort_keys=True, default=str)
    assert np.isnan(in_order.trial_sharpes[11]) and np.isnan(in_order.trial_sharpes[7])


def test_ruin_convention_of_the_returns():
    equity = np.array([[100.0, 50.0, -10.0, -10.0], [100.0, 110.0, 99.0, 99.0]])
    r = ss.config_returns(equity, np.array([100.0, 100.0]), np.array([2, -1]))
    assert r.tolist() == [[0.0, -0.5, -1.0, 0.0], [0.0, 110 / 100 - 1, 99 / 110 - 1, 0.0]]
    zero = ss.config_returns(np.array([[100.0, 0.0, 0.0]]), np.array([100.0]), np.array([1]))
    assert zero.tolist() == [[0.0, -1.0, 0.0]]


def _document() -> dict:
    return {
        "n_trials": 3,
        "benchmark": {"ticker": "SPY"},
        "configs": {
            "2": {
                "role": "best by sharpe",
                "sharpe": 0.05,
                "psr_vs_flat": 0.9,
                "psr_vs_buy_and_hold": 0.4,
                "benchmark_sharpe_buy_and_hold": 0.06,
                "dsr": 0.7,
                "expected_max_sharpe": 0.02,
            }
        },
        "spa": {
            "flat": {
                "spa_statistic": 2.5,
                "spa_consistent": 0.03,
                "rc_statistic": 0.001,
                "rc_upper": 0.08,
            },
            "buy_and_hold": {
                "spa_statistic": 0.0,
                "spa_consistent": 0.6,
                "rc_statistic": -1e-4,
                "rc_upper": None,
            },
        },
        "pbo": {"blocks": 16, "splits": 12870, "pbo": 0.25, "median_logit": 1.5},
    }


def test_selection_verdicts_rows():
    rows = selection_verdicts(_document())
    assert [(r["test"], r["config"], r["value"]) for r in rows[:3]] == [
        ("PSR vs Sharpe 0", 2, 0.9),
        ("PSR vs SPY Sharpe", 2, 0.4),
        ("Deflated Sharpe ratio", 2, 0.7),
    ]
    assert rows[2]["statistic"] == 0.02 and "0.0200 per day" in rows[2]["meaning"]
    assert [(r["test"], r["statistic"], r["kind"]) for r in rows[3:7]] == [
        ("Hansen SPA vs flat", 2.5, "p-value"),
        ("White reality check vs flat", 0.001, "p-value"),
        ("Hansen SPA vs buy-and-hold SPY", 0.0, "p-value"),
        ("White reality check vs buy-and-hold SPY", -1e-4, "p-value"),
    ]
    assert rows[3]["value"] == 0.03 and np.isnan(rows[6]["value"])  # null read back: NaN
    assert rows[-1]["test"] == "PBO (CSCV, 16 blocks)" and rows[-1]["value"] == 0.25
    assert "12870" in rows[-1]["meaning"]
    assert len(rows) == 8
    assert all(
        set(r) == {"test", "config", "statistic", "statistic_name", "value", "kind", "meaning"}
        for r in rows
    )


@pytest.mark.shared_data
def test_verdicts_of_a_result_equal_those_of_its_json(ruin_setup):
    _, _, result = ruin_setup
    back = json.loads(result.to_json())
    a, b = selection_verdicts(result), selection_verdicts(back)
    assert [r["test"] for r in a] == [r["test"] for r in b]
    assert list(back["configs"]) == ["4", "0", "1"]  # the best first, then the named
    assert back["n_trials"] == 8 and back["ruined_configs"] == 6
    assert back["configs"]["1"]["role"] == "named"


def _sweep(capsys, grid_file, data_dir, out, *extra):
    code = cli.main(
        [
            "sweep",
            str(grid_file),
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
            "--spa-reps",
            "100",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.shared_data
def test_sweep_cli_records_trials_and_selection(capsys, shared_market_data, tmp_path):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(SMALL_GRID)
    one, two = tmp_path / "one", tmp_path / "two"
    code, stdout, err = _sweep(capsys, grid_file, shared_market_data, one, "--select-config", "3")
    assert code == 0, err
    flat = " ".join(stdout.split())
    assert "12 trials: 12 configs" in flat
    assert "Selection over 12 trials" in flat and "Deflated Sharpe" in flat
    assert "PBO (CSCV, 16" in flat
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["trials"] == 12 and manifest["selection"]["named_configs"] == [3]
    meta = json.loads(pq.read_schema(one / "sweep.parquet").metadata[b"capex_rotation"])
    assert meta == {"metric": "sharpe", "trials": 12}
    document = json.loads((one / "selection.json").read_text())
    assert document["n_trials"] == 12 and "3" in document["configs"]
    assert "Trials: **12**" in (one / "selection.md").read_text()
    # Same grid and seed: byte-identical with 2 workers, and when resumed from the checkpoint.
    code, _, err = _sweep(
        capsys, grid_file, shared_market_data, two, "--select-config", "3", "--workers", "2"
    )
    assert code == 0, err
    assert (one / "selection.json").read_bytes() == (two / "selection.json").read_bytes()
    code, stdout, _ = _sweep(capsys, grid_file, shared_market_data, one, "--select-config", "3")
    assert code == 0 and "(0 computed, 12 from the checkpoint)" in " ".join(stdout.split())
    assert (one / "selection.json").read_bytes() == (two / "selection.json").read_bytes()
    code, stdout, _ = _sweep(capsys, grid_file, shared_market_data, two, "--seed", "1")
    assert code == 0
    assert json.loads((two / "selection.json").read_text())["settings"]["spa_seed"] == 1


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--select-config", "12"], "--select-config 12"),
        (["--pbo-blocks", "5"], "--pbo-blocks 5"),
        (["--no-selection", "--select-config", "1"], "--select-config needs"),
    ],
)
def test_sweep_cli_selection_options_bad_input(
    capsys, shared_market_data, tmp_path, extra, fragment
):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(SMALL_GRID)
    code, _, err = _sweep(capsys, grid_file, shared_market_data, tmp_path / "o", *extra)
    assert code == 2 and fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.shared_data
def test_no_selection_still_records_trials(capsys, shared_market_data, tmp_path):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(SMALL_GRID)
    code, stdout, err = _sweep(
        capsys, grid_file, shared_market_data, tmp_path / "o", "--no-selection"
    )
    assert code == 0, err
    assert "12 trials" in stdout and "Selection over" not in stdout
    assert not (tmp_path / "o" / "selection.json").exists()
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["trials"] == 12


@pytest.mark.shared_data
def test_python_api_sweep_records_trials(shared_market_data):
    bt = Backtest.from_config(data_dir=shared_market_data, overrides=["run.start=2025-01-01"])
    frame = bt.sweep({"strategy.hold_sessions": [1, 5], "strategy.gross": [0.5, 1.0]})
    assert len(frame) == 4 and frame.attrs["trials"] == 4


@pytest.mark.shared_data
def test_a_one_config_sweep_skips_the_selection_in_one_line(capsys, shared_market_data, tmp_path):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text('[run]\nstart = 2025-01-01\n[grid]\n"strategy.hold_sessions" = [5]\n')
    code, stdout, err = _sweep(capsys, grid_file, shared_market_data, tmp_path / "o")
    assert code == 0, err
    assert "no selection statistics (selection statistics need at least two configs" in (
        " ".join(stdout.split())
    )
    assert "1 trials" in stdout and not (tmp_path / "o" / "selection.json").exists()
