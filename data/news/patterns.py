"""Headline patterns: the phrase language of the classifier's rules, and its matcher.

A pattern is a short phrase matched against a headline's words, never a regular expression:

- words match whole words (``Meta`` never matches "metal", ``AI`` never "said" nor "xAI");
  hyphens, slashes and apostrophes separate words (``in-house`` = ``in house``);
- a word written in lowercase matches any case; a word with a capital letter is case-sensitive
  and also matches its ALL-CAPS spelling (``Meta`` matches "Meta" and "META", not "meta");
- a word also matches its plural in ``s``/``es`` (``chip`` matches "chips");
- ``word*`` matches any word starting with ``word`` (``cancel*``: cancels, cancelled);
- ``#`` matches a number (``# GW`` matches "10GW" and "10 GW"; ``350k`` is one number);
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
        word = m.group()
        start = m.start()
        filler = (word == "s" or word == "S") and clean[start - 1 : start] == "'"
        tokens.append(make(Token, (word, start, m.end(), m.lastgroup == "brk", filler)))
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
        """Indexes of the (non-break) tokens that ``word`` matches (see :meth:`_Word.matches`)."""
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


@dataclass(frozen=True, eq=False)  # interned by _word(): identity is equality
class _Word:
    text: str
    prefix: bool
    number: bool = False

    def matches(self, token: str) -> bool:
        if self.number:
            return token[:1].isdigit()
        if self.text == self.text.lower():  # written in lowercase: any case
            forms: tuple[str, ...] = (self.text,)
            token = token.lower()
        else:  # a capital letter: this spelling or ALL CAPS
            forms = (self.text, self.text.upper())
        for form in forms:
            if self.prefix and token.startswith(form):
                return True
            if token.startswith(form) and token[len(form) :].lower() in ("", "s", "es"):
                return True
        return False


class _Every:
    """A container holding everything (the candidates of a headline no index narrowed)."""

    def __contains__(self, item: object) -> bool:
        return True

    def isdisjoint(self, other: Iterable[object]) -> bool:
        return not any(True for _ in other)


_EVERY_PATTERN = _Every()
_WORDS: dict[tuple[str, bool, bool], _Word] = {}
_NO_WORDS: frozenset[_Word] = frozenset()
_SUFFIXES = ("", "s", "S", "es", "ES", "Es", "eS")
_SEEN_LIMIT = 200_000  # distinct tokens remembered by the word index


def _word(text: str, prefix: bool = False, number: bool = False) -> _Word:
    """The one _Word for (text, prefix, number), so headlines cache its matches once."""
    key = (text, prefix, number)
    if key not in _WORDS:
        _WORDS[key] = _Word(text, prefix, number)
    return _WORDS[key]


class _WordIndex:
    """Every known pattern word, indexed so a token finds the words that accept it with a few
    dictionary lookups (the same rule as :meth:`_Word.matches`, read backwards)."""

    def __init__(self, words: list[_Word]) -> None:
        self.words = frozenset(words)
        self.exact: dict[str, set[_Word]] = {}  # lowercase words, by text
        self.prefixes: dict[str, set[_Word]] = {}  # lowercase word*, by text
        self.cased: dict[str, set[_Word]] = {}  # capitalised words, by text and ALL CAPS
        self.cased_prefixes: dict[str, set[_Word]] = {}
        self.numbers = {w for w in words if w.number}
        for w in words:
            if w.number:
                continue
            if w.text == w.text.lower():
                (self.prefixes if w.prefix else self.exact).setdefault(w.text, set()).add(w)
            else:
                table = self.cased_prefixes if w.prefix else self.cased
                for form in (w.text, w.text.upper()):
                    table.setdefault(form, set()).add(w)
        self.longest = max((len(k) for k in (*self.prefixes, *self.cased_prefixes)), default=0)
        self._seen: dict[str, frozenset[_Word]] = {}

    def accepting(self, token: str) -> frozenset[_Word]:
        """The words that match ``token`` (remembered: headlines share most of their words)."""
        found = self._seen.get(token)
        if found is None:
            if len(self._seen) >= _SEEN_LIMIT:
                self._seen.clear()
            found = self._seen[token] = frozenset(self._accepting(token))
        return found

    def _accepting(self, token: str) -> set[_Word]:
        found: set[_Word] = set()
        if token[:1].isdigit():
            found |= self.numbers
        low = token.lower()
        for base in (
            low,
            low[:-1] if low.endswith("s") else "",
            low[:-2] if low.endswith("es") else "",
        ):
            found |= self.exact.get(base, set())
        for suffix in _SUFFIXES:
            if token.endswith(suffix):
                found |= self.cased.get(token[: len(token) - len(suffix)], set())
        for k in range(1, min(len(token), self.longest) + 1):
            found |= self.prefixes.get(low[:k], set())
            found |= self.cased_prefixes.get(token[:k], set())
        return found


_INDEX: _WordIndex | None = None


def _word_index() -> _WordIndex:
    """The index of every word compiled so far (rebuilt when new words were compiled)."""
    global _INDEX
    if _INDEX is None or len(_INDEX.words) != len(_WORDS):
        _INDEX = _WordIndex(list(_WORDS.values()))
    return _INDEX


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

    def possible(self, matched: frozenset[_Word]) -> bool:
        """Whether every element has a run whose words are all in ``matched`` (the words found
        in a headline): if not, the pattern cannot match it."""
        for singles, runs in self._needs:
            if singles.isdisjoint(matched) and (not runs or not any(r <= matched for r in runs)):
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
        for first, words in enumerate(accepts):
            if self._first.isdisjoint(words):
                continue
            for end in dict.fromkeys(self._ends(headline.tokens, accepts, first, 0, max_gap)):
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
            while at < len(tokens):
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


class PatternIndex:
    """The patterns of a rules file by the words they can start with, so a headline skips at
    once every pattern none of whose first words it contains."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self._by_word: dict[_Word, list[Pattern]] = {}
        self._patterns = frozenset(patterns)
        for pattern in self._patterns:
            for word in pattern._first:
                self._by_word.setdefault(word, []).append(pattern)
        self._words = frozenset(w for p in self._patterns for w in p._words)

    def candidates(self, headline: Headline) -> frozenset[Pattern]:
        """The patterns that may match ``headline``: a word they can start with is in it, and
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
