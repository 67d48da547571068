"""Grids and sweeps: expansion, outputs, resume after a crash, executors, verification."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests import cli, sweep
from backtests.checkpoint import CheckpointError
from backtests.config import ConfigError
from backtests.grid import load_grid

SMALL_GRID = """
[run]
start = 2025-01-01
end = 2026-08-14

[grid]
"strategy.hold_sessions" = [1, 5, 10]
"strategy.gross" = [0.5, 1.0]
"costs.slippage_bps" = [0, 5]

[[exclude]]
"strategy.hold_sessions" = 10
"costs.slippage_bps" = [5]
"""


def write(tmp_path: Path, text: str, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def csv_settings(folder: Path) -> dict:
    return {"data.source": "csv", "data.dir": str(folder)}


def test_grid_expands_in_order_and_excludes(tmp_path):
    grid = load_grid(write(tmp_path, SMALL_GRID))
    assert grid.keys == ("strategy.hold_sessions", "strategy.gross", "costs.slippage_bps")
    assert len(grid) == 3 * 2 * 2 - 2
    combos = [tuple(grid.params(i).values()) for i in range(len(grid))]
    assert combos[:3] == [(1, 0.5, 0), (1, 0.5, 5), (1, 1.0, 0)]
    assert (10, 0.5, 5) not in combos
    assert grid.config(1).costs.slippage_bps == 5
    assert grid.config(0).run.start.isoformat() == "2025-01-01"
    assert grid.name == "grid"


def test_grid_base_file_and_overrides(tmp_path):
    write(tmp_path, "[strategy]\nmax_gross = 5.0\n[costs]\nborrow_bps = 80\n", "base.toml")
    text = 'base = "base.toml"\n[grid]\n"strategy.gross" = [4.0]\n'
    grid = load_grid(write(tmp_path, text), ["costs.commission_bps=3"])
    assert len(grid) == 1
    config = grid.config(0)
    assert (config.strategy.gross, config.costs.borrow_bps, config.costs.commission_bps) == (
        4.0,
        80,
        3,
    )


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[grid]\n"strategy.hold_session" = [1]\n', ["strategy.hold_session", "hold_sessions"]),
        ('[grid]\n"strategy.gross" = []\n', ["non-empty list"]),
        ("[run]\nstart = 2020-01-01\n", ["no [grid]"]),
        ('[grid]\n"strategy.gross" = [1.0]\n[[exclude]]\n"costs.slippage_bps" = 1\n', ["exclude"]),
        ('[grid]\n"strategy.gross" = [1.0, 4.0]\n', ["combination", "max_gross"]),
        ('[grid]\n"strategy.hold_sessions" = [1, 0]\n', ["hold_sessions = 0", "greater than"]),
        ('[grid]\n"strategy.gross" = [1.0]\n[[exclude]]\n"strategy.gross" = 1.0\n', ["no comb"]),
    ],
)
def test_grid_errors_are_clear(tmp_path, text, fragments):
    with pytest.raises(ConfigError) as info:
        load_grid(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.fixture(scope="module")
def small(tmp_path_factory, shared_market_data):
    folder = tmp_path_factory.mktemp("grid")
    grid = load_grid(write(folder, SMALL_GRID), [], csv_settings(shared_market_data))
    data = sweep.load_sweep_data(grid)
    full = sweep.run_sweep(grid, data, folder / "full")
    return grid, data, full


def test_sweep_rows_match_single_backtests(small):
    grid, data, full = small
    table = sweep.results_table(grid, full.table)
    assert list(table["config"]) == list(range(len(grid)))
    # Every row equals the fast engine run alone, and backtrader agrees on two of them.
    checks = sweep.verify(grid, data, [0, len(grid) - 1])
    assert all(diff <= 1e-9 for _, diff in checks), checks
    assert table["books"].dtype.kind == "i"
    assert (table.loc[table["strategy.hold_sessions"] == 1, "books"] > 0).all()


def test_sweep_resumes_after_a_crash(small, tmp_path):
    grid, data, full = small
    out = tmp_path / "crashy"
    calls = []

    def crash_after_first_task(n):
        calls.append(n)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(grid, data, out, on_progress=crash_after_first_task)
    saved = sweep.Checkpoint(out, grid, sweep.input_digests(data)).load()
    assert 0 < len(saved) < len(grid)
    resumed = sweep.run_sweep(grid, data, out)
    assert resumed.resumed == len(saved)
    assert resumed.computed == len(grid) - len(saved)
    pd.testing.assert_frame_equal(resumed.table, full.table)


def test_sweep_refuses_another_grids_folder(small, tmp_path):
    grid, _, _ = small
    out = tmp_path / "shared"
    sweep.Checkpoint(out, grid, {})
    other = load_grid(write(tmp_path, SMALL_GRID.replace("[1, 5, 10]", "[2]")))
    with pytest.raises(CheckpointError, match="another grid"):
        sweep.Checkpoint(out, other, {})


def test_local_workers_and_dask_equal_the_serial_run(small, tmp_path):
    grid, data, full = small
    pooled = sweep.run_sweep(grid, data, tmp_path / "pool", workers=2)
    pd.testing.assert_frame_equal(pooled.table, full.table)
    distributed = sweep.run_sweep(grid, data, tmp_path / "dask", executor="dask", workers=2)
    pd.testing.assert_frame_equal(distributed.table, full.table)


def test_sweep_cli_writes_outputs(capsys, shared_market_data, tmp_path):
    grid_file = write(tmp_path, SMALL_GRID)
    out = tmp_path / "out"
    code = cli.main(
        [
            "sweep",
            str(grid_file),
            "--data-dir",
            str(shared_market_data),
            "--out",
            str(out),
            "--verify-top",
            "2",
            "--heatmap",
            "strategy.hold_sessions,strategy.gross",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Top configs by sharpe" in captured.out
    assert "Fast engine vs backtrader" in captured.out
    parquet = pd.read_parquet(out / "sweep.parquet")
    csv = pd.read_csv(out / "sweep.csv")
    assert len(parquet) == len(csv) == 10
    assert list(parquet.columns[:4]) == [
        "config",
        "strategy.hold_sessions",
        "strategy.gross",
        "costs.slippage_bps",
    ]
    for name in (
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "max_drawdown",
        "volatility",
        "books",
        "winning_books",
        "turnover",
        "costs",
    ):
        assert np.allclose(parquet[name], csv[name], rtol=1e-15, equal_nan=True), name
    png = out / "heatmap_sharpe_strategy-hold_sessions_strategy-gross.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A rerun of the same grid computes nothing and writes the same table.
    code = cli.main(
        [
            "sweep",
            str(grid_file),
            "--data-dir",
            str(shared_market_data),
            "--out",
            str(out),
            "--top",
            "0",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "(0 computed, 10 from the checkpoint)" in " ".join(captured.out.split())
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sweep.parquet"), parquet)


def test_sweep_cli_bad_options_are_one_line(capsys, shared_market_data, tmp_path):
    grid_file = write(tmp_path, SMALL_GRID)
    for extra, fragment in (
        (["--heatmap", "strategy.gross"], "--heatmap"),
        (["--metric", "sharp"], "--metric"),
        (["--executor", "ray"], "--executor"),
    ):
        code = cli.main(["sweep", str(grid_file), "--data-dir", str(shared_market_data), *extra])
        err = capsys.readouterr().err
        assert code == 2, err
        assert len([x for x in err.splitlines() if x.strip()]) == 1
        assert fragment in err


def test_verification_failure_exits_1(capsys, monkeypatch, shared_market_data, tmp_path):
    monkeypatch.setattr(sweep, "verify", lambda grid, data, indices: [(i, 1e-6) for i in indices])
    code = cli.main(
        [
            "sweep",
            str(write(tmp_path, SMALL_GRID)),
            "--data-dir",
            str(shared_market_data),
            "--out",
            str(tmp_path / "o"),
            "--verify-top",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "disagree" in err


# -- the checkpoint is keyed on the inputs (issue 11, defect 3) ---------------------------------

UNIVERSE = ("META", "MSFT", "GOOGL", "AMZN", "AMAT", "LRCX", "KLAC", "ASML", "TER", "ENTG")
UNIVERSE += ("MU", "WDC", "SNDK", "SPY")


@pytest.fixture
def prices(tmp_path, shared_market_data) -> Path:
    """A private copy of the universe's price files, safe to edit."""
    folder = tmp_path / "prices"
    folder.mkdir()
    for ticker in UNIVERSE:
        (folder / f"{ticker}.csv").write_bytes((shared_market_data / f"{ticker}.csv").read_bytes())
    return folder


