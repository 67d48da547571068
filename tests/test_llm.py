"""The ``llm`` classifier, only through an injected transport (never the network): the
request, the cache (offline reproduction, keys, foreign files), a malformed answer, a timeout
and the whole-call deadline, a refused request, retries, the budget, token and cost
accounting, and that a backtest never calls the network."""

from __future__ import annotations

import json
import socket

import pytest

from data.errors import DataError
from data.news.llm import (
    PROMPT_VERSION,
    LLMClassifier,
    LLMError,
    LLMSettings,
    TransportError,
    TransportTimeout,
    cache_key,
)
from data.news.rules import load_rules

HEADLINE = "Meta to rent out its idle GPUs to startups"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def answer(category="compute_resale", direction=1, actors=("Meta Platforms",), reason="resale"):
    content = json.dumps(
        {"category": category, "direction": direction, "actors": list(actors), "reason": reason}
    )
    return json.dumps(
        {
            "choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 400, "completion_tokens": 30},
        }
    )


class FakeTransport:
    """Plays back (status, text) replies or raises the exceptions it is given, and records
    every request."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests = []

    def __call__(self, url, headers, body, timeout):
        self.requests.append((url, headers, body, timeout))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def settings(tmp_path, **kwargs):
    values = {"model": "test-model", "cache_dir": tmp_path / "llm", "url": "http://llm.test/v1"}
    values.update(kwargs)
    return LLMSettings(**values)


def classifier(tmp_path, rules, transport, clock=None, **kwargs):
    clock = clock or Clock()
    return LLMClassifier(settings(tmp_path, **kwargs), rules, transport, clock, clock.sleep)


def test_a_valid_answer_becomes_a_verdict_and_is_cached(tmp_path, rules):
    transport = FakeTransport((200, answer()))
    llm = classifier(tmp_path, rules, transport, price_in=1.0, price_out=4.0)
    (verdict,) = llm.classify_many([(HEADLINE, ())])
    assert verdict.classifier == "llm" and verdict.category == "compute_resale"
    assert verdict.direction == 1 and verdict.category_actors() == ("Meta",)  # canonical name
    assert verdict.reason == "llm says compute_resale: resale"
    assert verdict.notes[0].startswith(f"llm test-model ({PROMPT_VERSION}, asked)")
    url, _headers, body, timeout = transport.requests[0]
    assert url == "http://llm.test/v1/chat/completions"
    assert body["model"] == "test-model" and body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["messages"][1]["content"] == f"Headline: {HEADLINE}"
    assert timeout == 30.0
    key = cache_key("test-model", HEADLINE)
    entry = json.loads((tmp_path / "llm" / key[:2] / f"{key}.json").read_text())
    assert entry["prompt_version"] == PROMPT_VERSION and entry["headline"] == HEADLINE
    usage = llm.usage
    assert (usage.requests, usage.cache_hits) == (1, 0)
    assert (usage.prompt_tokens, usage.completion_tokens) == (400, 30)
    assert usage.cost == pytest.approx((400 * 1.0 + 30 * 4.0) / 1e6)
    assert "1 requests, 0 from the cache, 400 prompt + 30 completion tokens" in usage.summary()


def test_the_cache_reproduces_offline_and_keys_on_model_and_prompt(tmp_path, rules):
    classifier(tmp_path, rules, FakeTransport((200, answer()))).classify_many([(HEADLINE, ())])
    offline = classifier(tmp_path, rules, FakeTransport(), offline=True)
    (verdict,) = offline.classify_many([(HEADLINE, ())])  # no request: the transport is empty
    assert verdict.category == "compute_resale" and offline.usage.cache_hits == 1
    other_model = classifier(tmp_path, rules, FakeTransport(), model="other", offline=True)
    with pytest.raises(LLMError, match=r"1 of 1 headlines are not in the LLM cache .* other"):
        other_model.classify_many([(HEADLINE, ())])
    assert cache_key("a", HEADLINE) != cache_key("b", HEADLINE)
    assert cache_key("a", HEADLINE) != cache_key("a", HEADLINE + " ")


def test_a_foreign_cache_file_is_reported_and_never_replaced(tmp_path, rules):
    key = cache_key("test-model", HEADLINE)
    path = tmp_path / "llm" / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_text("my notes")
    with pytest.raises(DataError, match="is not an answer this tool wrote") as exc:
        classifier(tmp_path, rules, FakeTransport()).classify_many([(HEADLINE, ())])
    assert str(path) in str(exc.value)
    assert path.read_text() == "my notes"


def test_a_malformed_answer_is_retried_then_no_trigger_and_not_cached(tmp_path, rules):
    bad = (200, answer(category="compute_resale", direction=-1))  # direction contradicts it
    transport = FakeTransport(bad, (200, '{"choices": []}'), (200, "not json"))
    llm = classifier(tmp_path, rules, transport)
    (verdict,) = llm.classify_many([(HEADLINE, ())])
    assert not verdict.triggered and verdict.reason.startswith("llm: malformed answer")
    assert len(transport.requests) == 3 and llm.usage.malformed == 1
    assert not (tmp_path / "llm").exists()  # nothing cached: a rerun asks again


def test_a_timeout_is_retried_inside_the_deadline(tmp_path, rules):
    clock = Clock()
    transport = FakeTransport(TransportTimeout("slow"), (200, answer()))
    llm = classifier(tmp_path, rules, transport, clock)
    (verdict,) = llm.classify_many([(HEADLINE, ())])
    assert verdict.category == "compute_resale" and len(transport.requests) == 2
    assert clock.now == 1.0  # one pause of 1 s between the attempts


def test_the_whole_call_deadline_stops_the_batch_and_keeps_the_answers(tmp_path, rules):
    clock = Clock()

    class Slow(FakeTransport):
        def __call__(self, url, headers, body, timeout):
            reply = super().__call__(url, headers, body, timeout)
            clock.now += 6.0
            return reply

    transport = Slow((200, answer()), (200, answer()))
    llm = classifier(tmp_path, rules, transport, clock, deadline=10.0, timeout=8.0)
    rows = [(HEADLINE, ()), ("Meta to sell spare compute", ()), ("Third headline", ())]
    with pytest.raises(LLMError, match=r"deadline of 10 s passed; 2 of 3 headlines answered"):
        llm.classify_many(rows)
    assert [r[3] for r in transport.requests] == [8.0, 4.0]  # the timeout is what is left
    offline = classifier(tmp_path, rules, FakeTransport(), offline=True)
    assert len(offline.classify_many(rows[:2])) == 2  # the two answers were cached


def test_a_refused_request_stops_at_once(tmp_path, rules):
    transport = FakeTransport((401, '{"error": {"message": "Incorrect API key"}}'))
    with pytest.raises(LLMError) as exc:
        classifier(tmp_path, rules, transport).classify_many([(HEADLINE, ())])
    message = str(exc.value)
    assert "refused the request (HTTP 401" in message and "Incorrect API key" in message
    assert "CAPEX_LLM_API_KEY" in message and "\n" not in message
    assert len(transport.requests) == 1  # not retried


def test_rate_limits_and_server_errors_are_retried_then_reported(tmp_path, rules):
    transport = FakeTransport((429, "slow down"), (503, "busy"), (200, answer()))
    (verdict,) = classifier(tmp_path, rules, transport).classify_many([(HEADLINE, ())])
    assert verdict.triggered and len(transport.requests) == 3
    failing = FakeTransport(TransportError("refused"), (500, ""), TransportError("refused"))
    with pytest.raises(LLMError, match=r"failed: request failed \(refused\); 0 of 1"):
        classifier(tmp_path, rules, failing).classify_many([("Another headline", ())])


def test_the_request_budget(tmp_path, rules):
    transport = FakeTransport((200, answer()), (200, answer()))
    llm = classifier(tmp_path, rules, transport, budget=1)
    with pytest.raises(LLMError, match=r"request budget of 1 used up; 1 of 2 headlines"):
        llm.classify_many([(HEADLINE, ()), ("Meta to sell spare compute", ())])


def test_the_api_key_comes_from_the_environment(tmp_path, rules, monkeypatch):
    monkeypatch.setenv("CAPEX_LLM_API_KEY", "sk-test")
    monkeypatch.setenv("CAPEX_LLM_MODEL", "env-model")
    found = LLMSettings.from_options({"cache_dir": tmp_path})
    assert found.model == "env-model" and found.api_key == "sk-test"
    assert "sk-test" not in repr(found)
    transport = FakeTransport((200, answer()))
    LLMClassifier(found, rules, transport).classify_many([(HEADLINE, ())])
    assert transport.requests[0][1]["Authorization"] == "Bearer sk-test"
    monkeypatch.delenv("CAPEX_LLM_MODEL")
    with pytest.raises(DataError, match="needs a model: pass --llm-model NAME"):
        LLMSettings.from_options({})
    with pytest.raises(DataError, match="--llm-deadline inf"):
        LLMSettings.from_options({"model": "m", "deadline": float("inf")})


def test_the_llm_classifier_through_the_command_line(tmp_path, capsys, monkeypatch, rules):
    """`events classify --classifier llm` with a fake transport, then the same offline."""
    from clitools import run_cli

    import data.news.llm as llm_module

    news = tmp_path / "news.csv"
    news.write_text(f"published_at,headline\n2026-07-01T08:00,{HEADLINE}\n")
    transport = FakeTransport((200, answer()))
    monkeypatch.setattr(llm_module, "requests_transport", transport)
    args = ["events", "classify", str(news), "--classifier", "llm", "--llm-model", "m"]
    args += ["--llm-cache", str(tmp_path / "cache"), "--explain"]
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "[llm] TRIGGER compute_resale (+1): llm says compute_resale: resale" in stdout
    assert "LLM: 1 requests, 0 from the cache" in err
    code, stdout, err = run_cli(capsys, *args, "--offline")
    assert code == 0 and "LLM: 0 requests, 1 from the cache" in err
    assert len(transport.requests) == 1


def test_a_backtest_with_the_llm_never_calls_the_network(tmp_path, capsys, monkeypatch):
    from clitools import assert_one_line_error, run_cli

    import data.news.llm as llm_module

    def forbidden(*args):
        raise AssertionError("the backtest called the LLM")

    monkeypatch.setattr(llm_module, "requests_transport", forbidden)
    monkeypatch.setenv("CAPEX_LLM_MODEL", "m")
    monkeypatch.setenv("CAPEX_LLM_CACHE", str(tmp_path / "empty-cache"))
    news = tmp_path / "news.csv"
    news.write_text(f"published_at,headline\n2026-07-01T08:00,{HEADLINE}\n")
    code, _, err = run_cli(
        capsys, "backtest", "--news", str(news), "--classifier", "llm", "--out", str(tmp_path / "r")
    )
    assert_one_line_error(code, err, "not in the LLM cache", "never call the network")
