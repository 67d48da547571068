"""Headline patterns: the phrase language of the classifier's rules, and its matcher.

A pattern is a short phrase matched against a headline's words, never a regular expression:

- words match whole words (``Meta`` never matches "metal", ``AI`` never "said" nor "xAI");
  hyphens, slashes and apostrophes separate words (``in-house`` = ``in house``);
- a word written in lowercase matches any case and every inflection (``sell`` matches sells,
  selling, sold; ``chip`` chips); a word with a capital letter is case-sensitive, also matches
  its ALL-CAPS spelling and a plural (``Meta`` matches "Meta" and "META", not "meta"); see
  :mod:`data.news.words`;
- ``word*`` matches any word starting with ``word`` (``cancel*``: cancels, cancelled);
- ``#`` matches a number, in digits or words (``# GW`` matches "10GW", "10 GW", "ten GW";
  ``350k`` is one number);
- ``...`` skips up to ``max_gap`` words (the ``s`` of a possessive is not counted), never across
  a clause break (``; : , ! ? |``, an em dash, a spaced hyphen, a full stop before a space);
- ``<name>`` stands for any entry of the rules' ``[terms]`` list ``name`` (``<capex>`` for
  capex, capital spending...), so one pattern covers a family of wordings.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from data.errors import DataError
from data.news.words import NO_WORDS as _NO_WORDS
from data.news.words import Word as _Word
from data.news.words import word as _word
from data.news.words import word_index as _word_index

_WORD = r"[^\W\d_]+|\d+(?:[.,]\d+)*(?:[kK](?![^\W\d_]))?"
_TEXT_TOKENS = re.compile(rf"(?P<word>{_WORD})|(?P<brk>[;:,!?|—]|(?<=\s)[-–](?=\s)|\.(?=\s))")
_PATTERN_WORDS = re.compile(_WORD)


class Token(NamedTuple):
    """A word of a headline (or a clause break when ``brk``), with its span in the text.

    ``filler`` marks the ``s`` of a possessive ("Meta's"): patterns can name it, but ``...``
    does not count it as a skipped word. (A named tuple: headlines make many of them.)"""

    text: str
    start: int
    end: int
    brk: bool = False
    filler: bool = False


def tokenize(text: str) -> list[Token]:
    """Split a headline into words and clause breaks (curly quotes are read as straight)."""
    clean = text.replace("’", "'").replace("‘", "'")
    tokens = []
    make = tuple.__new__  # Token(...) without the keyword handling: headlines make many
    for m in _TEXT_TOKENS.finditer(clean):
        start, end = m.span()
        word = clean[start:end]
        filler = end - start == 1 and word in "sS" and clean[start - 1 : start] == "'"
        tokens.append(make(Token, (word, start, end, m.lastgroup == "brk", filler)))
    return tokens


class Headline:
    """A tokenized headline and, for each token, the pattern words that match it.

    Every word of every compiled pattern is looked up in one pass over the tokens (each token
    asks the word index which words accept it), so the cost of a headline grows with its
    length, not with the number of patterns; ``matched`` is the set of words that match
    somewhere. A word compiled after the headline was built is matched on demand."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        index = _word_index()
        self.known = index.words
        accepting = index.accepting
        self.accepts: list[frozenset[_Word]] = [
            _NO_WORDS if t.brk else accepting(t.text) for t in self.tokens
        ]
        self.matched: frozenset[_Word] = _NO_WORDS.union(*self.accepts)
        self._positions: dict[_Word, frozenset[int]] = {}
        # the patterns worth trying on this headline (see PatternIndex): all until narrowed
        self.candidates: frozenset[Pattern] | _Every = _EVERY_PATTERN

    def positions(self, word: _Word) -> frozenset[int]:
        """Indexes of the (non-break) tokens that ``word`` matches (see ``Word.matches``)."""
        found = self._positions.get(word)
        if found is None:
            if word in self.known:
                found = frozenset(i for i, words in enumerate(self.accepts) if word in words)
            else:  # compiled after this headline was built: the reference rule
                tokens = enumerate(self.tokens)
                found = frozenset(i for i, t in tokens if not t.brk and word.matches(t.text))
            self._positions[word] = found
        return found

    def span_text(self, span: tuple[int, int]) -> str:
        """The headline's text from the first to the last token of ``span``."""
        return self.text[self.tokens[span[0]].start : self.tokens[span[1]].end]


