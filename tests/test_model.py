"""The ``model`` classifier: features, the JSON model file (never a pickle), inference equal to
scikit-learn's, deterministic retraining, the verdicts it gives, the ensemble, and that the
default run never needs scikit-learn."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from data.errors import DataError
from data.news.evaluation import load_labelled
from data.news.model import (
    EnsembleClassifier,
    ModelClassifier,
    features,
    load_model,
    model_from_document,
    normalize,
    weigh,
)
from data.news.rules import load_rules

REPO = Path(__file__).resolve().parents[1]
MODEL_FILE = REPO / "data" / "news" / "model.json"
DEV = REPO / "tests" / "data" / "headline_sets" / "dev"


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_features_are_words_bigrams_and_character_ngrams():
    assert normalize("Meta’s  $14.3B Deal") == "meta's $00.0b deal"
    counts = features("Meta sells 10 GPUs")
    assert counts["w:meta"] == 1 and counts["w:meta sells"] == 1 and counts["w:00"] == 1
    assert counts["c: me"] == 1 and counts["c:ells "] == 1 and counts["c:gpus "] == 1
    vector = weigh(counts, {"w:meta": 0, "w:sells": 1}, [1.0, 2.0])
    assert vector == pytest.approx({0: 1 / 5**0.5, 1: 2 / 5**0.5})


def test_the_shipped_model_is_json_trained_on_the_development_sets(model):
    raw = MODEL_FILE.read_bytes()
    document = json.loads(raw)  # plain JSON: no pickle, no code
    assert document["format"] == "capex-rotation-headline-model"
    assert raw[:1] == b"{" and len(raw) < 1_000_000
    assert model.sha256 == hashlib.sha256(raw).hexdigest()
    sets = document["training"]["sets"]
    expected = {
        *(f"tests/data/headline_sets/dev/{p.name}" for p in DEV.glob("*.csv")),
        "tests/data/labelled_headlines.csv",
        "tests/data/holdout_headlines.csv",
    }
    assert set(sets) == expected and not any("heldout" in name for name in sets)
    for name, digest in sets.items():  # the model was trained on the sets as they are now
        assert hashlib.sha256((REPO / name).read_bytes()).hexdigest() == digest, name
    assert model.classes[-1] == "none" and len(model.classes) == 7


def test_inference_equals_scikit_learn(rules):
    np = pytest.importorskip("numpy")
    sp = pytest.importorskip("scipy.sparse")
    linear = pytest.importorskip("sklearn.linear_model")
    from data.news import train_model

    rows = load_labelled(DEV / "wire.csv", rules) + load_labelled(DEV / "passive.csv", rules)
    document = train_model.train(rows)
    ours = model_from_document(document, "test")
    names = sorted(ours.vocabulary, key=ours.vocabulary.get)
    vectors = [weigh(features(r.headline), ours.vocabulary, ours.idf) for r in rows]
    matrix = sp.csr_matrix(
        (
            [v for vec in vectors for _, v in sorted(vec.items())],
            [i for vec in vectors for i, _ in sorted(vec.items())],
            np.cumsum([0, *(len(vec) for vec in vectors)]),
        ),
        shape=(len(rows), len(names)),
    )
    learner = linear.LogisticRegression(C=train_model.C, max_iter=5000, tol=1e-6)
    learner.fit(matrix, [document["classes"].index(r.category or "none") for r in rows])
    expected = learner.predict_proba(matrix)
    for row, probabilities in zip(rows[:40], expected[:40], strict=False):
        got, _ = ours.probabilities(row.headline)
        assert [got[c] for c in ours.classes] == pytest.approx(list(probabilities), abs=1e-4)


def test_retraining_is_deterministic(rules):
    pytest.importorskip("sklearn")
    from data.news import train_model

    rows = load_labelled(DEV / "tabloid.csv", rules)
    first = train_model.model_text(train_model.train(rows, [DEV / "tabloid.csv"]))
    second = train_model.model_text(train_model.train(rows, [DEV / "tabloid.csv"]))
    assert first == second


def test_the_shipped_model_is_what_retraining_gives(capsys):
    """`python -m data.news.train_model --check`: the file is reproduced byte for byte."""
    pytest.importorskip("sklearn")
    from data.news import train_model

    assert train_model.main(["--check"]) == 0, capsys.readouterr().out


def test_training_without_scikit_learn_names_the_extra(monkeypatch):
    from data.news import train_model

    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)  # import fails
    with pytest.raises(DataError, match=r"needs scikit-learn: pip install -e '\.\[model\]'"):
        train_model._sklearn()


def test_the_default_run_never_imports_scikit_learn():
    code = (
        "import sys\n"
        "from data.news.rules import load_rules\n"
        "from data.news.classifiers import make_classifier\n"
        "rules = load_rules()\n"
        "for name in ('rules', 'model', 'ensemble'):\n"
        "    make_classifier(name, rules).classify_many([('Meta to sell spare compute', ())])\n"
        "assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules, 'imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_model_verdicts_carry_actors_notes_and_denials(model, rules):
    classifier = ModelClassifier(model, rules)
    verdict = classifier.classify("The Facebook parent to rent out its idle GPUs to startups")
    assert verdict.classifier == "model" and verdict.category == "compute_resale"
    assert verdict.category_actors() == ("Meta",)
    assert verdict.notes[0].startswith("model: p(compute_resale)=")
    assert verdict.matched_rules() == ("model:compute_resale",)
    denial = classifier.classify("Meta denies report that it will sell surplus AI compute")
    assert not denial.triggered and denial.denies == "compute_resale"


def test_ensemble_takes_the_model_only_when_nothing_forbids_it(model, rules):
    from data.news.classifier import classify_headline
    from data.news.model import _blocked

    ensemble = EnsembleClassifier(model, rules, confidence=0.0)
    by_rules = ensemble.classify("Microsoft Cancels Some Data Center Leases, TD Cowen Says")
    assert by_rules.classifier == "rules" and by_rules.category == "capex_cut"
    question = classify_headline("Should Meta build its own AI chips?", rules)
    assert _blocked(question, "custom_silicon", rules) == (
        "the rules saw a question negating 'own AI chips'"
    )
    denial = classify_headline("Anthropic rules out designing its own chips for now", rules)
    assert "negating" in _blocked(denial, "custom_silicon", rules)
    phone = classify_headline("Samsung's new foldable runs on its in-house chip", rules)
    assert _blocked(phone, "custom_silicon", rules) == "the rules veto custom_silicon ('foldable')"
    nobody = classify_headline("Zork designs a new inference chip", rules)
    assert (
        _blocked(nobody, "custom_silicon", rules) == "no actor of custom_silicon's groups is named"
    )
    quiet = EnsembleClassifier(model, rules, confidence=1.01)
    verdict = quiet.classify("Zork to sell spare compute to startups")
    assert not verdict.triggered and verdict.classifier == "ensemble"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{", "is not a JSON model file"),
        ('{"format": "other"}', "not a headline model file"),
        ('{"format": "capex-rotation-headline-model", "classes": ["none"]}', "malformed"),
        (
            '{"format": "capex-rotation-headline-model", "classes": ["none"], '
            '"vocabulary": {"w:a": 3}, "idf": [1.0], "coef": [[1.0]], "intercept": [0.0]}',
            "sizes differ",
        ),
    ],
)
def test_bad_model_files_are_one_line_errors(tmp_path, content, fragment):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(DataError, match=fragment) as exc:
        load_model(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(DataError, match="does not exist; pass --model FILE"):
        load_model(tmp_path / "nope.json")


def test_a_model_with_a_class_the_rules_lack_is_refused(model, rules):
    document = json.loads(MODEL_FILE.read_text())
    document["classes"][0] = "crypto_rally"
    other = model_from_document(document, "other.json")
    with pytest.raises(DataError, match="class 'crypto_rally' is not a category"):
        ModelClassifier(other, rules)
