"""Turns results (returns, fills, event log) into files: tear sheet, metrics, CSVs.

Knows no engine: everything arrives as pandas objects and plain dicts.
"""
