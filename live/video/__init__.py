"""Live video: WHIP ingest and WHEP playback through aiortc (see docs/video.md)."""
