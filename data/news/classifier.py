"""Classify one headline into a trigger category, and say why.

For each category of the rules (see :mod:`data.news.rules`):

1. every signal whose pattern matches the headline adds its weight once, unless a negation cue
   cancels the match: a cue (``denies``, ``no plans to``, ``scraps`` for custom silicon...)
   ending at most ``negation_window`` words before the match in the same clause (no clause
   break and no scope-breaking word such as "and", "but" in between), or an after-cue
   (``is false``...) starting at most that many words after it; a cue inside the match itself
   does not count ("will not fund a data center" is a capex-cut signal);
2. a veto word anywhere in the headline (``hires``, ``smartphone``...) puts it out of scope;
3. the headline must name an actor of one of the category's groups (an AI lab, a
   hyperscaler...), in its words or in the item's ``tickers``.

The trigger is the category with the highest score at or above the threshold among those with
an actor and no veto; a tie between a +1 and a -1 category is no trigger (conflicting news).
The classifier reads headlines only, word by word: it does not understand sentences, does not
resolve who does what to whom, and knows only the phrases of its rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from data.news.patterns import Headline, Pattern
from data.news.rules import Category, Rules


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


@dataclass(frozen=True)
class Verdict:
    """The outcome for one headline: the trigger category (None for no trigger), its direction
    (0 for none) and score, the reason in words, and every category's score for the record."""

    headline: str
    category: str | None
    direction: int
    score: float
    threshold: float
    reason: str
    actors: tuple[str, ...]
    scores: tuple[CategoryScore, ...]

    @property
    def triggered(self) -> bool:
        return self.category is not None

    @property
    def winner(self) -> CategoryScore | None:
        return next((s for s in self.scores if s.category == self.category), None)

    def matched_rules(self) -> tuple[str, ...]:
        """The live hits of the trigger category, as ``category.signal+weight``."""
        winner = self.winner
        return tuple(h.rule() for h in winner.hits if h.live) if winner else ()


def _spans(patterns: Sequence[Pattern], headline: Headline, gap: int) -> list[tuple[int, int]]:
    live = headline.candidates
    if live.isdisjoint(patterns):
        return []
    return [span for p in patterns if p in live for span in p.find(headline, gap)]


def _in_scope(headline: Headline, start: int, stop: int, breaks: frozenset[str]) -> bool:
    """No clause break and no scope-breaking word ("and", "but"...) in tokens[start:stop]."""
    return not any(t.brk or t.text.lower() in breaks for t in headline.tokens[start:stop])


class _Negations:
    """The cue spans of one headline for one category, and the test that a match is negated.

    ``shared`` holds the spans of the rules' own (all-category) before and after cues."""

    def __init__(
        self,
        rules: Rules,
        category: Category,
        headline: Headline,
        shared: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    ) -> None:
        self.headline = headline
        self.window = rules.negation_window
        self.breaks = rules.scope_breaks
        self._rules, self._category, self._shared = rules, category, shared
        self.before: list[tuple[int, int]] = []
        self.after: list[tuple[int, int]] = []
        self._found = False

    def _find(self) -> None:
        """The cue spans, found on the first signal match (most categories have none)."""
        gap = self._rules.max_gap
        self.before = self._shared[0] + _spans(self._category.negations, self.headline, gap)
        self.after = self._shared[1] + _spans(self._category.negations_after, self.headline, gap)
        self._found = True

    def cue_for(self, span: tuple[int, int]) -> tuple[int, int] | None:
        if not self._found:
            self._find()
        first, last = span
        for cue in self.before:
            near = cue[1] < first and first - cue[1] - 1 <= self.window
            if near and _in_scope(self.headline, cue[1] + 1, first, self.breaks):
                return cue
        for cue in self.after:
            near = cue[0] > last and cue[0] - last - 1 <= self.window
            if near and _in_scope(self.headline, last + 1, cue[0], self.breaks):
                return cue
        return None


