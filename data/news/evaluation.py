"""Measure the classifier on a labelled headline set: precision, recall, F1, confusion matrix.

A labelled CSV has ``headline`` and ``label_category`` (a category of the rules, or ``none`` /
empty for "must not trigger"), optionally ``label_direction`` (+1, -1, 0; checked against the
category), ``tickers`` and any other columns (ignored). Each headline is classified on its own:
no deduplication, so every row counts once.

Acceptance figures: the share of should-trigger headlines whose predicted direction is right
(a missed trigger counts as wrong), and the share of should-not headlines with no trigger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from data.errors import DataError, where
from data.news.classifiers import HeadlineClassifier, RulesClassifier
from data.news.rules import Rules
from data.news.verdict import Verdict
from data.textfiles import csv_rows, decode_text, read_input

NONE = "none"


@dataclass(frozen=True)
class LabelledHeadline:
    """One row of a labelled set: the headline, its expected category (None: no trigger) and
    direction (0 for none), and the line it came from."""

    headline: str
    category: str | None
    direction: int
    line: int
    tickers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CategoryMetrics:
    """Precision, recall and F1 of one category (None when undefined: nothing to divide by)."""

    category: str
    support: int
    predicted: int
    true_positives: int

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.support if self.support else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Evaluation:
    """Results on a labelled set: per-category metrics (plus ``all triggers``, micro-averaged),
    the confusion matrix ``confusion[true][predicted]`` over categories + ``none``, the two
    acceptance counts and every row's verdict."""

    labels: tuple[str, ...]
    confusion: dict[str, dict[str, int]]
    per_category: tuple[CategoryMetrics, ...]
    overall: CategoryMetrics
    should_trigger: int
    direction_right: int
    should_not: int
    silent: int
    results: tuple[tuple[LabelledHeadline, Verdict], ...]

    @property
    def direction_rate(self) -> float | None:
        """Share of should-trigger headlines with the right predicted direction."""
        return self.direction_right / self.should_trigger if self.should_trigger else None

    @property
    def silence_rate(self) -> float | None:
        """Share of should-not headlines with no trigger."""
        return self.silent / self.should_not if self.should_not else None


def load_labelled(path: Path | str, rules: Rules) -> list[LabelledHeadline]:
    """Read a labelled CSV; DataError (file, line, column) for an unknown category, a direction
    that contradicts the category, an empty headline or a missing column."""
    file = Path(path)
    text = decode_text(read_input(file, "labelled file"), file)
    directions = {c.name: c.direction for c in rules.categories}
    header: list[str] | None = None
    rows: list[LabelledHeadline] = []
    for line, row in csv_rows(text):
        if header is None:
            header = [c.strip().lower() for c in row]
            missing = [c for c in ("headline", "label_category") if c not in header]
            if missing:
                raise DataError(
                    f"{file}: missing column {', '.join(map(repr, missing))}; a labelled set "
                    "needs headline and label_category (optionally label_direction)"
                )
            continue
        if len(row) != len(header):
            raise DataError(f"{where(file, line)}: {len(row)} fields, header has {len(header)}")
        cells = dict(zip(header, row, strict=True))
        rows.append(_labelled(cells, file, line, directions))
    if not rows:
        raise DataError(f"{file} has no labelled headline")
    return rows


def _direction(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _labelled(
    cells: dict[str, str], file: Path, line: int, directions: dict[str, int]
) -> LabelledHeadline:
    headline = " ".join(cells["headline"].split())
    if not headline:
        raise DataError(f"{where(file, line, 'headline')}: empty headline")
    raw = cells["label_category"].strip().lower()
    category = None if raw in ("", NONE) else raw
    if category is not None and category not in directions:
        raise DataError(
            f"{where(file, line, 'label_category')}: unknown category {raw!r}; use one of "
            f"{', '.join(directions)} or none"
        )
    expected = directions.get(category, 0) if category else 0
    given = (cells.get("label_direction") or "").strip()
    if given and _direction(given) != expected:
        raise DataError(
            f"{where(file, line, 'label_direction')}: {given!r} contradicts category "
            f"{category or NONE} (direction {expected:+d})"
        )
    tickers = tuple(t.strip() for t in (cells.get("tickers") or "").split(";") if t.strip())
    return LabelledHeadline(headline, category, expected, line, tickers)


def evaluate(
    rows: Sequence[LabelledHeadline],
    classifier: HeadlineClassifier | Rules,
    threshold: float | None = None,
) -> Evaluation:
    """Classify every labelled headline (a Rules object means the rules classifier, with
    ``threshold`` if given) and compute the figures of :class:`Evaluation`."""
    if isinstance(classifier, Rules):
        labels = tuple(c.name for c in classifier.categories)
        classifier = RulesClassifier(classifier, threshold)
    else:
        labels = tuple(c.name for c in classifier.rules.categories)
    verdicts = classifier.classify_many([(r.headline, r.tickers) for r in rows])
    return score_results(list(zip(rows, verdicts, strict=True)), labels)


def pool(evaluations: Sequence[Evaluation]) -> Evaluation:
    """The figures of several evaluations taken as one set (every row counts once)."""
    results = [pair for e in evaluations for pair in e.results]
    return score_results(results, evaluations[0].labels[:-1])


def score_results(
    results: Sequence[tuple[LabelledHeadline, Verdict]], categories: Sequence[str]
) -> Evaluation:
    """The figures of :class:`Evaluation` for verdicts already made."""
    labels = (*categories, NONE)
    confusion = {t: dict.fromkeys(labels, 0) for t in labels}
    for row, verdict in results:
        confusion[row.category or NONE][verdict.category or NONE] += 1
    per_category = tuple(
        CategoryMetrics(
            name,
            support=sum(confusion[name].values()),
            predicted=sum(confusion[t][name] for t in labels),
            true_positives=confusion[name][name],
        )
        for name in labels[:-1]
    )
    overall = CategoryMetrics(
        "all triggers",
        support=sum(m.support for m in per_category),
        predicted=sum(m.predicted for m in per_category),
        true_positives=sum(m.true_positives for m in per_category),
    )
    triggers = [(r, v) for r, v in results if r.category is not None]
    quiet = [(r, v) for r, v in results if r.category is None]
    return Evaluation(
        labels=labels,
        confusion=confusion,
        per_category=per_category,
        overall=overall,
        should_trigger=len(triggers),
        direction_right=sum(v.direction == r.direction for r, v in triggers),
        should_not=len(quiet),
        silent=sum(not v.triggered for _, v in quiet),
        results=tuple(results),
    )
