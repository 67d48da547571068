"""Prices, sessions, events and the universe: the inputs of a backtest, validated."""
