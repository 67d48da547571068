"""Several run folders side by side: equity curves, drawdowns and a metrics table on one page.

Reads each run folder's ``equity.csv``, ``metrics.json`` and ``manifest.json`` (as written by
``capex-rotation backtest``) and writes, all-or-nothing, a folder with ``index.html``,
``compare_equity.png``, ``compare_drawdown.png``, ``compare.csv`` (one row per run: key
parameters and every metric at full precision) and ``manifest.json`` (the runs and the sha256 of
the files read). Runs are labelled by their folder names plus the key parameters that differ.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import platform
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display here or in CI

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from data.errors import CapexRotationError
from reports.html_page import esc, image, link, write_page
from reports.plots import save_png
from reports.run_folder import write_csv, write_run_folder
from reports.run_index import INDEX, drawdown, money, num, pct

RUN_FILES = ("equity.csv", "metrics.json", "manifest.json")
EQUITY_PNG = "compare_equity.png"
DRAWDOWN_PNG = "compare_drawdown.png"
TABLE_CSV = "compare.csv"
COLOURS = plt.get_cmap("tab10").colors


def _int(value: Any) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def _ratio3(value: Any) -> str:
    return num(value, 3)


# (key in metrics.json, label, formatter, better: +1 higher, -1 lower, 0 neither)
METRIC_ROWS: tuple[tuple[str, str, Callable[[Any], str], int], ...] = (
    ("strategy.total_return", "Total return", pct, 1),
    ("strategy.cagr", "CAGR", pct, 1),
    ("strategy.sharpe", "Sharpe", num, 1),
    ("strategy.sortino", "Sortino", num, 1),
    ("strategy.volatility", "Volatility", pct, 0),
    ("strategy.max_drawdown", "Max drawdown", pct, 1),
    ("strategy.calmar", "Calmar", num, 1),
    ("strategy.time_in_market", "Time in market", pct, 0),
    ("strategy.win_rate_days", "Winning days", pct, 0),
    ("strategy.best_day", "Best day", pct, 0),
    ("strategy.worst_day", "Worst day", pct, 0),
    ("strategy.skew", "Skew", num, 0),
    ("strategy.daily_value_at_risk", "Daily VaR (95%)", pct, 0),
    ("versus_benchmark.beta", "Beta", num, 0),
    ("versus_benchmark.alpha", "Alpha (annual)", pct, 0),
    ("versus_benchmark.correlation", "Correlation", num, 0),
    ("versus_benchmark.information_ratio", "Information ratio", _ratio3, 0),
    ("benchmark.total_return", "Benchmark total return", pct, 0),
    ("benchmark.sharpe", "Benchmark Sharpe", num, 0),
    ("facts.sessions", "Sessions", _int, 0),
    ("facts.books_opened", "Books opened", _int, 0),
    ("facts.days_invested", "Sessions invested", _int, 0),
    ("facts.fills", "Fills", _int, 0),
    ("facts.turnover", "Turnover", num, 0),
    ("facts.costs.total", "Costs paid", money, 0),
    ("facts.final_equity", "Final equity", money, 0),
)


class CompareError(CapexRotationError):
    """A folder given to ``compare`` is not a usable run folder, or the request is wrong."""


@dataclasses.dataclass
class Run:
    """One run folder as read for the comparison."""

    folder: Path
    equity: pd.Series
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    sha256: dict[str, str]
    name: str = ""
    label: str = ""
    parameters: dict[str, str] = dataclasses.field(default_factory=dict)

    def metric(self, key: str) -> Any:
        value: Any = self.metrics
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value


# -- reading -------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CompareError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "rewrite the run with capex-rotation backtest"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(document, dict):
        raise CompareError(f"{path}: expected a JSON object, found {type(document).__name__}")
    return document


def _read_equity(path: Path) -> pd.Series:
    """The equity column of a run's equity.csv, checked row by row.

    The file must be whole: every row has the header's field count and the file ends with a
    newline (as every file we write does), so a copy cut mid-row is refused, not read short.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: cannot read it ({exc})") from None
    redo = "the run folder is incomplete; rewrite it with capex-rotation backtest"
    if text and not text.endswith("\n"):
        raise CompareError(
            f"{path}, line {text.count(chr(10)) + 1}: cut short (the file does not end with a "
            f"newline); {redo}"
        )
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    dates: list[str] = []
    values: list[str] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row:
                continue
            if header is None:
                header = row
                missing = [c for c in ("date", "equity") if c not in header]
                if missing:
                    raise CompareError(
                        f"{path}: no {missing[0]!r} column; is it a run folder's equity.csv?"
                    )
                continue
            if len(row) != len(header):
                raise CompareError(
                    f"{path}, line {reader.line_num}: {len(row)} fields, but the header has "
                    f"{len(header)}; {redo}"
                )
            dates.append(row[header.index("date")])
            values.append(row[header.index("equity")])
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise CompareError(
            f"{path}, line {reader.line_num}: not valid CSV ({exc}); {redo}"
        ) from None
    if header is None:
        raise CompareError(f"{path}: cannot read it as CSV (the file is empty)")
    if not dates:
        raise CompareError(f"{path}: no rows")
    parsed = pd.to_datetime(pd.Series(dates), format="%Y-%m-%d", errors="coerce")
    numbers = pd.to_numeric(pd.Series(values), errors="coerce")
    bad = np.flatnonzero((parsed.isna() | numbers.isna() | ~(numbers > 0)).to_numpy())
    if len(bad):
        k = int(bad[0])
        raise CompareError(
            f"{path}, line {lines[k]}: expected a YYYY-MM-DD date and a positive equity, "
            f"found {dates[k]!r}, {values[k]!r}"
        )
    return pd.Series(numbers.to_numpy(dtype=float), index=pd.DatetimeIndex(parsed), name="equity")


