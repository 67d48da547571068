"""Headlines into point-in-time triggers: reading feeds, the explainable classifier, dedup."""
