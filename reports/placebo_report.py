"""The placebo folder: per-draw table, summary, one histogram per metric and an index page.

Knows no engine: it receives the draws (one row per placebo calendar), the summary (one row per
baseline and metric) and documents to write as JSON.
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
from matplotlib.ticker import PercentFormatter

from reports.html_page import esc, image, link, page, table
from reports.plots import save_png
from reports.run_folder import write_csv, write_json, write_run_folder

LABELS = {"sharpe": "Sharpe", "total_return": "Total return", "hit_rate": "Hit rate"}
PERCENT = {"total_return", "hit_rate"}
MARKERS = {"real": ("real calendar", "#c0392b", "-"), "always_on": ("always on", "#1f5fa8", "--")}


def _value(metric: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.1%}" if metric in PERCENT else f"{value:.3f}"


def histogram(path: Path, metric: str, placebo: np.ndarray, marks: dict[str, float]) -> None:
    """The placebo distribution of ``metric`` with the baselines' values marked (a value far
    outside the distribution is drawn at the edge, with its value in the legend)."""
    values = np.asarray(placebo, dtype=float)
    values = values[np.isfinite(values)]
    fig, ax = plt.subplots(figsize=(7, 4))
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        span = (hi - lo) or max(abs(hi), 1.0) * 0.1
        bins = min(50, max(10, int(np.sqrt(values.size))))
        if metric == "hit_rate":
            bins = min(bins, len(np.unique(values)) + 1)
        ax.hist(values, bins=bins, color="#bbbbbb", edgecolor="#888888")
        left, right = lo - 0.05 * span, hi + 0.05 * span
        for name, value in marks.items():
            if value is None or not math.isfinite(value):
                continue
            label, color, style = MARKERS.get(name, (name, "black", ":"))
            # Within one spread of the distribution: drawn where it is; further: at the edge.
            shown = min(max(value, lo - span), hi + span)
            if shown != value:
                shown = lo - 0.1 * span if value < lo else hi + 0.1 * span
            note = "" if shown == value else " (off scale)"
            ax.axvline(
                shown,
                color=color,
                linestyle=style,
                linewidth=2,
                label=f"{label}: {_value(metric, value)}{note}",
            )
            left, right = min(left, shown - 0.02 * span), max(right, shown + 0.02 * span)
        ax.set_xlim(left, right)
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no placebo draw has a defined value", ha="center", va="center")
    ax.set_title(f"{LABELS.get(metric, metric)}: {values.size} placebo calendars")
    ax.set_xlabel(LABELS.get(metric, metric))
    ax.set_ylabel("draws")
    if metric in PERCENT:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    fig.tight_layout()
    save_png(fig, path)


def _interval(metric: str, low: Any, high: Any) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f"[{_value(metric, low)}, {_value(metric, high)}]"


def _index(
    title: str,
    scheme: str,
    parameters: dict[str, str],
    summary: pd.DataFrame,
    metrics: list[str],
    notes: list[str],
) -> str:
    rows = []
    for rec in summary.to_dict("records"):
        m = rec["metric"]
        rows.append(
            [
                MARKERS.get(rec["baseline"], (rec["baseline"],))[0],
                LABELS.get(m, m),
                _value(m, rec["value"]),
                "n/a" if not math.isfinite(rec["percentile"]) else f"{rec['percentile']:.1f}",
                "n/a" if not math.isfinite(rec["p_value"]) else f"{rec['p_value']:.3f}",
                f"{_value(m, rec['placebo_median'])} [{_value(m, rec['placebo_p05'])}, "
                f"{_value(m, rec['placebo_p95'])}]",
                rec["placebo_defined"],
                _interval(m, rec.get("ci_low"), rec.get("ci_high")),
            ]
        )
    parts = [
        '<p class="warn">The event list and the baskets were chosen with hindsight: the real '
        "calendar's figures are in-sample. The placebo asks whether the <em>timing</em> of the "
        "news matters: random calendars with the same number of events and the same sequence of "
        "directions, traded with the same config. The numbers below come from "
        f"<strong>{esc(scheme)}</strong> placebo calendars (how they are drawn: Parameters, "
        "and why circular is the default: the notes).</p>",
        "<h2>Parameters</h2>",
        table(["", ""], parameters.items()),
        "<h2>Real calendar and always-on rotation against the placebo distribution</h2>",
        table(
            [
                "baseline",
                "metric",
                "value",
                "percentile",
                "p-value (one-sided)",
                "placebo median [5%, 95%]",
                "draws defined",
                "bootstrap CI of the value",
            ],
            rows,
            numeric={2, 3, 4, 6},
        ),
    ]
    parts += [f'<p class="note">{esc(n)}</p>' for n in notes]
    parts.append("<h2>Distributions</h2>")
    parts += [
        image(f"hist_{m}.png", f"placebo distribution of {LABELS.get(m, m)}") for m in metrics
    ]
    parts.append("<h2>Files</h2><ul>")
    for name, what in (
        ("placebo.csv", "one row per placebo calendar: its metrics"),
        ("calendars.csv", "the entry sessions and directions of each placebo calendar"),
        ("summary.csv", "the table above, at full precision"),
        ("summary.json", "the same, with the definitions and the real calendar's facts"),
        ("manifest.json", "config, input files with sha256, seed, versions"),
    ):
        parts.append(f"<li>{link(name, name)}: {esc(what)}</li>")
    parts.append("</ul>")
    return page(title, "\n".join(parts))


def write_placebo_report(
    destination: Path,
    *,
    draws: pd.DataFrame,
    calendars: pd.DataFrame,
    summary: pd.DataFrame,
    document: dict[str, Any],
    manifest: dict[str, Any],
    title: str,
    parameters: dict[str, str],
    notes: list[str] | None = None,
    scheme: str = "circular",
) -> Path:
    """Write the placebo folder atomically; return its path.

    ``summary`` has columns scheme, baseline, metric, value, placebo_defined, placebo_mean,
    placebo_std, placebo_p05, placebo_median, placebo_p95, percentile, p_value, ci_low,
    ci_high (the real run's bootstrap interval, NaN where there is none); ``draws`` has one
    column per metric of the summary; ``scheme`` names the placebo calendars (the page says
    which produced the numbers, and ``parameters["Placebo calendars"]`` how they are drawn).
    """
    metrics = list(dict.fromkeys(summary["metric"]))
    marks = {
        m: {
            rec["baseline"]: rec["value"]
            for rec in summary[summary["metric"] == m].to_dict("records")
        }
        for m in metrics
    }
    files = {
        "placebo.csv": lambda p: write_csv(p, draws),
        "calendars.csv": lambda p: write_csv(p, calendars),
        "summary.csv": lambda p: write_csv(p, summary),
        "summary.json": lambda p: write_json(p, document),
    }
    for m in metrics:
        files[f"hist_{m}.png"] = lambda p, m=m: histogram(p, m, draws[m].to_numpy(), marks[m])
    files["index.html"] = lambda p: p.write_text(
        _index(title, scheme, parameters, summary, metrics, notes or []), encoding="utf-8"
    )
    plots = [f"hist_{m}.png" for m in metrics]
    return write_run_folder(destination, files, kind="placebo", manifest=manifest, concurrent=plots)
