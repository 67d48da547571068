"""The independent headline sets: well-formed, and the held-out ones frozen byte for byte."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

SETS = Path(__file__).parent / "data" / "headline_sets"
HEADER = ["published_at", "source", "headline", "label_category", "label_direction"]
CATEGORIES = {
    "custom_silicon": "+1",
    "compute_resale": "+1",
    "capex_cut": "+1",
    "efficiency_breakthrough": "+1",
    "capex_raise": "-1",
    "mega_order": "-1",
    "none": "0",
}


def test_held_out_sets_are_frozen():
    sums = (SETS / "heldout" / "SHA256SUMS").read_text(encoding="utf-8").split("\n")
    recorded = dict(reversed(line.split()) for line in sums if line.strip())
    assert len(recorded) >= 2
    for name, digest in recorded.items():
        assert hashlib.sha256((SETS / "heldout" / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("path", sorted(SETS.glob("*/*.csv")), ids=lambda p: p.name)
def test_sets_are_well_formed(path):
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == HEADER
    body = rows[1:]
    assert len(body) >= 60
    for row in body:
        assert len(row) == 5 and row[2].strip(), row
        assert CATEGORIES[row[3]] == row[4], row
    labels = {row[3] for row in body}
    assert labels == set(CATEGORIES), labels
