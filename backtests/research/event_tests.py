"""Cross-sectional event-study tests that allow for event-induced variance and for events that
share sessions: BMP, its Kolari-Pynnonen adjustment, the Corrado rank test and the generalized
sign test, for CAR(0, k), k = 0..post.

Every function takes plain arrays, one row per event:

- ``est_ar`` (events x M): the market-model residuals of the estimation window, in event time
  (column j is the same relative day for every event), NaN where a session was not used in
  the fit;
- ``est_market`` (events x M): the benchmark's returns on those sessions;
- ``event_ar`` / ``event_market`` (events x L): abnormal and benchmark returns on days
  0..L-1 (L = post + 1).

Definitions (sigma_i is the residual standard deviation with M_i - 2 degrees of freedom,
x the benchmark return, xbar and Sxx = sum (x - xbar)^2 over the M_i estimation sessions):

- **Standardised CAR** (Patell 1976; Mikkelson & Partch 1988): SCAR_i(0,k) = CAR_i(0,k) /
  (sigma_i * sqrt(L + L^2/M_i + (sum_{t=0..k} (x_t - xbar))^2 / Sxx)), L = k + 1: the exact
  forecast-error variance of a CAR under the OLS market model (the estimation error of alpha
  and beta included). For k = 0 it is Patell's SAR = AR / (sigma sqrt(1 + 1/M + (x - xbar)^2 /
  Sxx)).
- **BMP** (Boehmer, Musumeci & Poulsen 1991): t = mean(SCAR) / (std(SCAR, ddof=1) / sqrt(N)),
  two-sided p from Student's t with N - 1 degrees of freedom. Robust to event-induced variance,
  but it assumes the events are independent.
- **Kolari-Pynnonen** (2010): t_KP = t_BMP * sqrt((1 - rbar) / (1 + (N - 1) rbar)), same p rule.
  rbar is the mean, over all pairs of events, of the Pearson correlation of their estimation
  residuals *in event time* (relative day j of one event against relative day j of the other,
  over the days both have), after summing them over rolling windows of L = k + 1 days. For
  k = 0 this is KP's rbar. Why event time and rolling sums: every event here is a date on the
  same basket, so two events d sessions apart have residuals that are the same basket's
  residuals d sessions apart; their L-day sums share max(0, L - d) sessions, exactly as their
  CAR(0, k) do. rbar therefore measures how much the events' CARs overlap, from data that
  precede every event window (a calendar-time correlation over the sessions both estimation
  windows contain would be about 1 for any two events closer than the window, and says nothing
  about their event windows).
- **Corrado rank** (Corrado 1989, with the Corrado & Zivney 1992 scaling): each event's ARs over
  its estimation window and days 0..L-1 are ranked (ties averaged), U = rank / (n_i + 1) - 1/2,
  and Ubar_t is the mean over the events at position t. For day 0, z = Ubar_0 / S with S^2 =
  mean over all positions of Ubar_t^2. For CAR(0, k) (Cowan 1992 sums the days: z =
  sum_{t<=k} Ubar_t / (sqrt(L) S)) we estimate the variance of the L-day sum directly: S_L^2 =
  mean of (sum of Ubar over L consecutive positions)^2 over the rolling windows inside the
  estimation window or inside days 0..L-1, so that the serial correlation of Ubar that
  overlapping events create is counted; S_1 = S (Corrado). ``iid=True`` gives Cowan's
  sqrt(L) S instead. z is referred to N(0, 1), two-sided.
- **Generalized sign** (Cowan 1992): w = number of events with CAR(0,k) > 0, p_hat = the mean
  over events of the share of positive values among the L-day rolling sums of its estimation
  residuals (Cowan's p_hat, the share of positive daily residuals, for k = 0), z = (w - N p_hat)
  / sqrt(N p_hat (1 - p_hat)), N(0, 1), two-sided. Zero counts as not positive.

Signs: for a signed group (``all_signed``) multiply every array of an event (estimation and
event residuals) by its direction first (:func:`apply_signs`); correlations, ranks and p_hat
then describe the signed series, as the test needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class EventArrays:
    """One basket's per-event arrays for a group of events (see the module doc)."""

    est_ar: np.ndarray  # events x M, NaN where not used
    est_market: np.ndarray  # events x M
    event_ar: np.ndarray  # events x L, days 0..L-1
    event_market: np.ndarray  # events x L

    def __post_init__(self) -> None:
        n = len(self.est_ar)
        for name in ("est_market", "event_ar", "event_market"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, est_ar has {n}")
        if self.est_ar.shape != self.est_market.shape:
            raise ValueError("est_ar and est_market must have the same shape")
        if self.event_ar.shape != self.event_market.shape:
            raise ValueError("event_ar and event_market must have the same shape")

    @property
    def n(self) -> int:
        return len(self.est_ar)

    @property
    def horizons(self) -> int:
        return self.event_ar.shape[1]

    def subset(self, rows: np.ndarray) -> EventArrays:
        return EventArrays(
            self.est_ar[rows], self.est_market[rows], self.event_ar[rows], self.event_market[rows]
        )


def apply_signs(arrays: EventArrays, signs: np.ndarray) -> EventArrays:
    """Every residual of event i multiplied by signs[i] (market returns unchanged)."""
    s = np.asarray(signs, dtype=float)[:, None]
    return EventArrays(
        arrays.est_ar * s, arrays.est_market, arrays.event_ar * s, arrays.event_market
    )


def _as_float(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=float)


def residual_sigma(est_ar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sigma_i, M_i): residual standard deviation (M_i - 2 degrees of freedom) and the number of
    estimation sessions of each event."""
    e = _as_float(est_ar)
    used = np.isfinite(e)
    m = used.sum(axis=1)
    sse = np.where(used, e, 0.0) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.sqrt(sse.sum(axis=1) / (m - 2))
    return np.where(m > 2, sigma, np.nan), m


def car_scale(arrays: EventArrays) -> np.ndarray:
    """(events x L) factor f_ik with SD(CAR_i(0,k)) = sigma_i * f_ik under the market model:
    f^2 = L + L^2/M + (sum_{t<=k} (x_t - xbar))^2 / Sxx, L = k + 1."""
    used = np.isfinite(arrays.est_ar) & np.isfinite(arrays.est_market)
    x = np.where(used, _as_float(arrays.est_market), 0.0)
    m = used.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        xbar = x.sum(axis=1) / m
        sxx = (np.where(used, x - xbar[:, None], 0.0) ** 2).sum(axis=1)
        lengths = np.arange(1, arrays.horizons + 1, dtype=float)
        drift = np.cumsum(_as_float(arrays.event_market) - xbar[:, None], axis=1)
        f2 = lengths + lengths**2 / m[:, None] + drift**2 / sxx[:, None]
    return np.sqrt(f2)


def standardized_car(arrays: EventArrays) -> np.ndarray:
    """(events x L) SCAR_i(0,k) = CAR_i(0,k) / (sigma_i * car_scale_ik)."""
    sigma, _ = residual_sigma(arrays.est_ar)
    car = np.cumsum(_as_float(arrays.event_ar), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return car / (sigma[:, None] * car_scale(arrays))


def cross_sectional_t(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, two-sided p) per column: mean / (std(ddof=1) / sqrt(N)), Student t with N - 1 df,
    over the events (rows) with a finite value."""
    v = _as_float(values)
    if v.ndim == 1:
        v = v[:, None]
    ok = np.isfinite(v)
    n = ok.sum(axis=0)
    z = np.where(ok, v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = z.sum(axis=0) / n
        var = (np.where(ok, v - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
        t = mean / np.sqrt(var / n)
    t = np.where((n > 1) & (var > 0), t, np.nan)
    p = np.where(np.isfinite(t), 2 * stats.t.sf(np.abs(t), np.maximum(n - 1, 1)), np.nan)
    return t, p


def bmp_test(arrays: EventArrays) -> tuple[np.ndarray, np.ndarray]:
    """BMP (1991) t and two-sided p for CAR(0, k), k = 0..L-1."""
    return cross_sectional_t(standardized_car(arrays))


def _prefix_sums(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running sums along each row, with a zero column first: of the finite values, and of the
    count of non-finite ones."""
    zero = np.zeros((a.shape[0], 1))
    filled = np.where(np.isfinite(a), a, 0.0)
    missing = (~np.isfinite(a)).astype(np.int64)
    c = np.concatenate([zero, np.cumsum(filled, axis=1)], axis=1)
    cm = np.concatenate([zero.astype(np.int64), np.cumsum(missing, axis=1)], axis=1)
    return c, cm


def _window_sums(c: np.ndarray, cm: np.ndarray, length: int) -> np.ndarray:
    if length > c.shape[1] - 1:
        return np.empty((c.shape[0], 0))
    sums = c[:, length:] - c[:, :-length]
    gaps = cm[:, length:] - cm[:, :-length]
    return np.where(gaps == 0, sums, np.nan)


def _rolling_sums(a: np.ndarray, length: int) -> np.ndarray:
    """Sums over ``length`` consecutive columns (NaN if one is): (rows x (cols - length + 1))."""
    a = _as_float(a)
    if length > a.shape[1]:
        return np.empty((a.shape[0], 0))
    return _window_sums(*_prefix_sums(a), length)


def rolling_sums_by_length(a: np.ndarray, lengths: range) -> Iterator[np.ndarray]:
    """``rolling_sums(a, length)`` for each of ``lengths``, one at a time (the running sums are
    computed once, not once per length; the same numbers)."""
    a = _as_float(a)
    c, cm = _prefix_sums(a)
    for length in lengths:
        yield _window_sums(c, cm, length)


PAIR_BLOCK = 128  # rows of incomplete events compared with every event at a time
CONSTANT = 1e-5  # a row whose spread is below this share of its size counts as constant


def mean_correlation(
    est_ar: np.ndarray, length: int = 1, min_overlap: int = 30, sums: np.ndarray | None = None
) -> float:
    """rbar: the mean over pairs of events of the correlation of their ``length``-day rolling
    sums of estimation residuals, in event time, over the positions both have (pairs with fewer
    than ``min_overlap`` common positions are left out). NaN with fewer than two events.

    Linear in the number of events, not quadratic: for two events whose sums are complete (the
    usual case) the correlation is z_i . z_j with z the centred rows scaled to unit length, so
    the sum over all such pairs is (|sum_i z_i|^2 - sum_i |z_i|^2) / 2, one pass over the
    events x positions matrix. Only the pairs that involve an event with a gap are computed one
    by one (pairwise-complete moments by matrix products, ``PAIR_BLOCK`` such events at a time,
    so memory stays at PAIR_BLOCK x events). The value is the mean over every pair, as a loop
    over pairs gives it (to rounding), with no sampling. ``sums``: ``_rolling_sums(est_ar,
    length)``, when the caller has it already.
    """
    s = _rolling_sums(est_ar, length) if sums is None else sums
    n, width = s.shape
    if n < 2 or width == 0:
        return float("nan")
    ok = np.isfinite(s)
    complete = ok.all(axis=1)
    total, pairs = 0.0, 0
    if width >= min_overlap:
        rows = s if complete.all() else s[complete]
        dev = rows - rows.mean(axis=1, keepdims=True)
        norm = np.sqrt(np.einsum("ij,ij->i", dev, dev))
        # A constant row has no correlation (its deviations are rounding noise).
        varies = norm > CONSTANT * np.sqrt(np.einsum("ij,ij->i", rows, rows))
        used = int(varies.sum())
        if used >= 2:
            # sum_i z_i with z_i = dev_i / |dev_i|; each |z_i|^2 is 1.
            column = np.where(varies, 1.0 / np.where(varies, norm, 1.0), 0.0) @ dev
            total += float(column @ column - used) / 2.0
            pairs += used * (used - 1) // 2
    partial = np.flatnonzero(~complete)
    if partial.size:
        okf = ok.astype(float)
        zf = np.where(ok, s, 0.0)
        for lo in range(0, partial.size, PAIR_BLOCK):
            rows = partial[lo : lo + PAIR_BLOCK]
            a_ok, a = okf[rows], zf[rows]
            # Pairwise-complete moments of (row, every event) over the positions both have.
            count = a_ok @ okf.T
            sum_a = a @ okf.T
            sum_b = a_ok @ zf.T
            sq_a = (a * a) @ okf.T
            sq_b = a_ok @ (zf * zf).T
            cross = a @ zf.T
            with np.errstate(invalid="ignore", divide="ignore"):
                cov = cross - sum_a * sum_b / count
                var_a = sq_a - sum_a**2 / count
                var_b = sq_b - sum_b**2 / count
                r = cov / np.sqrt(var_a * var_b)
            # Each pair once: with a complete event, or with a later incomplete one.
            other = np.arange(n)[None, :]
            once = complete[None, :] | (~complete[None, :] & (other > rows[:, None]))
            varies = (var_a > CONSTANT**2 * sq_a) & (var_b > CONSTANT**2 * sq_b)
            keep = once & (count >= min_overlap) & varies & np.isfinite(r)
            total += float(r[keep].sum())
            pairs += int(keep.sum())
    return total / pairs if pairs else float("nan")


def unit_rows(sums: np.ndarray, min_overlap: int = 30) -> np.ndarray | None:
    """Each row of ``sums`` centred and scaled to unit length (a constant row: zeros), so that
    the correlation of two events is the dot product of their rows; None when some row has a
    gap or the rows are shorter than ``min_overlap`` (then use :func:`mean_correlation`)."""
    if sums.shape[1] < min_overlap or not np.isfinite(sums).all():
        return None
    dev = sums - sums.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", dev, dev))
    varies = norm > CONSTANT * np.sqrt(np.einsum("ij,ij->i", sums, sums))
    return dev * np.where(varies, 1.0 / np.where(varies, norm, 1.0), 0.0)[:, None]


def signed_mean_correlation(
    unit: np.ndarray, weights: np.ndarray, varies: np.ndarray | None = None
) -> float:
    """rbar of the events with a non-zero weight (their rows of ``unit``, from
    :func:`unit_rows`, times the weight, +1 or -1): (|sum_i w_i z_i|^2 - N) / (N (N - 1)) over
    the N of them whose row is not constant; one product over the events, whatever the group.
    Equals :func:`mean_correlation` of the signed residuals of the group (to rounding).
    ``varies``: ``unit.any(axis=1)`` (the rows that are not constant), when the caller has it."""
    w = np.asarray(weights, dtype=float)
    if varies is None:
        varies = unit.any(axis=1)
    used = int(((w != 0) & varies).sum())
    if used < 2:
        return float("nan")
    column = np.einsum("i,ij->j", w, unit)  # not BLAS gemv: its threads cost more here
    return float(column @ column - used) / (used * (used - 1))


def kolari_pynnonen(t_bmp: np.ndarray, n: int, rbar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KP (2010) adjusted t = t_BMP * sqrt((1 - rbar) / (1 + (n - 1) rbar)) and its two-sided p
    (Student t, n - 1 df). NaN where 1 + (n - 1) rbar <= 0 or rbar >= 1."""
    t = _as_float(t_bmp)
    r = _as_float(rbar)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.sqrt((1 - r) / (1 + (n - 1) * r))
    ok = (1 + (n - 1) * r > 0) & (r < 1) & np.isfinite(t)
    adjusted = np.where(ok, t * np.where(ok, factor, 0.0), np.nan)
    p = np.where(np.isfinite(adjusted), 2 * stats.t.sf(np.abs(adjusted), max(n - 1, 1)), np.nan)
    return adjusted, p


def rolling_sums(a: np.ndarray, length: int) -> np.ndarray:
    """Sums over ``length`` consecutive columns of each row, NaN where one of them is."""
    return _rolling_sums(a, length)


def estimation_sums(est_ar: np.ndarray, horizons: int) -> list[np.ndarray]:
    """``_rolling_sums(est_ar, k + 1)`` for k = 0..horizons-1: what :func:`kp_test` and
    :func:`generalized_sign_test` compute from the estimation residuals. Rows can be subset and
    multiplied by a sign afterwards (the sums of s x e are s x the sums of e, exactly), so a
    caller testing several groups of the same events computes them once."""
    return list(rolling_sums_by_length(est_ar, range(1, horizons + 1)))


def kp_test(
    arrays: EventArrays,
    min_overlap: int = 30,
    est_sums: list[np.ndarray] | None = None,
    rbar: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """BMP and KP for every k: ``bmp_t, bmp_p, rbar, kp_t, kp_p`` (arrays of length L).
    ``est_sums``: :func:`estimation_sums` of ``arrays.est_ar``, when the caller has them;
    ``rbar``: the mean correlations per k, when the caller has computed them (e.g. by
    :func:`signed_mean_correlation`)."""
    t, p = bmp_test(arrays)
    if rbar is None:
        sums = est_sums or estimation_sums(arrays.est_ar, arrays.horizons)
        rbar = np.array(
            [
                mean_correlation(arrays.est_ar, k + 1, min_overlap, sums[k])
                for k in range(arrays.horizons)
            ]
        )
    kp_t, kp_p = kolari_pynnonen(t, arrays.n, rbar)
    return {"bmp_t": t, "bmp_p": p, "rbar": rbar, "kp_t": kp_t, "kp_p": kp_p}


def _centered_ranks(values: np.ndarray) -> np.ndarray:
    """U = rank / (n_i + 1) - 1/2 per row over its finite values (ties averaged), NaN elsewhere."""
    v = _as_float(values)
    ok = np.isfinite(v)
    ranks = stats.rankdata(np.where(ok, v, np.inf), axis=1, method="average")
    n = ok.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, ranks / (n + 1) - 0.5, np.nan)


def corrado_rank_test(arrays: EventArrays, iid: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(z, two-sided p) of the rank test for CAR(0, k), k = 0..L-1 (see the module doc)."""
    m = arrays.est_ar.shape[1]
    horizons = arrays.horizons
    u = _centered_ranks(np.concatenate([arrays.est_ar, arrays.event_ar], axis=1))
    ok = np.isfinite(u)
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar = np.where(ok, u, 0.0).sum(axis=0) / ok.sum(axis=0)
    ubar = np.where(ok.any(axis=0), ubar, np.nan)
    defined = np.isfinite(ubar)
    s1 = np.sqrt(np.mean(ubar[defined] ** 2)) if defined.any() else np.nan
    z = np.full(horizons, np.nan)
    for k in range(horizons):
        length = k + 1
        head = ubar[m : m + length].sum()  # NaN if a day has no event
        if iid:
            scale = np.sqrt(length) * s1
        else:
            windows = np.concatenate(
                [
                    _rolling_sums(ubar[None, :m], length)[0],
                    _rolling_sums(ubar[None, m:], length)[0],
                ]
            )
            windows = windows[np.isfinite(windows)]
            scale = np.sqrt(np.mean(windows**2)) if windows.size else np.nan
        if scale > 0:
            z[k] = head / scale
    p = np.where(np.isfinite(z), 2 * stats.norm.sf(np.abs(z)), np.nan)
    return z, p


def positive_shares(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event (row of ``sums``): the share of its finite values above 0, below 0, and how
    many are finite; what p_hat averages (the share below 0 is the share above 0 of the
    event's residuals times -1)."""
    ok = np.isfinite(sums)
    counts = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums > 0).sum(axis=1) / counts, (sums < 0).sum(axis=1) / counts, counts


def generalized_sign_test(
    arrays: EventArrays,
    iid: bool = False,
    est_sums: list[np.ndarray] | None = None,
    p_hat: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Cowan (1992) generalized sign test for CAR(0, k): ``n, n_positive, p_hat, z, p``.
    ``iid=True`` uses Cowan's daily p_hat for every k instead of the L-day rolling sums'.
    ``est_sums``: :func:`estimation_sums` of ``arrays.est_ar``, or ``p_hat`` itself (per k),
    when the caller has them."""
    car = np.cumsum(_as_float(arrays.event_ar), axis=1)
    horizons = arrays.horizons
    n = np.isfinite(car).sum(axis=0)
    positive = (car > 0).sum(axis=0)
    if p_hat is None:
        if est_sums is None:
            est_sums = estimation_sums(arrays.est_ar, 1 if iid else horizons)
        p_hat = np.full(horizons, np.nan)
        for k in range(horizons):
            share, _, counts = positive_shares(est_sums[0 if iid else k])
            share = share[counts > 0]
            if share.size:
                p_hat[k] = share.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (positive - n * p_hat) / np.sqrt(n * p_hat * (1 - p_hat))
    z = np.where((n > 0) & (p_hat > 0) & (p_hat < 1), z, np.nan)
    p = np.where(np.isfinite(z), 2 * stats.norm.sf(np.abs(z)), np.nan)
    return {"n": n, "n_positive": positive, "p_hat": p_hat, "z": z, "p": p}
