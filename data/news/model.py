"""The ``model`` classifier: word and character n-grams with a linear model, shipped as JSON.

Features (:func:`features`): the headline in lowercase with curly quotes straightened and
every digit written as ``0``; word unigrams and bigrams (``w:``) and character 3- to 5-grams
inside word boundaries (``c:``, each word padded with a space). A feature counts
``1 + log(count)`` times its inverse document frequency ``log((1 + n) / (1 + df)) + 1``, and
the vector is scaled to unit length. A multinomial logistic regression gives each class
(the categories and ``none``) a probability; the most probable class is the decision.

The model file (``data/news/model.json``) is plain JSON, never a pickle: the classes, the
vocabulary with its idf, the coefficients and intercepts, and how it was trained (the sets
and their sha256, the settings, the scikit-learn version). Reading it needs nothing but the
standard library; training it needs scikit-learn (the ``[model]`` extra), see
:mod:`data.news.train_model`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from data.errors import DataError
from data.news.classifier import QUESTION, classify_headline
from data.news.classifiers import Row, decided_by
from data.news.rules import Rules
from data.news.verdict import Verdict

BUNDLED_MODEL = "model.json"
MODEL_FORMAT = "capex-rotation-headline-model"
NONE_CLASS = "none"
_WORDS = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")


def normalize(text: str) -> str:
    """Lowercase, straight quotes, every digit ``0``, single spaces."""
    clean = text.replace("’", "'").replace("‘", "'").lower()
    return " ".join(re.sub(r"[0-9]", "0", clean).split())


def features(text: str) -> Counter[str]:
    """The raw counts of a headline's features (see the module docstring)."""
    norm = normalize(text)
    words = _WORDS.findall(norm)
    counts: Counter[str] = Counter(f"w:{w}" for w in words)
    counts.update(f"w:{a} {b}" for a, b in itertools.pairwise(words))
    for word in words:
        padded = f" {word} "
        for n in (3, 4, 5):
            counts.update(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    return counts


def weigh(
    counts: Counter[str], vocabulary: dict[str, int], idf: Sequence[float]
) -> dict[int, float]:
    """The unit-length tf-idf vector of ``counts`` over ``vocabulary`` (index -> value)."""
    vector = {
        vocabulary[f]: (1.0 + math.log(c)) * idf[vocabulary[f]]
        for f, c in counts.items()
        if f in vocabulary
    }
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {i: v / norm for i, v in vector.items()} if norm else {}


@dataclass(frozen=True)
class HeadlineModel:
    """A loaded model file (see the module docstring); ``path`` and ``sha256`` for manifests."""

    classes: tuple[str, ...]
    vocabulary: dict[str, int]
    idf: tuple[float, ...]
    coef: tuple[tuple[float, ...], ...]  # one row per class, one column per feature
    intercept: tuple[float, ...]
    training: dict[str, Any]
    path: str = ""
    sha256: str = ""

    @functools.cached_property
    def _matrix(self) -> Any:
        import numpy as np

        return np.array(self.coef, dtype=float)

    def probabilities(self, headline: str) -> tuple[dict[str, float], dict[int, float]]:
        """Each class's probability for ``headline``, and the headline's feature vector."""
        import numpy as np

        vector = weigh(features(headline), self.vocabulary, self.idf)
        logits = np.array(self.intercept, dtype=float)
        if vector:
            index = np.fromiter(vector.keys(), dtype=np.int64, count=len(vector))
            values = np.fromiter(vector.values(), dtype=float, count=len(vector))
            logits = logits + self._matrix[:, index] @ values
        exps = np.exp(logits - logits.max())
        shares = exps / exps.sum()
        return {c: float(q) for c, q in zip(self.classes, shares, strict=True)}, vector

    @functools.cached_property
    def names(self) -> list[str]:
        """Feature names by index."""
        names = [""] * len(self.idf)
        for name, index in self.vocabulary.items():
            names[index] = name
        return names

    def top_features(self, vector: dict[int, float], label: str, count: int = 5) -> list[str]:
        """The features that pushed ``label`` up most in ``vector``, as readable text."""
        row = self.coef[self.classes.index(label)]
        names = self.names
        pushes = [(row[i] * v, i) for i, v in vector.items() if row[i] * v > 0]
        ranked = sorted(pushes, key=lambda pair: (-pair[0], names[pair[1]]))[:count]
        return [repr(names[i]) for _, i in ranked]  # w: a word n-gram, c: characters


def model_from_document(document: Any, origin: str, sha256: str = "") -> HeadlineModel:
    """Validate a model document (parsed JSON); DataError naming ``origin`` and the key."""
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        raise DataError(f"{origin}: not a headline model file (format {MODEL_FORMAT!r})")
    try:
        classes = tuple(str(c) for c in document["classes"])
        vocabulary = {str(k): int(v) for k, v in document["vocabulary"].items()}
        idf = tuple(float(x) for x in document["idf"])
        coef = tuple(tuple(float(x) for x in row) for row in document["coef"])
        intercept = tuple(float(x) for x in document["intercept"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{origin}: malformed model file ({type(exc).__name__}: {exc})") from None
    size = len(idf)
    if (
        NONE_CLASS not in classes
        or len(coef) != len(classes)
        or len(intercept) != len(classes)
        or any(len(row) != size for row in coef)
        or sorted(vocabulary.values()) != list(range(size))
    ):
        raise DataError(f"{origin}: malformed model file (classes, vocabulary and sizes differ)")
    training = document.get("training", {})
    return HeadlineModel(classes, vocabulary, idf, coef, intercept, training, origin, sha256)


def load_model(path: Path | str | None = None) -> HeadlineModel:
    """Read a model file (the bundled ``data/news/model.json`` when ``path`` is None)."""
    if path is None:
        raw = resources.files("data.news").joinpath(BUNDLED_MODEL).read_bytes()
        origin = f"<bundled>/news/{BUNDLED_MODEL}"
    else:
        origin = str(path)
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise DataError(f"model file {path} does not exist; pass --model FILE") from None
        except OSError as exc:
            raise DataError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{origin} is not a JSON model file ({exc})") from None
    return model_from_document(document, origin, hashlib.sha256(raw).hexdigest())


class ModelClassifier:
    """The model's most probable class is the decision; actors and denials come from the
    rules (so the story merging and retractions work as with the rules)."""

    name = "model"

    def __init__(self, model: HeadlineModel, rules: Rules) -> None:
        self.model = model
        self.rules = rules
        known = {c.name for c in rules.categories}
        unknown = [c for c in model.classes if c != NONE_CLASS and c not in known]
        if unknown:
            raise DataError(
                f"{model.path}: class {unknown[0]!r} is not a category of the rules {rules.path}"
            )

    def classify(self, headline: str, tickers: Sequence[str] = ()) -> Verdict:
        probabilities, vector = self.model.probabilities(headline)
        label = max(self.model.classes, key=lambda c: (probabilities[c], c))
        p = probabilities[label]
        category = None if label == NONE_CLASS else label
        rules_verdict = classify_headline(headline, self.rules, tickers)
        ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])[:3]
        notes = (
            "model: " + ", ".join(f"p({c})={q:.2f}" for c, q in ranked),
            f"  features for {label}: "
            + (", ".join(self.model.top_features(vector, label)) or "none"),
        )
        reason = f"model says {label} (p={p:.2f})"
        return decided_by(self.name, rules_verdict, self.rules, category, reason, notes, p)

    def classify_many(self, rows: Sequence[Row]) -> list[Verdict]:
        return [self.classify(headline, tickers) for headline, tickers in rows]

    def inputs(self) -> dict[str, str]:
        return {**dict(self.rules.files), self.model.path: self.model.sha256}


class EnsembleClassifier:
    """The rules decide when they trigger. When they do not, the model's category counts if
    its probability is at least ``confidence``, an actor of that category's groups is named,
    and the rules saw no veto, negation or question in the headline (nothing denies it)."""

    name = "ensemble"

    def __init__(
        self,
        model: HeadlineModel,
        rules: Rules,
        threshold: float | None = None,
        confidence: float = 0.7,
    ) -> None:
        self.model_classifier = ModelClassifier(model, rules)
        self.rules = rules
        self.threshold = threshold
        self.confidence = confidence

    def classify(self, headline: str, tickers: Sequence[str] = ()) -> Verdict:
        by_rules = classify_headline(headline, self.rules, tickers, self.threshold)
        if by_rules.triggered:
            return by_rules
        by_model = self.model_classifier.classify(headline, tickers)
        category = by_model.category
        blocked = _blocked(by_rules, category, self.rules)
        if category is None or (by_model.confidence or 0.0) < self.confidence or blocked:
            why = blocked or (
                f"model says {category or NONE_CLASS} (p={by_model.confidence:.2f}), "
                f"below {self.confidence:g}"
                if category
                else "model says none"
            )
            notes = (f"rules: {by_rules.reason}", *by_model.notes)
            return decided_by(
                self.name, by_rules, self.rules, None, f"rules and model quiet: {why}", notes
            )
        reason = f"rules quiet ({by_rules.reason}); {by_model.reason}"
        return decided_by(
            self.name, by_rules, self.rules, category, reason, by_model.notes, by_model.confidence
        )

    def classify_many(self, rows: Sequence[Row]) -> list[Verdict]:
        return [self.classify(headline, tickers) for headline, tickers in rows]

    def inputs(self) -> dict[str, str]:
        return self.model_classifier.inputs()


def _blocked(by_rules: Verdict, category: str | None, rules: Rules) -> str:
    """Why the rules forbid the model's ``category`` ('' when they do not)."""
    if category is None:
        return ""
    for score in by_rules.scores:
        for hit in score.hits:
            if hit.negated_by:
                what = "a question" if hit.negated_by == QUESTION else repr(hit.negated_by)
                return f"the rules saw {what} negating {hit.text!r}"
    score = next((s for s in by_rules.scores if s.category == category), None)
    if score is not None and score.vetoed_by:
        return f"the rules veto {category} ({score.vetoed_by!r})"
    if score is not None and not score.actors:
        return f"no actor of {category}'s groups is named"
    return ""
