"""The quantstats HTML tear sheet, written headless, offline and reproducibly.

quantstats draws its thirteen charts one after the other, and they are most of its time. They
are drawn here by forked workers (:mod:`reports.parallel`) while this process computes the
metrics tables, and the page is the same, byte for byte, as quantstats' own sequential
rendering:

1. a dry run of ``quantstats.reports.html`` with its metric tables stubbed out records the
   arguments of every chart call (they depend on the returns only);
2. workers draw each recorded chart into its own buffer;
3. the real run computes every table and, where a chart call has exactly the recorded
   arguments, leaves a placeholder; any other call is drawn in place;
4. the placeholders are replaced by the workers' charts, transformed as quantstats transforms
   the embedded charts of its page.

The k-th chart is drawn with the ``svg.hashsalt`` "capex-rotation tear sheet #k" (element ids
are unique in the page and fixed) and the run's last session as its date
(``SOURCE_DATE_EPOCH``), so the same inputs give the same bytes. With one worker, or if the dry
run fails (another quantstats version), the page is drawn by quantstats sequentially, with the
same salts: the same bytes again.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere: no display here or in CI

import pandas as pd

from data.conventions import PERIODS_PER_YEAR
from reports import parallel

PERIODS = PERIODS_PER_YEAR
# quantstats 0.0.86's template asks https://qtpylib.io for its favicon and calls an undefined
# save() on load: offline that is a failed request and a ReferenceError in the console.
_REMOTE_ICON = re.compile(r'<link\b[^>]*\brel="(?:shortcut )?icon"[^>]*>', re.IGNORECASE)
_ONLOAD_SAVE = re.compile(r'(<body\b[^>]*?)\s+onload="save\(\)"', re.IGNORECASE)
# The chart functions quantstats.reports.html calls (as quantstats.plots.<name>).
CHARTS = (
    "returns",
    "log_returns",
    "yearly_returns",
    "histogram",
    "daily_returns",
    "rolling_beta",
    "rolling_volatility",
    "rolling_sharpe",
    "rolling_sortino",
    "drawdowns_periods",
    "drawdown",
    "monthly_heatmap",
    "distribution",
)
SVG_SALT = "capex-rotation tear sheet"
_PLACEHOLDER = "CAPEXROTATIONCHART{:04d}END"
_TEMPLATE_TAG = re.compile(r"\{\{(.*?)\}\}")


def make_offline(page: str) -> str:
    """quantstats' page without its remote favicon and its call to a missing function."""
    page = _REMOTE_ICON.sub('<link rel="icon" href="data:,">', page)
    return _ONLOAD_SAVE.sub(r"\1", page)


def _as_quantstats_finishes(embedded: str) -> str:
    # quantstats.reports.html ends with these two edits of the whole page, charts included.
    return _TEMPLATE_TAG.sub("", embedded).replace("white-space:pre;", "")


@contextlib.contextmanager
def reproducible_svg(as_of: pd.Timestamp) -> Iterator[None]:
    """A fixed SVG date (``as_of``, midnight UTC) while quantstats draws."""
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = pd.Timestamp(as_of)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(stamp.normalize().timestamp()))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


# --- recording and replaying quantstats' chart calls -----------------------------------------


