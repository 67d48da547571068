"""The tear sheet drawn by workers is quantstats' own sequential page, byte for byte, and two
renderings of the same returns are the same bytes."""

from __future__ import annotations

import html
import os
import warnings

import numpy as np
import pandas as pd
import pytest

from data.calendar import sessions_between
from reports import parallel, tearsheet
from reports.tearsheet import make_offline, reproducible_svg, write_tearsheet

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture(scope="module")
def series():
    sessions = sessions_between(pd.Timestamp("2022-01-03"), pd.Timestamp("2024-06-28"))
    rng = np.random.default_rng(3)
    strategy = pd.Series(rng.normal(0.0003, 0.01, len(sessions)), index=sessions)
    strategy[: len(sessions) // 5] = 0.0  # flat, waiting for news, like the real runs
    bench = pd.Series(rng.normal(0.0004, 0.011, len(sessions)), index=sessions, name="SPY")
    bench.iloc[0] = strategy.iloc[0] = 0.0
    return strategy, bench


def _quantstats_sequential(path, strategy, bench, title, parameters):
    import quantstats as qs

    with warnings.catch_warnings(), reproducible_svg(strategy.index[-1]):
        warnings.simplefilter("ignore")
        qs.reports.html(
            strategy.rename("Strategy"),
            benchmark=bench,
            rf=0.0,
            title=html.escape(title),
            output=str(path),
            periods_per_year=252,
            match_dates=False,
            benchmark_title=html.escape(str(bench.name)),
            strategy_title="Strategy",
            parameters={html.escape(k): html.escape(v) for k, v in parameters.items()},
        )
    path.write_text(make_offline(path.read_text(encoding="utf-8")), encoding="utf-8")


@pytest.fixture(scope="module")
def pages(tmp_path_factory, series):
    """The page drawn by two workers, and quantstats' own sequential page."""
    strategy, bench = series
    folder = tmp_path_factory.mktemp("tearsheets")
    params = {"Hold": "5 sessions", "Note": "<b>&</b>"}
    before = os.environ.get("SOURCE_DATE_EPOCH")
    saved, parallel.WORKERS = parallel.WORKERS, 2
    try:
        write_tearsheet(folder / "workers.html", strategy, bench, "Title <i>", params)
    finally:
        parallel.WORKERS = saved
    assert os.environ.get("SOURCE_DATE_EPOCH") == before
    _quantstats_sequential(folder / "quantstats.html", strategy, bench, "Title <i>", params)
    return (folder / "workers.html").read_bytes(), (folder / "quantstats.html").read_bytes()


def test_workers_draw_quantstats_page_exactly(pages):
    workers, sequential = pages
    assert workers == sequential
    assert b"CAPEXROTATIONCHART" not in workers
    assert workers.count(b"<svg") >= 13


def test_embedded_charts_are_reproducible(pages):
    workers, _ = pages
    # Fixed element ids and the last session as the date: no clock, no random salt.
    assert b"<dc:date>2024-06-28T00:00:00+00:00</dc:date>" in workers
    assert workers.count(b"<dc:date>2024-06-28T00:00:00+00:00</dc:date>") == workers.count(
        b"<dc:date>"
    )


def test_falls_back_to_sequential_when_the_dry_run_fails(tmp_path, series, pages, monkeypatch):
    strategy, bench = series

    def broken(render):
        raise AttributeError("quantstats changed")

    monkeypatch.setattr(tearsheet, "_dry_run", broken)
    params = {"Hold": "5 sessions", "Note": "<b>&</b>"}
    write_tearsheet(tmp_path / "fallback.html", strategy, bench, "Title <i>", params)
    assert (tmp_path / "fallback.html").read_bytes() == pages[1]
