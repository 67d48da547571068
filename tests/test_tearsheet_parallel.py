"""The tear sheet drawn by workers is quantstats' own sequential page, byte for byte, and two
renderings of the same returns are the same bytes."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest

from data.calendar import sessions_between
from reports import tearsheet
from reports.tearsheet import write_tearsheet

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


@pytest.fixture(scope="module")
def pages(tmp_path_factory, series):
    """The page drawn by two workers, and by quantstats alone (sequentially, in this process)."""
    strategy, bench = series
    folder = tmp_path_factory.mktemp("tearsheets")
    params = {"Hold": "5 sessions", "Note": "<b>&</b>"}
    before = os.environ.get("SOURCE_DATE_EPOCH")
    write_tearsheet(folder / "workers.html", strategy, bench, "Title <i>", params, workers=2)
    assert os.environ.get("SOURCE_DATE_EPOCH") == before
    write_tearsheet(folder / "quantstats.html", strategy, bench, "Title <i>", params, workers=1)
    return (folder / "workers.html").read_bytes(), (folder / "quantstats.html").read_bytes()


def test_workers_draw_quantstats_page_exactly(pages):
    workers, sequential = pages
    assert workers == sequential
    assert b"CAPEXROTATIONCHART" not in workers
    assert workers.count(b"<svg") >= 13
    ids = re.findall(rb'<clipPath id="([^"]+)"', workers)
    assert len(ids) == len(set(ids)) > 13  # unique in the page


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
    write_tearsheet(tmp_path / "fallback.html", strategy, bench, "Title <i>", params, workers=2)
    assert (tmp_path / "fallback.html").read_bytes() == pages[1]
