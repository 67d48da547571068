"""The event-study output folder: CSVs, PNG plots, README.md and an offline index.html.

Knows no engine: it receives plain tables (see ``backtests/research/event_study.py`` for their
definitions). The folder is assembled in a temporary folder and renamed into place at the end
(``reports.run_folder``), so a failed run leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from reports.event_evidence_section import evidence_section, group_label
from reports.formatting import num, pct
from reports.html_page import esc, image, link, page, table
from reports.plots import save_png
from reports.run_folder import write_csv, write_run_folder

BASKETS = ("long", "short", "spread")
COLORS = {"long": "#2b7bba", "short": "#c0392b", "spread": "#222222"}
DIRECTION_COLORS = {"+1": "#1a9850", "-1": "#d73027"}
PATHS_PNG = "car_paths.png"
DIRECTION_PNG = "car_by_direction.png"

CAVEATS = (
    "The event list was chosen with hindsight: every result here is in-sample.",
    "Events whose windows overlap (same or nearby day 0) share sessions and market moves: they "
    "are not independent, so the t intervals and the sign test overstate the evidence (the "
    "Kolari-Pynnonen and calendar-time tests allow for it).",
    "A day 0 may coincide with other market-moving news (earnings, tariffs, Fed decisions, "
    "payrolls): its abnormal return is not the event's alone.",
)


def bar_png(h: int) -> str:
    return f"car_0_{h}_by_event.png"


def _pct(value: Any) -> str:
    return pct(value, signed=True)


def _p(value: Any) -> str:
    return num(value, 3)


# --- plots -------------------------------------------------------------------------------------


def _save(fig, path: Path, *, left: float, bottom: float, top: float, gap: float) -> None:
    """Lay the panels out with fixed margins, in inches (``gap``: between panels, as a share of
    a panel), and write the PNG. Not matplotlib's tight layout: it draws the whole figure once
    more only to measure it, about half of each plot's time."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width,
        right=1 - 0.25 / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap,
        hspace=gap,
    )
    save_png(fig, path)


def _band(ax, frame: pd.DataFrame, color: str, label: str) -> None:
    frame = frame.sort_values("k")
    k = frame["k"].to_numpy()
    n = int(frame["n"].max()) if len(frame) else 0
    ax.plot(
        k,
        100 * frame["mean"].to_numpy(float),
        color=color,
        marker="o",
        ms=3,
        label=f"{label} (N={n})",
    )
    ax.fill_between(
        k,
        100 * frame["ci_low"].to_numpy(float),
        100 * frame["ci_high"].to_numpy(float),
        color=color,
        alpha=0.18,
        linewidth=0,
    )


def _frame_axes(ax, title: str) -> None:
    ax.axhline(0, color="#888", linewidth=0.8)
    ax.axvline(-0.5, color="#888", linewidth=0.8, linestyle="--")
    ax.set_title(title)
    ax.set_xlabel("session relative to day 0 (entry session)")
    ax.set_ylabel("mean CAR, %")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_paths(paths: pd.DataFrame, path: Path) -> None:
    """Mean CAR path with its 95% band, one panel per basket (all events)."""
    fig, axes = plt.subplots(1, len(BASKETS), figsize=(13, 4), sharex=True)
    for ax, basket in zip(axes, BASKETS, strict=True):
        block = paths[(paths["basket"] == basket) & (paths["group"] == "all")]
        if len(block):
            _band(ax, block, COLORS[basket], basket)
            ax.legend(loc="best", fontsize=8)
        _frame_axes(ax, f"{basket}: mean CAR, 95% CI")
    fig.suptitle("Cumulative abnormal return around the news (0 at the close of day -1)")
    _save(fig, path, left=0.75, bottom=0.55, top=0.8, gap=0.28)


def plot_directions(paths: pd.DataFrame, path: Path) -> None:
    """Mean CAR path of +1 (rotation on) vs -1 (counter-trigger) events, per basket."""
    fig, axes = plt.subplots(1, len(BASKETS), figsize=(13, 4), sharex=True)
    for ax, basket in zip(axes, BASKETS, strict=True):
        for value, color in DIRECTION_COLORS.items():
            block = paths[
                (paths["basket"] == basket)
                & (paths["group"] == "direction")
                & (paths["value"] == value)
            ]
            if len(block):
                _band(ax, block, color, f"{value} events")
        if ax.lines:
            ax.legend(loc="best", fontsize=8)
        _frame_axes(ax, f"{basket}: +1 vs -1 events")
    fig.suptitle("Rotation-on (+1) vs counter-trigger (-1) news: mean CAR with 95% CI")
    _save(fig, path, left=0.75, bottom=0.55, top=0.8, gap=0.28)


