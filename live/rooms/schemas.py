from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from live.validation import Id, omittable, In, PriceCents, Query, Stock, Timestamp, Title, Url, When


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://", "/")):
        raise ValueError("must be an http(s) URL or a path on this server")
    return value


class PlaybackIn(In):
    kind: Literal["webrtc", "whep", "hls", "none"] = "webrtc"
    url: Url | None = None

    _url = field_validator("url")(_http_url)

    @model_validator(mode="after")
    def _url_for_hls(self) -> PlaybackIn:
        if self.kind == "hls" and not self.url:
            raise ValueError("hls playback needs a url")
        return self


class CreateRoomIn(In):
    title: Title
    scheduled_at: When | None = None
    playback: PlaybackIn | None = None


class RoomStatusIn(In):
    status: Literal["live", "ended"]


class PlaybackUpdateIn(In):
    playback: PlaybackIn


class RoomsQuery(Query):
    status: Literal["scheduled", "live", "ended"] | None = None
    host_id: str | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class CreateProductIn(In):
    title: Title
    price_cents: PriceCents
    stock: Stock
    image_url: Url | None = None

    _url = field_validator("image_url")(_http_url)


class PatchProductIn(In):
    # Omitted fields stay as they are; an explicit null is refused (except the
    # image, which null removes): defaults are not validated, values are.
    title: Title = omittable()
    price_cents: PriceCents = omittable()
    stock: Stock = omittable()
    image_url: Url | None = None

    _url = field_validator("image_url")(_http_url)


class ShelfIn(In):
    product_ids: Annotated[list[Id], Field(max_length=500)]


class PinIn(In):
    product_id: Id | None


class ProductOut(BaseModel):
    id: str
    title: str
    price_cents: int
    stock: int
    image_url: str | None


class HostOut(BaseModel):
    id: str
    name: str


class PlaybackOut(BaseModel):
    kind: str
    url: str | None


class RoomOut(BaseModel):
    """The room snapshot; other domains add their fields (flash_sales, coupons...)."""

    model_config = {"extra": "allow"}

    id: str
    title: str
    status: Literal["scheduled", "live", "ended"]
    host: HostOut
    playback: PlaybackOut
    shelf: list[ProductOut]
    pinned_product_id: str | None
    flash_sales: list[dict[str, Any]]
    viewers: int
    likes: int
    seq: int
    server_time: str
    scheduled_at: Timestamp | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None


class RoomsOut(BaseModel):
    rooms: list[RoomOut]


class ShelfOut(BaseModel):
    shelf: list[ProductOut]
