from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from live.validation import In, Query, Url


class WebhookIn(In):
    url: Url
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value


class WebhookOut(BaseModel):
    url: str
    secret: str
    created_at: str
    updated_at: str
    events: list[str]


class DeliveriesQuery(Query):
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class DeliveryOut(BaseModel):
    id: str
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None
    last_error: str | None
    payload: dict[str, Any]


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


class WebhookTestOut(BaseModel):
    ok: bool
    id: str