MAX_BARS = 120  # up to this many used events, one bar each; beyond it, histograms
HISTOGRAM_BINS = 40


def plot_event_bars(events: pd.DataFrame, h: int, path: Path) -> None:
    """CAR(0, h) of every used event, one panel per basket, coloured by direction: one bar per
    event up to MAX_BARS events; beyond that, a histogram per basket (+1 and -1 events
    stacked), so the picture keeps its size whatever the number of events."""
    used = events[events["status"] == "used"].reset_index(drop=True)
    if len(used) > MAX_BARS:
        _plot_event_histograms(used, h, path)
        return
    fig, axes = plt.subplots(
        len(BASKETS), 1, figsize=(max(8, 0.22 * len(used) + 2), 9), sharex=True
    )
    x = np.arange(len(used))
    colors = [DIRECTION_COLORS[f"{int(d):+d}"] for d in used["direction"]]
    for ax, basket in zip(axes, BASKETS, strict=True):
        ax.bar(x, 100 * used[f"{basket}_car_0_{h}"].to_numpy(float), color=colors)
        ax.axhline(0, color="#888", linewidth=0.8)
        ax.set_ylabel(f"{basket} CAR(0,{h}), %")
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(x, used["entry_session"].tolist(), rotation=90, fontsize=7)
    axes[-1].set_xlabel("day 0 (green: +1 rotation-on news, red: -1 counter-trigger)")
    fig.suptitle(f"CAR(0,{h}) per event")
    _save(fig, path, left=0.85, bottom=1.25, top=0.5, gap=0.08)  # dates written upright


def _plot_event_histograms(used: pd.DataFrame, h: int, path: Path) -> None:
    fig, axes = plt.subplots(len(BASKETS), 1, figsize=(10, 9))
    direction = used["direction"].to_numpy()
    for ax, basket in zip(axes, BASKETS, strict=True):
        values = 100 * used[f"{basket}_car_0_{h}"].to_numpy(float)
        groups = [(values[direction == int(v)], v, c) for v, c in DIRECTION_COLORS.items()]
        groups = [(g, v, c) for g, v, c in groups if g.size]
        ax.hist(
            [g for g, _, _ in groups],
            bins=np.histogram_bin_edges(values, bins=HISTOGRAM_BINS),
            stacked=True,
            color=[c for _, _, c in groups],
            label=[f"{v} events (N={g.size})" for g, v, _ in groups],
        )
        ax.axvline(0, color="#888", linewidth=0.8)
        ax.set_xlabel(f"{basket} CAR(0,{h}), %")
        ax.set_ylabel("events")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(
        f"CAR(0,{h}) across {len(used)} events (more than {MAX_BARS}: a histogram, not one bar "
        "per event)"
    )
    _save(fig, path, left=0.85, bottom=0.6, top=0.5, gap=0.4)


# --- text --------------------------------------------------------------------------------------


def _definitions(facts: dict[str, Any]) -> list[str]:
    pre, post = facts["window"]
    lo, hi = facts["estimation"]
    return [
        "Day 0 is the event's entry session: the first NYSE session whose open is strictly "
        "after known_at.",
        "Returns are daily close-to-close; a basket's return is the equal-weight mean of its "
        "names that have a bar that day and the previous one; spread = long - short.",
        f"Market model per event and basket: OLS of the basket's returns on {facts['benchmark']}"
        f"'s over days [{lo},{hi}] (at least {facts['min_obs']} sessions, else the event is "
        "skipped). AR_k = R_k - (alpha + beta R_m,k).",
        f"Event window [{pre},{post}]. car_from_0 = CAR(0,k) = AR_0 + ... + AR_k for k >= 0, and "
        "the run-up CAR(k,-1) = AR_k + ... + AR_-1 for k < 0. The plotted path is 0 at the "
        "close of day -1 (-CAR(k+1,-1) before day 0, CAR(0,k) from day 0).",
        "Across events: mean CAR(0,k), 95% t interval, t statistic with its two-sided p-value, "
        "and a two-sided sign test (binomial, p = 1/2, zero CARs left out). all_signed "
        "multiplies each CAR by the event's direction (the rotation's own bet counts as "
        "positive).",
        "Tests that allow for overlap, per group and k, appended to summary.csv: BMP "
        "(standardised CARs), KP (BMP's t times sqrt((1 - rbar) / (1 + (N - 1) rbar)), rbar the "
        "mean pairwise correlation of the events' estimation residuals in event time, summed "
        "over k + 1 days), Corrado rank, generalized sign (p_hat from the estimation windows), "
        "and calendar time: OLS of the daily return on the benchmark and an indicator of the "
        "sessions inside some window [0,k] (signed by direction for all_signed), Newey-West "
        "errors; ct_car = (k + 1) x its coefficient.",
    ]


