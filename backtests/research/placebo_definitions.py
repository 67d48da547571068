"""What every column of a placebo report means (summary.json and the page quote them)."""

SCHEMES = ("circular", "block", "iid")  # placebo calendars (placebo_calendars.py)
DEFAULT_SCHEME = "circular"

SCHEME_RULES = {
    "circular": "the real calendar shifted by one offset per draw, uniform on 0..n-2, wrapping "
    "around the run's n-1 sessions after the first: every gap between events, every burst and "
    "the sequence of directions kept exactly, only its position moved",
    "block": "runs of same-direction events kept whole with their internal spacing, the gaps "
    "between runs permuted at random, then the calendar shifted by a circular offset",
    "iid": "entry sessions drawn uniformly and independently (with replacement) from the run's "
    "sessions after the first, sorted, the k-th earliest getting the k-th real event (the "
    "placebo before issue 9)",
}

WHY_DEFAULT = (
    "the real news is clustered (bursts in 2024-2026), and clustering changes what a calendar "
    "earns (books merge and extend, a burst concentrates the exposure in one regime); a circular "
    "shift keeps the calendar's clustering and spacing exactly and changes only its timing, the "
    "one thing the placebo questions, while iid dates spread the events out and compare the real "
    "calendar with calendars that never cluster"
)

PLACEBO_DEFINITIONS = {
    "placebo_calendar": "the real events entering inside the run (after its first session), "
    "their directions and weights kept, moved to other sessions by the scheme (circular, block "
    "or iid; numpy default_rng(seed)); two events on one session enter together",
    **{f"scheme_{name}": rule for name, rule in SCHEME_RULES.items()},
    "hit_rate": "share of books whose P&L is positive (equity at the close of the exit session, "
    "or the last close if still open, minus equity at the decision close)",
    "sharpe": "mean(r) / std(r, ddof=1) x sqrt(252) of the daily returns over the whole run; "
    "undefined with no book",
    "ruin": "a run whose equity reaches zero or below at a close is ruined: it ends at that "
    "close, and its Sharpe, total return and hit rate are undefined (left out of the placebo "
    "distribution)",
    "percentile": "100 x (#placebo < value + 0.5 x #placebo = value) / #placebo defined",
    "p_value": "one-sided, (1 + #placebo >= value) / (1 + #placebo defined)",
    "ci_low/ci_high": "the real run's Sharpe and total return under the stationary bootstrap "
    "(Politis & Romano 1994) of its daily returns: percentile interval of the resamples, mean "
    "block length from arch's optimal_block_length (Politis & White 2004; Patton, Politis & "
    "White 2009), at least 1; seeded with the placebo's seed",
    "always_on": "the rotation rebalanced to its target weights at every close (long names "
    "+G/2/n, short names -G/2/n, names with bars on both sessions), borrow charged on the short "
    "half, no commission or slippage (an idealised baseline); no books, so no hit rate",
}
