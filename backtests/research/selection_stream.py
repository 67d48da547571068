"""Every selection-aware statistic of a sweep in one pass over the configs' daily returns.

A sweep evaluates configs in batches; :class:`SelectionStatistics` takes each batch's
(configs x T) daily returns, in config order, and keeps only what the statistics need:

- every config's per-period Sharpe (N floats: the DSR's trial variance, and the ranking);
- the returns of the best config so far by Sharpe and of the configs the caller names (T
  floats each: their PSR and DSR);
- per-block sums for PBO (2 x S floats per config, :mod:`backtests.research.pbo`);
- for each SPA benchmark, the running maxima of the bootstrap statistics (reps x 6 floats) and
  the (reps x T) bootstrap weights (:mod:`backtests.research.spa`).

Memory is therefore O(N (S + 1) + benchmarks x reps x T + chunk x max(T, reps)) whatever the
number of configs: 20,000 configs x 2,900 sessions with 1,000 resamples and two benchmarks fit
in well under 1 GiB (``python bench/bench_selection.py`` measures it). A grid's returns can be
kept on disk as a float32 ``numpy.memmap`` of shape (configs x T) and fed with
:func:`iter_chunks`; chunks are upcast to float64.

Ties in the best Sharpe go to the lowest config index; an undefined Sharpe (a config that never
moves) never wins.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from backtests.research.pbo import DEFAULT_BLOCKS, BlockSums, probability_of_overfitting
from backtests.research.selection import (
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    sharpe_moments,
)
from backtests.research.spa import StreamingSPA


def iter_chunks(returns: np.ndarray, chunk: int = 512) -> Iterator[np.ndarray]:
    """Float64 (chunk x T) slices of a (configs x T) array or memmap, in order."""
    for start in range(0, len(returns), chunk):
        yield np.asarray(returns[start : start + chunk], dtype=np.float64)


def per_period_sharpe(returns: np.ndarray) -> np.ndarray:
    """mean / std(ddof=1) per row; NaN where a row does not vary."""
    r = np.asarray(returns, dtype=float)
    std = r.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, r.mean(axis=1) / std, np.nan)


class SelectionStatistics:
    """Accumulate a sweep's configs (:meth:`add`), then :meth:`finish` for the statistics.

    ``benchmarks`` maps a name to the benchmark's daily returns over the same T sessions (e.g.
    ``{"flat": zeros, "buy_and_hold": spy_returns}``): SPA and RC are computed against each,
    and PSR against each one's per-period Sharpe (the flat one's is 0). ``keep`` names config
    indices whose PSR and DSR are reported besides the best's.
    """

    def __init__(
        self,
        n_sessions: int,
        benchmarks: Mapping[str, np.ndarray],
        keep: Sequence[int] = (),
        reps: int = 1000,
        block: float | None = None,
        seed: int = 0,
        blocks: int = DEFAULT_BLOCKS,
    ) -> None:
        self.n_sessions = n_sessions
        self.benchmarks = {k: np.asarray(v, dtype=float) for k, v in benchmarks.items()}
        for name, series in self.benchmarks.items():
            if series.shape != (n_sessions,):
                raise ValueError(f"benchmark {name}: expected {n_sessions} returns")
        self.keep = sorted(set(int(k) for k in keep))
        self.spa = StreamingSPA(self.benchmarks, reps=reps, block=block, seed=seed)
        self.blocks = BlockSums(n_sessions, blocks)
        self._sharpes: list[np.ndarray] = []
        self._indices: list[np.ndarray] = []
        self.configs = 0
        self.best = -1
        self.best_sharpe = -np.inf
        self.best_returns: np.ndarray | None = None
        self.kept: dict[int, np.ndarray] = {}

    def add(
        self,
        returns: np.ndarray,
        indices: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
    ) -> None:
        """(configs x T) daily returns of some configs. ``indices``: their config indices
        (default: the next ones, in order); chunks may come in any order (a pool's completion
        order) and the results are those of config order. ``exclude``: True for configs whose
        Sharpe is left out of the trials' Sharpe variance and cannot be the best by Sharpe
        (ruined ones); they still count as trials and enter SPA and PBO."""
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 2 or r.shape[1] != self.n_sessions:
            raise ValueError(f"expected (configs x {self.n_sessions}) returns, got {r.shape}")
        if indices is None:
            indices = np.arange(self.configs, self.configs + len(r))
        indices = np.asarray(indices, dtype=np.int64)
        sharpe = per_period_sharpe(r)
        if exclude is not None:
            sharpe = np.where(np.asarray(exclude, dtype=bool), np.nan, sharpe)
        self._sharpes.append(sharpe)
        self._indices.append(indices)
        ranked = np.where(np.isfinite(sharpe), sharpe, -np.inf)
        top = float(ranked.max()) if len(r) else -np.inf
        if np.isfinite(top):
            k = int(np.flatnonzero(ranked == top)[np.argmin(indices[ranked == top])])
            if top > self.best_sharpe or (top == self.best_sharpe and indices[k] < self.best):
                self.best, self.best_sharpe = int(indices[k]), top
                self.best_returns = r[k].copy()
        wanted = set(self.keep)
        for row, index in enumerate(indices.tolist()):
            if index in wanted:
                self.kept[index] = r[row].copy()
        self.spa.add(r, indices)
        self.blocks.add(r)
        self.configs += len(r)

    @property
    def trial_sharpes(self) -> np.ndarray:
        """Every config's per-period Sharpe, in config order (NaN for excluded ones)."""
        if not self._sharpes:
            return np.zeros(0)
        return np.concatenate(self._sharpes)[self._order()]

    def _order(self) -> np.ndarray:
        """The permutation that puts the rows added so far in config order."""
        indices = np.concatenate(self._indices)
        if np.unique(indices).size != indices.size:
            raise ValueError("a config was added twice")
        return np.argsort(indices, kind="stable")

    def _config_report(self, returns: np.ndarray, trials: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {**sharpe_moments(returns)}
        for name, series in self.benchmarks.items():
            benchmark_sharpe = sharpe_moments(series)["sharpe"]
            if not np.isfinite(benchmark_sharpe):
                benchmark_sharpe = 0.0  # the flat benchmark
            out[f"psr_vs_{name}"] = probabilistic_sharpe_ratio(returns, benchmark_sharpe)
            out[f"benchmark_sharpe_{name}"] = benchmark_sharpe
        dsr = deflated_sharpe_ratio(returns, trials)
        out.update(
            dsr=dsr["dsr"],
            expected_max_sharpe=dsr["expected_max_sharpe"],
            trial_sharpe_variance=dsr["trial_sharpe_variance"],
        )
        return out

    def finish(self) -> dict[str, Any]:
        """``n_trials``, ``best`` (index, per-period Sharpe and its PSR/DSR report), ``kept``
        (the same per named config), ``spa`` (per benchmark) and ``pbo``."""
        if self.best_returns is None and not self.keep:
            raise ValueError("no config with a defined Sharpe was added")
        trials = self.trial_sharpes
        missing = [k for k in self.keep if k not in self.kept]
        if missing:
            raise ValueError(f"configs {missing} were named but never added")
        sums, squares, counts = self.blocks.arrays()
        order = self._order()  # PBO's ties go to the lowest config index: columns in order
        pbo = probability_of_overfitting(sums[:, order], squares[:, order], counts)
        pbo.pop("logits")
        best = None
        if self.best_returns is not None:
            best = {"config": self.best, **self._config_report(self.best_returns, trials)}
        return {
            "n_trials": self.configs,
            "best": best,
            "kept": {k: self._config_report(v, trials) for k, v in sorted(self.kept.items())},
            "spa": self.spa.result(),
            "pbo": pbo,
        }
