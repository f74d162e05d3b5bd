from __future__ import annotations

from pydantic import BaseModel, Field


class VideoHealthOut(BaseModel):
    """Stream health for the host console, measured on the incoming stream."""

    publishing: bool = Field(description="a publisher is connected (or connecting)")
    width: int | None = Field(description="of the newest frame; null before the first")
    height: int | None
    fps: float = Field(description="decoded frames per second over the last 2 s")
    bitrate_kbps: int = Field(description="received on the ingest connection, last ~3 s")
    viewers: int = Field(description="WHEP viewers of the built-in relay")