def _check_metrics(path: Path, metrics: dict[str, Any]) -> None:
    """Every metric the page shows is a number or null (NaN included), never text or a list."""
    for key, *_ in METRIC_ROWS:
        value: Any = metrics
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            continue
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise CompareError(
            f"{path}: {key} is {shown}, not a number; rewrite the run with capex-rotation backtest"
        )


def load_run(folder: Path) -> Run:
    """Read one run folder; a CompareError says what is missing or malformed, and where."""
    if not folder.exists():
        raise CompareError(f"run folder {folder} does not exist")
    if not folder.is_dir():
        raise CompareError(f"{folder} is not a folder; give run folders written by backtest --out")
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise CompareError(
            f"{folder} is not a run folder: no {', '.join(missing)} "
            "(write one with capex-rotation backtest --out DIR)"
        )
    metrics = _read_json(folder / "metrics.json")
    if not isinstance(metrics.get("strategy"), dict):
        raise CompareError(
            f"{folder / 'metrics.json'}: no 'strategy' metrics; is it a backtest run folder?"
        )
    _check_metrics(folder / "metrics.json", metrics)
    manifest = _read_json(folder / "manifest.json")
    equity = _read_equity(folder / "equity.csv")
    facts = metrics.get("facts")
    sessions = facts.get("sessions") if isinstance(facts, dict) else None
    if isinstance(sessions, int) and not isinstance(sessions, bool) and sessions != len(equity):
        raise CompareError(
            f"{folder / 'equity.csv'}: {len(equity)} rows, but metrics.json says the run had "
            f"{sessions} sessions; the run folder is incomplete; rewrite it with "
            "capex-rotation backtest"
        )
    sha = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in RUN_FILES}
    return Run(folder=folder, equity=equity, metrics=metrics, manifest=manifest, sha256=sha)


def key_parameters(manifest: dict[str, Any]) -> dict[str, str]:
    """The parameters that tell runs apart, as short strings."""
    config = manifest.get("config") or {}
    run, strategy = config.get("run") or {}, config.get("strategy") or {}
    costs, events = config.get("costs") or {}, config.get("events") or {}
    universe = config.get("universe") or {}
    sessions = manifest.get("sessions") or {}

    def g(value: Any) -> str:
        return "?" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    return {
        "period": f"{sessions.get('first', '?')} to {sessions.get('last', '?')}",
        "hold": g(strategy.get("hold_sessions")),
        "gross": g(strategy.get("gross")),
        "costs (bp)": f"c {g(costs.get('commission_bps'))} / s {g(costs.get('slippage_bps'))}"
        f" / b {g(costs.get('borrow_bps'))}",
        "events": Path(str(events["file"])).name if events.get("file") else "bundled",
        "categories": ", ".join(events.get("categories") or []) or "all",
        "long": " ".join(universe.get("long") or []),
        "short": " ".join(universe.get("short") or []),
        "benchmark": g(run.get("benchmark")),
        "cash": "?" if run.get("cash") is None else money(run.get("cash")),
    }