def _score(
    headline: Headline,
    rules: Rules,
    category: Category,
    actors: dict[str, str],
    shared: tuple[list[tuple[int, int]], list[tuple[int, int]]],
) -> CategoryScore:
    negations = _Negations(rules, category, headline, shared)
    hits = []
    for signal in category.signals:
        if headline.candidates.isdisjoint(signal.patterns):
            continue
        negated: Hit | None = None
        live: Hit | None = None
        for pattern in signal.patterns:
            if pattern not in headline.candidates:
                continue
            for span in pattern.find(headline, rules.max_gap):
                cue = negations.cue_for(span)
                hit = Hit(
                    category.name,
                    signal.name,
                    signal.weight,
                    pattern.text,
                    headline.span_text(span),
                    headline.span_text(cue) if cue else "",
                )
                if cue is None:
                    live = hit
                    break
                negated = negated or hit
            if live:
                break
        if live or negated:
            hits.append(live or negated)
    vetoes = _spans(category.vetoes, headline, rules.max_gap)
    return CategoryScore(
        category=category.name,
        direction=category.direction,
        score=sum(h.weight for h in hits if h.live),
        hits=tuple(hits),
        actors=tuple(n for n, group in actors.items() if group in category.actor_groups),
        vetoed_by=headline.span_text(vetoes[0]) if vetoes else "",
    )


def find_actors(
    headline: str | Headline, rules: Rules, tickers: Sequence[str] = ()
) -> dict[str, str]:
    """The actors a headline names (or its tickers list), as {name: group}, in rules order."""
    words = headline if isinstance(headline, Headline) else Headline(headline)
    wanted = {t.upper() for t in tickers}
    found = {}
    for actor in rules.actors:
        if wanted & set(actor.tickers) or _spans(actor.aliases, words, 0):
            found[actor.name] = actor.group
    return found


def classify_headline(
    headline: str, rules: Rules, tickers: Sequence[str] = (), threshold: float | None = None
) -> Verdict:
    """Classify one headline with ``rules`` (threshold: the rules' unless given).

    Returns a Verdict whose ``reason`` says why it did or did not trigger; every category's
    hits (including negated ones), actors and veto are kept in ``scores``.
    """
    limit = rules.threshold if threshold is None else threshold
    words = Headline(headline)
    words.candidates = rules.index.candidates(words)
    actors = find_actors(words, rules, tickers)
    global_veto = _spans(rules.vetoes, words, rules.max_gap)
    shared = (
        _spans(rules.negations, words, rules.max_gap),
        _spans(rules.negations_after, words, rules.max_gap),
    )
    scores = []
    for category in rules.categories:
        score = _score(words, rules, category, actors, shared)
        if global_veto and not score.vetoed_by:
            score = CategoryScore(
                score.category,
                score.direction,
                score.score,
                score.hits,
                score.actors,
                words.span_text(global_veto[0]),
            )
        scores.append(score)
    passing = [s for s in scores if s.score >= limit and s.actors and not s.vetoed_by]
    names = tuple(actors)
    if passing:
        best = max(s.score for s in passing)
        top = [s for s in passing if s.score == best]
        if len({s.direction for s in top}) > 1:
            tied = " and ".join(s.category for s in top)
            reason = f"conflicting signals: {tied} both score {best:g}"
            return Verdict(headline, None, 0, best, limit, reason, names, tuple(scores))
        win = top[0]
        reason = f"{win.category} score {win.score:g} >= threshold {limit:g}"
        return Verdict(
            headline, win.category, win.direction, win.score, limit, reason, names, tuple(scores)
        )
    return Verdict(headline, None, 0, 0.0, limit, _why_not(scores, limit), names, tuple(scores))


def _why_not(scores: list[CategoryScore], limit: float) -> str:
    scored = [s for s in scores if s.score > 0]
    if not scored:
        negated = [h for s in scores for h in s.hits if not h.live]
        if negated:
            h = negated[0]
            return f"negated: {h.text!r} ({h.category}) cancelled by {h.negated_by!r}"
        return "no rule matched"
    best = max(scored, key=lambda s: s.score)
    if best.vetoed_by:
        return f"{best.category} score {best.score:g} vetoed by {best.vetoed_by!r}"
    if not best.actors:
        return f"{best.category} score {best.score:g} but no actor of its groups is named"
    return f"{best.category} score {best.score:g} < threshold {limit:g}"


def explain(verdict: Verdict) -> list[str]:
    """Human-readable lines: the decision, then every category that matched anything."""
    if verdict.triggered:
        head = f"TRIGGER {verdict.category} ({verdict.direction:+d}): {verdict.reason}"
    else:
        head = f"no trigger: {verdict.reason}"
    lines = [head]
    lines.append("  actors: " + (", ".join(verdict.actors) or "none"))
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
    return lines
