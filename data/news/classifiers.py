"""The classifiers behind ``--classifier rules|model|llm|ensemble``, all with one interface.

- ``rules``: the explainable rules (:mod:`data.news.classifier`), the default.
- ``model``: a supervised text classifier shipped as data (:mod:`data.news.model`); its
  verdicts take their actors and denials from the rules, so stories merge and retract alike.
- ``llm``: an OpenAI-compatible chat endpoint behind a response cache (:mod:`data.news.llm`).
- ``ensemble``: the rules, and the model when the rules stay quiet but the model is confident,
  names a category whose actor the headline has, and no veto, negation or question of the
  rules touches the headline (see :class:`EnsembleClassifier`).

A classifier has a ``name``, ``classify_many(rows)`` (rows of (headline, tickers), in order;
a batch lets the LLM report progress and keep its budget) and ``inputs()``: the files and
settings it depends on with their sha256, for run manifests.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from data.news.classifier import classify_headline
from data.news.rules import Rules
from data.news.verdict import CategoryScore, Verdict

CLASSIFIER_NAMES = ("rules", "model", "llm", "ensemble")
Row = tuple[str, Sequence[str]]


class HeadlineClassifier(Protocol):
    name: str

    def classify_many(self, rows: Sequence[Row]) -> list[Verdict]: ...

    def inputs(self) -> dict[str, str]: ...


class RulesClassifier:
    """The rules of a rules file, at their threshold unless one is given."""

    name = "rules"

    def __init__(self, rules: Rules, threshold: float | None = None) -> None:
        self.rules = rules
        self.threshold = threshold

    def classify(self, headline: str, tickers: Sequence[str] = ()) -> Verdict:
        return classify_headline(headline, self.rules, tickers, self.threshold)

    def classify_many(self, rows: Sequence[Row]) -> list[Verdict]:
        return [self.classify(headline, tickers) for headline, tickers in rows]

    def inputs(self) -> dict[str, str]:
        return dict(self.rules.files) or {self.rules.path: self.rules.sha256}


def decided_by(
    name: str,
    rules_verdict: Verdict,
    rules: Rules,
    category: str | None,
    reason: str,
    notes: tuple[str, ...] = (),
    confidence: float | None = None,
    actors: Sequence[str] = (),
) -> Verdict:
    """A verdict of classifier ``name`` for ``category`` (None: no trigger), carrying the
    rules' actors (those of the category's groups count for story merging), the rules'
    denial (when it says no trigger) and the rules' per-category scores for the record."""
    directions = {c.name: c.direction for c in rules.categories}
    groups = {c.name: set(c.actor_groups) for c in rules.categories}
    by_name = {a.name: a.group for a in rules.actors}
    named = tuple(dict.fromkeys((*rules_verdict.actors, *actors)))
    scores: tuple[CategoryScore, ...] = ()
    if category is not None:
        counted = tuple(a for a in named if by_name.get(a) in groups.get(category, set()))
        scores = (CategoryScore(category, directions[category], 0.0, (), counted or named),)
    return Verdict(
        headline=rules_verdict.headline,
        category=category,
        direction=directions.get(category, 0) if category else 0,
        score=confidence or 0.0,
        threshold=rules_verdict.threshold,
        reason=reason,
        actors=named,
        scores=scores,
        denies=None if category else rules_verdict.denies,
        classifier=name,
        evidence=rules_verdict.evidence,
        notes=notes,
        confidence=confidence,
    )


def make_classifier(
    name: str,
    rules: Rules,
    threshold: float | None = None,
    model_file: Path | None = None,
    llm_options: dict[str, object] | None = None,
) -> HeadlineClassifier:
    """The classifier called ``name`` (one of :data:`CLASSIFIER_NAMES`).

    Raises DataError for an unknown name, an unreadable model file or bad LLM settings.
    """
    from data.errors import DataError

    if name == "rules":
        return RulesClassifier(rules, threshold)
    if name == "model":
        from data.news.model import ModelClassifier, load_model

        return ModelClassifier(load_model(model_file), rules)
    if name == "ensemble":
        from data.news.model import EnsembleClassifier, load_model

        return EnsembleClassifier(load_model(model_file), rules, threshold)
    if name == "llm":
        from data.news.llm import LLMClassifier, LLMSettings

        return LLMClassifier(LLMSettings.from_options(llm_options or {}), rules)
    raise DataError(f"--classifier {name!r}: use one of {', '.join(CLASSIFIER_NAMES)}")
