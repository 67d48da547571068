"""Shared fixtures.

``shared_market_data``: the real price files in ../shared/market-data. When they are missing a
test FAILS under CI=true (CI must have them) and is skipped with a reason elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAPEX_SHARED_DIR", REPO.parent / "shared"))
MARKET_DATA = SHARED / "market-data"
NEWS_EVENTS = SHARED / "reference" / "news-events.csv"


def _require(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path} is missing (set CAPEX_SHARED_DIR or check out ../shared beside the repo)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; CI=true requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_market_data() -> Path:
    """Folder of the real daily bars (fails under CI=true when missing)."""
    return _require(MARKET_DATA)


@pytest.fixture(scope="session")
def shared_news_events() -> Path:
    """The reference list of 60 news events (fails under CI=true when missing)."""
    return _require(NEWS_EVENTS)


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """Keep matplotlib, yfinance and our price cache out of the user's home during tests."""
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("MPLCONFIGDIR", str(root / "mpl"))
    monkeypatch.setenv("CAPEX_ROTATION_CACHE", str(root / "price-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg-cache"))
