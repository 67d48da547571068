"""Saving matplotlib figures (Agg, headless) the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here or in CI

# Every figure keeps a bounded size whatever the number of configs, windows or events it shows.
MAX_WIDTH_IN, MAX_HEIGHT_IN = 24.0, 16.0  # inches (x 110 dpi: 2,640 x 1,760 px at most)
MAX_TICK_LABELS = 40  # beyond this, every k-th label only


def bounded(width: float, height: float) -> tuple[float, float]:
    """A figure size capped at MAX_WIDTH_IN x MAX_HEIGHT_IN."""
    return min(width, MAX_WIDTH_IN), min(height, MAX_HEIGHT_IN)


def thinned(labels: list[str]) -> tuple[list[int], list[str]]:
    """Tick positions and labels: all of them up to MAX_TICK_LABELS, else every k-th."""
    step = -(-len(labels) // MAX_TICK_LABELS)  # ceil
    keep = list(range(0, len(labels), max(step, 1)))
    return keep, [labels[k] for k in keep]


def save_png(fig, path: Path, dpi: int = 110) -> None:
    """Write ``fig`` (a pyplot figure or a bare ``matplotlib.figure.Figure``; ``path`` a path or
    a binary stream) as a PNG and close it. No "Software" stamp, so reruns give the same bytes.

    Files of a staged run folder need nothing more; a file written alone goes through
    :func:`data.atomic.write_atomically`.
    """
    try:
        fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        if fig.canvas.manager is not None:  # a pyplot figure (already imported): release it
            import matplotlib.pyplot as plt

            plt.close(fig)
