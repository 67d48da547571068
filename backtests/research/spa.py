"""White's reality check and Hansen's SPA over thousands of configs, one chunk of configs at a
time, with the bootstrap of ``arch.bootstrap.SPA``.

Losses are negated daily returns, so the loss differential of config k against a benchmark b
is d_kt = r_kt - r_bt (positive when the config beats the benchmark that day). The null is that
no config has a higher expected daily return than the benchmark. Benchmarks used by the
research commands: flat (r_b = 0) and buy-and-hold of the benchmark ticker.

Bootstrap: arch's ``StationaryBootstrap`` with mean block length ``block`` (arch's default
floor(sqrt(T)) unless given) and the given seed; resample b puts weight w_bt = (times session t
is drawn) / T on session t, so every config's bootstrap mean is one row of W d' (a matrix
product over a chunk of configs: the T x configs matrix is never held). Recentring (Hansen
2005): lower g = max(dbar, 0), consistent g = dbar where dbar >= -sqrt(omega^2 / T * 2 log log T)
(else 0), upper g = dbar; omega^2 is the stationary-bootstrap kernel estimate of the long-run
variance of d (Politis & Romano 1994; arch's non-nested estimator, computed here by FFT).

- ``rc_*`` (White 2000; arch 8.0.0's ``SPA``/``RealityCheck`` p-values, which are the same
  whatever ``studentize`` is: arch uses the variance only to pick the consistent columns): the
  statistic is max_k dbar_k, the bootstrap statistic max_k (dbar*_k - g_k), p = share of
  resamples where the bootstrap statistic exceeds the statistic. ``rc_upper`` is White's reality
  check. Equal to arch's three p-values for the same seed, block and reps (tested).
- ``spa_*`` (Hansen 2005, studentized): statistic max(max_k sqrt(T) dbar_k / omega_k, 0),
  bootstrap max(max_k sqrt(T) (dbar*_k - g_k) / omega_k, 0); configs with omega = 0 (identical
  to the benchmark) are left out. ``spa_consistent`` is Hansen's SPA p-value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from arch.bootstrap import StationaryBootstrap

_LABELS = ("lower", "consistent", "upper")


def default_block(n_sessions: int) -> int:
    """arch's default mean block length for SPA: floor(sqrt(T))."""
    return int(np.sqrt(n_sessions))


def bootstrap_weights(n_sessions: int, reps: int, block: float, seed: int) -> np.ndarray:
    """(reps x T) weights: row b counts how often each session is drawn in arch's b-th
    stationary-bootstrap resample (seeded as ``arch.bootstrap.SPA(seed=seed)``), divided by T."""
    bs = StationaryBootstrap(block, np.arange(n_sessions), seed=seed)
    weights = np.empty((reps, n_sessions))
    for b, (data, _) in enumerate(bs.bootstrap(reps)):
        weights[b] = np.bincount(data[0], minlength=n_sessions)
    return weights / n_sessions


def _kernel_coefficients(n_sessions: int, block: float) -> np.ndarray:
    """c with omega^2 = (sum_i c_i gamma_i) / T: c_0 = 1, c_i = 2 kappa_i, kappa_i = (1 - i/T)
    (1 - p)^i + (i/T)(1 - p)^(T - i), p = 1 / block (arch's non-nested estimator)."""
    i = np.arange(1, n_sessions)
    p = 1.0 / block
    kappa = (1 - i / n_sessions) * (1 - p) ** i + (i / n_sessions) * (1 - p) ** (n_sessions - i)
    return np.concatenate([[1.0], 2 * kappa])


def _fft_size(n_sessions: int) -> int:
    return 1 << int(np.ceil(np.log2(2 * n_sessions - 1))) if n_sessions > 1 else 1


