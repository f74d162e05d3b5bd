"""Field types shared by request schemas: the contract's limits in one place.

Bodies are strict (a JSON integer only for integers: not "9", 9.5 or true) and
lengths count Unicode code points (Python `len`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from live.clock import iso


class In(BaseModel):
    """Base of request bodies. Unknown fields are ignored (clients may be newer)."""

    model_config = ConfigDict(strict=True)


class Query(BaseModel):
    """Base of query strings: values arrive as text, so not strict."""

    model_config = ConfigDict(strict=False)


def text(lo: int, hi: int) -> type[str]:
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=lo,  # type: ignore[return-value]
                                            max_length=hi)]


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Nickname = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=24)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]

PriceCents = Annotated[int, Field(strict=True, ge=1, le=10**10)]
DiscountCents = PriceCents
Cents = Annotated[int, Field(strict=True, ge=0, le=10**10)]
Stock = Annotated[int, Field(strict=True, ge=0, le=10**9)]
Quantity = Annotated[int, Field(strict=True, ge=1, le=10**6)]
Bps = Annotated[int, Field(strict=True, ge=0, le=10000)]

# Accepts ISO 8601 with an offset (strings are allowed even in strict mode).
When = Annotated[AwareDatetime, Field(strict=False)]
# Serialises as the contract writes every time: UTC with milliseconds.
Timestamp = Annotated[datetime, PlainSerializer(iso, return_type=str)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable() -> Any:
    """A PATCH field that may be left out but not set to null: the default
    (None) is never validated, a sent value always is."""
    return Field(default=None, json_schema_extra=_no_default)
