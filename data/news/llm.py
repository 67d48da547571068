"""The ``llm`` classifier: an OpenAI-compatible chat-completions endpoint behind a cache.

Any server that speaks ``POST {url}/chat/completions`` works: a hosted API, or a local
llama.cpp, vLLM or Ollama server. Each headline is sent with a fixed, versioned prompt
(:data:`PROMPT_VERSION`) at temperature 0 and a JSON-schema answer is asked for: ``category``,
``direction``, ``actors`` and a one-line ``reason``.

- **Cache.** Every valid answer is stored in the cache folder (``--llm-cache``, else
  ``$CAPEX_LLM_CACHE``, else the user cache folder's ``capex-rotation/llm``), one JSON file per
  key, the sha256 of (model, prompt version, headline), written atomically. A headline in the
  cache is never sent again, so a classified file is reproduced offline; ``offline`` mode
  (what ``backtest --news`` uses) never calls the network and reports the headlines missing.
- **Deadline.** The whole batch has one deadline (``--llm-deadline``, seconds); every request's
  timeout is cut to what is left. When it passes, the answers so far stay cached and the error
  says how many are done: rerun to go on.
- **Retries.** A timeout, a connection error, HTTP 429 or 5xx, or a malformed answer is retried
  (``retries`` times, with 1, 2, 4... s pauses inside the deadline); a refused request (other
  4xx: bad key, unknown model) stops at once with the server's message.
- **Budget.** At most ``--llm-budget`` requests per batch (retries count).
- **Accounting.** Requests, cache hits, prompt and completion tokens (from the answer's
  ``usage``) and the cost at ``--llm-price-in`` / ``--llm-price-out`` dollars per million
  tokens.

A malformed answer that stays malformed is no trigger, with the reason, and is not cached.
The network is reached only through a transport callable, so tests inject a fake one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.atomic import write_bytes_atomically
from data.errors import DataError
from data.news.classifier import classify_headline, find_actors
from data.news.classifiers import Row, decided_by
from data.news.rules import Rules
from data.news.verdict import Verdict

PROMPT_VERSION = "capex-headlines-v1"
CACHE_ENV = "CAPEX_LLM_CACHE"
DEFAULT_URL = "https://api.openai.com/v1"

SYSTEM_PROMPT = """You label financial news headlines for a backtest of the "capex-to-efficiency
rotation": news that the AI industry is moving from competing on how much it spends on AI
infrastructure to competing on how efficiently it uses it.

Categories (direction):
- custom_silicon (+1): an AI lab, hyperscaler or large AI user designs, builds, adopts or
  deploys its own or a custom AI chip/accelerator (alone or with a chip designer or foundry),
  or moves a large workload from merchant GPUs to such a chip. Talks, plans, reports count.
- compute_resale (+1): a hyperscaler, AI lab or big AI buyer sells, rents out, leases out or
  otherwise monetises its spare/surplus/idle AI compute or data-centre capacity to others.
- capex_cut (+1): an AI spender cuts, trims, pauses, delays, slows, caps or cancels AI or
  data-centre capital spending, projects, leases or build-outs (or guides spending lower).
- efficiency_breakthrough (+1): a model, technique or product that needs much less compute,
  memory or hardware for the same result, presented as such.
- capex_raise (-1): an AI spender raises or sets a record/bigger-than-expected AI or
  data-centre capital-spending plan, or announces a very large new data-centre build-out.
- mega_order (-1): a very large order, purchase commitment, supply deal or letter of intent
  for GPUs, AI accelerators, HBM or AI data-centre capacity from a supplier.
- none (0): anything else: denials, negations and refuted rumours; the same words in another
  sense (price cuts, job cuts, potato chips, medical breakthroughs, stadium capacity);
  capital spending that is not AI; chips for cars, phones, laptops, consoles; ordinary
  corporate news (earnings, dividends, buybacks, executives, lawsuits, memory prices, export
  rules); questions and opinion pieces that do not report an event. If a headline reports a
  +1 and a -1 thing equally, answer none.

