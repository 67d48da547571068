"""The classifier's rules: a TOML file (``data/news/rules.toml`` by default), validated.

The file holds settings (threshold, dedup window, ``...`` gap, negation window), ``[terms]``
(families of wordings), negations and vetoes shared by all categories, actors (with the group a
category may require) and categories (direction, actor groups, weighted signals, their own
negations and vetoes). Patterns use the phrase language of :mod:`data.news.patterns`. Loading
reports the first problem with the file and key (unknown keys name the closest valid one).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from data.errors import DataError
from data.news.gazetteer import Actor, parse_gazetteer
from data.news.patterns import Pattern, PatternIndex, compile_pattern

BUNDLED_RULES = "rules.toml"


@dataclass(frozen=True)
class Signal:
    """Phrases that point to a category, with the weight they add to its score."""

    name: str
    weight: float
    patterns: tuple[Pattern, ...]


@dataclass(frozen=True)
class Category:
    """A kind of trigger: its direction, the actor groups it needs, its signals, its negations
    (cues before a signal that cancel it, or after it) and vetoes (words that put the whole
    headline out of scope for this category)."""

    name: str
    direction: int
    actor_groups: tuple[str, ...]
    signals: tuple[Signal, ...]
    negations: tuple[Pattern, ...]
    negations_after: tuple[Pattern, ...]
    vetoes: tuple[Pattern, ...]
    strong: float = 0.0  # a trigger of this category needs a live signal this heavy

    @functools.cached_property
    def signal_patterns(self) -> frozenset[Pattern]:
        """Every pattern of every signal (a headline none of them may match skips it)."""
        return frozenset(p for s in self.signals for p in s.patterns)


@dataclass(frozen=True)
class Rules:
    """A loaded rules file: settings, shared negations and vetoes, actors and categories."""

    path: str
    sha256: str
    threshold: float
    dedup_window_hours: float
    max_gap: int
    negation_window: int
    negations: tuple[Pattern, ...]
    negations_after: tuple[Pattern, ...]
    scope_breaks: frozenset[str]
    vetoes: tuple[Pattern, ...]
    actors: tuple[Actor, ...]
    categories: tuple[Category, ...]
    strong: float = 0.0
    denials: tuple[Pattern, ...] = ()
    denials_after: tuple[Pattern, ...] = ()
    questions: bool = False
    retraction_window_hours: float = 0.0
    files: tuple[tuple[str, str], ...] = ()  # (origin, sha256) of the rules and gazetteer
    index: PatternIndex = field(compare=False, repr=False, default_factory=lambda: PatternIndex(()))
    alias_owners: dict[Pattern, int] = field(compare=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        patterns = [
            *self.negations,
            *self.negations_after,
            *self.denials,
            *self.denials_after,
            *self.vetoes,
            *(p for a in self.actors for p in a.aliases),
            *(
                p
                for c in self.categories
                for p in (
                    *c.negations,
                    *c.negations_after,
                    *c.vetoes,
                    *(p for s in c.signals for p in s.patterns),
                )
            ),
        ]
        object.__setattr__(self, "index", PatternIndex(patterns))
        owners = {alias: n for n, actor in enumerate(self.actors) for alias in actor.aliases}
        object.__setattr__(self, "alias_owners", owners)

    def category(self, name: str) -> Category:
        """The category called ``name`` (KeyError if the rules have none)."""
        for category in self.categories:
            if category.name == name:
                return category
        raise KeyError(name)


_TOP_KEYS = {
    "version",
    "settings",
    "terms",
    "phrases",
    "negations",
    "vetoes",
    "actors",
    "categories",
}
_SETTINGS = {
    "threshold",
    "strong",
    "dedup_window_hours",
    "retraction_window_hours",
    "max_gap",
    "negation_window",
    "questions",
    "gazetteer",
}
_NEGATION_KEYS = {"before", "after", "denials", "denials_after", "scope_breaks"}
_ACTOR_KEYS = {"group", "aliases", "tickers"}
_CATEGORY_KEYS = {
    "direction",
    "actor_groups",
    "signals",
    "negations",
    "negations_after",
    "vetoes",
    "strong",
}
_SIGNAL_KEYS = {"name", "weight", "patterns"}


class _Reader:
    """Typed access to a TOML table with errors that name the file and the key."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.terms: dict[str, list[str]] = {}
        self.phrases: dict[str, list[str]] = {}

    def fail(self, key: str, message: str) -> DataError:
        return DataError(f"{self.path}: {key}: {message}")

    def table(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {type(value).__name__}")
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(name, sorted(allowed), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(f"{key}.{name}".lstrip("."), f"unknown key{hint}")
        return value

    def number(self, value: Any, key: str, zero_ok: bool = False) -> float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
            bound = ">= 0" if zero_ok else "> 0"
            raise self.fail(key, f"expected a finite number {bound}, got {value!r}")
        return float(value)

    def strings(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "expected a list of non-empty strings")
        return value

    def patterns(self, value: Any, key: str) -> tuple[Pattern, ...]:
        """Compile a list of patterns; an entry ``@name`` stands for ``[phrases].name``."""
        origin = f"{self.path}: {key}"
        compiled = []
        for text in self.strings(value, key):
            if text.startswith("@"):
                name = text[1:]
                if name not in self.phrases:
                    close = difflib.get_close_matches(name, sorted(self.phrases), n=1)
                    hint = f"; did you mean @{close[0]}?" if close else ""
                    raise self.fail(key, f"{text!r}: no [phrases] list {name!r}{hint}")
                compiled += [compile_pattern(p, origin, self.terms) for p in self.phrases[name]]
            else:
                compiled.append(compile_pattern(text, origin, self.terms))
        return tuple(compiled)

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value


def load_rules(path: Path | str | None = None) -> Rules:
    """Load and validate a rules TOML file (the bundled ``data/news/rules.toml`` when ``path``
    is None). Raises DataError naming the file and key of the first problem."""
    if path is None:
        raw = resources.files("data.news").joinpath(BUNDLED_RULES).read_bytes()
        origin = f"<bundled>/news/{BUNDLED_RULES}"
    else:
        origin = str(path)
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise DataError(f"rules file {path} does not exist; pass --rules FILE") from None
        except OSError as exc:
            raise DataError(f"cannot read rules file {path}: {exc.strerror or exc}") from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{origin} is not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{origin} is not valid TOML: {exc}") from None
    folder = None if path is None else Path(path).parent
    return _build(document, origin, hashlib.sha256(raw).hexdigest(), folder)


def _read_gazetteer(r: _Reader, name: Any, folder: Path | None) -> tuple[str, bytes]:
    """The gazetteer file named by ``settings.gazetteer``: beside the rules file, else the
    bundled file of that name (so a copied rules file keeps the shipped actors)."""
    if not isinstance(name, str) or not name.strip():
        raise r.fail("settings.gazetteer", f"expected a file name, got {name!r}")
    if folder is not None and (folder / name).is_file():
        file = folder / name
        try:
            return str(file), file.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read gazetteer {file}: {exc.strerror or exc}") from None
    bundled = resources.files("data.news").joinpath(name)
    if "/" not in name and bundled.is_file():
        return f"<bundled>/news/{name}", bundled.read_bytes()
    where = folder / name if folder is not None else name
    raise r.fail("settings.gazetteer", f"{where} does not exist; give the actors file's name")


def _build(document: dict[str, Any], origin: str, sha256: str, folder: Path | None) -> Rules:
    r = _Reader(origin)
    r.table(document, "", _TOP_KEYS)
    settings = r.table(document.get("settings", {}), "settings", _SETTINGS)
    raw_terms = document.get("terms", {})
    for name, entries in r.table(raw_terms, "terms", _keys(raw_terms)).items():
        for entry in r.strings(entries, f"terms.{name}"):
            if "..." in entry or "<" in entry:
                raise r.fail(f"terms.{name}", f"{entry!r}: a term is words, without ... or <>")
        r.terms[name] = entries
    raw_phrases = document.get("phrases", {})
    for name, entries in r.table(raw_phrases, "phrases", _keys(raw_phrases)).items():
        r.phrases[name] = [e for e in r.strings(entries, f"phrases.{name}") if e]
        r.patterns(entries, f"phrases.{name}")  # compiled once here, to report errors early
    negations = r.table(document.get("negations", {}), "negations", _NEGATION_KEYS)
    breaks = r.strings(negations.get("scope_breaks", []), "negations.scope_breaks")
    vetoes = r.table(document.get("vetoes", {}), "vetoes", {"words"})
    actors = []
    files = [(origin, sha256)]
    if "gazetteer" in settings:
        file, raw = _read_gazetteer(r, settings["gazetteer"], folder)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{file} is not UTF-8 text ({exc.reason})") from None
        actors.extend(parse_gazetteer(text, file, r.terms))
        files.append((file, hashlib.sha256(raw).hexdigest()))
    raw_actors = document.get("actors", {})
    for name, spec in r.table(raw_actors, "actors", _keys(raw_actors)).items():
        key = f"actors.{name}"
        spec = r.table(spec, key, _ACTOR_KEYS)
        if not isinstance(spec.get("group"), str):
            raise r.fail(f"{key}.group", "expected the actor's group name, e.g. 'hyperscaler'")
        aliases = r.patterns(spec.get("aliases", [name]), f"{key}.aliases")
        tickers = tuple(t.upper() for t in r.strings(spec.get("tickers", []), f"{key}.tickers"))
        actors.append(Actor(name, spec["group"], aliases, tickers, ("alias",) * len(aliases)))
    groups = {a.group for a in actors}
    categories = []
    raw_categories = document.get("categories", {})
    for name, spec in r.table(raw_categories, "categories", _keys(raw_categories)).items():
        categories.append(_category(r, name, spec, groups))
    if not categories:
        raise r.fail("categories", "no category defined")
    return Rules(
        path=origin,
        sha256=sha256,
        threshold=r.number(settings.get("threshold", 2.0), "settings.threshold"),
        dedup_window_hours=r.number(
            settings.get("dedup_window_hours", 36), "settings.dedup_window_hours", zero_ok=True
        ),
        max_gap=_count(r, settings.get("max_gap", 4), "settings.max_gap"),
        negation_window=_count(r, settings.get("negation_window", 6), "settings.negation_window"),
        negations=r.patterns(negations.get("before", []), "negations.before"),
        negations_after=r.patterns(negations.get("after", []), "negations.after"),
        denials=r.patterns(negations.get("denials", []), "negations.denials"),
        denials_after=r.patterns(negations.get("denials_after", []), "negations.denials_after"),
        scope_breaks=frozenset(w.lower() for w in breaks),
        vetoes=r.patterns(vetoes.get("words", []), "vetoes.words"),
        actors=tuple(actors),
        categories=tuple(categories),
        strong=r.number(settings.get("strong", 0.0), "settings.strong", zero_ok=True),
        questions=r.flag(settings.get("questions", False), "settings.questions"),
        retraction_window_hours=r.number(
            settings.get("retraction_window_hours", 0.0),
            "settings.retraction_window_hours",
            zero_ok=True,
        ),
        files=tuple(files),
    )


def _count(r: _Reader, value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise r.fail(key, f"expected a whole number >= 0, got {value!r}")
    return value


def _keys(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set()


def _category(r: _Reader, name: str, spec: Any, groups: set[str]) -> Category:
    key = f"categories.{name}"
    spec = r.table(spec, key, _CATEGORY_KEYS)
    direction = spec.get("direction")
    if direction not in (1, -1) or isinstance(direction, bool):
        raise r.fail(f"{key}.direction", f"expected 1 or -1, got {direction!r}")
    wanted = r.strings(spec.get("actor_groups", []), f"{key}.actor_groups")
    for group in wanted:
        if group not in groups:
            close = difflib.get_close_matches(group, sorted(groups), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (groups: {sorted(groups)})"
            raise r.fail(f"{key}.actor_groups", f"no actor has group {group!r}{hint}")
    raw_signals = spec.get("signals", [])
    if not isinstance(raw_signals, list) or not raw_signals:
        raise r.fail(f"{key}.signals", "expected at least one [[signals]] entry")
    signals = []
    for index, raw in enumerate(raw_signals):
        skey = f"{key}.signals[{index}]"
        raw = r.table(raw, skey, _SIGNAL_KEYS)
        if not isinstance(raw.get("name"), str) or not raw["name"]:
            raise r.fail(f"{skey}.name", "expected a name")
        signals.append(
            Signal(
                raw["name"],
                r.number(raw.get("weight"), f"{skey}.weight"),
                r.patterns(raw.get("patterns"), f"{skey}.patterns"),
            )
        )
    return Category(
        name=name,
        direction=direction,
        actor_groups=tuple(wanted),
        signals=tuple(signals),
        negations=r.patterns(spec.get("negations", []), f"{key}.negations"),
        negations_after=r.patterns(spec.get("negations_after", []), f"{key}.negations_after"),
        vetoes=r.patterns(spec.get("vetoes", []), f"{key}.vetoes"),
        strong=r.number(spec.get("strong", 0.0), f"{key}.strong", zero_ok=True),
    )