def edit_a_price(folder: Path) -> None:
    """META closes 10% higher on 2026-03-02 (its high too, so the bar stays valid)."""
    path = folder / "META.csv"
    lines = path.read_text().splitlines(keepends=True)
    for k, line in enumerate(lines):
        if line.startswith("2026-03-02,"):
            date, open_, high, low, close, adj, volume = line.rstrip("\n").split(",")
            high, close = (f"{float(v) * 1.1!r}" for v in (high, close))
            lines[k] = ",".join((date, open_, high, low, close, adj, volume)) + "\n"
    path.write_text("".join(lines))


def sweep_cli(capsys, grid_file: Path, prices: Path, out: Path) -> tuple[int, str, str]:
    args = ["sweep", str(grid_file), "--data-dir", str(prices), "--out", str(out), "--top", "0"]
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, " ".join(captured.out.split()), captured.err


@pytest.mark.parametrize("stopped", ["finished", "interrupted"])
def test_an_edited_price_file_recomputes_every_config(stopped, capsys, prices, tmp_path):
    grid_file = write(tmp_path, SMALL_GRID)
    out = tmp_path / "out"
    if stopped == "finished":
        code, stdout, err = sweep_cli(capsys, grid_file, prices, out)
        assert code == 0, err
    else:
        grid = load_grid(grid_file, [], csv_settings(prices))

        def crash(n):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            sweep.run_sweep(grid, sweep.load_sweep_data(grid), out, on_progress=crash)
        assert len(list((out / ".checkpoint").glob("part-*.parquet"))) == 1
    edit_a_price(prices)
    code, stdout, err = sweep_cli(capsys, grid_file, prices, out)
    assert code == 0, err
    assert "(10 computed, 0 from the checkpoint)" in stdout
    assert "META.csv" in err and "recomputing" in err
    code, _, err = sweep_cli(capsys, grid_file, prices, tmp_path / "fresh")
    assert code == 0, err
    for name in ("sweep.csv", "sweep.parquet"):
        assert (out / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    sha = {Path(i["path"]).name: i["sha256"] for i in manifest["inputs"]}
    assert sha["META.csv"] == hashlib.sha256((prices / "META.csv").read_bytes()).hexdigest()
    # Unchanged inputs: the checkpoint is used again.
    code, stdout, err = sweep_cli(capsys, grid_file, prices, out)
    assert "(0 computed, 10 from the checkpoint)" in stdout


# -- grid size and dates are checked before any work (defects 8 and 21) --------------------------

TEN_KEYS = (
    "run.cash",
    "run.benchmark",
    "run.name",
    "strategy.hold_sessions",
    "strategy.gross",
    "strategy.max_gross",
    "costs.commission_bps",
    "costs.slippage_bps",
    "costs.borrow_bps",
    "data.deadline_s",
)


def test_a_huge_grid_is_refused_before_it_is_expanded(capsys, tmp_path):
    def values(key: str) -> str:
        text = key in ("run.benchmark", "run.name")
        return ", ".join(f'"N{k}"' if text else str(k + 1) for k in range(10))

    lines = [f'"{key}" = [{values(key)}]' for key in TEN_KEYS]
    grid_file = write(tmp_path, "[grid]\n" + "\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_grid(grid_file)
    message = str(info.value)
    assert "10,000,000,000 combinations" in message and "1,000,000" in message
    code = cli.main(["sweep", str(grid_file), "--data-dir", "/nowhere"])
    err = capsys.readouterr().err
    assert code == 2 and "10,000,000,000" in err


def test_the_limit_counts_combinations_before_exclusions(tmp_path):
    from backtests.grid import MAX_COMBINATIONS

    n = MAX_COMBINATIONS // 1000 + 1
    text = (
        f'[grid]\n"costs.slippage_bps" = [{", ".join(map(str, range(n)))}]\n'
        f'"costs.commission_bps" = [{", ".join(map(str, range(1000)))}]\n'
        '[[exclude]]\n"costs.slippage_bps" = 0\n'
    )
    with pytest.raises(ConfigError, match=f"{n * 1000:,} combinations"):
        load_grid(write(tmp_path, text))


def test_grid_digest_is_unchanged_by_the_streamed_hash(tmp_path):
    """Default folder names and checkpoints of earlier sweeps stay valid."""
    grid = load_grid(write(tmp_path, SMALL_GRID))
    blob = json.dumps(
        {
            "base": grid.base.resolved(),
            "keys": grid.keys,
            "values": [
                [v.isoformat() if hasattr(v, "isoformat") else v for v in vs] for vs in grid.values
            ],
            "combinations": grid.combinations.tolist(),
        },
        sort_keys=True,
        default=str,
    )
    assert grid.digest == hashlib.sha256(blob.encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    ("grid_text", "fragment"),
    [
        ('"run.end" = [2026-08-14, 2025-01-02]', "2025-01-02"),
        ('"run.start" = [2025-01-01, 2030-01-02]', "2030-01-02"),
    ],
)
def test_a_combination_without_sessions_is_refused_before_any_work(
    grid_text, fragment, capsys, shared_market_data, tmp_path
):
    text = f'[run]\nstart = 2025-01-01\n[grid]\n"strategy.hold_sessions" = [1, 5]\n{grid_text}\n'
    out = tmp_path / "out"
    code = cli.main(
        [
            "sweep",
            str(write(tmp_path, text)),
            "--data-dir",
            str(shared_market_data),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "combination" in lines[0] and fragment in lines[0], err
    assert not out.exists()


def test_a_sweep_folder_of_the_previous_version_is_taken_over(capsys, shared_market_data, tmp_path):
    """Its manifest says "capex-rotation sweep" and lists no files; its checkpoint records no
    input digests: the sweep recomputes, and removes the old heatmap it does not draw again."""
    grid_file = write(tmp_path, SMALL_GRID)
    grid = load_grid(grid_file, [], csv_settings(shared_market_data))
    out = tmp_path / "old"
    (out / ".checkpoint").mkdir(parents=True)
    (out / ".checkpoint" / "grid.json").write_text(json.dumps({"digest": grid.digest}))
    (out / ".checkpoint" / "part-000000000-000004.parquet").write_bytes(b"stale")
    (out / "manifest.json").write_text(json.dumps({"tool": "capex-rotation sweep"}))
    (out / "sweep.csv").write_text("old")
    (out / "heatmap_sharpe_old.png").write_bytes(b"old")
    code, stdout, err = sweep_cli(capsys, grid_file, shared_market_data, out)
    assert code == 0, err
    assert "an earlier version wrote it" in err and "replacing the previous sweep" in err
    assert "(10 computed, 0 from the checkpoint)" in stdout
    assert not (out / "heatmap_sharpe_old.png").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["tool"], manifest["kind"]) == ("capex-rotation", "sweep")


def test_heatmaps_drawn_by_workers_are_the_bytes_of_one_drawn_here(tmp_path):
    """The sweep draws its heatmaps in forked workers while it computes the selection statistics
    (reports.sweep_report.draw_heatmaps): the same PNG bytes as heatmap() drawn in this process,
    in the order of the pairs, and the work given to ``meanwhile`` done once."""
    from reports.sweep_report import draw_heatmaps, heatmap, heatmap_name

    rng = np.random.default_rng(3)
    rows = [(h, g, s) for h in (1, 5, 10) for g in (0.5, 1.0) for s in (0, 2, 5)]
    table = pd.DataFrame(rows, columns=["strategy.hold_sessions", "strategy.gross", "slip"])
    table["sharpe"] = rng.normal(size=len(table))
    table["ruined_on"] = [""] * (len(table) - 1) + ["2020-03-16"]
    keys = ["strategy.hold_sessions", "strategy.gross", "slip"]
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    ran = []
    drawn = draw_heatmaps(table, "sharpe", pairs, meanwhile=lambda: ran.append(1))
    assert ran == [1]
    assert list(drawn) == [heatmap_name("sharpe", x, y) for x, y in pairs]
    for x, y in pairs:
        path = tmp_path / heatmap_name("sharpe", x, y)
        heatmap(table, "sharpe", x, y, path)
        assert drawn[path.name] == path.read_bytes(), path.name