Answer with JSON only: {"category": ..., "direction": ..., "actors": [...], "reason": "..."}
where direction is the category's (+1, -1 or 0), actors are the companies the headline is
about, and reason is one short line."""

CATEGORIES = (
    "custom_silicon",
    "compute_resale",
    "capex_cut",
    "efficiency_breakthrough",
    "capex_raise",
    "mega_order",
    "none",
)
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "direction": {"type": "integer", "enum": [-1, 0, 1]},
        "actors": {"type": "array", "items": {"type": "string"}},
        "reason": {"type": "string"},
    },
    "required": ["category", "direction", "actors", "reason"],
    "additionalProperties": False,
}


class TransportTimeout(Exception):
    """The request did not finish in its timeout."""


class TransportError(Exception):
    """The request could not be sent or answered (connection refused, DNS...)."""


# (url, headers, JSON body, timeout in seconds) -> (HTTP status, response text)
Transport = Callable[[str, dict[str, str], dict[str, Any], float], tuple[int, str]]


def requests_transport(
    url: str, headers: dict[str, str], body: dict[str, Any], timeout: float
) -> tuple[int, str]:
    """The real transport: one POST with requests (connect and read timeouts both cut)."""
    import requests

    try:
        response = requests.post(url, headers=headers, json=body, timeout=(timeout, timeout))
    except requests.Timeout as exc:
        raise TransportTimeout(str(exc)) from None
    except requests.RequestException as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from None
    return response.status_code, response.text


class LLMError(DataError):
    """The endpoint refused, the deadline passed, the budget ran out or offline answers are
    missing; answers obtained before are cached."""


@dataclass(frozen=True)
class LLMSettings:
    """Where and how to ask (see the module docstring)."""

    model: str
    url: str = DEFAULT_URL
    api_key: str = field(default="", repr=False)
    cache_dir: Path = Path()
    deadline: float = 120.0
    timeout: float = 30.0
    retries: int = 2
    budget: int = 500
    price_in: float = 0.0
    price_out: float = 0.0
    offline: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> LLMSettings:
        """Settings from CLI options (None: not given), else the environment: model
        ``CAPEX_LLM_MODEL``, url ``CAPEX_LLM_URL``, key ``CAPEX_LLM_API_KEY`` (else
        ``OPENAI_API_KEY``), cache ``CAPEX_LLM_CACHE``."""
        model = options.get("model") or os.environ.get("CAPEX_LLM_MODEL", "")
        if not model:
            raise DataError(
                "--classifier llm needs a model: pass --llm-model NAME or set CAPEX_LLM_MODEL"
            )
        cache = options.get("cache_dir") or os.environ.get(CACHE_ENV) or _user_cache()
        values = {
            "model": str(model),
            "url": str(options.get("url") or os.environ.get("CAPEX_LLM_URL") or DEFAULT_URL),
            "api_key": os.environ.get("CAPEX_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY", ""),
            "cache_dir": Path(str(cache)).expanduser(),
            "offline": bool(options.get("offline", False)),
        }
        for key in ("deadline", "timeout", "budget", "retries", "price_in", "price_out"):
            if options.get(key) is not None:
                values[key] = options[key]
        settings = cls(**values)
        for name in ("deadline", "timeout", "price_in", "price_out"):
            value = getattr(settings, name)
            if (
                not isinstance(value, int | float)
                or value != value
                or value < 0
                or value == float("inf")
            ):
                raise DataError(f"--llm-{name.replace('_', '-')} {value}: a finite number >= 0")
        if settings.budget < 0 or settings.retries < 0:
            raise DataError("--llm-budget and retries must be 0 or more")
        return settings


def _user_cache() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("capex-rotation")) / "llm"


@dataclass
class Usage:
    """What a batch cost: requests sent, cache hits, tokens, dollars, malformed answers."""

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    malformed: int = 0

    def summary(self) -> str:
        return (
            f"LLM: {self.requests} requests, {self.cache_hits} from the cache, "
            f"{self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion tokens, "
            f"${self.cost:.4f}, {self.malformed} malformed answers"
        )


def cache_key(model: str, headline: str) -> str:
    """The cache key of a headline's answer: sha256 of model, prompt version and headline."""
    return hashlib.sha256(json.dumps([model, PROMPT_VERSION, headline]).encode()).hexdigest()


