"""Saving matplotlib figures (Agg, headless) the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here or in CI

import matplotlib.pyplot as plt


def save_png(fig, path: Path, dpi: int = 110) -> None:
    """Write ``fig`` as a PNG and close it. No "Software" stamp, so reruns give the same bytes.

    Files of a staged run folder need nothing more; a file written alone goes through
    :func:`data.atomic.write_atomically`.
    """
    try:
        fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)
