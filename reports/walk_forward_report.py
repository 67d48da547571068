"""The walk-forward folder: chosen config per window, stitched out-of-sample returns, a quantstats
tear sheet of them against the benchmark, in-sample vs out-of-sample Sharpe, an index page.

Knows no engine: it receives the windows table and the stitched returns.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reports.formatting import num
from reports.formatting import pct as percent
from reports.html_page import esc, image, link, page, table
from reports.metrics import performance
from reports.plots import bounded, save_png, thinned
from reports.run_folder import write_csv, write_json, write_run_folder
from reports.tearsheet import write_tearsheet


def sharpe_plot(path: Path, windows: pd.DataFrame) -> None:
    """In-sample (train) and out-of-sample (test) Sharpe of the chosen config, per window."""
    n = len(windows)
    x = np.arange(n)
    is_s = windows["is_sharpe"].to_numpy(dtype=float)
    oos_s = windows["oos_sharpe"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=bounded(max(7, 0.45 * n + 3), 4.2))
    ax.bar(x - 0.2, np.nan_to_num(is_s), width=0.4, label="in-sample (train)", color="#7f8fa6")
    ax.bar(x + 0.2, np.nan_to_num(oos_s), width=0.4, label="out-of-sample (test)", color="#c0392b")
    flat = windows["status"].to_numpy() == "flat"
    for k in np.flatnonzero(flat):
        ax.text(x[k], 0, "flat", ha="center", va="bottom", fontsize=7, rotation=90, color="#666")
    ax.axhline(0, color="black", linewidth=0.8)
    labels = windows["test_start"].str.slice(0, 7).tolist()
    ax.set_xticks(*thinned(labels), rotation=60, ha="right", fontsize=8)
    ax.set_xlabel("test window (start)")
    ax.set_ylabel("Sharpe")
    ax.set_title("Chosen config: in-sample vs out-of-sample Sharpe per window")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def equity_plot(path: Path, oos: pd.DataFrame, benchmark: str, cash: float) -> None:
    """Stitched out-of-sample equity and the benchmark's growth over the same sessions."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    dates = pd.DatetimeIndex(oos.index)
    ax.plot(dates, oos["equity"], color="#c0392b", label="walk-forward (out-of-sample)")
    bench = cash * np.cumprod(1 + oos["benchmark_return"].to_numpy(dtype=float))
    ax.plot(dates, bench, color="#7f8fa6", linewidth=1, label=f"{benchmark} (same sessions)")
    starts = oos["window"].ne(oos["window"].shift())
    for day in dates[starts.to_numpy()][1:]:
        ax.axvline(day, color="#dddddd", linewidth=0.8, zorder=0)
    ax.set_ylabel("equity")
    ax.set_title("Stitched out-of-sample equity (grey lines: window starts)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def summary_document(
    windows: pd.DataFrame, oos: pd.DataFrame, metric: str, benchmark: str
) -> dict[str, Any]:
    returns = oos["return"]
    bench = oos["benchmark_return"].rename(benchmark)
    chosen = windows[windows["status"] == "chosen"]
    return {
        "metric": metric,
        "windows": len(windows),
        "windows_chosen": len(chosen),
        "windows_flat": int((windows["status"] == "flat").sum()),
        "oos_first_session": str(pd.Timestamp(oos.index[0]).date()),
        "oos_last_session": str(pd.Timestamp(oos.index[-1]).date()),
        "oos_sessions": len(oos),
        "mean_is_sharpe": float(chosen["is_sharpe"].mean()) if len(chosen) else None,
        "mean_oos_sharpe": float(chosen["oos_sharpe"].mean()) if len(chosen) else None,
        "oos": performance(returns),
        "benchmark": {"ticker": benchmark, **performance(bench)},
        "oos_final_equity": float(oos["equity"].iloc[-1]),
    }


def _num(value: Any, pct: bool = False) -> str:
    return percent(value) if pct else num(value, 3)


