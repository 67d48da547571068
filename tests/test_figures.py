"""The development figures, pinned: every change to the rules, the matcher, the gazetteer or
the model shows up here (and in the README table, which repeats them).

Per set: (direction right, should-trigger rows, quiet, non-event rows). These are in-sample
figures: the rules were written and the model trained with these sets in view. The
leave-one-set-out figures of the model come from ``python -m data.news.train_model
--report`` (README); the frozen held-out sets are never read here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from data.news.evaluation import evaluate, load_labelled, pool
from data.news.model import ModelClassifier, load_model
from data.news.rules import load_rules

DATA = Path(__file__).parent / "data"
DEV = DATA / "headline_sets" / "dev"
DEV_SETS = (
    "flashes",
    "nicknames",
    "non_native",
    "passive",
    "said_to",
    "tabloid",
    "tickers_first",
    "wire",
)

RULES = {
    "flashes": (45, 45, 25, 25),
    "nicknames": (44, 45, 25, 25),
    "non_native": (45, 45, 25, 25),
    "passive": (45, 45, 25, 25),
    "said_to": (46, 46, 24, 24),
    "tabloid": (45, 45, 25, 25),
    "tickers_first": (45, 45, 25, 25),
    "wire": (45, 45, 25, 25),
}
MODEL = {name: (n, n, q, q) for name, (_, n, _, q) in RULES.items()}  # 100% in-sample
OLDER = {  # the two sets written by the first rules' author
    "rules": {"labelled_headlines": (207, 217, 129, 129), "holdout_headlines": (51, 54, 36, 36)},
    "model": {"labelled_headlines": (217, 217, 129, 129), "holdout_headlines": (54, 54, 36, 36)},
}


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture(scope="module")
def classifiers(rules):
    return {"rules": rules, "model": ModelClassifier(load_model(), rules)}


def _figures(e):
    return (e.direction_right, e.should_trigger, e.silent, e.should_not)


@pytest.fixture(scope="module")
def dev_results(rules, classifiers):
    return {
        name: {s: evaluate(load_labelled(DEV / f"{s}.csv", rules), c) for s in DEV_SETS}
        for name, c in classifiers.items()
    }


@pytest.mark.parametrize(("name", "expected"), [("rules", RULES), ("model", MODEL)])
def test_pinned_figures_per_development_set(dev_results, name, expected):
    assert {s: _figures(e) for s, e in dev_results[name].items()} == expected


def test_pinned_pooled_figures(dev_results):
    rules = pool(list(dev_results["rules"].values()))
    model = pool(list(dev_results["model"].values()))
    assert _figures(rules) == (360, 361, 199, 199)
    assert _figures(model) == (361, 361, 199, 199)
    per_category = {
        m.category: (m.support, m.predicted, m.true_positives) for m in rules.per_category
    }
    assert per_category == {
        "custom_silicon": (65, 65, 65),
        "compute_resale": (56, 56, 56),
        "capex_cut": (64, 64, 64),
        "efficiency_breakthrough": (56, 56, 56),
        "capex_raise": (63, 63, 61),
        "mega_order": (57, 56, 54),
    }
    assert rules.overall.precision == pytest.approx(356 / 360)
    assert rules.direction_rate >= 0.90 and rules.silence_rate >= 0.97  # the targets


@pytest.mark.parametrize("name", ["rules", "model"])
def test_pinned_figures_on_the_older_sets(rules, classifiers, name):
    got = {
        s: _figures(evaluate(load_labelled(DATA / f"{s}.csv", rules), classifiers[name]))
        for s in OLDER[name]
    }
    assert got == OLDER[name]
