"""Pattern words and the tokens they match: case, inflections, prefixes and numbers.

A word of a pattern (see :mod:`data.news.patterns`) matches one token of a headline:

- written in lowercase, it matches any case and every inflection of it, so one stem stands for
  its verb or noun family: ``sell`` matches sell, sells, selling, sold; ``cut`` cuts, cutting;
  ``plan`` planned, planning; ``supply`` supplies, supplied; ``lease`` leased, leasing.
  Regular forms are generated (``-s``, ``-es``, ``-ed``, ``-ing``, a doubled final consonant,
  ``y`` to ``-ies``/``-ied``, a dropped final ``e``) and irregular ones come from
  :data:`IRREGULAR`. Function words (``not``, ``no``, ``own``...) only take ``-s``/``-es``:
  "noted" must never be read as "not";
- with a capital letter, it is case-sensitive, also matches its ALL-CAPS spelling and a plural
  in ``s``/``es`` (``Meta`` matches Meta and META, never meta or metal);
- ``word*`` matches any token starting with ``word`` (in the same case rule);
- ``#`` matches a number: digits (``10``, ``3.5``, ``350k``) or a number word (``two``,
  ``ten``, ``hundred``, ``dozens``).

Matching goes the other way round at run time: an index of every compiled word tells a token,
with a few dictionary lookups, which words accept it; :meth:`Word.matches` is the reference
rule the index must agree with.
"""

from __future__ import annotations

from dataclasses import dataclass

# Irregular verb forms (base: past and participle forms). The regular forms are generated.
IRREGULAR: dict[str, tuple[str, ...]] = {
    "begin": ("began", "begun"),
    "bet": (),
    "blow": ("blew", "blown"),
    "break": ("broke", "broken"),
    "bring": ("brought",),
    "build": ("built",),
    "buy": ("bought",),
    "choose": ("chose", "chosen"),
    "cost": (),
    "cut": (),
    "do": ("did", "done"),
    "draw": ("drew", "drawn"),
    "drive": ("drove", "driven"),
    "fall": ("fell", "fallen"),
    "forgo": ("forwent", "forgone"),
    "freeze": ("froze", "frozen"),
    "get": ("got", "gotten"),
    "give": ("gave", "given"),
    "go": ("went", "gone"),
    "grow": ("grew", "grown"),
    "hold": ("held",),
    "keep": ("kept",),
    "lead": ("led",),
    "lend": ("lent",),
    "make": ("made",),
    "outspend": ("outspent",),
    "overbuild": ("overbuilt",),
    "overspend": ("overspent",),
    "pay": ("paid",),
    "put": (),
    "rebuild": ("rebuilt",),
    "resell": ("resold",),
    "rise": ("rose", "risen"),
    "run": ("ran",),
    "seek": ("sought",),
    "sell": ("sold",),
    "send": ("sent",),
    "set": (),
    "shed": (),
    "shrink": ("shrank", "shrunk"),
    "shut": (),
    "sink": ("sank", "sunk"),
    "spend": ("spent",),
    "spin": ("spun",),
    "split": (),
    "stand": ("stood",),
    "strike": ("struck",),
    "swell": ("swollen",),
    "take": ("took", "taken"),
    "throw": ("threw", "thrown"),
    "undercut": (),
    "win": ("won",),
    "withdraw": ("withdrew", "withdrawn"),
    "write": ("wrote", "written"),
}

# Words that are never inflected beyond a plural (short function words above all: a generated
# "noted" or "inned" must not match them).
UNINFLECTED = frozenset(
    """a about above after against all an and any are as at away back be below but by down for
    from if in into is it its less more no nor not of off on once only or other our out over
    own per so than that the their them then there these they this those to too under up upon
    very via was we were what when which while who why will with without would yet""".split()  # noqa: SIM905
)

NUMBER_WORDS = frozenset(
    """one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
    hundred hundreds thousand thousands dozen dozens""".split()  # noqa: SIM905
)

_VOWELS = frozenset("aeiou")


def inflections(base: str) -> frozenset[str]:
    """Every form a lowercase pattern word matches (itself included)."""
    forms = {base, base + "s", base + "es"}
    if base in UNINFLECTED or len(base) < 2 or not base.isalpha():
        return frozenset(forms)
    forms |= {base + "ed", base + "ing"}
    if base.endswith("e"):
        forms |= {base + "d", base[:-1] + "ing"}
    if base.endswith("y") and base[-2] not in _VOWELS:
        forms |= {base[:-1] + "ies", base[:-1] + "ied"}
    if (
        len(base) >= 3
        and base[-1] not in _VOWELS | {"w", "x", "y"}
        and base[-2] in _VOWELS
        and base[-3] not in _VOWELS
    ):  # plan -> planned, cut -> cutting, cancel -> cancelled (both spellings are kept)
        forms |= {base + base[-1] + "ed", base + base[-1] + "ing"}
    forms.update(IRREGULAR.get(base, ()))
    return frozenset(forms)