class _Call:
    """One chart call: the function's name, its arguments without ``savefig``, the format."""

    def __init__(self, name: str, args: tuple, kwargs: dict) -> None:
        savefig = kwargs.get("savefig")
        self.name = name
        self.args = args
        self.kwargs = {k: v for k, v in kwargs.items() if k != "savefig"}
        self.format = savefig.get("format") if isinstance(savefig, dict) else None

    def same_as(self, other: _Call) -> bool:
        return (
            self.name == other.name
            and self.format == other.format
            and _same(self.args, other.args)
            and _same(self.kwargs, other.kwargs)
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, pd.Series | pd.DataFrame) or isinstance(b, pd.Series | pd.DataFrame):
        if type(a) is not type(b) or not a.equals(b) or not a.index.equals(b.index):
            return False
        if isinstance(a, pd.Series):
            return a.name == b.name and a.dtype == b.dtype
        return list(a.columns) == list(b.columns) and a.dtypes.equals(b.dtypes)
    if isinstance(a, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


@contextlib.contextmanager
def _patched(module: Any, replacements: dict[str, Callable]) -> Iterator[None]:
    saved = {name: getattr(module, name) for name in replacements}
    try:
        for name, value in replacements.items():
            setattr(module, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def _dry_run(render: Callable[[str], None]) -> list[_Call]:
    """The chart calls of one rendering, with quantstats' tables stubbed out and no drawing."""
    import quantstats as qs

    calls: list[_Call] = []

    def recorder(name: str) -> Callable:
        def record(*args, **kwargs):
            calls.append(_Call(name, args, kwargs))

        return record

    def frame(*columns: str) -> Callable:
        return lambda *a, **k: pd.DataFrame({c: [0.0, 0.0, 0.0] for c in columns})

    with (
        _patched(qs.plots, {name: recorder(name) for name in CHARTS}),
        _patched(qs.reports, {"metrics": frame("Strategy", "Benchmark")}),
        _patched(
            qs.stats,
            {
                "compare": frame("a", "b", "c", "d"),
                "drawdown_details": frame("start", "end", "max drawdown", "days"),
            },
        ),
    ):
        render(os.devnull)
    return calls


def _salted(k: int):
    # Element ids are hashes of the salt and the content: a salt per chart keeps them unique
    # in the page (identical clip boxes in two charts would otherwise share an id).
    return matplotlib.rc_context({"svg.hashsalt": f"{SVG_SALT} #{k}"})


def _draw(call: _Call, k: int) -> bytes:
    """Run in a worker: draw the k-th recorded chart, return what quantstats would embed."""
    import quantstats as qs

    stream = io.BytesIO()
    savefig = {"fname": stream, "format": call.format}
    with warnings.catch_warnings(), _salted(k):
        warnings.simplefilter("ignore")
        getattr(qs.plots, call.name)(*call.args, savefig=savefig, **call.kwargs)
    return stream.getvalue()


def _render_sequentially(render: Callable[[str], None], path: Path) -> None:
    """quantstats' own rendering, each chart with its salt."""
    import quantstats as qs

    real = {name: getattr(qs.plots, name) for name in CHARTS}
    position = {"next": 0}

    def salted(name: str) -> Callable:
        def chart(*args, **kwargs):
            k = position["next"]
            position["next"] += 1
            with _salted(k):
                return real[name](*args, **kwargs)

        return chart

    with _patched(qs.plots, {name: salted(name) for name in CHARTS}):
        render(str(path))


def _render_with_workers(render: Callable[[str], None], path: Path, workers: int) -> None:
    import quantstats as qs

    recorded: list[_Call] = []
    if workers > 1:
        try:
            recorded = _dry_run(render)
        except Exception:  # not the quantstats we know: draw as quantstats does
            recorded = []
    if not recorded:
        _render_sequentially(render, path)
        return
    real = {name: getattr(qs.plots, name) for name in CHARTS}
    position = {"next": 0}
    used: list[int] = []

    def replay(name: str) -> Callable:
        def chart(*args, **kwargs):
            call = _Call(name, args, kwargs)
            k = position["next"]
            position["next"] += 1
            if k < len(recorded) and call.same_as(recorded[k]):
                kwargs["savefig"]["fname"].write(_PLACEHOLDER.format(k).encode())
                used.append(k)
                return None
            with _salted(k):  # not what the dry run saw: draw it here
                return real[name](*args, **kwargs)

        return chart

    def page() -> None:
        with _patched(qs.plots, {name: replay(name) for name in CHARTS}):
            render(str(path))

    charts = parallel.run_concurrently(
        {f"chart{k}": partial(_draw, call, k) for k, call in enumerate(recorded)},
        workers,
        meanwhile=page,
    )
    text = path.read_text(encoding="utf-8")
    for k in used:
        embedded = charts[f"chart{k}"].decode()  # quantstats embeds SVG text as is
        text = text.replace(_PLACEHOLDER.format(k), _as_quantstats_finishes(embedded), 1)
    path.write_text(text, encoding="utf-8")


def write_tearsheet(
    path: Path,
    returns: pd.Series,
    benchmark: pd.Series,
    title: str,
    parameters: dict[str, str],
    workers: int | None = None,
) -> None:
    """Write quantstats' full HTML report of ``returns`` against ``benchmark`` (a returns Series,
    never a ticker: a ticker makes quantstats call yfinance, and offline it silently compares
    against zeros).

    The whole run is shown (``match_dates=False``): quantstats would otherwise cut the report
    at the first non-zero return, hiding the flat sessions the strategy spent waiting for news.
    quantstats pastes ``title`` and ``parameters`` into the page as is, so they are escaped.
    ``workers``: forked chart renderers (default :data:`reports.parallel.WORKERS`; 1 draws
    everything in this process).
    """
    import quantstats as qs

    if not isinstance(benchmark, pd.Series):
        raise TypeError("benchmark must be a returns Series")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    safe_params = {html.escape(str(k)): html.escape(str(v)) for k, v in parameters.items()}

    def render(output: str) -> None:
        qs.reports.html(
            returns.rename("Strategy"),
            benchmark=benchmark,
            rf=0.0,
            title=html.escape(title),
            output=output,
            periods_per_year=PERIODS,
            match_dates=False,
            benchmark_title=html.escape(str(benchmark.name or "Benchmark")),
            strategy_title="Strategy",
            parameters=safe_params,
        )

    with warnings.catch_warnings(), reproducible_svg(returns.index[-1]):
        warnings.simplefilter("ignore")  # quantstats/seaborn deprecation noise, not ours
        _render_with_workers(render, Path(path), parallel.WORKERS if workers is None else workers)
    # Work offline from the file system: no favicon request, no console error (see make_offline).
    path.write_text(make_offline(path.read_text(encoding="utf-8")), encoding="utf-8")
    import matplotlib.pyplot as plt

    plt.close("all")
