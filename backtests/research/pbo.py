"""Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV;
Bailey, Borwein, Lopez de Prado & Zhu 2017, "The probability of backtest overfitting",
J. of Computational Finance 20(4)).

The T sessions are cut into S contiguous blocks (block j = sessions floor(jT/S) ..
floor((j+1)T/S) - 1; default S = 16, the paper's choice, giving C(16, 8) = 12,870 splits). For
every choice of S/2 blocks as the in-sample half (IS) and the other S/2 as out-of-sample (OOS):
the config with the best IS Sharpe is picked (ties: the lowest config index, as the sweep
ranks), its OOS Sharpe is ranked among all N configs' OOS Sharpes (mid-rank for ties, 1 = worst,
N = best), omega = rank / (N + 1) and the logit lambda = ln(omega / (1 - omega)).
PBO = share of splits with lambda <= 0: how often the IS winner does no better than the OOS
median. Also reported: the share of splits where the IS winner loses OOS (Sharpe < 0), and the
median logit.

Sharpe here is per period, mean / std(ddof=1) over the sessions of the half, and 0 for a config
whose returns do not vary in that half (a flat config ranks in the middle, not as undefined).
Only per-block sums are kept: for each config and block, the sum of returns and of squared
returns (2 x S floats per config), so 20,000 configs need 5 MiB whatever T is; the splits are
evaluated in chunks. Each split and its complement are evaluated together (symmetry).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

DEFAULT_BLOCKS = 16


def block_edges(n_sessions: int, blocks: int) -> np.ndarray:
    """S + 1 edges: block j is sessions edges[j]..edges[j+1]-1."""
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks {blocks}: CSCV needs an even number of blocks, at least 2")
    if n_sessions < 2 * blocks:
        raise ValueError(f"{n_sessions} sessions are too few for {blocks} blocks of 2+")
    return (np.arange(blocks + 1) * n_sessions) // blocks


class BlockSums:
    """Per-block sums of returns and squared returns of every config, fed chunk by chunk."""

    def __init__(self, n_sessions: int, blocks: int = DEFAULT_BLOCKS) -> None:
        self.n_sessions = n_sessions
        self.blocks = blocks
        self.edges = block_edges(n_sessions, blocks)
        self._sums: list[np.ndarray] = []
        self._squares: list[np.ndarray] = []

    def add(self, returns: np.ndarray) -> None:
        """(configs x T) daily returns of the next configs."""
        r = np.asarray(returns, dtype=float)
        if r.ndim != 2 or r.shape[1] != self.n_sessions:
            raise ValueError(f"expected (configs x {self.n_sessions}) returns, got {r.shape}")
        starts = self.edges[:-1]
        self._sums.append(np.add.reduceat(r, starts, axis=1).T)
        self._squares.append(np.add.reduceat(r * r, starts, axis=1).T)

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.edges)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sums, squares) of shape (S x configs) and the block lengths (S,)."""
        return (
            np.concatenate(self._sums, axis=1),
            np.concatenate(self._squares, axis=1),
            self.counts,
        )


def _sharpe(total: np.ndarray, square: np.ndarray, n: np.ndarray) -> np.ndarray:
    n = n[:, None].astype(float)
    variance = (square - total * total / n) / (n - 1)
    # Zero up to rounding (relative to the mean square): the config does not vary in the half.
    ok = variance > 1e-12 * square / n
    return np.where(ok, total / n / np.sqrt(np.where(ok, variance, 1.0)), 0.0)


def _evaluate(is_sr: np.ndarray, oos_sr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logit, OOS Sharpe of the IS winner) per split (rows)."""
    rows = np.arange(len(is_sr))
    chosen = np.argmax(is_sr, axis=1)
    value = oos_sr[rows, chosen]
    below = (oos_sr < value[:, None]).sum(axis=1)
    equal = (oos_sr == value[:, None]).sum(axis=1)
    rank = below + (equal + 1) / 2.0
    omega = rank / (is_sr.shape[1] + 1)
    return np.log(omega / (1 - omega)), value


def probability_of_overfitting(
    sums: np.ndarray, squares: np.ndarray, counts: np.ndarray, budget: int = 1_000_000
) -> dict[str, Any]:
    """PBO and its companions from per-block sums (see the module doc). ``budget`` bounds the
    elements of each (splits x configs) work array."""
    sums = np.asarray(sums, dtype=float)
    squares = np.asarray(squares, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    blocks, configs = sums.shape
    if configs < 2:
        raise ValueError("PBO needs at least two configs")
    half = blocks // 2
    # Splits whose IS half holds block 0; their complements are the other half of the splits.
    first = np.array([c for c in combinations(range(1, blocks), half - 1)], dtype=np.int64)
    chosen = np.zeros((len(first), blocks), dtype=float)
    chosen[:, 0] = 1.0
    np.put_along_axis(chosen, first, 1.0, axis=1)
    total_sum, total_square, total_n = sums.sum(0), squares.sum(0), counts.sum()
    step = max(1, budget // configs)
    logits, values = [], []
    for start in range(0, len(chosen), step):
        a = chosen[start : start + step]
        n_a = a @ counts
        s_a, q_a = a @ sums, a @ squares
        sr_a = _sharpe(s_a, q_a, n_a)
        sr_b = _sharpe(total_sum - s_a, total_square - q_a, total_n - n_a)
        for is_sr, oos_sr in ((sr_a, sr_b), (sr_b, sr_a)):
            logit, value = _evaluate(is_sr, oos_sr)
            logits.append(logit)
            values.append(value)
    # Order: for each chunk, the splits with block 0 in IS, then their complements.
    logit = np.concatenate(logits)
    value = np.concatenate(values)
    return {
        "pbo": float((logit <= 0).mean()),
        "splits": int(logit.size),
        "blocks": int(blocks),
        "configs": int(configs),
        "median_logit": float(np.median(logit)),
        "oos_loss_share": float((value < 0).mean()),
        "logits": logit,
    }


def pbo_from_returns(returns: np.ndarray, blocks: int = DEFAULT_BLOCKS) -> dict[str, Any]:
    """PBO of a (configs x T) return matrix held in memory (small problems, tests)."""
    acc = BlockSums(np.asarray(returns).shape[1], blocks)
    acc.add(returns)
    return probability_of_overfitting(*acc.arrays())