class LLMClassifier:
    """Classify headlines by asking the endpoint (or the cache), with the rules supplying the
    actors' canonical names and the denials (for story merging and retractions)."""

    name = "llm"

    def __init__(
        self,
        settings: LLMSettings,
        rules: Rules,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.transport = transport or requests_transport
        self.clock = clock
        self.sleep = sleep
        self.usage = Usage()

    def inputs(self) -> dict[str, str]:
        described = json.dumps([self.settings.model, PROMPT_VERSION, self.settings.url])
        return {
            **dict(self.rules.files),
            f"llm:{self.settings.model}@{PROMPT_VERSION}": hashlib.sha256(
                described.encode()
            ).hexdigest(),
        }

    def classify_many(self, rows: Sequence[Row]) -> list[Verdict]:
        """A verdict per row, in order. Raises LLMError (after caching what was answered)
        when the endpoint refuses, the deadline passes, the budget runs out, or (offline)
        answers are missing from the cache."""
        started = self.clock()
        answers: list[tuple[dict[str, Any] | None, str]] = []
        missing = [h for h, _ in rows if self._cached(h) is None]
        if self.settings.offline and missing:
            raise LLMError(
                f"{len(missing)} of {len(rows)} headlines are not in the LLM cache "
                f"{self.settings.cache_dir} for model {self.settings.model} ({PROMPT_VERSION}), "
                f"first: {missing[0][:80]!r}; run `capex-rotation events classify --classifier "
                "llm` on them first (offline runs never call the network)"
            )
        for done, (headline, _) in enumerate(rows):
            cached = self._cached(headline)
            if cached is not None:
                self.usage.cache_hits += 1
                answers.append((cached, "cached"))
                continue
            answers.append(self._ask(headline, started, done, len(rows)))
        return [
            self._verdict(headline, tickers, answer, origin)
            for (headline, tickers), (answer, origin) in zip(rows, answers, strict=True)
        ]

    # --- the cache ------------------------------------------------------------------------

    def _path(self, headline: str) -> Path:
        key = cache_key(self.settings.model, headline)
        return self.settings.cache_dir / key[:2] / f"{key}.json"

    def _cached(self, headline: str) -> dict[str, Any] | None:
        path = self._path(headline)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DataError(f"cannot read LLM cache file {path}: {exc.strerror or exc}") from None
        try:
            entry = json.loads(raw.decode("utf-8"))
            ours = (
                entry["model"] == self.settings.model
                and entry["prompt_version"] == PROMPT_VERSION
                and entry["headline"] == headline
            )
            answer = _valid_answer(entry["answer"])
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            ours, answer = False, None
        if not ours or answer is None:
            raise DataError(
                f"LLM cache file {path} is not an answer this tool wrote for this headline; "
                "delete it or pass another --llm-cache folder"
            )
        return answer

    def _store(self, headline: str, answer: dict[str, Any], usage: dict[str, Any]) -> None:
        entry = {
            "model": self.settings.model,
            "prompt_version": PROMPT_VERSION,
            "headline": headline,
            "answer": answer,
            "usage": usage,
        }
        text = json.dumps(entry, sort_keys=True, ensure_ascii=False, indent=1) + "\n"
        try:
            write_bytes_atomically(self._path(headline), text.encode("utf-8"))
        except OSError as exc:
            raise DataError(
                f"cannot write the LLM cache in {self.settings.cache_dir}: "
                f"{exc.strerror or exc}; pass --llm-cache FOLDER"
            ) from None

    # --- asking ---------------------------------------------------------------------------

    def _ask(
        self, headline: str, started: float, done: int, total: int
    ) -> tuple[dict[str, Any] | None, str]:
        s = self.settings
        body = {
            "model": s.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"Headline: {headline}"},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "headline_label", "strict": True, "schema": ANSWER_SCHEMA},
            },
        }
        headers = {"Content-Type": "application/json"}
        if s.api_key:
            headers["Authorization"] = f"Bearer {s.api_key}"
        url = s.url.rstrip("/") + "/chat/completions"
        progress = f"{done} of {total} headlines answered (the answers are cached: rerun to go on)"
        problem = ""
        for attempt in range(s.retries + 1):
            left = s.deadline - (self.clock() - started)
            if left <= 0:
                raise LLMError(f"LLM deadline of {s.deadline:g} s passed; {progress}")
            if self.usage.requests >= s.budget:
                raise LLMError(f"LLM request budget of {s.budget} used up; {progress}")
            if attempt:
                self.sleep(min(2.0 ** (attempt - 1), max(left - 0.001, 0.0)))
                left = s.deadline - (self.clock() - started)
                if left <= 0:
                    raise LLMError(f"LLM deadline of {s.deadline:g} s passed; {progress}")
            self.usage.requests += 1
            try:
                status, text = self.transport(url, headers, body, min(s.timeout, left))
            except TransportTimeout:
                problem = f"no answer within {min(s.timeout, left):g} s"
                continue
            except TransportError as exc:
                problem = f"request failed ({exc})"
                continue
            if status == 429 or status >= 500:
                problem = f"HTTP {status}"
                continue
            if status >= 400:
                raise LLMError(
                    f"the LLM endpoint {url} refused the request (HTTP {status}: "
                    f"{_snippet(text)}); check --llm-model, --llm-url and CAPEX_LLM_API_KEY"
                )
            answer, usage, problem = _parse(text)
            self._account(usage)
            if answer is not None:
                self._store(headline, answer, usage)
                return answer, "asked"
        self.usage.malformed += problem.startswith("malformed")
        if not problem.startswith("malformed"):
            raise LLMError(f"the LLM endpoint {url} failed: {problem}; {progress}")
        return None, problem

    def _account(self, usage: dict[str, Any]) -> None:
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        self.usage.prompt_tokens += prompt
        self.usage.completion_tokens += completion
        s = self.settings
        self.usage.cost += (prompt * s.price_in + completion * s.price_out) / 1e6

    def _verdict(
        self, headline: str, tickers: Sequence[str], answer: dict[str, Any] | None, origin: str
    ) -> Verdict:
        by_rules = classify_headline(headline, self.rules, tickers)
        if answer is None:
            reason = f"llm: {origin}"
            return decided_by(self.name, by_rules, self.rules, None, reason, (reason,))
        category = None if answer["category"] == "none" else answer["category"]
        actors = [n for a in answer["actors"] for n in (find_actors(a, self.rules) or [a])]
        note = (
            f"llm {self.settings.model} ({PROMPT_VERSION}, {origin}): {answer['category']} "
            f"{answer['direction']:+d}, actors {', '.join(answer['actors']) or 'none'}"
        )
        reason = f"llm says {answer['category']}: {answer['reason']}"
        return decided_by(self.name, by_rules, self.rules, category, reason, (note,), None, actors)


