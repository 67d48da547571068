"""Streaming SPA / reality check against arch.bootstrap.SPA, PBO by CSCV against a brute-force
loop, and the one-pass SelectionStatistics against the pieces it combines."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from arch.bootstrap import SPA

from backtests.research.pbo import BlockSums, block_edges, pbo_from_returns
from backtests.research.selection import deflated_sharpe_ratio, probabilistic_sharpe_ratio
from backtests.research.selection_stream import SelectionStatistics, iter_chunks
from backtests.research.spa import (
    StreamingSPA,
    bootstrap_weights,
    default_block,
    long_run_variance,
)


def _returns(seed: int, configs: int, sessions: int, drift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.01, sessions)
    own = rng.normal(0, 0.01, (configs, sessions))
    return drift + rng.uniform(-1, 1, (configs, 1)) * common + own


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_reality_check_p_values_equal_arch_spa(seed):
    returns = _returns(seed, 23, 300)
    bench = np.random.default_rng(100 + seed).normal(0.0002, 0.01, 300)
    arch_spa = SPA(-bench, -returns.T, block_size=12, reps=400, seed=seed)
    arch_spa.compute()
    streamed = StreamingSPA({"b": bench}, reps=400, block=12, seed=seed)
    for chunk in (returns[:5], returns[5:6], returns[6:]):  # any chunking
        streamed.add(chunk)
    out = streamed.result()["b"]
    expected = arch_spa.pvalues
    assert out["rc_lower"] == expected["lower"]
    assert out["rc_consistent"] == expected["consistent"]
    assert out["rc_upper"] == expected["upper"]
    assert out["rc_statistic"] == pytest.approx((returns - bench).mean(axis=1).max())
    # arch ignores `studentize` for the statistic: the same p-values without it.
    unstudentized = SPA(-bench, -returns.T, block_size=12, reps=400, seed=seed, studentize=False)
    unstudentized.compute()
    assert list(unstudentized.pvalues) == list(expected)


def test_long_run_variance_equals_archs_loop_estimator():
    returns = _returns(5, 6, 250)
    bench = np.zeros(250)
    arch_spa = SPA(bench, -returns.T, block_size=7, reps=10, seed=0)
    arch_spa._compute_variance()  # arch's O(T^2) loop; ours goes through one FFT
    np.testing.assert_allclose(long_run_variance(returns, 7), arch_spa._loss_diff_var, rtol=1e-10)


def test_studentized_spa_against_a_loop():
    returns = _returns(6, 9, 200, drift=0.0003)
    bench = np.zeros(200)
    reps, block, seed = 300, 8, 11
    out = StreamingSPA({"flat": bench}, reps=reps, block=block, seed=seed)
    out.add(returns)
    result = out.result()["flat"]
    weights = bootstrap_weights(200, reps, block, seed)
    t = 200
    mean = returns.mean(axis=1)
    omega = np.sqrt(long_run_variance(returns, block))
    statistic = max(max(np.sqrt(t) * mean / omega), 0.0)
    threshold = np.sqrt(2 * np.log(np.log(t)) / t)
    for label in ("lower", "consistent", "upper"):
        exceed = 0
        for b in range(reps):
            best = 0.0
            for k in range(len(returns)):
                if label == "lower":
                    g = max(mean[k], 0.0)
                elif label == "consistent":
                    g = mean[k] if mean[k] >= -omega[k] * threshold else 0.0
                else:
                    g = mean[k]
                boot = returns[k] @ weights[b]
                best = max(best, np.sqrt(t) * (boot - g) / omega[k])
            exceed += best > statistic
        assert result[f"spa_{label}"] == exceed / reps
    assert result["spa_statistic"] == pytest.approx(statistic)
    assert result["block"] == block and result["reps"] == reps


def test_bootstrap_weights_are_archs_resamples():
    weights = bootstrap_weights(50, 3, 5, seed=9)
    arch_spa = SPA(np.zeros(50), np.zeros((50, 1)), block_size=5, reps=3, seed=9)
    for b, _ in enumerate(arch_spa.bootstrap.bootstrap(3)):
        counts = np.bincount(arch_spa.bootstrap.index, minlength=50)
        np.testing.assert_array_equal(weights[b] * 50, counts)
    assert default_block(2900) == 53


def test_several_benchmarks_share_resamples_and_equal_separate_runs():
    returns = _returns(7, 12, 150)
    flat, market = np.zeros(150), np.random.default_rng(8).normal(0.0005, 0.01, 150)
    both = StreamingSPA({"flat": flat, "market": market}, reps=200, block=6, seed=3)
    both.add(returns)
    together = both.result()
    for name, series in (("flat", flat), ("market", market)):
        alone = StreamingSPA({name: series}, reps=200, block=6, seed=3)
        alone.add(returns)
        assert alone.result()[name] == pytest.approx(together[name])


# --- PBO ------------------------------------------------------------------------------------


def _sharpe(x: np.ndarray) -> float:
    std = x.std(ddof=1)
    return float(x.mean() / std) if std > 1e-12 * np.sqrt(np.mean(x * x)) else 0.0


def _pbo_loop(returns: np.ndarray, blocks: int) -> tuple[float, list[float]]:
    configs, t = returns.shape
    edges = block_edges(t, blocks)
    pieces = [np.arange(edges[j], edges[j + 1]) for j in range(blocks)]
    logits = []
    for train in combinations(range(blocks), blocks // 2):
        test = [j for j in range(blocks) if j not in train]
        is_rows = np.concatenate([pieces[j] for j in train])
        oos_rows = np.concatenate([pieces[j] for j in test])
        is_sr = [_sharpe(returns[k, is_rows]) for k in range(configs)]
        oos_sr = [_sharpe(returns[k, oos_rows]) for k in range(configs)]
        best = int(np.argmax(is_sr))
        below = sum(v < oos_sr[best] for v in oos_sr)
        equal = sum(v == oos_sr[best] for v in oos_sr)
        omega = (below + (equal + 1) / 2) / (configs + 1)
        logits.append(np.log(omega / (1 - omega)))
    return float(np.mean(np.array(logits) <= 0)), logits


@pytest.mark.parametrize("seed", [0, 1])
def test_pbo_against_a_brute_force_loop(seed):
    returns = _returns(seed, 7, 130)
    returns[3] = 0.0  # a flat config: Sharpe 0 in every half
    expected, logits = _pbo_loop(returns, 6)
    out = pbo_from_returns(returns, blocks=6)
    assert out["pbo"] == pytest.approx(expected)
    assert out["splits"] == 20 and out["blocks"] == 6 and out["configs"] == 7
    np.testing.assert_allclose(np.sort(out["logits"]), np.sort(logits), rtol=1e-9)
    assert out["median_logit"] == pytest.approx(np.median(logits))


def test_pbo_extremes_and_chunking():
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.01, (40, 400))
    assert 0.2 < pbo_from_returns(noise, 8)["pbo"] < 0.8  # pure noise: about a coin flip
    skilled = noise.copy()
    skilled[0] += 0.004  # one config clearly better in every block
    assert pbo_from_returns(skilled, 8)["pbo"] == 0.0
    acc = BlockSums(400, 8)
    for chunk in iter_chunks(noise, 7):
        acc.add(chunk)
    from backtests.research.pbo import probability_of_overfitting

    small_budget = probability_of_overfitting(*acc.arrays(), budget=50)
    assert small_budget["pbo"] == pbo_from_returns(noise, 8)["pbo"]
    with pytest.raises(ValueError, match="even number"):
        block_edges(400, 7)


# --- everything in one pass -----------------------------------------------------------------


def test_selection_statistics_in_one_pass_equal_the_pieces(tmp_path):
    returns = _returns(9, 60, 320, drift=0.0001)
    returns[10] = 0.0  # never moves: undefined Sharpe, never the best
    market = np.random.default_rng(10).normal(0.0004, 0.01, 320)
    stored = np.lib.format.open_memmap(
        tmp_path / "returns.npy", mode="w+", dtype=np.float32, shape=returns.shape
    )
    stored[:] = returns
    stored.flush()
    source = np.load(tmp_path / "returns.npy", mmap_mode="r")
    as_stored = np.asarray(source, dtype=np.float64)  # float32 on disk

    stats_ = SelectionStatistics(
        320, {"flat": np.zeros(320), "buy_and_hold": market}, keep=(4,), reps=200, seed=5, blocks=8
    )
    for chunk in iter_chunks(source, 16):
        stats_.add(chunk)
    out = stats_.finish()

    std = as_stored.std(axis=1, ddof=1)
    sharpes = as_stored.mean(axis=1) / np.where(std > 0, std, np.nan)
    best = int(np.nanargmax(sharpes))
    assert out["n_trials"] == 60
    assert out["best"]["config"] == best
    dsr = deflated_sharpe_ratio(as_stored[best], sharpes)
    assert out["best"]["dsr"] == pytest.approx(dsr["dsr"])
    market_sharpe = market.mean() / market.std(ddof=1)
    assert out["best"]["psr_vs_flat"] == pytest.approx(probabilistic_sharpe_ratio(as_stored[best]))
    assert out["best"]["psr_vs_buy_and_hold"] == pytest.approx(
        probabilistic_sharpe_ratio(as_stored[best], market_sharpe)
    )
    assert out["kept"][4]["dsr"] == pytest.approx(
        deflated_sharpe_ratio(as_stored[4], sharpes)["dsr"]
    )
    whole = StreamingSPA({"flat": np.zeros(320), "buy_and_hold": market}, reps=200, seed=5)
    whole.add(as_stored)
    for name, expected in whole.result().items():
        assert out["spa"][name] == pytest.approx(expected)
    expected_pbo = pbo_from_returns(as_stored, 8)
    assert out["pbo"]["pbo"] == expected_pbo["pbo"]
    assert "logits" not in out["pbo"]
