"""Options shared by the news commands (``events classify``, ``events evaluate``): which
classifier, the model file and the LLM endpoint's settings, and the checks of their values.

Imports nothing heavy at module level: ``capex-rotation --help`` stays fast.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from data.errors import DataError

if TYPE_CHECKING:
    from data.news.classifiers import HeadlineClassifier
    from data.news.rules import Rules

ClassifierOption = Annotated[
    str,
    typer.Option(
        "--classifier",
        help="rules (default), model, llm, or ensemble (rules, plus the model when it is "
        "confident and the rules see no veto or negation).",
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Model JSON (default: the bundled data/news/model.json)."),
]
LLMModelOption = Annotated[
    str | None,
    typer.Option("--llm-model", help="LLM model name (default: $CAPEX_LLM_MODEL)."),
]
LLMUrlOption = Annotated[
    str | None,
    typer.Option(
        "--llm-url",
        help="OpenAI-compatible base URL (default: $CAPEX_LLM_URL, else api.openai.com/v1); "
        "the key is read from $CAPEX_LLM_API_KEY or $OPENAI_API_KEY.",
    ),
]
LLMCacheOption = Annotated[
    Path | None,
    typer.Option("--llm-cache", help="LLM answer cache folder (default: $CAPEX_LLM_CACHE)."),
]
LLMBudgetOption = Annotated[
    int | None, typer.Option("--llm-budget", help="Most LLM requests to send (default 500).")
]
LLMDeadlineOption = Annotated[
    float | None,
    typer.Option("--llm-deadline", help="Seconds for all LLM requests together (default 120)."),
]
LLMPriceInOption = Annotated[
    float | None,
    typer.Option("--llm-price-in", help="Dollars per million prompt tokens, for the cost."),
]
LLMPriceOutOption = Annotated[
    float | None,
    typer.Option("--llm-price-out", help="Dollars per million completion tokens."),
]
OfflineOption = Annotated[
    bool,
    typer.Option("--offline", help="LLM: answer from the cache only; never call the network."),
]


def finite(flag: str, value: float | None, minimum: float = 0.0) -> float | None:
    """``value`` if it is a finite number >= ``minimum`` (None passes), else a DataError."""
    if value is not None and (not math.isfinite(value) or value < minimum):
        raise DataError(f"{flag} {value}: must be a finite number >= {minimum:g}")
    return value


def build_classifier(
    name: str,
    rules: Rules,
    threshold: float | None,
    model_file: Path | None,
    llm: dict[str, object],
) -> HeadlineClassifier:
    """The classifier ``name`` with the command's options (DataError on bad values)."""
    from data.news.classifiers import make_classifier

    for key in ("deadline", "price_in", "price_out"):
        finite(f"--llm-{key.replace('_', '-')}", llm.get(key))  # type: ignore[arg-type]
    budget = llm.get("budget")
    if budget is not None and int(budget) < 0:  # type: ignore[call-overload]
        raise DataError(f"--llm-budget {budget}: must be 0 or more")
    return make_classifier(name, rules, threshold, model_file, llm)
