"""The evidence folder: one page that opens with a plain verdict table, then the detail, with
links to the full report of each study (README, "Skill or luck").

Needs plain data only (verdict rows, detail tables, facts): it knows no engine and no study.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from reports.html_page import esc, fmt, link, page, table
from reports.run_folder import write_csv, write_json, write_run_folder

VERDICT_COLUMNS = ["area", "test", "statistic", "p_value", "meaning"]
IN_SAMPLE = (
    "In-sample. The event list was chosen with hindsight, by people who knew how the market "
    "moved afterwards, and the baskets are the names that moved. Every figure here is a "
    "development figure on data the rules were built from; none of it is an out-of-sample "
    "result. A small p-value says the pattern is unlikely under the test's null on this data, "
    "not that it will repeat."
)


def verdict_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The verdict rows as a frame with :data:`VERDICT_COLUMNS` (in that order)."""
    frame = pd.DataFrame([{c: r.get(c) for c in VERDICT_COLUMNS} for r in rows])
    if frame.empty:
        frame = pd.DataFrame(columns=VERDICT_COLUMNS)
    frame["statistic"] = pd.to_numeric(frame["statistic"], errors="coerce").astype(float)
    frame["p_value"] = pd.to_numeric(frame["p_value"], errors="coerce").astype(float)
    return frame


def bottom_line(verdicts: pd.DataFrame, alpha: float = 0.05) -> str:
    """One plain sentence: how many tests of each area reject luck at ``alpha``."""
    parts = []
    for area, rows in verdicts.groupby("area", sort=False):
        p = rows["p_value"].to_numpy(dtype=float)
        tests = p[~pd.isna(p)]
        parts.append(f"{int((tests < alpha).sum())} of {tests.size} {area} tests")
    if not parts:
        return "no test was run."
    return (
        f"At the {alpha:.0%} level, {', '.join(parts)} reject luck (the null of each test). "
        "Read the p-values with the in-sample caveat: a test that rejects on data the events "
        "were chosen from is weak evidence, and one that does not reject is no evidence of skill."
    )


def _p_text(p: float) -> str:
    if not isinstance(p, float) or not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def index_html(
    title: str,
    verdicts: pd.DataFrame,
    sections: Sequence[tuple[str, str, pd.DataFrame | None, str | None]],
    parameters: Mapping[str, str],
    notes: Sequence[str] = (),
) -> str:
    """The page: the in-sample caveat, the verdict table, then one section per study
    (heading, a paragraph, a detail table or None, a link to its report or None), then the
    parameters. Every text is escaped."""
    body = [
        f'<p class="warn"><strong>{esc(IN_SAMPLE)}</strong></p>',
        f"<p><strong>Bottom line.</strong> {esc(bottom_line(verdicts))}</p>",
        "<h2>Verdict</h2>",
        table(
            ("area", "test", "statistic", "p-value", "what it means"),
            (
                (r.area, r.test, r.statistic, _p_text(r.p_value), r.meaning)
                for r in verdicts.itertuples(index=False)
            ),
            numeric={2, 3},
        ),
    ]
    body += [f'<p class="note">{esc(n)}</p>' for n in notes]
    for heading, text, detail, href in sections:
        body.append(f"<h2>{esc(heading)}</h2>")
        if text:
            body.append(f"<p>{esc(text)}</p>")
        if detail is not None and not detail.empty:
            numeric = {
                k for k, c in enumerate(detail.columns) if pd.api.types.is_numeric_dtype(detail[c])
            }
            body.append(
                table(list(map(str, detail.columns)), detail.itertuples(index=False), numeric)
            )
        if href:
            body.append(f"<p>{link(href, f'the full {heading.lower()} report')}</p>")
    body.append("<h2>Parameters</h2>")
    body.append(table(("parameter", "value"), parameters.items()))
    body.append(
        '<p class="note">Files: '
        + ", ".join(link(n, n) for n in ("verdicts.csv", "evidence.json", "manifest.json"))
        + "</p>"
    )
    return page(title, "\n".join(body))


def write_evidence(
    destination: Path,
    *,
    title: str,
    verdicts: pd.DataFrame,
    sections: Sequence[tuple[str, str, pd.DataFrame | None, str | None]],
    document: dict[str, Any],
    parameters: Mapping[str, str],
    reports: Mapping[str, Callable[[Path], Any]],
    manifest: dict[str, Any],
    notes: Sequence[str] = (),
) -> Path:
    """Write the evidence folder (all or nothing): ``verdicts.csv``, ``evidence.json``,
    ``index.html``, and one sub-folder per entry of ``reports`` (name -> writer(path) that
    writes that study's own report folder there)."""
    files: dict[str, Callable[[Path], Any]] = {
        "verdicts.csv": lambda p: write_csv(p, verdicts),
        "evidence.json": lambda p: write_json(p, document),
        "index.html": lambda p: p.write_text(
            index_html(title, verdicts, sections, parameters, notes), encoding="utf-8"
        ),
        **reports,
    }
    return write_run_folder(destination, files, kind="evidence", manifest=manifest)


def fmt_cell(value: Any) -> str:
    """A cell as the page prints it (for the terminal table)."""
    return fmt(value, 4)
