"""``capex-rotation backtest --news``: classify headline files on the fly and backtest them.

The triggers are passed to the runner as an in-memory events calendar (no file is written);
the run's ``events.csv`` gets each trigger's score, sources and matched rules next to its
headline, and the manifest lists the news files and the rules file with their sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from backtests.config import Config, ConfigError
from backtests.runner import RunResult, run_backtest
from data.errors import DataError
from data.news.classifiers import make_classifier
from data.news.rules import load_rules
from data.news.triggers import Trigger, classify_news, trigger_calendar

TRIGGER_LOG_COLUMNS = ("score", "sources", "matched_rules", "retracts")


def with_trigger_columns(log: pd.DataFrame, triggers: Sequence[Trigger]) -> pd.DataFrame:
    """The run's event log with each trigger's score, sources and matched rules after
    ``headline`` (so every row says which headline triggered what, and why)."""
    by_id = {t.id: t for t in triggers}
    log = log.copy()
    at = list(log.columns).index("headline") + 1
    values = {
        "score": [by_id[i].score if i in by_id else None for i in log["event_id"]],
        "sources": [";".join(by_id[i].sources) if i in by_id else "" for i in log["event_id"]],
        "matched_rules": [
            ";".join(by_id[i].matched_rules) if i in by_id else "" for i in log["event_id"]
        ],
        "retracts": [by_id[i].retracts if i in by_id else "" for i in log["event_id"]],
    }
    for offset, name in enumerate(TRIGGER_LOG_COLUMNS):
        log.insert(at + offset, name, values[name])
    return log


def run_with_news(
    config: Config,
    news: Sequence[Path],
    events_flag: Path | None = None,
    progress: Callable[[str], None] | None = None,
    classifier: str = "rules",
) -> RunResult:
    """``backtest --news``: classify the headline files with the bundled rules (or the bundled
    model, the ensemble, or the LLM from its cache only: a backtest never calls the network)
    and run the backtest on the triggers and retractions (the config's events file is not
    read).

    Returns the RunResult, its event log extended by :func:`with_trigger_columns` and its
    inputs listing the news files and the classifier's files with their sha256.
    """
    if events_flag is not None:
        raise ConfigError("--news and --events both name the events; pass only one")
    say = progress or (lambda _msg: None)
    say("classifying headlines")
    rules = load_rules()
    chosen = make_classifier(classifier, rules, llm_options={"offline": True})
    _, _, triggers = classify_news(
        news,
        rules,
        skip_hint="fix them, or run `capex-rotation events classify --skip-bad --out FILE` "
        "and pass FILE with --events",
        classifier=chosen,
    )
    names = ", ".join(str(p) for p in news)
    if not triggers:
        raise DataError(
            f"no headline in {names} triggered (threshold {rules.threshold:g}); see why with "
            "`capex-rotation events classify --explain`"
        )
    calendar = trigger_calendar(triggers, f"news:{names}")
    config = config.model_copy(update={"events": config.events.model_copy(update={"file": None})})
    run = run_backtest(config, progress=progress, events=calendar)
    run.event_log = with_trigger_columns(run.event_log, triggers)
    for path in news:
        run.inputs[str(path)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    run.inputs.update(chosen.inputs())
    return run
