"""``capex-rotation events evaluate SET.csv... [--classifier rules|model|llm|ensemble|all]``.

For each labelled set and pooled over all of them, for each classifier side by side: the
share of should-trigger rows whose direction is right (a missed trigger counts as wrong), the
share of non-events left quiet, and precision, recall and F1 per category. With one
classifier the per-category table has the counts and a confusion matrix follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from backtests.cli.events import (
    DebugOption,
    MinScoreOption,
    RulesOption,
    _say,
    _threshold,
    events_app,
    out,
    printable,
)
from backtests.cli.news_options import (
    LLMBudgetOption,
    LLMCacheOption,
    LLMDeadlineOption,
    LLMModelOption,
    LLMPriceInOption,
    LLMPriceOutOption,
    LLMUrlOption,
    ModelOption,
    OfflineOption,
    build_classifier,
)
from data.errors import DataError

if TYPE_CHECKING:
    from data.news.evaluation import Evaluation


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _share(right: int, total: int, rate: float | None) -> str:
    return f"{right}/{total} {_rate(rate)}"


def _sets_table(names: list[str], per_set: dict[str, list[Evaluation]], pooled) -> Table:
    table = Table(
        title="Per set: direction right on should-trigger rows, quiet on non-events",
        box=box.SIMPLE_HEAVY,
    )
    table.add_column("set", overflow="fold")
    table.add_column("rows", justify="right", no_wrap=True)
    for name in names:
        table.add_column(f"{name} direction", justify="right", no_wrap=True)
        table.add_column(f"{name} quiet", justify="right", no_wrap=True)
    short = {label: Path(label).name for label in per_set}
    if len(set(short.values())) < len(short):  # two sets with one name: show the paths
        short = {label: label for label in per_set}
    for label in [*per_set, "pooled"]:
        if label == "pooled":
            table.add_section()
            evaluations = [pooled[n] for n in names]
        else:
            evaluations = per_set[label]
        cells = []
        for e in evaluations:
            cells.append(_share(e.direction_right, e.should_trigger, e.direction_rate))
            cells.append(_share(e.silent, e.should_not, e.silence_rate))
        shown = short.get(label, label)
        table.add_row(Text(printable(shown)), str(len(evaluations[0].results)), *cells)
    return table


def _metrics_table(evaluation: Evaluation, title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY)
    table.add_column("category", no_wrap=True)
    for name in ("n", "pred", "ok", "precision", "recall", "F1"):
        table.add_column(name, justify="right", no_wrap=True)
    for m in (*evaluation.per_category, evaluation.overall):
        if m is evaluation.overall:
            table.add_section()
        table.add_row(
            Text(m.category),
            str(m.support),
            str(m.predicted),
            str(m.true_positives),
            _fmt(m.precision),
            _fmt(m.recall),
            _fmt(m.f1),
        )
    return table


def _side_by_side_table(names: list[str], pooled: dict[str, Evaluation], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY)
    table.add_column("category", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for name in names:
        for metric in ("P", "R", "F1"):
            table.add_column(f"{name} {metric}", justify="right", no_wrap=True)
    rows = [*zip(*(pooled[n].per_category for n in names), strict=True)]
    rows.append(tuple(pooled[n].overall for n in names))
    for index, metrics in enumerate(rows):
        if index == len(rows) - 1:
            table.add_section()
        cells = [c for m in metrics for c in (_fmt(m.precision), _fmt(m.recall), _fmt(m.f1))]
        table.add_row(Text(metrics[0].category), str(metrics[0].support), *cells)
    return table


def _confusion_table(evaluation: Evaluation) -> Table:
    from data.news.evaluation import NONE

    keys = {name: str(i) for i, name in enumerate(evaluation.labels[:-1], start=1)}
    keys[NONE] = NONE
    table = Table(title="Confusion matrix (rows: label, columns: predicted)", box=box.SIMPLE_HEAVY)
    table.add_column("label", no_wrap=True)
    for name in evaluation.labels:
        table.add_column(keys[name], justify="right", no_wrap=True)
    for truth in evaluation.labels:
        row = evaluation.confusion[truth]
        label = truth if truth == NONE else f"{keys[truth]} {truth}"
        table.add_row(Text(label), *(str(row[p]) for p in evaluation.labels))
    return table


def _names(choice: str, llm_configured: bool) -> list[str]:
    from data.news.classifiers import CLASSIFIER_NAMES

    if choice == "all":
        return ["rules", "model", "ensemble", *(["llm"] if llm_configured else [])]
    names = [n.strip() for n in choice.split(",") if n.strip()]
    for name in names:
        if name not in CLASSIFIER_NAMES:
            raise DataError(
                f"--classifier {name!r}: use one of {', '.join(CLASSIFIER_NAMES)}, a "
                "comma-separated list of them, or all"
            )
    return list(dict.fromkeys(names)) or ["rules"]


@events_app.command("evaluate")
def evaluate_command(
    labelled: Annotated[
        list[Path],
        typer.Argument(
            metavar="LABELLED.csv...",
            help="headline,label_category[,label_direction] CSV files (one per set).",
        ),
    ],
    classifier_choice: Annotated[
        str,
        typer.Option(
            "--classifier",
            help="rules (default), model, llm, ensemble, a comma-separated list, or all "
            "(rules, model, ensemble, and llm when an LLM model is set).",
        ),
    ] = "rules",
    rules_file: RulesOption = None,
    model_file: ModelOption = None,
    min_score: MinScoreOption = None,
    show_errors: Annotated[
        bool, typer.Option("--errors", help="List every misclassified headline and why.")
    ] = False,
    by_set: Annotated[
        bool, typer.Option("--by-set", help="Also print the per-category table of each set.")
    ] = False,
    llm_model: LLMModelOption = None,
    llm_url: LLMUrlOption = None,
    llm_cache: LLMCacheOption = None,
    llm_budget: LLMBudgetOption = None,
    llm_deadline: LLMDeadlineOption = None,
    llm_price_in: LLMPriceInOption = None,
    llm_price_out: LLMPriceOutOption = None,
    offline: OfflineOption = False,
    debug: DebugOption = False,
) -> None:
    """Per set and pooled, per classifier: directions right, non-events quiet, P/R/F1."""
    import os

    from data.news.evaluation import NONE, evaluate, load_labelled, pool
    from data.news.rules import load_rules

    threshold = _threshold(min_score)
    rules = load_rules(rules_file)
    names = _names(classifier_choice, bool(llm_model or os.environ.get("CAPEX_LLM_MODEL")))
    llm = {
        "model": llm_model,
        "url": llm_url,
        "cache_dir": llm_cache,
        "budget": llm_budget,
        "deadline": llm_deadline,
        "price_in": llm_price_in,
        "price_out": llm_price_out,
        "offline": offline,
    }
    sets = {str(path): load_labelled(path, rules) for path in labelled}
    if len(set(sets)) != len(labelled):
        raise DataError("a labelled file is given twice; give each set once")
    per_set: dict[str, list[Evaluation]] = {label: [] for label in sets}
    pooled: dict[str, Evaluation] = {}
    for name in names:
        classifier = build_classifier(name, rules, threshold, model_file, llm)
        try:
            results = [evaluate(rows, classifier) for rows in sets.values()]
        finally:
            usage = getattr(classifier, "usage", None)
            if usage is not None:
                _say(usage.summary())
        for label, result in zip(sets, results, strict=True):
            per_set[label].append(result)
        pooled[name] = pool(results)
    out.print(_sets_table(names, per_set, pooled))
    if len(names) == 1:
        out.print(_metrics_table(pooled[names[0]], f"Per category, {names[0]} (pooled)"))
        out.print(_confusion_table(pooled[names[0]]))
    else:
        out.print(
            _side_by_side_table(names, pooled, "Per category (pooled): precision, recall, F1")
        )
    if by_set and len(sets) > 1:
        for label in sets:
            for name, result in zip(names, per_set[label], strict=True):
                out.print(_metrics_table(result, f"Per category, {name}, {printable(label)}"))
    for name in names:
        e = pooled[name]
        _say(
            f"{name}: direction right on {e.direction_right} of {e.should_trigger} "
            f"should-trigger headlines ({_rate(e.direction_rate)}); no trigger on {e.silent} "
            f"of {e.should_not} should-not headlines ({_rate(e.silence_rate)})."
        )
    if show_errors:
        for name in names:
            for label in sets:
                result = per_set[label][names.index(name)]
                for row, verdict in result.results:
                    if (verdict.category or NONE) != (row.category or NONE):
                        _say(
                            f"{name}: {Path(label).name}, line {row.line}: {row.category or NONE} "
                            f"-> {verdict.category or NONE}: {row.headline} ({verdict.reason})"
                        )
