"""The pieces of the evidence folder built from the studies' results: its JSON document, the
page's sections, and the writers of each study's own report (the same folders ``event-study``
and ``placebo`` write, as sub-folders)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from backtests.cli import event_study
from backtests.cli import placebo as placebo_command
from backtests.research.evidence import EVENT_BASKET, EVENT_GROUP, SCHEMES, Evidence

EVENT_REPORT = "event-study"
SELECTION_FILE = "selection.json"
EVENT_P_COLUMNS = {
    "p (t)": "t_pvalue",
    "p (sign)": "sign_pvalue",
    "p (BMP)": "bmp_p",
    "p (KP)": "kp_p",
    "p (rank)": "rank_p",
    "p (g. sign)": "gsign_p",
    "p (HAC)": "ct_p",
}


def placebo_report(scheme: str) -> str:
    return f"placebo-{scheme}"


def _event_rows(result: Evidence) -> pd.DataFrame:
    summary = result.study.summary
    k = int(result.study.facts["bar_k"])
    rows = summary[(summary["k"] == k) & (summary["group"] == EVENT_GROUP)]
    table = pd.DataFrame(
        {
            "basket": rows["basket"].astype(str),
            "N": rows["n"].astype(int),
            f"mean CAR(0,{k})": rows["mean_car"].astype(float),
            "rbar": rows["rbar"].astype(float),
            **{label: rows[col].astype(float) for label, col in EVENT_P_COLUMNS.items()},
        }
    )
    return table.reset_index(drop=True)


def _rbar(result: Evidence) -> float:
    table = _event_rows(result)
    match = table[table["basket"] == EVENT_BASKET]
    return float(match["rbar"].iloc[0]) if len(match) else float("nan")


def _placebo_rows(result: Evidence) -> pd.DataFrame:
    rows = []
    for scheme, placebo in result.placebos.items():
        real = placebo.summary[placebo.summary["baseline"] == "real"]
        for rec in real.to_dict("records"):
            if rec["metric"] not in ("sharpe", "total_return"):
                continue
            rows.append(
                {
                    "scheme": scheme,
                    "metric": rec["metric"],
                    "real": float(rec["value"]),
                    "percentile": float(rec["percentile"]),
                    "p-value": float(rec["p_value"]),
                }
            )
    return pd.DataFrame(rows)


def _selection_rows(result: Evidence) -> pd.DataFrame | None:
    if result.selection is None:
        return None
    from backtests.research.selection_verdicts import selection_verdicts

    rows = selection_verdicts(result.selection)
    return pd.DataFrame(
        [
            {
                "test": r["test"],
                "config": str(r.get("config", "")),
                "statistic": float(r["statistic"]),
                "value": float(r["value"]),
                "kind": str(r["kind"]),
            }
            for r in rows
        ]
    )


def evidence_document(result: Evidence, window: Any, draws: int, seed: int) -> dict[str, Any]:
    """evidence.json: the settings, the verdict rows and each study's headline numbers."""
    facts = result.study.facts
    selection = result.selection.document() if result.selection is not None else None
    settings = {
        "event_study": window.describe(),
        "event_group": EVENT_GROUP,
        "event_basket": EVENT_BASKET,
        "horizon": int(facts["bar_k"]),
        "placebo_schemes": list(result.placebos),
        "placebo_headline_scheme": SCHEMES[0],
        "draws": draws,
        "seed": seed,
        "grid": str(result.target.path) if result.target.grid is not None else None,
    }
    trials = selection["n_trials"] if selection else None
    parameters = {
        "Period": f"{facts['first_session']} to {facts['last_session']}",
        "Events": f"{facts['events_used']} studied, {facts['events_overlapping']} with a "
        "window overlapping another's",
        "Event test": f"spread CAR(0,{facts['bar_k']}), every event signed by its direction",
        "Placebo": f"{draws} calendars per scheme ({', '.join(result.placebos)}), seed {seed}; "
        f"headline scheme {SCHEMES[0]}",
        "Selection": f"{trials} trials from {result.target.path}" if trials else "no grid given",
    }
    notes = [
        "p-values are one-sided where the test is (the placebo: random calendars doing at "
        "least as well) and two-sided for the event-study tests; for PSR and DSR the p-value "
        "column is 1 - probability; PBO is a probability of overfitting, not a p-value.",
        f"Kolari-Pynnonen's mean correlation of the spread's abnormal returns across events "
        f"(r-bar): {_rbar(result):.4g}.",
    ]
    return {
        "sessions": {"first": facts["first_session"], "last": facts["last_session"]},
        "settings": settings,
        "parameters": parameters,
        "notes": notes,
        "verdicts": result.verdicts,
        "placebo": {
            scheme: {
                "summary": p.summary.to_dict("records"),
                "bootstrap": p.bootstrap,
            }
            for scheme, p in result.placebos.items()
        },
        "selection": selection,
    }


def report_sections(result: Evidence) -> tuple[list, dict[str, Any]]:
    """The page's sections after the verdict, and the writers of the sub-reports."""
    sections: list = [
        (
            "Event study",
            "CAR(0,k) of the long, short and spread baskets over every event signed by its "
            "direction, under each test. The plain t-test and sign test treat events as "
            "independent; with overlapping windows the Kolari-Pynnonen and calendar-time "
            "(Newey-West) p-values are the ones to believe.",
            _event_rows(result),
            f"{EVENT_REPORT}/index.html",
        ),
        (
            "Placebo",
            "The real calendar's Sharpe and total return among random calendars of each scheme: "
            "circular (the real calendar shifted, clustering kept: the default), block (the real "
            "gaps permuted) and iid (dates drawn independently, clustering destroyed).",
            _placebo_rows(result),
            f"{placebo_report(SCHEMES[0])}/index.html",
        ),
    ]
    for scheme in list(result.placebos)[1:]:
        sections.append((f"Placebo ({scheme})", "", None, f"{placebo_report(scheme)}/index.html"))
    config, study = result.target.config, result.study
    reports: dict[str, Any] = {EVENT_REPORT: lambda p: event_study.write_report(p, config, study)}
    for scheme, run in result.placebos.items():
        reports[placebo_report(scheme)] = lambda p, run=run: placebo_command.write_report(p, run)
    if result.selection is not None:
        sections.append(
            (
                "Selection",
                f"{result.selection.n_trials} configs tried. PSR and DSR are probabilities that "
                "the true Sharpe beats the threshold (DSR: after the number of trials); SPA and "
                "the reality check test whether the best config beats the benchmark after "
                "searching them all; PBO is the chance that the in-sample best is below the "
                "median out of sample.",
                _selection_rows(result),
                SELECTION_FILE,
            )
        )
        from reports.run_folder import write_json

        document = result.selection.document()
        reports[SELECTION_FILE] = lambda p: write_json(p, document)
    return sections, reports
