"""The plain-table CSV writer gives pandas' to_csv bytes, or declines and writes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.fast_csv import write_plain_csv


def _pandas(frame: pd.DataFrame, path) -> bytes:
    frame.to_csv(path, index=False, date_format="%Y-%m-%d", lineterminator="\n")
    return path.read_bytes()


def _floats(n: int) -> np.ndarray:
    rng = np.random.default_rng(4)
    bits = rng.integers(0, 2**63, size=n, dtype=np.uint64).view(np.float64)
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e16, 1e15, 1e-5, 1e-4, 0.1, 5e-324, 1e308]
    return np.concatenate([bits, rng.normal(0, 0.01, n), special])


TEXT = ["plain", "", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "tab\there", "é ü 東京", " pad "]


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"x": _floats(5000)}),
        pd.DataFrame({"x": _floats(60000), "s": ["v,w"] * 120012}),
        pd.DataFrame({"i": np.arange(-50, 50, dtype=np.int64), "b": np.arange(100) % 3 == 0}),
        pd.DataFrame({"s": TEXT * 3, "f": np.linspace(-1, 1, len(TEXT) * 3)}),
        pd.DataFrame({"s": pd.array(["a", None, "c,d", ""], dtype="str")}),
        pd.DataFrame({"only": ["", "", "x"]}),
        pd.DataFrame({"o": np.array(["a", None, "b"], dtype=object), "n": [1.5, np.nan, 2.0]}),
        pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype="str")}),
        pd.DataFrame({"col,with,commas": [1.0], 'q"uote': ["v"]}),
    ],
    ids=[
        "floats",
        "chunks",
        "ints-bools",
        "text",
        "str-missing",
        "lone-empty",
        "object",
        "empty",
        "names",
    ],
)
def test_same_bytes_as_pandas(tmp_path, frame):
    assert write_plain_csv(tmp_path / "fast.csv", frame)
    assert (tmp_path / "fast.csv").read_bytes() == _pandas(frame, tmp_path / "pandas.csv")


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"d": pd.to_datetime(["2024-01-02", "2024-01-03"])}),
        pd.DataFrame({"c": pd.Categorical(["a", "b"])}),
        pd.DataFrame({"m": np.array(["a", 1], dtype=object)}),
        pd.DataFrame({"f32": np.array([0.1, 0.2], dtype=np.float32)}),
        pd.DataFrame({0: [1.0]}),
        pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]),
    ],
    ids=["dates", "categorical", "mixed-object", "float32", "int-name", "duplicate-names"],
)
def test_declines_other_tables(tmp_path, frame):
    assert not write_plain_csv(tmp_path / "fast.csv", frame)
    assert not (tmp_path / "fast.csv").exists()