class _Every:
    """A container holding everything (the candidates of a headline no index narrowed)."""

    def __contains__(self, item: object) -> bool:
        return True

    def isdisjoint(self, other: Iterable[object]) -> bool:
        return not any(True for _ in other)


_EVERY_PATTERN = _Every()


GAP = None  # a "..." element
_Choice = tuple[tuple[_Word, ...], ...]  # alternative runs of consecutive words


@dataclass(frozen=True, eq=False)  # compiled once per rules file: identity is equality
class Pattern:
    """A compiled phrase; ``text`` is how it was written in the rules. Each element is GAP or
    a choice of alternative word runs (one run for a plain word, one per entry for a term)."""

    text: str
    elements: tuple[_Choice | None, ...]
    _first: frozenset[_Word] = field(init=False, compare=False, repr=False)
    _words: frozenset[_Word] = field(init=False, compare=False, repr=False)
    _starts: tuple[frozenset[_Word], ...] = field(init=False, compare=False, repr=False)
    # per element: the one-word runs as a set, and the longer runs as sets of their words
    _needs: tuple[tuple[frozenset[_Word], tuple[frozenset[_Word], ...]], ...] = field(
        init=False, compare=False, repr=False
    )
    _single_needs: tuple[frozenset[_Word], ...] = field(init=False, compare=False, repr=False)
    _anchors: frozenset[_Word] = field(init=False, compare=False, repr=False)
    _run_needs: tuple[tuple[frozenset[_Word], tuple[frozenset[_Word], ...]], ...] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        first = self.elements[0] or ()
        choices = [c for c in self.elements if c is not GAP]
        needs = tuple(
            (
                frozenset(run[0] for run in choice if len(run) == 1),
                tuple(frozenset(run) for run in choice if len(run) > 1),
            )
            for choice in choices
        )
        object.__setattr__(self, "_first", frozenset(run[0] for run in first))
        starts = tuple(
            frozenset(r[0] for r in c) if c is not GAP else _NO_WORDS for c in self.elements
        )
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_words", frozenset(w for c in choices for r in c for w in r))
        object.__setattr__(self, "_needs", needs)
        object.__setattr__(self, "_anchors", _anchors(choices))
        object.__setattr__(self, "_single_needs", tuple(one for one, runs in needs if not runs))
        object.__setattr__(self, "_run_needs", tuple((one, runs) for one, runs in needs if runs))

    def possible(self, matched: frozenset[_Word]) -> bool:
        """Whether every element has a run whose words are all in ``matched`` (the words found
        in a headline): if not, the pattern cannot match it."""
        for singles in self._single_needs:
            if singles.isdisjoint(matched):
                return False
        for singles, runs in self._run_needs:
            if singles.isdisjoint(matched) and not any(r <= matched for r in runs):
                return False
        return True

    def find(self, headline: Headline, max_gap: int) -> list[tuple[int, int]]:
        """Every (first, last) token index range where the pattern matches, by first index."""
        if self._words <= headline.known:
            accepts = headline.accepts
            matched = headline.matched
        else:  # words compiled after the headline was built: look each one up
            spots = {w: headline.positions(w) for w in self._words}
            accepts = [
                frozenset(w for w, found in spots.items() if i in found)
                for i in range(len(headline.tokens))
            ]
            matched = _NO_WORDS.union(*accepts)
        if not self.possible(matched):
            return []
        found = []
        single = len(self.elements) == 1  # one word or term: no search needed
        size = len(accepts)
        for first, words in enumerate(accepts):
            if self._first.isdisjoint(words):
                continue
            if single:
                ends = (
                    first + len(run) - 1
                    for run in self.elements[0] or ()
                    if run[0] in words
                    and first + len(run) <= size
                    and all(w in accepts[first + k] for k, w in enumerate(run))
                )
            else:
                ends = self._ends(headline.tokens, accepts, first, 0, max_gap)
            for end in dict.fromkeys(ends):
                found.append((first, end))
        return found

    def _ends(
        self,
        tokens: list[Token],
        accepts: list[frozenset[_Word]],
        at: int,
        element: int,
        max_gap: int,
    ) -> Iterator[int]:
        """Yield every last-token index of a match of elements[element:] starting at ``at``
        (``accepts[i]``: the words that match token i)."""
        choice = self.elements[element]
        if choice is GAP:  # the next element here, or after 1..max_gap skipped words
            skipped = 0
            following = self._starts[element + 1]
            while at < len(tokens):
                if not following.isdisjoint(accepts[at]):
                    yield from self._ends(tokens, accepts, at, element + 1, max_gap)
                if tokens[at].brk:
                    return
                skipped += not tokens[at].filler
                if skipped > max_gap:
                    return
                at += 1
            return
        size = len(accepts)
        here = accepts[at] if at < size else _NO_WORDS
        if self._starts[element].isdisjoint(here):
            return
        for run in choice:
            last = at + len(run) - 1
            if run[0] not in here or last >= size:
                continue
            if len(run) == 1 or all(w in accepts[at + k] for k, w in enumerate(run)):
                if element == len(self.elements) - 1:
                    yield last
                else:
                    yield from self._ends(tokens, accepts, last + 1, element + 1, max_gap)