def _snippet(text: str, size: int = 160) -> str:
    line = " ".join(str(text).split())
    return line[:size] + ("..." if len(line) > size else "")


def _valid_answer(answer: Any) -> dict[str, Any] | None:
    """The answer if it follows the schema (category, direction that fits it, actors, a
    one-line reason), else None."""
    if not isinstance(answer, dict) or set(answer) - set(ANSWER_SCHEMA["properties"]):
        return None
    category, direction = answer.get("category"), answer.get("direction")
    actors, reason = answer.get("actors"), answer.get("reason")
    expected = 0 if category == "none" else (-1 if category in ("capex_raise", "mega_order") else 1)
    if (
        category not in CATEGORIES
        or isinstance(direction, bool)
        or direction != expected
        or not isinstance(actors, list)
        or not all(isinstance(a, str) for a in actors)
        or not isinstance(reason, str)
    ):
        return None
    return {
        "category": category,
        "direction": int(direction),
        "actors": [" ".join(a.split()) for a in actors if a.strip()],
        "reason": " ".join(reason.split())[:200],
    }


def _parse(text: str) -> tuple[dict[str, Any] | None, dict[str, Any], str]:
    """(answer or None, usage, problem) from a chat-completions response body."""
    try:
        body = json.loads(text)
        usage = body.get("usage") or {}
        content = body["choices"][0]["message"]["content"]
        answer = _valid_answer(json.loads(content))
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
        return None, {}, f"malformed answer ({_snippet(text, 80)})"
    if answer is None:
        return (
            None,
            usage if isinstance(usage, dict) else {},
            f"malformed answer ({_snippet(content, 80)})",
        )
    return answer, usage if isinstance(usage, dict) else {}, ""
