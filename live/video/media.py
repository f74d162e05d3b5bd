"""Media plumbing around aiortc: the ingest track every viewer is fed from.

`IngestVideoTrack` wraps the publisher's decoded video. It converts frames that
are not yuv420p *once*, in the event loop, before `MediaRelay` hands the same
frame object to every viewer's encoder. Without it each viewer's VP8 encoder
calls `frame.reformat()` on the shared frame in its own executor thread, and
several threads reformatting one frame crash the process with SIGSEGV
(aiortc issues #767, #1206, #530: an rgb24/yuvj420p/mjpeg source and a second
viewer). It also measures what the console shows: size and frame rate.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

from aiortc import MediaStreamTrack
from av import VideoFrame

log = logging.getLogger("live.video")

FPS_WINDOW_S = 2.0


class IngestVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self._source = source
        self.width: int | None = None
        self.height: int | None = None
        self.frames = 0
        self.converted = 0
        self.dropped = 0
        self.last_frame_at: float | None = None
        self._times: deque[float] = deque(maxlen=512)

    async def recv(self) -> Any:
        while True:
            frame = await self._source.recv()  # MediaStreamError when the publisher ends
            if not isinstance(frame, VideoFrame) or frame.format.name == "yuv420p":
                break
            try:
                out = frame.reformat(format="yuv420p")
            except Exception as exc:  # a frame we cannot convert is skipped, not fatal
                if not self.dropped:
                    log.warning("dropping %s frames the relay cannot convert: %s",
                                frame.format.name, exc)
                self.dropped += 1
                continue
            out.pts = frame.pts
            out.time_base = frame.time_base
            frame = out
            self.converted += 1
            break
        if isinstance(frame, VideoFrame):
            self.width, self.height = frame.width, frame.height
        now = time.monotonic()
        self.frames += 1
        self.last_frame_at = now
        self._times.append(now)
        return frame

    def fps(self, now: float | None = None) -> float:
        """Frames per second over the last FPS_WINDOW_S (0 when none came)."""
        now = time.monotonic() if now is None else now
        recent = [t for t in self._times if now - t <= FPS_WINDOW_S]
        if len(recent) < 2:
            return 0.0
        if now - self._times[0] >= FPS_WINDOW_S:  # the window is full
            return round(len(recent) / FPS_WINDOW_S, 1)
        return round((len(recent) - 1) / max(recent[-1] - recent[0], 1e-3), 1)

class CountingTrack(MediaStreamTrack):
    """Passes frames through and remembers when the last one came (audio)."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self.last_frame_at: float | None = None

    async def recv(self) -> Any:
        frame = await self._source.recv()
        self.last_frame_at = time.monotonic()
        return frame