def readme(facts: dict[str, Any]) -> str:
    h = facts["bar_k"]
    lines = [
        "# Event study",
        "",
        f"{facts['events_used']} events studied, {facts['events_skipped']} skipped "
        f"(events.csv says why); sessions {facts['first_session']} to {facts['last_session']}; "
        f"benchmark {facts['benchmark']}.",
        "",
        "## Files",
        "",
        "- `event_study.csv`: one row per event, basket (long, short, spread) and day k: "
        "event_id, known_at, entry_session, category, direction, basket, k, ret, ar, car_from_0.",
        "- `summary.csv`: per basket and group (all, all_signed, direction, category) and "
        "k = 0..post: n, mean_car, std, ci_low, ci_high, t_stat, t_pvalue, n_positive, "
        "n_negative, sign_pvalue; then bmp_t, bmp_p, rbar, kp_t, kp_p, rank_z, rank_p, "
        "p_hat, gsign_z, gsign_p, ct_car, ct_gamma, ct_se, ct_t, ct_p, ct_obs, "
        "ct_event_sessions, ct_maxlags (tests that allow for overlapping events).",
        "- `events.csv`: every selected event, used or skipped (with the reason), its market "
        f"model per basket (alpha, beta, n_est), its CAR(0,{h}) and the other events whose "
        "windows overlap it.",
        f"- `{PATHS_PNG}`, `{DIRECTION_PNG}`, `{bar_png(h)}`: the plots; `index.html` shows all.",
        "",
        "## Definitions",
        "",
        *(f"- {line}" for line in _definitions(facts)),
        "",
        "## Caveats",
        "",
        *(f"- {line}" for line in CAVEATS),
        "",
    ]
    return "\n".join(lines)


# --- index.html --------------------------------------------------------------------------------


def _summary_rows(summary: pd.DataFrame, k: int) -> list[list[Any]]:
    block = summary[summary["k"] == k]
    order = {"all": 0, "all_signed": 1, "direction": 2, "category": 3}
    block = block.assign(
        _g=block["group"].map(order), _b=block["basket"].map({b: i for i, b in enumerate(BASKETS)})
    ).sort_values(["_g", "value", "_b"], kind="stable")
    return [
        [
            group_label(r["group"], r["value"]),
            r["basket"],
            int(r["n"]),
            _pct(r["mean_car"]),
            f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]",
            _p(r["t_stat"]),
            _p(r["t_pvalue"]),
            f"{int(r['n_positive'])}/{int(r['n_negative'])}",
            _p(r["sign_pvalue"]),
        ]
        for r in block.to_dict("records")
    ]


SUMMARY_HEADERS = ("events", "basket", "N", "mean CAR", "95% CI", "t", "p (t)", "+/-", "p (sign)")


