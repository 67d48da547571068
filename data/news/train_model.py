"""Train the ``model`` classifier on the labelled development sets, deterministically.

    python -m data.news.train_model               # retrain data/news/model.json
    python -m data.news.train_model --check       # retrain in memory; fail if the file differs
    python -m data.news.train_model --report      # per-set figures: in-sample and leave-one-out

Needs scikit-learn (``pip install -e ".[model]"``); reading the model does not. The training
sets are the development sets in ``tests/data`` (the eight independent sets of
``headline_sets/dev`` and the two older sets); the frozen held-out sets are never read. The
features are those of :mod:`data.news.model`; the learner is scikit-learn's multinomial
logistic regression (lbfgs, C below, unweighted classes). Only the features whose largest
coefficient is among the top ``KEEP`` are kept, and the model is refitted on them, so the file
stays small; numbers are rounded to 6 significant digits. Same sets, same file, byte for byte.

``--report`` prints, per development set, the model trained on every set (in-sample), the
model trained without that set (leave-one-set-out: the eight independent sets in turn; the
two older sets always train), and the ensemble of the rules with that left-out model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data.errors import DataError
from data.news.evaluation import LabelledHeadline, evaluate, load_labelled, pool
from data.news.model import (
    MODEL_FORMAT,
    NONE_CLASS,
    EnsembleClassifier,
    ModelClassifier,
    features,
    model_from_document,
    weigh,
)
from data.news.rules import Rules, load_rules

REPO = Path(__file__).resolve().parents[2]
DEV_FOLDER = REPO / "tests" / "data" / "headline_sets" / "dev"
OLDER_SETS = (REPO / "tests/data/labelled_headlines.csv", REPO / "tests/data/holdout_headlines.csv")
MODEL_FILE = Path(__file__).with_name("model.json")
C = 30.0
MIN_DF = 2
KEEP = 6000


def dev_sets() -> list[Path]:
    """The eight independent development sets, by name."""
    return sorted(DEV_FOLDER.glob("*.csv"))


def _sklearn():
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise DataError(
            "training the model needs scikit-learn: pip install -e '.[model]'"
        ) from None
    return LogisticRegression


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def train(rows: Sequence[LabelledHeadline], sources: Sequence[Path] = ()) -> dict[str, Any]:
    """A model document (JSON-ready) trained on ``rows``; ``sources`` are recorded."""
    import numpy as np
    import scipy.sparse as sp
    import sklearn

    logistic = _sklearn()
    counted = [features(r.headline) for r in rows]
    df: dict[str, int] = {}
    for counts in counted:
        for name in counts:
            df[name] = df.get(name, 0) + 1
    names = sorted(n for n, d in df.items() if d >= MIN_DF)
    labels = [r.category or NONE_CLASS for r in rows]
    classes = sorted(set(labels))

    def fit(vocabulary_names: list[str]):
        vocabulary = {n: i for i, n in enumerate(vocabulary_names)}
        n = len(rows)
        idf = [_round(math.log((1 + n) / (1 + df[name])) + 1.0) for name in vocabulary_names]
        data, indices, pointers = [], [], [0]
        for counts in counted:
            vector = weigh(counts, vocabulary, idf)
            for i in sorted(vector):
                indices.append(i)
                data.append(vector[i])
            pointers.append(len(indices))
        matrix = sp.csr_matrix((data, indices, pointers), shape=(n, len(vocabulary_names)))
        learner = logistic(C=C, max_iter=5000, tol=1e-6)
        learner.fit(matrix, np.array([classes.index(x) for x in labels]))
        return vocabulary, idf, learner

    _, _, first = fit(names)
    strength = np.abs(first.coef_).max(axis=0)
    order = sorted(range(len(names)), key=lambda i: (-strength[i], names[i]))
    kept = sorted(names[i] for i in order[:KEEP])
    vocabulary, idf, learner = fit(kept)
    return {
        "format": MODEL_FORMAT,
        "version": 1,
        "classes": classes,
        "vocabulary": vocabulary,
        "idf": idf,
        "coef": [[_round(x) for x in row] for row in learner.coef_.tolist()],
        "intercept": [_round(x) for x in learner.intercept_.tolist()],
        "training": {
            "sets": {
                p.relative_to(REPO).as_posix() if p.is_relative_to(REPO) else str(p): (
                    hashlib.sha256(p.read_bytes()).hexdigest()
                )
                for p in sources
            },
            "rows": len(rows),
            "learner": f"LogisticRegression(C={C:g}, lbfgs)",
            "features": f"word 1-2 grams and char 3-5 grams, min_df={MIN_DF}, top {KEEP}",
            "scikit_learn": sklearn.__version__,
        },
    }


def model_text(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n"


def _rows(paths: Sequence[Path], rules: Rules) -> list[LabelledHeadline]:
    return [row for path in paths for row in load_labelled(path, rules)]


def report(rules: Rules) -> list[str]:
    """Lines of per-set figures: the model in-sample and left out, and the ensemble."""
    every = [*dev_sets(), *OLDER_SETS]
    full = model_from_document(train(_rows(every, rules), every), "in-sample model")
    lines = [
        f"{'set':<22} {'model in-sample':>17} {'model left out':>17} {'ensemble left out':>19}"
    ]
    results: dict[str, list] = {"in": [], "out": [], "ens": []}

    def cell(e) -> str:
        return f"{e.direction_right}/{e.should_trigger} {e.silent}/{e.should_not}"

    for held in dev_sets():
        rows = load_labelled(held, rules)
        others = [p for p in every if p != held]
        out = model_from_document(train(_rows(others, rules), others), f"without {held.name}")
        e_in = evaluate(rows, ModelClassifier(full, rules))
        e_out = evaluate(rows, ModelClassifier(out, rules))
        e_ens = evaluate(rows, EnsembleClassifier(out, rules))
        for key, e in (("in", e_in), ("out", e_out), ("ens", e_ens)):
            results[key].append(e)
        lines.append(f"{held.stem:<22} {cell(e_in):>17} {cell(e_out):>17} {cell(e_ens):>19}")
    pooled = {k: pool(v) for k, v in results.items()}
    lines.append(
        f"{'pooled (8 dev sets)':<22} {cell(pooled['in']):>17} {cell(pooled['out']):>17} "
        f"{cell(pooled['ens']):>19}"
    )
    for key, name in (("in", "model in-sample"), ("out", "model left out"), ("ens", "ensemble")):
        e = pooled[key]
        lines.append(f"{name}: direction right {e.direction_rate:.1%}, quiet {e.silence_rate:.1%}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the headline model (data/news/model.json).")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--check", action="store_true", help="fail if the file would change")
    parser.add_argument("--report", action="store_true", help="print per-set figures")
    args = parser.parse_args(argv)
    rules = load_rules()
    try:
        if args.report:
            print("\n".join(report(rules)))
            return 0
        every = [*dev_sets(), *OLDER_SETS]
        text = model_text(train(_rows(every, rules), every))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from a fresh training'}")
        return 0 if same else 1
    from data.atomic import write_bytes_atomically

    write_bytes_atomically(args.out, text.encode("utf-8"))
    print(f"wrote {args.out} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
