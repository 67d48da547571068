"""What every column of a placebo report means (summary.json and the page quote them)."""

PLACEBO_DEFINITIONS = {
    "placebo_calendar": "the real events entering inside the run (after its first session), in "
    "chronological order, on entry sessions drawn uniformly and independently from the run's "
    "sessions after the first (numpy default_rng(seed)), sorted; the k-th earliest draw gets "
    "the k-th real direction",
    "hit_rate": "share of books whose P&L is positive (equity at the close of the exit session, "
    "or the last close if still open, minus equity at the decision close)",
    "sharpe": "mean(r) / std(r, ddof=1) x sqrt(252) of the daily returns over the whole run; "
    "undefined with no book",
    "ruin": "a run whose equity reaches zero or below at a close is ruined: it ends at that "
    "close, and its Sharpe, total return and hit rate are undefined (left out of the placebo "
    "distribution)",
    "percentile": "100 x (#placebo < value + 0.5 x #placebo = value) / #placebo defined",
    "p_value": "one-sided, (1 + #placebo >= value) / (1 + #placebo defined)",
    "always_on": "the rotation rebalanced to its target weights at every close (long names "
    "+G/2/n, short names -G/2/n, names with bars on both sessions), borrow charged on the short "
    "half, no commission or slippage (an idealised baseline); no books, so no hit rate",
}