def differing(runs: Sequence[Run]) -> list[str]:
    """Key parameters whose value is not the same in every run."""
    keys = list(runs[0].parameters)
    return [k for k in keys if len({r.parameters.get(k) for r in runs}) > 1]


def load_runs(folders: Sequence[Path], destination: Path | None = None) -> list[Run]:
    """Read and label two or more distinct run folders (refusing ``destination`` among them)."""
    if len(folders) < 2:
        given = f": {folders[0]}" if folders else ""
        raise CompareError(
            f"compare needs at least two run folders, got {len(folders)}{given} "
            "(a single run's page is its index.html)"
        )
    resolved = [Path(f).resolve() for f in folders]
    seen: dict[Path, Path] = {}
    for given, path in zip(folders, resolved, strict=True):
        if path in seen:
            raise CompareError(f"run folder {given} is given twice; give each run once")
        seen[path] = given
    if destination is not None:
        out = destination.resolve()
        for given, path in zip(folders, resolved, strict=True):
            if out == path or out.is_relative_to(path) or path.is_relative_to(out):
                raise CompareError(
                    f"--out {destination} overlaps run folder {given} (it would be replaced or "
                    "changed); choose an --out outside the runs"
                )
    runs = [load_run(path) for path in resolved]
    base = [p.name for p in resolved]  # same folder name in two places: add the parent
    names = [f"{p.parent.name}/{p.name}" if base.count(p.name) > 1 else p.name for p in resolved]
    if len(set(names)) < len(names):
        names = [str(p) for p in resolved]
    for run, name in zip(runs, names, strict=True):
        run.name = name
        run.parameters = key_parameters(run.manifest)
    varied = differing(runs)[:3]
    for run in runs:
        extra = ", ".join(f"{k} {run.parameters[k]}" for k in varied if k != "period")
        run.label = f"{run.name} ({extra})" if extra else run.name
    return runs


# -- writing -------------------------------------------------------------------------------------


def _plot(path: Path, runs: Sequence[Run], kind: str) -> None:
    with plt.style.context("default"):
        fig, ax = plt.subplots(figsize=(11, 4.8 if kind == "equity" else 3.6))
        for k, run in enumerate(runs):
            curve = run.equity
            values = curve / curve.iloc[0] if kind == "equity" else drawdown(curve)
            ax.plot(values.index, values.to_numpy(), color=COLOURS[k % 10], lw=1.3, label=run.label)
        if kind == "equity":
            ax.axhline(1.0, color="#999999", lw=0.8)
            ax.set_ylabel("equity / starting cash")
            ax.set_title("Growth of 1 (equity at each close over the starting cash)")
        else:
            ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
            ax.set_ylabel("drawdown")
            ax.set_title("Drawdown from the running peak")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        save_png(fig, path, dpi=100)


def comparison_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run: name, folder, key parameters, then every metric of METRIC_ROWS."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {"run": run.name, "folder": str(run.folder)}
        row.update(run.parameters)
        row.update({key: run.metric(key) for key, *_ in METRIC_ROWS})
        rows.append(row)
    return pd.DataFrame(rows)


def _swatch(k: int) -> str:
    r, g, b = (round(255 * c) for c in COLOURS[k % 10])
    return f'<span style="color:#{r:02x}{g:02x}{b:02x}">&#9632;</span>'


def _run_link(run: Run, destination: Path) -> str:
    for name in (INDEX, "tearsheet.html"):
        if (run.folder / name).is_file():
            return link(os.path.relpath(run.folder / name, destination), str(run.folder))
    return esc(run.folder)


def _head(runs: Sequence[Run], first: str) -> str:
    cells = "".join(f"<th>{_swatch(k)} {esc(r.name)}</th>" for k, r in enumerate(runs))
    return f"<thead><tr><th>{esc(first)}</th>{cells}</tr></thead>"


