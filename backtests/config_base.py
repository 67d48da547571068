"""The strict base of every config section: booleans and text are not numbers, numbers are not
dates (pydantic alone would read true as 1, "3" as 3 and 0 as 1970-01-01: a typo would become a
parameter)."""

from __future__ import annotations

from datetime import date
from functools import cache
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


@cache
def scalar_kind(annotation: Any) -> type | None:
    """int, float or date when a field holds that (optionally None), else None (cached: it is
    asked for every field of every config a sweep validates)."""
    if get_origin(annotation) is Annotated:
        return scalar_kind(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        kinds = {scalar_kind(a) for a in get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return annotation if annotation in (int, float, date) else None


def wrong_type(kind: type, value: Any) -> str | None:
    """Why ``value`` cannot be read as ``kind`` without guessing (None when it can).

    pydantic on its own reads true as 1, "3" as 3 and 0 as 1970-01-01: a typo would become a
    parameter. Here booleans and text are not numbers, and numbers are not dates.
    """
    if kind in (int, float):
        if isinstance(value, bool):
            return "a boolean is not a number; write a number such as 3"
        if isinstance(value, str):
            return "text is not a number; write the number without quotes"
        if kind is int and isinstance(value, float):
            return "must be a whole number"
    if kind is date and isinstance(value, bool | int | float):
        return "a number is not a date; write YYYY-MM-DD"
    return None


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        kind = scalar_kind(cls.model_fields[info.field_name].annotation)
        problem = wrong_type(kind, value) if kind is not None else None
        if problem:
            raise ValueError(problem)
        return value
