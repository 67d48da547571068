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
from collections.abc import Iterator
from dataclasses import dataclass

from data.errors import DataError

_WORD = r"[^\W\d_]+|\d+(?:[.,]\d+)*(?:[kK](?![^\W\d_]))?"
_TEXT_TOKENS = re.compile(rf"(?P<word>{_WORD})|(?P<brk>[;:,!?|—]|(?<=\s)[-–](?=\s)|\.(?=\s))")
_PATTERN_WORDS = re.compile(_WORD)


@dataclass(frozen=True)
class Token:
    """A word of a headline (or a clause break when ``brk``), with its span in the text.

    ``filler`` marks the ``s`` of a possessive ("Meta's"): patterns can name it, but ``...``
    does not count it as a skipped word."""

    text: str
    start: int
    end: int
    brk: bool = False
    filler: bool = False


def tokenize(text: str) -> list[Token]:
    """Split a headline into words and clause breaks (curly quotes are read as straight)."""
    clean = text.replace("’", "'").replace("‘", "'")
    return [
        Token(
            m.group(),
            m.start(),
            m.end(),
            brk=m.lastgroup == "brk",
            filler=m.group() in ("s", "S") and clean[m.start() - 1 : m.start()] == "'",
        )
        for m in _TEXT_TOKENS.finditer(clean)
    ]


class Headline:
    """A tokenized headline, with a cache of the positions where each pattern word matches
    (patterns share words, so each word is tested once per headline)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        words = [(i, t.text) for i, t in enumerate(self.tokens) if not t.brk]
        self._words = words
        self._lower = [(i, w.lower()) for i, w in words]
        self._by_text: dict[str, list[int]] = {}
        self._by_lower: dict[str, list[int]] = {}
        for (i, word), (_, low) in zip(words, self._lower, strict=True):
            self._by_text.setdefault(word, []).append(i)
            self._by_lower.setdefault(low, []).append(i)
        self._numbers = frozenset(i for i, w in words if w[:1].isdigit())
        self._positions: dict[_Word, frozenset[int]] = {}

    def positions(self, word: _Word) -> frozenset[int]:
        """Indexes of the (non-break) tokens that ``word`` matches (see :meth:`_Word.matches`)."""
        found = self._positions.get(word)
        if found is None:
            found = self._find(word)
            self._positions[word] = found
        return found

    def _find(self, word: _Word) -> frozenset[int]:
        text = word.text
        if word.number:
            return self._numbers
        if text == text.lower():  # any case
            if word.prefix:
                return frozenset(i for i, low in self._lower if low.startswith(text))
            forms = (text, text + "s", text + "es")
            return frozenset(i for f in forms for i in self._by_lower.get(f, ()))
        upper = text.upper()  # this spelling or ALL CAPS
        if word.prefix:
            return frozenset(i for i, w in self._words if w.startswith(text) or w.startswith(upper))
        suffixes = ("", "s", "S", "es", "ES", "Es", "eS")
        return frozenset(
            i for form in (text, upper) for s in suffixes for i in self._by_text.get(form + s, ())
        )

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


_WORDS: dict[tuple[str, bool, bool], _Word] = {}


def _word(text: str, prefix: bool = False, number: bool = False) -> _Word:
    """The one _Word for (text, prefix, number), so headlines cache its matches once."""
    key = (text, prefix, number)
    if key not in _WORDS:
        _WORDS[key] = _Word(text, prefix, number)
    return _WORDS[key]


GAP = None  # a "..." element
_Choice = tuple[tuple[_Word, ...], ...]  # alternative runs of consecutive words


@dataclass(frozen=True)
class Pattern:
    """A compiled phrase; ``text`` is how it was written in the rules. Each element is GAP or
    a choice of alternative word runs (one run for a plain word, one per entry for a term)."""

    text: str
    elements: tuple[_Choice | None, ...]

    def find(self, headline: Headline, max_gap: int) -> list[tuple[int, int]]:
        """Every (first, last) token index range where the pattern matches, by first index."""
        for choice in self.elements:
            if choice is not GAP and not any(
                all(headline.positions(w) for w in run) for run in choice
            ):
                return []
        starts = sorted({i for run in self.elements[0] for i in headline.positions(run[0])})
        found = []
        for first in starts:
            for end in dict.fromkeys(self._ends(headline, first, 0, max_gap)):
                found.append((first, end))
        return found

    def _ends(self, headline: Headline, at: int, element: int, max_gap: int) -> Iterator[int]:
        """Yield every last-token index of a match of elements[element:] starting at ``at``."""
        tokens = headline.tokens
        choice = self.elements[element]
        if choice is GAP:  # the next element here, or after 1..max_gap skipped words
            skipped = 0
            while at < len(tokens):
                yield from self._ends(headline, at, element + 1, max_gap)
                if tokens[at].brk:
                    return
                skipped += not tokens[at].filler
                if skipped > max_gap:
                    return
                at += 1
            return
        for run in choice:
            if all(at + k in headline.positions(w) for k, w in enumerate(run)):
                last = at + len(run) - 1
                if element == len(self.elements) - 1:
                    yield last
                else:
                    yield from self._ends(headline, last + 1, element + 1, max_gap)


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