def _metrics_html(runs: Sequence[Run]) -> str:
    body = []
    for key, label, formatter, better in METRIC_ROWS:
        values = [run.metric(key) for run in runs]
        finite = [v for v in values if isinstance(v, int | float) and v == v]
        best = (max(finite) if better > 0 else min(finite)) if better and finite else None
        cells = []
        for run, value in zip(runs, values, strict=True):
            text = esc(formatter(value))
            if best is not None and value == best and len(set(finite)) > 1:
                text = f"<strong>{text}</strong>"
            exact = "null" if value is None else repr(value)
            cells.append(
                f'<td class="num" data-run="{esc(run.name)}" data-metric="{esc(key)}" '
                f'title="{esc(exact)}">{text}</td>'
            )
        body.append(f"<tr><th>{esc(label)}</th>{''.join(cells)}</tr>")
    return f"<table>{_head(runs, 'metric')}<tbody>{''.join(body)}</tbody></table>"


def _parameters_html(runs: Sequence[Run]) -> str:
    varied = set(differing(runs))
    body = []
    for key in runs[0].parameters:
        mark = " (differs)" if key in varied else ""
        cells = "".join(f"<td>{esc(r.parameters.get(key, ''))}</td>" for r in runs)
        label = f"<strong>{esc(key + mark)}</strong>" if mark else esc(key)
        body.append(f"<tr><th>{label}</th>{cells}</tr>")
    return f"<table>{_head(runs, 'parameter')}<tbody>{''.join(body)}</tbody></table>"


def _runs_html(runs: Sequence[Run], destination: Path) -> str:
    rows = "".join(
        f"<tr><td>{_swatch(k)} {esc(r.label)}</td><td>{_run_link(r, destination)}</td></tr>"
        for k, r in enumerate(runs)
    )
    return (
        f"<table><thead><tr><th>run</th><th>folder</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def compare_body(runs: Sequence[Run], destination: Path) -> str:
    periods = {r.parameters["period"] for r in runs}
    parts = [
        '<p class="warn">In-sample: the event list and the baskets were chosen with hindsight.'
        + (
            " The runs cover different periods: their metrics are not directly comparable."
            if len(periods) > 1
            else ""
        )
        + "</p>",
        "<h2>Runs</h2>",
        _runs_html(runs, destination),
        "<h2>Metrics</h2>",
        _metrics_html(runs),
        '<p class="note">Definitions as in the README ("Metrics"): daily returns, 252 sessions a '
        "year, risk-free rate 0. Bold: the best run on that row. Hover a cell for the exact "
        f"value of metrics.json; {link(TABLE_CSV, TABLE_CSV)} has them all.</p>",
        "<h2>Equity</h2>",
        image(EQUITY_PNG, "Equity curves of the runs, over their starting cash"),
        "<h2>Drawdowns</h2>",
        image(DRAWDOWN_PNG, "Drawdowns of the runs"),
        "<h2>Parameters</h2>",
        _parameters_html(runs),
        f'<p class="note">{link("manifest.json", "manifest.json")} lists the files read, '
        "with their sha256.</p>",
    ]
    return "\n".join(parts)


def compare_manifest(runs: Sequence[Run], argv: Sequence[str] | None) -> dict[str, Any]:
    try:
        version = metadata.version("capex-rotation")
    except metadata.PackageNotFoundError:
        version = None
    return {
        "command": list(argv or []),
        "runs": [
            {
                "name": r.name,
                "label": r.label,
                "folder": str(r.folder),
                "files": [{"name": n, "sha256": s} for n, s in r.sha256.items()],
            }
            for r in runs
        ],
        "python": platform.python_version(),
        "packages": {"capex-rotation": version},
    }


def write_comparison(
    runs: Sequence[Run], destination: Path, argv: Sequence[str] | None = None
) -> Path:
    """Write the comparison folder atomically; return the path of its index.html."""
    final = destination.resolve()
    title = f"Comparison of {len(runs)} runs: " + ", ".join(r.name for r in runs)
    files: dict[str, Callable[[Path], None]] = {
        EQUITY_PNG: lambda p: _plot(p, runs, "equity"),
        DRAWDOWN_PNG: lambda p: _plot(p, runs, "drawdown"),
        TABLE_CSV: lambda p: write_csv(p, comparison_table(runs)),
        INDEX: lambda p: write_page(p, title, compare_body(runs, final)),
    }
    manifest = compare_manifest(runs, argv)
    return write_run_folder(final, files, kind="compare", manifest=manifest) / INDEX
