"""What produced a result: the versions recorded in every manifest."""

from __future__ import annotations

from importlib import metadata

PACKAGES = (
    "capex-rotation",
    "backtrader",
    "pandas",
    "numpy",
    "quantstats",
    "yfinance",
    "exchange-calendars",
    "pyarrow",
    "pydantic",
    "matplotlib",
    "scipy",
    "dask",
    "feedparser",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (for every manifest)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