# Words that occur in many headlines: a poor choice to index a pattern by (see _anchors).
_COMMON = frozenset(
    """AI data chip new plan deal GPU compute Nvidia capex spending server cloud model billion
    B bn report say says to on in of for with by at as and the a an its it is are will""".split()  # noqa: SIM905
)


def _cost(word: _Word) -> int:
    """A rough guess of how many headlines ``word`` matches (lower is rarer)."""
    if word.number or word.text in _COMMON or word.text.lower() in _COMMON:
        return 20
    return 3 if word.prefix else 1


def _anchors(choices: list[_Choice]) -> frozenset[_Word]:
    """The words to index a pattern by: the element whose runs are rarest, one word (the
    rarest) per run. Any match of the pattern contains one of them."""
    best: frozenset[_Word] = _NO_WORDS
    best_cost = None
    for choice in choices:
        words = frozenset(min(run, key=_cost) for run in choice)
        cost = sum(_cost(w) for w in words)
        if best_cost is None or cost < best_cost:
            best, best_cost = words, cost
    return best


class PatternIndex:
    """The patterns of a rules file by their anchor words (see :func:`_anchors`), so a
    headline skips at once every pattern none of whose anchors it contains."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self._by_word: dict[_Word, list[Pattern]] = {}
        self._patterns = frozenset(patterns)
        for pattern in self._patterns:
            for word in pattern._anchors:
                self._by_word.setdefault(word, []).append(pattern)
        self._words = frozenset(w for p in self._patterns for w in p._words)

    def candidates(self, headline: Headline) -> frozenset[Pattern]:
        """The patterns that may match ``headline``: one of their anchors is in it, and
        every element has a word in it (a superset of those that match; all of them when the
        headline was built before some of their words were compiled)."""
        if not self._words <= headline.known:
            return self._patterns
        matched = headline.matched
        first = {p for w in matched for p in self._by_word.get(w, ())}
        return frozenset(p for p in first if p.possible(matched))


_TERM = re.compile(r"^<([A-Za-z_][A-Za-z0-9_]*)>$")


def _run(part: str, text: str, origin: str) -> tuple[_Word, ...]:
    if part == "#":
        return (_word("#", number=True),)
    prefix = part.endswith("*")
    words = _PATTERN_WORDS.findall(part.rstrip("*"))
    if not words:
        raise DataError(f"{origin}: pattern {text!r} has no word in {part!r}")
    return (*(_word(w) for w in words[:-1]), _word(words[-1], prefix=prefix))


def compile_pattern(text: str, origin: str, terms: dict[str, list[str]] | None = None) -> Pattern:
    """Compile one pattern (``<term>`` parts become a choice among the term's entries).

    Raises DataError (naming ``origin``) for an unknown term, a word-less part, or a pattern
    that starts or ends with ``...``.
    """
    elements: list[_Choice | None] = []
    for part in text.split():
        if part == "...":
            if elements and elements[-1] is GAP:
                raise DataError(f"{origin}: pattern {text!r} has '... ...'; write one '...'")
            elements.append(GAP)
            continue
        term = _TERM.match(part)
        if term is None:
            elements.append((_run(part, text, origin),))
            continue
        name = term.group(1)
        if terms is None or name not in terms:
            known = sorted(terms or {})
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean <{close[0]}>?" if close else f" (terms: {', '.join(known)})"
            raise DataError(f"{origin}: pattern {text!r} uses unknown term <{name}>{hint}")
        runs = []
        for entry in terms[name]:
            runs.append(tuple(w for p in entry.split() for w in _run(p, entry, origin)))
        elements.append(tuple(runs))
    if not elements or elements[0] is GAP or elements[-1] is GAP:
        raise DataError(f"{origin}: pattern {text!r} must start and end with a word")
    return Pattern(text, tuple(elements))
