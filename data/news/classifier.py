"""Classify one headline into a trigger category, and say why.

For each category of the rules (see :mod:`data.news.rules`):

1. every signal whose pattern matches the headline adds its weight once, unless a negation cue
   cancels the match: a cue (``denies``, ``no plans to``, ``scraps`` for custom silicon...)
   ending at most ``negation_window`` words before the match in the same clause (no clause
   break and no scope-breaking word such as "and", "but" in between), or an after-cue
   (``is false``...) starting at most that many words after it; a cue inside the match itself
   does not count ("will not fund a data center" is a capex-cut signal);
   A signal inside a clause that ends with "?" is negated too (a question reports nothing),
   when the rules' ``questions`` setting is on;
2. a veto word anywhere in the headline (``appoints``, ``smartphone``...) puts it out of scope;
3. the headline must name an actor of one of the category's groups (an AI lab, a
   hyperscaler...), in its words or in the item's ``tickers``; actors come from the
   gazetteer, and when two actors' aliases overlap the longer one wins;
4. at least one live signal must weigh ``strong`` or more (supporting words alone are not
   news).

The trigger is the category with the highest score at or above the threshold among those with
an actor, no veto and a strong signal; a tie between a +1 and a -1 category is no trigger
(conflicting news). A headline that would trigger a category but for negation cues (not a
question) *denies* that category: the verdict says so, and story merging retracts the story it
denies.
The classifier reads headlines only, word by word: it does not understand sentences, does not
resolve who does what to whom, and knows only the phrases of its rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from data.news.patterns import Headline, Pattern
from data.news.rules import Category, Rules
from data.news.verdict import CategoryScore, Hit, Verdict, explain

__all__ = ["CategoryScore", "Hit", "Verdict", "classify_headline", "explain", "find_actors"]

QUESTION = "a question ('?')"  # what negates a signal inside a question clause


def _spans(patterns: Sequence[Pattern], headline: Headline, gap: int) -> list[tuple[int, int]]:
    live = headline.candidates
    if live.isdisjoint(patterns):
        return []
    return [span for p in patterns if p in live for span in p.find(headline, gap)]


def _in_scope(headline: Headline, start: int, stop: int, breaks: frozenset[str]) -> bool:
    """No clause break and no scope-breaking word ("and", "but"...) in tokens[start:stop]."""
    return not any(t.brk or t.text.lower() in breaks for t in headline.tokens[start:stop])


_Spans = list[tuple[int, int]]
# before, after, denial and denial-after cue spans, then the question clauses
_Shared = tuple[_Spans, _Spans, _Spans, _Spans, tuple[tuple[int, int], ...]]


class _Negations:
    """The cue spans of one headline for one category, and the test that a match is negated.

    ``shared`` holds the spans of the rules' own (all-category) cues: before and after cues
    (within the negation window and the scope), then denial cues before and after (anywhere in
    the same clause: "Meta denies report that it will rent out its AI servers to outside
    companies" cancels every signal after "denies")."""

    def __init__(
        self,
        rules: Rules,
        category: Category,
        headline: Headline,
        shared: _Shared,
    ) -> None:
        self.headline = headline
        self.window = rules.negation_window
        self.breaks = rules.scope_breaks
        self._rules, self._category, self._shared = rules, category, shared
        self.questions = self._shared[4]
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
        for start, stop in self.questions:
            if start <= first and last < stop:
                return (stop, stop)  # the "?" that ends the clause
        for cue in self.before:
            near = cue[1] < first and first - cue[1] - 1 <= self.window
            if near and _in_scope(self.headline, cue[1] + 1, first, self.breaks):
                return cue
        for cue in self.after:
            near = cue[0] > last and cue[0] - last - 1 <= self.window
            if near and _in_scope(self.headline, last + 1, cue[0], self.breaks):
                return cue
        tokens = self.headline.tokens
        for cue in self._shared[2]:
            if cue[1] < first and not any(t.brk for t in tokens[cue[1] + 1 : first]):
                return cue
        for cue in self._shared[3]:
            if cue[0] > last and not any(t.brk for t in tokens[last + 1 : cue[0]]):
                return cue
        return None


def _questions(headline: Headline) -> tuple[tuple[int, int], ...]:
    """(first, stop) token ranges of the clauses that end with a question mark."""
    found = []
    start = 0
    for i, token in enumerate(headline.tokens):
        if token.brk:
            if token.text == "?" and i > start:
                found.append((start, i))
            start = i + 1
    return tuple(found)


def _score(
    headline: Headline,
    rules: Rules,
    category: Category,
    actors: dict[str, str],
    shared: _Shared,
) -> CategoryScore:
    hits = []
    signals = category.signals
    if headline.candidates.isdisjoint(category.signal_patterns):
        signals = ()  # no signal can match: skip the category's loop
    negations = _Negations(rules, category, headline, shared)
    for signal in signals:
        if headline.candidates.isdisjoint(signal.patterns):
            continue
        negated: Hit | None = None
        live: Hit | None = None
        for pattern in signal.patterns:
            if pattern not in headline.candidates:
                continue
            for span in pattern.find(headline, rules.max_gap):
                cue = negations.cue_for(span)
                if cue is None:
                    negated_by = ""
                elif cue[0] == cue[1] and headline.tokens[cue[0]].text == "?" and cue[0] > span[1]:
                    negated_by = QUESTION
                else:
                    negated_by = headline.span_text(cue)
                hit = Hit(
                    category.name,
                    signal.name,
                    signal.weight,
                    pattern.text,
                    headline.span_text(span),
                    negated_by,
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


def _actor_matches(
    words: Headline, rules: Rules, tickers: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(actor, kind, text) for each actor named, in rules order. An alias whose span lies
    inside a longer alias of another actor does not count ("the Beijing search giant" names
    Baidu, not the "search giant" Alphabet)."""
    wanted = {t.upper() for t in tickers}
    spans: list[tuple[int, int, int, str, str]] = []  # first, last, actor index, kind, text
    owners = rules.alias_owners
    live = words.candidates
    aliases = [a for a in owners if a in live] if not isinstance(live, frozenset) else live
    for alias in (a for a in aliases if a in owners):
        actor = rules.actors[owners[alias]]
        for span in alias.find(words, 0):
            spans.append((*span, owners[alias], actor.kind_of(alias), words.span_text(span)))
    spans.sort(key=lambda s: (s[2], s[0] - s[1], s[0], s[3]))  # per actor: longest, first
    kept: dict[int, tuple[str, str]] = {}
    for first, last, number, kind, text in spans:
        inside = any(
            start <= first and last <= stop and (start, stop) != (first, last) and n != number
            for start, stop, n, _, _ in spans
        )
        if not inside and number not in kept:
            kept[number] = (kind, text)
    for number, actor in enumerate(rules.actors):
        if number not in kept and wanted & set(actor.tickers):
            kept[number] = ("ticker", ", ".join(sorted(wanted & set(actor.tickers))))
    return [(rules.actors[n].name, *kept[n]) for n in sorted(kept)]


def find_actors(
    headline: str | Headline, rules: Rules, tickers: Sequence[str] = ()
) -> dict[str, str]:
    """The actors a headline names (or its tickers list), as {name: group}, in rules order."""
    words = headline if isinstance(headline, Headline) else Headline(headline)
    groups = {a.name: a.group for a in rules.actors}
    return {name: groups[name] for name, _, _ in _actor_matches(words, rules, tickers)}


def classify_headline(
    headline: str, rules: Rules, tickers: Sequence[str] = (), threshold: float | None = None
) -> Verdict:
    """Classify one headline with ``rules`` (threshold: the rules' unless given).

    Returns a Verdict whose ``reason`` says why it did or did not trigger; every category's
    hits (including negated ones), actors and veto are kept in ``scores``, and ``denies`` names
    the category the headline denies, if any.
    """
    limit = rules.threshold if threshold is None else threshold
    words = Headline(headline)
    words.candidates = rules.index.candidates(words)
    matches = _actor_matches(words, rules, tickers)
    groups = {a.name: a.group for a in rules.actors}
    actors = {name: groups[name] for name, _, _ in matches}
    evidence = tuple(
        name if kind in ("name", "alias") and text == name else f"{name} ({kind} {text!r})"
        for name, kind, text in matches
    )
    global_veto = _spans(rules.vetoes, words, rules.max_gap)
    shared = (
        _spans(rules.negations, words, rules.max_gap),
        _spans(rules.negations_after, words, rules.max_gap),
        _spans(rules.denials, words, rules.max_gap),
        _spans(rules.denials_after, words, rules.max_gap),
        _questions(words) if rules.questions else (),
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
    names = tuple(actors)
    needs = {c.name: c.strong for c in rules.categories}
    passing = [
        s
        for s in scores
        if s.score >= limit and s.actors and not s.vetoed_by and s.strongest >= needs[s.category]
    ]
    if any(s.strongest >= rules.strong for s in passing):  # a strong signal beats weak ones
        passing = [s for s in passing if s.strongest >= rules.strong]

    def verdict(category, direction, score, reason, denies=None):
        return Verdict(
            headline,
            category,
            direction,
            score,
            limit,
            reason,
            names,
            tuple(scores),
            denies=denies,
            evidence=evidence,
        )

    if passing:
        best = max(s.score for s in passing)
        top = [s for s in passing if s.score == best]
        if len({s.direction for s in top}) > 1:
            tied = " and ".join(s.category for s in top)
            return verdict(None, 0, best, f"conflicting signals: {tied} both score {best:g}")
        win = top[0]
        reason = f"{win.category} score {win.score:g} >= threshold {limit:g}"
        return verdict(win.category, win.direction, win.score, reason)
    denied = _denied(scores, limit, needs)
    return verdict(None, 0, 0.0, _why_not(scores, limit, needs), denied)


def _denied(scores: list[CategoryScore], limit: float, needs: dict[str, float]) -> str | None:
    """The category the headline would trigger but for its negation cues (not a question):
    the heaviest such one, when it names an actor of the category and has no veto."""
    denied = []
    for s in scores:
        cancelled = [h for h in s.hits if h.negated_by and h.negated_by != QUESTION]
        if not cancelled or not s.actors or s.vetoed_by:
            continue
        total = sum(h.weight for h in s.hits if h.live or h in cancelled)
        heaviest = max(h.weight for h in s.hits if h.live or h in cancelled)
        if total >= limit and heaviest >= needs.get(s.category, 0.0):
            denied.append((total, s.category))
    return max(denied)[1] if denied else None


def _why_not(scores: list[CategoryScore], limit: float, needs: dict[str, float]) -> str:
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
    strong = needs.get(best.category, 0.0)
    if best.score >= limit and best.strongest < strong:
        return f"{best.category} score {best.score:g} but no signal of weight >= {strong:g}"
    return f"{best.category} score {best.score:g} < threshold {limit:g}"