def index_html(
    events: pd.DataFrame, summary: pd.DataFrame, facts: dict[str, Any], title: str
) -> str:
    h = facts["bar_k"]
    pre, post = facts["window"]
    caveats = "".join(f"<li>{esc(c)}</li>" for c in CAVEATS)
    definitions = "".join(f"<li>{esc(d)}</li>" for d in _definitions(facts))
    parameters = [
        ("Sessions", f"{facts['first_session']} to {facts['last_session']}"),
        ("Benchmark", facts["benchmark"]),
        ("Long basket", " ".join(facts["long"])),
        ("Short basket", " ".join(facts["short"])),
        ("Event window", f"[{pre}, {post}]"),
        (
            "Estimation window",
            "[{}, {}], at least {} sessions".format(*facts["estimation"], facts["min_obs"]),
        ),
        ("Events file", facts["events_file"]),
        ("Categories", ", ".join(facts["categories"]) or "all"),
        (
            "Events",
            f"{facts['events_selected']} selected, {facts['events_used']} used, "
            f"{facts['events_skipped']} skipped; {facts['events_overlapping']} used events "
            "overlap another",
        ),
    ]
    overall = summary[summary["group"].isin(["all", "all_signed"])]
    by_k = [
        [
            group_label(r["group"], r["value"]),
            r["basket"],
            int(r["k"]),
            int(r["n"]),
            _pct(r["mean_car"]),
            f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]",
            _p(r["t_stat"]),
            _p(r["sign_pvalue"]),
        ]
        for r in overall.to_dict("records")
    ]
    per_event = [
        [
            r["event_id"],
            r["entry_session"],
            r["category"],
            f"{int(r['direction']):+d}",
            r["headline"],
            *(_pct(r[f"{b}_car_0_{h}"]) for b in BASKETS),
            "n/a" if pd.isna(r["spread_beta"]) else f"{r['spread_beta']:.2f}",
            len([o for o in str(r["overlapping"]).split(";") if o]),
            r["status"] if r["status"] == "used" else f"skipped: {r['reason']}",
        ]
        for r in events.to_dict("records")
    ]
    body = [
        f'<div class="warn"><ul>{caveats}</ul></div>',
        "<h2>Parameters</h2>",
        table(("", ""), parameters),
        f"<h2>CAR(0,{h}) across events</h2>",
        table(SUMMARY_HEADERS, _summary_rows(summary, h), numeric={2, 3, 5, 6, 8}),
        evidence_section(summary, h),
        "<h2>Mean CAR path</h2>",
        image(PATHS_PNG, "mean CAR path per basket with its 95% band"),
        image(DIRECTION_PNG, "mean CAR path of +1 and -1 events per basket"),
        f"<h2>CAR(0,{h}) per event</h2>",
        image(
            bar_png(h),
            f"CAR(0,{h}) of every event per basket"
            if facts["events_used"] <= MAX_BARS
            else f"histogram of CAR(0,{h}) across events per basket",
        ),
        "<h2>CAR(0,k) for every k, all events</h2>",
        table(
            ("events", "basket", "k", "N", "mean CAR", "95% CI", "t", "p (sign)"),
            by_k,
            numeric={2, 3, 4, 6, 7},
        ),
        "<h2>Events</h2>",
        table(
            (
                "id",
                "day 0",
                "category",
                "dir",
                "headline",
                *(f"{b} CAR(0,{h})" for b in BASKETS),
                "spread beta",
                "overlaps",
                "status",
            ),
            per_event,
            numeric={5, 6, 7, 8, 9},
        ),
        "<h2>Definitions</h2>",
        f"<ul>{definitions}</ul>",
        "<h2>Files</h2>",
        "<p>"
        + " &middot; ".join(
            link(name, name)
            for name in ("event_study.csv", "summary.csv", "events.csv", "README.md")
        )
        + "</p>",
    ]
    return page(title, "\n".join(body))


def write_event_study(
    destination: Path,
    *,
    rows: pd.DataFrame,
    events: pd.DataFrame,
    summary: pd.DataFrame,
    paths: pd.DataFrame,
    facts: dict[str, Any],
    manifest: dict[str, Any],
    title: str = "Event study: the capex-to-efficiency rotation",
) -> Path:
    """Write the output folder (all or nothing); return its path."""
    h = facts["bar_k"]

    def text(content: str) -> Callable[[Path], None]:
        return lambda p: p.write_text(content, encoding="utf-8")

    files: dict[str, Callable[[Path], None]] = {
        "event_study.csv": lambda p: write_csv(p, rows),
        "summary.csv": lambda p: write_csv(p, summary),
        "events.csv": lambda p: write_csv(p, events),
        PATHS_PNG: lambda p: plot_paths(paths, p),
        DIRECTION_PNG: lambda p: plot_directions(paths, p),
        bar_png(h): lambda p: plot_event_bars(events, h, p),
        "README.md": text(readme(facts)),
        "index.html": text(index_html(events, summary, facts, title)),
    }
    return write_run_folder(
        destination,
        files,
        kind="event-study",
        manifest=manifest,
        # The per-event-day table is the largest file (39 MB at 6,000 events): a worker writes
        # it while another draws the plots and this process writes the rest.
        concurrent=("event_study.csv", PATHS_PNG, DIRECTION_PNG, bar_png(h)),
    )
