"""What a classifier says about one headline, whichever classifier it is, and its explanation.

The rules classifier (:mod:`data.news.classifier`) fills every field: the score of each
category, its hits (matched and negated signals), actors and vetoes. The model and the LLM
classifiers (:mod:`data.news.model`, :mod:`data.news.llm`) fill the decision, the reason, the
actors they name and ``notes`` (the features or the answer behind the decision).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    """A signal that matched: the words matched and, if cancelled, the cue that did it."""

    category: str
    signal: str
    weight: float
    pattern: str
    text: str
    negated_by: str = ""

    @property
    def live(self) -> bool:
        return not self.negated_by

    def rule(self) -> str:
        """Compact form for files: ``category.signal+weight``."""
        return f"{self.category}.{self.signal}+{self.weight:g}"


@dataclass(frozen=True)
class CategoryScore:
    """How one category fared on a headline."""

    category: str
    direction: int
    score: float
    hits: tuple[Hit, ...]
    actors: tuple[str, ...]
    vetoed_by: str = ""

    @property
    def strongest(self) -> float:
        """The weight of the heaviest live hit (0 when none)."""
        return max((h.weight for h in self.hits if h.live), default=0.0)


@dataclass(frozen=True)
class Verdict:
    """The outcome for one headline: the trigger category (None for no trigger), its direction
    (0 for none) and score, the reason in words, and every category's score for the record.

    ``denies`` names the category the headline denies ("Meta denies report it will sell
    compute": compute_resale), which retracts an earlier trigger of the same story (see
    :mod:`data.news.triggers`). ``classifier`` says who decided; ``evidence`` how each actor
    was recognised; ``notes`` hold a non-rules classifier's own explanation lines;
    ``confidence`` its probability for the category it chose."""

    headline: str
    category: str | None
    direction: int
    score: float
    threshold: float
    reason: str
    actors: tuple[str, ...]
    scores: tuple[CategoryScore, ...]
    denies: str | None = None
    classifier: str = "rules"
    evidence: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    confidence: float | None = None

    @property
    def triggered(self) -> bool:
        return self.category is not None

    @property
    def winner(self) -> CategoryScore | None:
        return next((s for s in self.scores if s.category == self.category), None)

    def category_actors(self) -> tuple[str, ...]:
        """The actors that count for the trigger category (all named actors when the verdict
        has no per-category scores)."""
        winner = self.winner
        return winner.actors if winner is not None else self.actors

    def matched_rules(self) -> tuple[str, ...]:
        """The live hits of the trigger category, as ``category.signal+weight`` (for a
        non-rules classifier: ``classifier:category``)."""
        if self.classifier != "rules":
            return (f"{self.classifier}:{self.category}",) if self.category else ()
        winner = self.winner
        return tuple(h.rule() for h in winner.hits if h.live) if winner is not None else ()


def explain(verdict: Verdict) -> list[str]:
    """Human-readable lines: the decision, the actors, then every category that matched
    anything (rules) or the classifier's notes (model, llm)."""
    who = "" if verdict.classifier == "rules" else f"[{verdict.classifier}] "
    if verdict.triggered:
        head = f"{who}TRIGGER {verdict.category} ({verdict.direction:+d}): {verdict.reason}"
    else:
        head = f"{who}no trigger: {verdict.reason}"
    lines = [head]
    lines.append("  actors: " + (", ".join(verdict.evidence or verdict.actors) or "none"))
    if verdict.denies:
        lines.append(f"  denies {verdict.denies}: retracts an earlier trigger of the same story")
    for score in verdict.scores:
        if not score.hits:
            continue
        flags = []
        if score.vetoed_by:
            flags.append(f"vetoed by {score.vetoed_by!r}")
        if not score.actors:
            flags.append("no actor of its groups")
        suffix = f" [{'; '.join(flags)}]" if flags else ""
        lines.append(f"  {score.category}: score {score.score:g}{suffix}")
        for hit in score.hits:
            state = f"negated by {hit.negated_by!r}" if hit.negated_by else f"+{hit.weight:g}"
            lines.append(f"    {hit.signal} {state}: {hit.text!r} (pattern {hit.pattern!r})")
    lines.extend("  " + note for note in verdict.notes)
    return lines
