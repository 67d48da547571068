"""``capex-rotation evidence``: every verdict row is the number of the study it comes from
(read back from that study's own report in the folder, or recomputed), reruns are
byte-identical, the page renders offline with the in-sample caveat, and bad input is one line
with nothing written."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from browser import Browser, assert_page_ok
from clitools import assert_one_line_error, run_cli

from reports.evidence_report import VERDICT_COLUMNS, bottom_line, index_html, verdict_table

GRID = (
    '[run]\nstart = 2022-01-03\n[grid]\n"strategy.hold_sessions" = [1, 3, 5]\n'
    '"strategy.gross" = [0.5, 1.0]\n'
)
ARGS = ["--draws", "40", "--seed", "3"]


@pytest.fixture(scope="module")
def evidence_runs(tmp_path_factory, shared_market_data):
    """The command on a 6-config grid, twice into two folders (for the byte comparison)."""
    from backtests import cli

    root = tmp_path_factory.mktemp("evidence")
    grid = root / "grid.toml"
    grid.write_text(GRID)
    folders = []
    for name in ("a", "b"):
        out = root / name
        args = ["evidence", str(grid), "--data-dir", str(shared_market_data), *ARGS]
        assert cli.main([*args, "--out", str(out)]) == 0
        folders.append(out)
    return folders


def _verdicts(folder) -> pd.DataFrame:
    return pd.read_csv(folder / "verdicts.csv")


@pytest.mark.shared_data
def test_folder_holds_each_report_and_a_manifest_of_ours(evidence_runs):
    folder = evidence_runs[0]
    for name in ("index.html", "verdicts.csv", "evidence.json", "manifest.json", "selection.json"):
        assert (folder / name).is_file(), name
    for sub in ("event-study", "placebo-circular", "placebo-block", "placebo-iid"):
        assert (folder / sub / "index.html").is_file(), sub
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["tool"] == "capex-rotation" and manifest["kind"] == "evidence"
    listed = set(manifest["files"])
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk == listed
    assert list(_verdicts(folder).columns) == VERDICT_COLUMNS


@pytest.mark.shared_data
def test_event_rows_are_the_event_study_summary(evidence_runs):
    folder = evidence_runs[0]
    summary = pd.read_csv(folder / "event-study" / "summary.csv")
    k = json.loads((folder / "evidence.json").read_text())["settings"]["horizon"]
    row = summary[(summary["k"] == k) & (summary["group"] == "all_signed")]
    row = row[row["basket"] == "spread"].iloc[0]
    events = _verdicts(folder)
    events = events[events["area"] == "event study"].reset_index(drop=True)
    expected = [
        ("cross-sectional t-test", "t_stat", "t_pvalue"),
        ("sign test", "n_positive", "sign_pvalue"),
        ("BMP", "bmp_t", "bmp_p"),
        ("Kolari-Pynnonen", "kp_t", "kp_p"),
        ("Corrado rank", "rank_z", "rank_p"),
        ("generalized sign", "gsign_z", "gsign_p"),
        ("calendar-time", "ct_t", "ct_p"),
    ]
    assert len(events) == len(expected)
    for (name, stat, p), got in zip(expected, events.itertuples(), strict=True):
        assert got.test.startswith(name) and f"CAR(0,{k})" in got.test
        assert got.statistic == pytest.approx(float(row[stat]), rel=1e-12, abs=1e-15)
        assert got.p_value == pytest.approx(float(row[p]), rel=1e-12, abs=1e-15)


@pytest.mark.shared_data
def test_placebo_rows_are_each_schemes_summary(evidence_runs):
    folder = evidence_runs[0]
    verdicts = _verdicts(folder)
    for scheme in ("circular", "block", "iid"):
        summary = pd.read_csv(folder / f"placebo-{scheme}" / "summary.csv")
        real = summary[summary["baseline"] == "real"].set_index("metric")
        for metric, label in (("sharpe", "Sharpe"), ("total_return", "total return")):
            row = verdicts[verdicts["test"] == f"placebo ({scheme}) {label} percentile"].iloc[0]
            assert row.statistic == pytest.approx(real.loc[metric, "percentile"], rel=1e-12)
            assert row.p_value == pytest.approx(real.loc[metric, "p_value"], rel=1e-12)
            # the p-value by hand from the draws: (1 + #placebo >= real) / (1 + #defined)
            draws = pd.read_csv(folder / f"placebo-{scheme}" / "placebo.csv")[metric].to_numpy()
            draws = draws[np.isfinite(draws)]
            value = real.loc[metric, "value"]
            assert row.p_value == pytest.approx((1 + (draws >= value).sum()) / (1 + draws.size))


@pytest.mark.shared_data
def test_selection_rows_are_selection_json(evidence_runs):
    folder = evidence_runs[0]
    document = json.loads((folder / "selection.json").read_text())
    assert document["n_trials"] == 6
    verdicts = _verdicts(folder)
    rows = verdicts[verdicts["area"] == "selection"]
    best = str(document["best_config"])
    report = document["configs"][best]
    psr = rows[rows["test"] == f"PSR vs Sharpe 0 (config {best})"].iloc[0]
    assert psr.statistic == pytest.approx(report["psr_vs_flat"], rel=1e-12)
    assert psr.p_value == pytest.approx(1 - report["psr_vs_flat"], rel=1e-12)
    dsr = rows[rows["test"] == f"Deflated Sharpe ratio (config {best})"].iloc[0]
    assert dsr.statistic == pytest.approx(report["dsr"], rel=1e-12)
    pbo = rows[rows["test"].str.startswith("PBO")].iloc[0]
    assert pbo.statistic == pytest.approx(document["pbo"]["pbo"], rel=1e-12)
    assert math.isnan(pbo.p_value)
    spa = rows[rows["test"] == "Hansen SPA vs flat"].iloc[0]
    assert spa.p_value == pytest.approx(document["spa"]["flat"]["spa_consistent"], rel=1e-12)


@pytest.mark.shared_data
def test_reruns_are_byte_identical(evidence_runs):
    a, b = evidence_runs
    for name in ("verdicts.csv", "evidence.json", "selection.json", "index.html"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for sub in ("event-study/summary.csv", "placebo-circular/summary.csv"):
        assert (a / sub).read_bytes() == (b / sub).read_bytes(), sub


@pytest.mark.shared_data
def test_page_renders_with_the_caveat_and_verdict(evidence_runs):
    folder = evidence_runs[0]
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert page.index("In-sample.") < page.index("Verdict") < page.index("Event study")
    assert "Bottom line." in page and "the full event study report" in page
    with Browser() as browser:
        assert_page_ok(folder / "index.html", browser)
        assert_page_ok(folder / "event-study" / "index.html", browser)
        assert_page_ok(folder / "placebo-circular" / "index.html", browser)


def test_bottom_line_counts_rejections_per_area():
    frame = verdict_table(
        [
            {"area": "event study", "test": "a", "statistic": 1.0, "p_value": 0.01},
            {"area": "event study", "test": "b", "statistic": 1.0, "p_value": 0.2},
            {"area": "placebo", "test": "c", "statistic": 50.0, "p_value": 0.5},
            {"area": "placebo", "test": "ci", "statistic": 0.1, "p_value": float("nan")},
            {"area": "selection", "test": "PBO", "statistic": 0.3, "p_value": None},
        ]
    )
    text = bottom_line(frame)
    assert text.startswith("At the 5% level, 1 of 2 event study tests, 0 of 1 placebo tests")
    assert "0 of 0 selection tests" in text


def test_page_escapes_every_text():
    nasty = '<script>alert("x")</script>'
    frame = verdict_table(
        [{"area": nasty, "test": nasty, "statistic": 1.0, "p_value": 0.5, "meaning": nasty}]
    )
    detail = pd.DataFrame({"name": [nasty], "x": [1.0]})
    html = index_html(nasty, frame, [(nasty, nasty, detail, "a.html")], {nasty: nasty}, [nasty])
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_file_that_is_not_toml_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nstart = 1\n")
    code, _, err = run_cli(capsys, "evidence", str(bad), "--out", str(tmp_path / "out"))
    assert_one_line_error(code, err, "bad.toml")
    assert not (tmp_path / "out").exists()


def test_a_folder_not_ours_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = run_cli(capsys, "evidence", "--out", str(out))
    assert_one_line_error(code, err, "mine")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_zero_draws_is_refused(tmp_path, capsys):
    code, _, err = run_cli(capsys, "evidence", "--draws", "0", "--out", str(tmp_path / "o"))
    assert code == 2 and "--draws" in err and "Traceback" not in err
