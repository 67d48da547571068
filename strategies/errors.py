"""Errors of the strategy layer (all are errors the user can fix: exit code 2)."""

from __future__ import annotations

from data.errors import CapexRotationError


class PolicyError(CapexRotationError):
    """A policy's parameters cannot run (a bad lookback, legs that do not sum up...)."""


class ExecutionError(CapexRotationError):
    """An order was not filled as the rules require, or a book could not be sized."""
