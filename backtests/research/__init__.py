"""Research runs: event study, placebo calendars, walk-forward (they wire data, plans and the
fast engine; their files are written by ``reports``)."""