def _index(
    title: str,
    parameters: dict[str, str],
    windows: pd.DataFrame,
    keys: list[str],
    metric: str,
    summary: dict[str, Any],
    tearsheet: bool,
    notes: list[str],
) -> str:
    head = ["window", "train", "test", "config", *keys]
    metric_cols = list(dict.fromkeys([f"is_{metric}", f"oos_{metric}", "is_sharpe", "oos_sharpe"]))
    head += [*metric_cols, "trials", "IS PSR", "IS DSR", "OOS return", "OOS books", "note"]
    rows = []
    for rec in windows.to_dict("records"):
        config = rec["config"]
        rows.append(
            [
                rec["window"],
                f"{rec['train_start']} to {rec['train_end']}",
                f"{rec['test_start']} to {rec['test_end']}",
                "flat" if config is None or pd.isna(config) else int(config),
                *(
                    ""
                    if rec[k] is None or (isinstance(rec[k], float) and math.isnan(rec[k]))
                    else rec[k]
                    for k in keys
                ),
                *(_num(rec[c]) for c in metric_cols),
                rec.get("trials", ""),
                _num(rec.get("is_psr", float("nan"))),
                _num(rec.get("is_dsr", float("nan"))),
                _num(rec["oos_total_return"], pct=True),
                rec["oos_books"],
                rec["reason"],
            ]
        )
    numeric = set(range(4 + len(keys), len(head) - 1))
    oos, bench = summary["oos"], summary["benchmark"]
    overall = [
        ["Sharpe", _num(oos["sharpe"]), _num(bench["sharpe"])],
        ["Total return", _num(oos["total_return"], True), _num(bench["total_return"], True)],
        ["CAGR", _num(oos["cagr"], True), _num(bench["cagr"], True)],
        ["Max drawdown", _num(oos["max_drawdown"], True), _num(bench["max_drawdown"], True)],
        ["Volatility", _num(oos["volatility"], True), _num(bench["volatility"], True)],
    ]
    parts = [
        '<p class="warn">The event list and the baskets were chosen with hindsight: only the '
        "choice of parameters is out of sample here, not the events or the names.</p>",
        "<h2>Parameters</h2>",
        table(["", ""], parameters.items()),
        f"<h2>Out-of-sample, {esc(summary['oos_first_session'])} to "
        f"{esc(summary['oos_last_session'])} ({summary['oos_sessions']} sessions)</h2>",
        table(["", "walk-forward", bench["ticker"]], overall, numeric={1, 2}),
        f"<p>Mean Sharpe of the chosen configs over the {summary['windows_chosen']} windows "
        f"with a choice: in-sample {_num(summary['mean_is_sharpe'])}, out-of-sample "
        f"{_num(summary['mean_oos_sharpe'])}. {summary['windows_flat']} window(s) flat.</p>",
    ]
    if tearsheet:
        parts.append(f"<p>{link('tearsheet.html', 'quantstats tear sheet of the OOS returns')}</p>")
    parts += [
        image("oos_equity.png", "stitched out-of-sample equity"),
        "<h2>In-sample vs out-of-sample Sharpe</h2>",
        image("is_vs_oos_sharpe.png", "in-sample vs out-of-sample Sharpe per window"),
        "<h2>Windows</h2>",
        table(head, rows, numeric=numeric),
        '<p class="note">trials: configs tried on the train window. IS PSR: probability that '
        "the chosen config's true daily Sharpe on the train window is above 0; IS DSR: the same "
        "against the Sharpe the best of that many luck-only trials would show (Bailey &amp; "
        "Lopez de Prado 2014). A low IS DSR says the choice may be luck; the OOS columns say "
        "what it did next.</p>",
    ]
    parts += [f'<p class="note">{esc(n)}</p>' for n in notes]
    parts.append("<h2>Files</h2><ul>")
    for name, what in (
        ("windows.csv", "one row per window: dates, chosen config and parameters, IS/OOS metrics"),
        ("oos_returns.csv", "stitched out-of-sample returns, equity and benchmark returns"),
        ("summary.json", "out-of-sample and benchmark metrics"),
        ("manifest.json", "grid, options, input files with sha256, versions"),
    ):
        parts.append(f"<li>{link(name, name)}: {esc(what)}</li>")
    parts.append("</ul>")
    return page(title, "\n".join(parts))


def write_walk_forward_report(
    destination: Path,
    *,
    windows: pd.DataFrame,
    oos: pd.DataFrame,
    keys: list[str],
    metric: str,
    benchmark: str,
    cash: float,
    manifest: dict[str, Any],
    title: str,
    parameters: dict[str, str],
    notes: list[str] | None = None,
    tearsheet: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Write the walk-forward folder atomically; return its path and the summary document.

    ``windows``: one row per window (window, train_start, train_end, test_start, test_end,
    config, status, reason, the grid ``keys``, is_/oos_ metrics including is_sharpe and
    oos_sharpe, oos_total_return, oos_books). ``oos``: indexed by session, columns window,
    return, equity, benchmark_return.
    """
    summary = summary_document(windows, oos, metric, benchmark)
    returns = oos["return"].rename("walk-forward")
    bench = oos["benchmark_return"].rename(benchmark)
    files = {
        "windows.csv": lambda p: write_csv(p, windows),
        "oos_returns.csv": lambda p: write_csv(p, oos, index=True),
        "summary.json": lambda p: write_json(p, summary),
        "is_vs_oos_sharpe.png": lambda p: sharpe_plot(p, windows),
        "oos_equity.png": lambda p: equity_plot(p, oos, benchmark, cash),
    }
    if tearsheet:
        files["tearsheet.html"] = lambda p: write_tearsheet(
            p, returns, bench, title, {**parameters, "Sample": "out-of-sample (walk-forward)"}
        )
    files["index.html"] = lambda p: p.write_text(
        _index(title, parameters, windows, keys, metric, summary, tearsheet, notes or []),
        encoding="utf-8",
    )
    return (
        write_run_folder(destination, files, kind="walk-forward", manifest=manifest),
        summary,
    )
