"""The gazetteer: the companies a trigger needs and every way a headline names them.

A gazetteer is a TOML file (``data/news/actors.toml`` by default) with one table per actor:
``group`` (what a category may require) and lists of ``names``, ``tickers``, ``people``,
``subsidiaries``, ``products`` and ``nicknames``. Each entry is a pattern of the rules' phrase
language; tickers are also matched against an item's ``tickers`` column. Loading validates
the file: unknown keys (with the closest valid one), a missing group, an entry that is not a
non-empty string, a ticker that is not capitals and digits, and an alias given to two actors
are errors naming the file and the key.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from data.errors import DataError
from data.news.patterns import Pattern, compile_pattern

ALIAS_KINDS = ("names", "tickers", "people", "subsidiaries", "products", "nicknames")
_KIND_WORD = {
    "names": "name",
    "tickers": "ticker",
    "people": "person",
    "subsidiaries": "subsidiary",
    "products": "product",
    "nicknames": "nickname",
    "aliases": "alias",
}
_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.]{0,9}$")


@dataclass(frozen=True)
class Actor:
    """A company (or kind of company) the news must involve.

    ``aliases`` are the patterns that name it and ``kinds`` what each one is (``name``,
    ``ticker``, ``person``, ``subsidiary``, ``product``, ``nickname``), for explanations;
    ``tickers`` are also matched against an item's tickers column."""

    name: str
    group: str
    aliases: tuple[Pattern, ...]
    tickers: tuple[str, ...]
    kinds: tuple[str, ...] = ()

    def kind_of(self, alias: Pattern) -> str:
        """What ``alias`` is for this actor (``alias`` when the rules did not say)."""
        for pattern, kind in zip(self.aliases, self.kinds, strict=False):
            if pattern is alias:
                return kind
        return "alias"


def _fail(origin: str, key: str, message: str) -> DataError:
    return DataError(f"{origin}: {key}: {message}")


def _strings(origin: str, value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(origin, key, "expected a list of non-empty strings")
    return value


def parse_gazetteer(text: str, origin: str, terms: dict[str, list[str]]) -> tuple[Actor, ...]:
    """Validate a gazetteer document (TOML text) into actors, in file order."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{origin} is not valid TOML: {exc}") from None
    actors = []
    owner: dict[str, str] = {}  # alias text -> actor that has it
    allowed = {"group", *ALIAS_KINDS}
    for name, spec in document.items():
        if not isinstance(spec, dict):
            raise _fail(origin, name, "expected a table ([Name] with group and names)")
        for key in spec:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise _fail(origin, f"{name}.{key}", f"unknown key{hint}")
        if not isinstance(spec.get("group"), str) or not spec["group"].strip():
            raise _fail(origin, f"{name}.group", "expected the actor's group, e.g. 'hyperscaler'")
        aliases, kinds = [], []
        tickers = _strings(origin, spec.get("tickers", []), f"{name}.tickers")
        for ticker in tickers:
            if not _TICKER.match(ticker):
                raise _fail(origin, f"{name}.tickers", f"{ticker!r} is not a ticker (A-Z, 0-9)")
        for kind in ALIAS_KINDS:
            for text_ in _strings(origin, spec.get(kind, []), f"{name}.{kind}"):
                if text_ in owner and owner[text_] != name:
                    raise _fail(origin, f"{name}.{kind}", f"{text_!r} already names {owner[text_]}")
                owner[text_] = name
                aliases.append(compile_pattern(text_, f"{origin}: {name}.{kind}", terms))
                kinds.append(_KIND_WORD[kind])
        if not aliases:
            raise _fail(origin, name, "no names: give at least one of " + ", ".join(ALIAS_KINDS))
        actors.append(Actor(name, spec["group"], tuple(aliases), tuple(tickers), tuple(kinds)))
    return tuple(actors)