def _spectral_weights(n_sessions: int, block: float) -> np.ndarray:
    """h with sum_i c_i gamma_i = |F|^2 @ h, F the zero-padded FFT of the demeaned series:
    gamma = irfft(|F|^2) is linear in |F|^2, so the kernel sum is one dot product per series."""
    size = _fft_size(n_sessions)
    c = np.zeros(size)
    c[:n_sessions] = _kernel_coefficients(n_sessions, block)
    h = np.real(np.fft.rfft(c)) / size
    h[1 : (size + 1) // 2] *= 2  # the conjugate frequencies that rfft leaves out
    return h


def long_run_variance(d: np.ndarray, block: float) -> np.ndarray:
    """omega^2 per row of ``d`` (configs x T): arch's estimator (:func:`_kernel_coefficients`)."""
    n = d.shape[1]
    spectrum = np.fft.rfft(d - d.mean(axis=1, keepdims=True), n=_fft_size(n), axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    return power @ _spectral_weights(n, block) / n


class StreamingSPA:
    """Feed the configs' daily returns chunk by chunk (:meth:`add`), read p-values per
    benchmark from :meth:`result`. All benchmarks share one set of resamples (the bootstrap
    means of r_k are computed once per chunk, W r_k, and each benchmark's W r_b subtracted).
    Memory: the (reps x T) weights plus a few (chunk x T) and (chunk x reps) arrays."""

    def __init__(
        self,
        benchmarks: Mapping[str, np.ndarray],
        reps: int = 1000,
        block: float | None = None,
        seed: int = 0,
    ) -> None:
        self.benchmarks = {k: np.asarray(v, dtype=float) for k, v in benchmarks.items()}
        if not self.benchmarks:
            raise ValueError("SPA needs at least one benchmark")
        sizes = {v.shape for v in self.benchmarks.values()}
        if len(sizes) != 1 or len(next(iter(sizes))) != 1:
            raise ValueError("every benchmark must be a 1-d series of the same length")
        self.t = next(iter(self.benchmarks.values())).size
        if self.t < 3:
            raise ValueError("SPA needs at least three sessions")
        self.reps = int(reps)
        self.block = float(default_block(self.t) if block is None else block)
        self.seed = seed
        self.weights = bootstrap_weights(self.t, self.reps, self.block, seed)
        self.h = _spectral_weights(self.t, self.block)
        self.size = _fft_size(self.t)
        self.threshold = np.sqrt(2 * np.log(np.log(self.t)) / self.t)
        self.configs = 0
        self._state = {name: _State(self.reps) for name in self.benchmarks}
        self._bench = {
            name: (
                series.mean(),
                series @ self.weights.T,
                np.fft.rfft(series - series.mean(), n=self.size),
            )
            for name, series in self.benchmarks.items()
        }

    def add(self, returns: np.ndarray, indices: np.ndarray | None = None) -> None:
        """One chunk: (configs x T) daily returns; ``indices`` their config indices (default:
        the next ones, in order). Chunks may come in any order: the maxima do not depend on it
        and ties in the best statistic go to the lowest config index."""
        r = np.asarray(returns, dtype=float)
        if r.ndim != 2 or r.shape[1] != self.t:
            raise ValueError(f"expected (configs x {self.t}) returns, got {r.shape}")
        if indices is None:
            indices = np.arange(self.configs, self.configs + len(r))
        indices = np.asarray(indices, dtype=np.int64)
        r_mean = r.mean(axis=1)
        r_boot = r @ self.weights.T  # (configs x reps) bootstrap means of the returns
        r_spectrum = np.fft.rfft(r - r_mean[:, None], n=self.size, axis=1)
        for name, (b_mean, b_boot, b_spectrum) in self._bench.items():
            diff = r_spectrum - b_spectrum[None, :]
            omega2 = (diff.real**2 + diff.imag**2) @ self.h / self.t
            self._state[name].update(
                r_mean - b_mean,
                omega2,
                r_boot - b_boot[None, :],
                self.threshold,
                self.t,
                indices,
            )
        self.configs += len(r)

    def result(self) -> dict[str, dict[str, Any]]:
        """Per benchmark: p-values (``rc_lower/consistent/upper``, ``spa_lower/consistent/
        upper``), the statistics and the configs attaining them, and the bootstrap settings."""
        if not self.configs:
            raise ValueError("no config was added")
        settings = {
            "configs": self.configs,
            "sessions": self.t,
            "reps": self.reps,
            "block": self.block,
            "seed": self.seed,
        }
        return {name: {**settings, **state.result()} for name, state in self._state.items()}


def _better(
    values: np.ndarray, indices: np.ndarray, best: float, best_index: int
) -> tuple[float, int]:
    """The highest of ``values`` and the running best, ties to the lowest config index."""
    top = float(np.max(values))
    k = int(indices[values == top].min())
    if top > best or (top == best and (best_index < 0 or k < best_index)):
        return top, k
    return best, best_index


class _State:
    """Running maxima of one benchmark's statistics."""

    def __init__(self, reps: int) -> None:
        self.best_mean = -np.inf
        self.best_config = -1
        self.best_t = -np.inf
        self.best_t_config = -1
        self.rc_max = np.full((reps, 3), -np.inf)
        self.spa_max = np.zeros((reps, 3))  # Hansen's statistic is max(., 0)

    def update(
        self,
        mean: np.ndarray,
        omega2: np.ndarray,
        boot: np.ndarray,
        threshold: float,
        t: int,
        indices: np.ndarray,
    ) -> None:
        omega = np.sqrt(np.maximum(omega2, 0))
        valid = mean >= -omega * threshold
        usable = omega > 0
        scale = np.sqrt(t) / np.where(usable, omega, 1.0)
        centres = (np.maximum(mean, 0.0), np.where(valid, mean, 0.0), mean)
        for j, centre in enumerate(centres):
            sims = boot - centre[:, None]
            self.rc_max[:, j] = np.maximum(self.rc_max[:, j], sims.max(axis=0))
            if usable.any():
                z = sims[usable] * scale[usable, None]
                self.spa_max[:, j] = np.maximum(self.spa_max[:, j], z.max(axis=0))
        self.best_mean, self.best_config = _better(mean, indices, self.best_mean, self.best_config)
        if usable.any():
            t_stat = np.where(usable, mean * scale, -np.inf)
            self.best_t, self.best_t_config = _better(
                t_stat, indices, self.best_t, self.best_t_config
            )

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rc_statistic": self.best_mean,
            "rc_best_config": self.best_config,
            "spa_statistic": max(self.best_t, 0.0),
            "spa_best_config": self.best_t_config,
        }
        for j, label in enumerate(_LABELS):
            out[f"rc_{label}"] = float((self.rc_max[:, j] > self.best_mean).mean())
            out[f"spa_{label}"] = float((self.spa_max[:, j] > max(self.best_t, 0.0)).mean())
        return out