@dataclass(frozen=True, eq=False)  # interned by word(): identity is equality
class Word:
    """One word of a pattern: its text, whether it is a prefix (``word*``) or ``#``."""

    text: str
    prefix: bool
    number: bool = False

    @property
    def cased(self) -> bool:
        """Written with a capital letter: case-sensitive (plus its ALL-CAPS spelling)."""
        return self.text != self.text.lower()

    def forms(self) -> frozenset[str]:
        """The lowercase tokens a lowercase non-prefix word matches."""
        return inflections(self.text)

    def matches(self, token: str) -> bool:
        """The reference rule: does this word match ``token``?"""
        if self.number:
            return token[:1].isdigit() or token.lower() in NUMBER_WORDS
        if not self.cased:
            low = token.lower()
            return low.startswith(self.text) if self.prefix else low in self.forms()
        for form in (self.text, self.text.upper()):
            if self.prefix and token.startswith(form):
                return True
            if token.startswith(form) and token[len(form) :].lower() in ("", "s", "es"):
                return True
        return False


_WORDS: dict[tuple[str, bool, bool], Word] = {}
NO_WORDS: frozenset[Word] = frozenset()
_CASED_SUFFIXES = ("", "s", "S", "es", "ES", "Es", "eS")
_SEEN_LIMIT = 200_000  # distinct tokens remembered by the word index


def word(text: str, prefix: bool = False, number: bool = False) -> Word:
    """The one Word for (text, prefix, number), so the index holds each word once."""
    key = (text, prefix, number)
    if key not in _WORDS:
        _WORDS[key] = Word(text, prefix, number)
    return _WORDS[key]


class WordIndex:
    """Every compiled word, indexed so a token finds the words that accept it with a few
    dictionary lookups (the rule of :meth:`Word.matches`, read backwards)."""

    def __init__(self, words: list[Word]) -> None:
        self.words = frozenset(words)
        self.forms: dict[str, set[Word]] = {}  # lowercase words, by every form
        self.prefixes: dict[str, set[Word]] = {}  # lowercase word*, by text
        self.cased: dict[str, set[Word]] = {}  # capitalised words, by text and ALL CAPS
        self.cased_prefixes: dict[str, set[Word]] = {}
        self.numbers = {w for w in words if w.number}
        for w in words:
            if w.number:
                continue
            if not w.cased:
                if w.prefix:
                    self.prefixes.setdefault(w.text, set()).add(w)
                else:
                    for form in w.forms():
                        self.forms.setdefault(form, set()).add(w)
            else:
                table = self.cased_prefixes if w.prefix else self.cased
                for form in (w.text, w.text.upper()):
                    table.setdefault(form, set()).add(w)
        self.longest = max((len(k) for k in (*self.prefixes, *self.cased_prefixes)), default=0)
        self._seen: dict[str, frozenset[Word]] = {}

    def accepting(self, token: str) -> frozenset[Word]:
        """The words that match ``token`` (remembered: headlines share most of their words)."""
        found = self._seen.get(token)
        if found is None:
            if len(self._seen) >= _SEEN_LIMIT:
                self._seen.clear()
            found = self._seen[token] = frozenset(self._accepting(token))
        return found

    def _accepting(self, token: str) -> set[Word]:
        found: set[Word] = set()
        low = token.lower()
        if token[:1].isdigit() or low in NUMBER_WORDS:
            found |= self.numbers
        found |= self.forms.get(low, set())
        for suffix in _CASED_SUFFIXES:
            if token.endswith(suffix):
                found |= self.cased.get(token[: len(token) - len(suffix)], set())
        for k in range(1, min(len(token), self.longest) + 1):
            found |= self.prefixes.get(low[:k], set())
            found |= self.cased_prefixes.get(token[:k], set())
        return found


_INDEX: WordIndex | None = None


def word_index() -> WordIndex:
    """The index of every word compiled so far (rebuilt when new words were compiled)."""
    global _INDEX
    if _INDEX is None or len(_INDEX.words) != len(_WORDS):
        _INDEX = WordIndex(list(_WORDS.values()))
    return _INDEX
