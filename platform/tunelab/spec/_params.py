"""A spec's search space as typed data: each parameter a float or int range, a list of
choices or a constant, sampled only `when` its parents hold given values."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

Scalar = str | bool | int | float | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_when(
    value: dict[str, Scalar | list[Scalar]] | None,
) -> dict[str, Scalar | list[Scalar]] | None:
    if value is not None and not value:
        raise ValueError("must name at least one parameter")
    return value


class _Param(_Strict):
    # `when: {optimizer: sgd}`: sampled only while every named parameter has one of the values.
    when: Annotated[dict[str, Scalar | list[Scalar]] | None, BeforeValidator(_check_when)] = None


class _RangeParam(_Param):
    """`low`/`high` checks shared by float and int; subclasses declare the fields, with `log` and
    `step` before `low` and `high` so these validators can see them."""

    @field_validator("low", check_fields=False)
    @classmethod
    def _low(cls, low: float, info: ValidationInfo) -> float:
        if not math.isfinite(low):
            raise ValueError(f"must be a finite number, got {low}")
        if info.data.get("log") and low <= 0:
            raise ValueError(f"must be > 0 when log is true, got {low:g}")
        return low

    @field_validator("high", check_fields=False)
    @classmethod
    def _high(cls, high: float, info: ValidationInfo) -> float:
        if not math.isfinite(high):
            raise ValueError(f"must be a finite number, got {high}")
        low = info.data.get("low")
        if low is not None and high < low:
            raise ValueError(f"must be >= low ({low:g}), got {high:g}")
        return high


class FloatParam(_RangeParam):
    type: Literal["float"]
    log: bool = False
    step: float | None = None
    low: float
    high: float

    @field_validator("step")
    @classmethod
    def _step(cls, step: float | None, info: ValidationInfo) -> float | None:
        if step is not None and not math.isfinite(step):
            raise ValueError(f"must be a finite number, got {step}")
        if step is not None and step <= 0:
            raise ValueError(f"must be > 0, got {step:g}")
        if step is not None and info.data.get("log"):
            raise ValueError("cannot be combined with log: true; drop one of them")
        return step


class IntParam(_RangeParam):
    type: Literal["int"]
    log: bool = False
    step: int = 1
    low: int
    high: int

    @field_validator("step")
    @classmethod
    def _step(cls, step: int, info: ValidationInfo) -> int:
        if step <= 0:
            raise ValueError(f"must be > 0, got {step}")
        if step != 1 and info.data.get("log"):
            raise ValueError(f"must be 1 when log is true, got {step}")
        return step


class CategoricalParam(_Param):
    type: Literal["categorical"]
    choices: list[Scalar]

    @field_validator("choices")
    @classmethod
    def _choices(cls, choices: list[Scalar]) -> list[Scalar]:
        if not choices:
            raise ValueError("must list at least one value, got []")
        seen: list[Scalar] = []
        for choice in choices:
            if any(type(choice) is type(s) and choice == s for s in seen):
                raise ValueError(f"lists {choice!r} twice")
            seen.append(choice)
        return choices


class ConstantParam(_Param):
    """A value fixed for every trial, written as `name: value` in the space."""

    type: Literal["constant"]
    value: Scalar


Param = Annotated[
    FloatParam | IntParam | CategoricalParam | ConstantParam, Field(discriminator="type")
]


def _scalar_to_constant(space: Any) -> Any:
    if not isinstance(space, dict):
        return space
    return {
        name: {"type": "constant", "value": v}
        if v is None or isinstance(v, str | int | float)
        else v
        for name, v in space.items()
    }
